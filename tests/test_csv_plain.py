"""The compiled reader of plain numeric CSV (collector/_csvparse.pyx) gives exactly what the
general reader (pandas) gives, hands everything else to it, and keeps pandas out of a
plain file's read; the read-ahead thread changes nothing but the timing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from collector import _csvparse, csvio
from collector.csvio import SampleReader
from collector.readahead import read_ahead
from detector.errors import InputError


def _parse(text: str, ncols: int = 4, delim: str = ",") -> tuple[np.ndarray | None, int]:
    slot = np.arange(ncols, dtype=np.intc)
    nan_ok = np.ones(ncols, dtype=np.uint8)
    nan_ok[0] = 0
    return _csvparse.parse_block(text.encode(), ncols, slot, nan_ok, ord(delim))


def test_numbers_are_read_exactly_as_python_reads_them() -> None:
    rng = np.random.default_rng(3)
    cells: list[str] = [
        "0", "-0", "+1", "1.", ".5", "-.5", "007.250", "1e3", "1E-3", "2.5e+2", "-0.0",
        "123456789012345678901234567890", "0.1234567890123456789012", "9007199254740993",
        "1e-320", "1.7976931348623157e308", "4.9e-324", "0.000000000000000000000000001",
    ]  # fmt: skip
    for _ in range(4000):
        digits = int(rng.integers(1, 20))
        mant = "".join(str(d) for d in rng.integers(0, 10, digits))
        point = int(rng.integers(0, digits + 1))
        s = (mant[:point] or "0") + "." + mant[point:]
        if rng.random() < 0.3:
            s += f"e{int(rng.integers(-40, 40))}"
        cells.append(("-" if rng.random() < 0.5 else "") + s)
    rows = [f"{i},{c},{c},{c}" for i, c in enumerate(cells)]
    vals, n = _parse("\n".join(rows) + "\n")
    assert vals is not None and n == len(cells)
    expect = np.array([float(c) for c in cells])
    assert np.array_equal(vals[:, 1], expect)  # bit for bit (equal_nan not needed)
    assert np.array_equal(np.signbit(vals[:, 1]), np.signbit(expect))


def test_missing_cells_and_line_ends() -> None:
    vals, n = _parse("0,1,,NaN\r\n1, 2,nan,NA\n2,null,NULL,3")
    assert vals is not None and n == 3
    assert vals[0, 1] == 1.0 and np.isnan(vals[0, 2:]).all()
    assert vals[1, 1] == 2.0 and np.isnan(vals[1, 2:]).all()
    assert np.isnan(vals[2, 1:3]).all() and vals[2, 3] == 3.0


@pytest.mark.parametrize(
    "text",
    [
        "0,1,2,3\n\n1,1,2,3\n",  # blank line
        "0,1,2\n",  # short row
        "0,1,2,3,4\n",  # long row
        "0,1,2,3 \n",  # trailing blank
        "0,1,x,3\n",  # text
        ",1,2,3\n",  # missing time
        "0,inf,2,3\n",  # not a plain number (the general reader says why)
        "0,1e,2,3\n",
        "0,1,2,3\r1,1,2,3\n",  # old Mac line ends: one odd line
        "0;1;2;3\n",  # another delimiter
    ],
)
def test_anything_else_is_not_plain(text: str) -> None:
    assert _parse(text)[0] is None


def _write(path: Path, rows: list[str], header: str = "t,ax,ay,az") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _read(path: Path, **kw: object) -> tuple[np.ndarray, np.ndarray, list[int], list[str]]:
    r = SampleReader(path, **kw)  # type: ignore[arg-type]
    chunks = list(r)
    return (
        np.concatenate([c.t for c in chunks]),
        np.concatenate([c.acc for c in chunks]),
        [c.first_line for c in chunks],
        r.notes,
    )


@pytest.mark.parametrize("time_col", ["t", "time_ms"])
def test_plain_and_general_readers_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, time_col: str
) -> None:
    rng = np.random.default_rng(11)
    n = 3000
    scale = 1000.0 if time_col.endswith("ms") else 1.0
    t = 1_700_000_000.0 * scale + np.arange(n) * 10.0 * scale / 1000.0
    acc = rng.normal(0.0, 0.3, (n, 3)) + np.array([0.0, 0.0, 1.0])
    rows = [f"{t[i]:.3f},{acc[i, 0]:.6f},{acc[i, 1]:.6f},{acc[i, 2]:.6f},x{i}" for i in range(n)]
    rows[100] = f"{t[100]:.3f},,{acc[100, 1]:.6f},NaN,x"  # missing cells: NaN rows
    path = _write(tmp_path / "a.csv", rows, f"{time_col},ax,ay,az,label")
    monkeypatch.setattr(csvio, "_CHUNK_ROWS", 500)
    calls: list[int] = []
    real = _csvparse.parse_block

    def counting(*a: object) -> object:
        calls.append(1)
        return real(*a)  # type: ignore[arg-type]

    monkeypatch.setattr(_csvparse, "parse_block", counting)
    plain = _read(path)
    assert len(calls) > 5  # the compiled reader did the work
    monkeypatch.setattr(SampleReader, "_plain_spec", lambda self: None)
    general = _read(path)
    assert np.array_equal(plain[0], general[0])
    assert np.array_equal(plain[1], general[1], equal_nan=True)
    assert plain[2] == general[2] and plain[3] == general[3]
    assert np.isnan(plain[1][100, [0, 2]]).all()


def test_errors_deep_in_a_plain_file_are_the_general_readers(tmp_path: Path) -> None:
    rows = [f"{i / 100:.2f},0.1,0.2,1.0" for i in range(20_000)]
    rows[15_000] = "150.00,0.1,0.2"
    path = _write(tmp_path / "short.csv", rows)
    with pytest.raises(InputError, match=r"line 15002: short row: 3 fields, expected 4"):
        list(SampleReader(path))
    rows[15_000] = "150.00,0.1,1e999,1.0"
    path = _write(tmp_path / "inf.csv", rows)
    with pytest.raises(InputError, match=r"line 15002: column 'ay' is infinite"):
        list(SampleReader(path))


def test_a_plain_csv_is_read_without_pandas(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", [f"{i / 100:.2f},0.1,0.2,1.0" for i in range(5000)])
    probe = (
        "import json, sys\n"
        "from collector.csvio import SampleReader\n"
        f"n = sum(c.t.size for c in SampleReader({str(path)!r}))\n"
        "print(json.dumps([n, 'pandas' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [5000, False]


# ---------------------------------------------------------------------- read-ahead
def test_read_ahead_keeps_order_and_raises_where_the_reader_did() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise InputError("line 6: broken")

    got: list[int] = []
    with pytest.raises(InputError, match="line 6: broken"):
        for x in read_ahead(items(), depth=2):
            got.append(x)
    assert got == [0, 1, 2, 3, 4]
    assert list(read_ahead(range(1000), depth=1)) == list(range(1000))


def test_a_consumer_that_stops_stops_the_reader() -> None:
    produced: list[int] = []

    def items() -> Iterator[int]:
        for i in range(10_000):
            produced.append(i)
            yield i

    gen = read_ahead(items(), depth=2)
    assert next(gen) == 0
    gen.close()
    n = len(produced)
    time.sleep(0.3)
    assert len(produced) == n <= 5  # the reader stopped within a chunk or two
    assert not [t for t in threading.enumerate() if t.name == "jerkmon-read-ahead"]
