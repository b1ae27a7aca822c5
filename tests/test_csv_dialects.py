"""CSV as devices and people write it: every dialect reads to the same samples, every guess
is stated, and bad files end in one line naming the file, the line and the problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from collector import csvio
from collector.csvio import SampleReader
from detector.errors import InputError
from jerkmon.cli import main

N = 1500
T = np.arange(N) / 100.0
ACC = np.c_[np.zeros(N), np.zeros(N), np.ones(N)] + 0.02 * np.random.default_rng(5).standard_normal(
    (N, 3)
)


def _rows(fmt: Callable[[int], str]) -> str:
    return "".join(fmt(i) + "\n" for i in range(N))


def _iso(i: int, zone: str = "") -> str:
    s = 1_700_000_000 + T[i]
    whole = int(s)
    ms = round((s - whole) * 1000)
    import datetime as dt

    d = dt.datetime.fromtimestamp(whole, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{d}.{ms:03d}{zone}"


DIALECTS: dict[str, tuple[str | bytes, float, str, str]] = {
    # name: (content, t0 s, time note, unit note)
    "bom_semicolon_decimal_comma": (
        "\ufeffTime;Acc_X;Acc_Y;Acc_Z\n"
        + _rows(lambda i: f"{T[i]:.2f};{ACC[i, 0]:.5f};{ACC[i, 1]:.5f};{ACC[i, 2]:.5f}").replace(
            ".", ","
        ),
        0.0,
        "seconds since the start",
        "acceleration: g",
    ),
    "tab_ms_epoch_mg": (
        "timestamp\tx\ty\tz\n"
        + _rows(
            lambda i: (
                f"{1.7e12 + i * 10:.0f}\t{ACC[i, 0] * 1e3:.2f}\t{ACC[i, 1] * 1e3:.2f}\t"
                f"{ACC[i, 2] * 1e3:.2f}"
            )
        ),
        1.7e9,
        "milliseconds since the Unix epoch",
        "acceleration: mg",
    ),
    "iso_with_zone_ms2_uppercase": (
        "DateTime,Accelerometer X,Accelerometer Y,Accelerometer Z,Temperature\n"
        + _rows(
            lambda i: (
                f"{_iso(i, '+00:00')},{ACC[i, 0] * 9.80665:.5f},"
                f"{ACC[i, 1] * 9.80665:.5f},{ACC[i, 2] * 9.80665:.5f},21.5"
            )
        ),
        1.7e9,
        "ISO 8601 datetimes (with a time zone)",
        "acceleration: m/s2",
    ),
    "us_from_the_name": (
        "time_us,ax,ay,az\n"
        + _rows(lambda i: f"{i * 10_000},{ACC[i, 0]:.5f},{ACC[i, 1]:.5f},{ACC[i, 2]:.5f}"),
        0.0,
        "microseconds since the start",
        "acceleration: g",
    ),
    "headerless_omgui": (
        _rows(
            lambda i: f"{_iso(i).replace('T', ' ')},{ACC[i, 0]:.5f},{ACC[i, 1]:.5f},{ACC[i, 2]:.5f}"
        ),
        1.7e9,
        "ISO 8601 datetimes (no zone: read as UTC)",
        "acceleration: g",
    ),
    "actilife_preamble": (
        "------------ Data File Created By ActiGraph GT3X+ ActiLife v6.13.3 at 100 Hz ---\n"
        "Serial Number: NEO1F00000\nStart Time 22:00:00\nStart Date 3/1/2024\n"
        "--------------------------------------------------\n"
        "Timestamp,Accelerometer X,Accelerometer Y,Accelerometer Z\n"
        + _rows(lambda i: f"{T[i]:.2f},{ACC[i, 0]:.5f},{ACC[i, 1]:.5f},{ACC[i, 2]:.5f}"),
        0.0,
        "seconds since the start",
        "acceleration: g",
    ),
}


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_dialects_read_to_the_same_samples(tmp_path: Path, name: str) -> None:
    content, t0, time_note, unit_note = DIALECTS[name]
    path = tmp_path / f"{name}.csv"
    path.write_text(content, encoding="utf-8") if isinstance(content, str) else None
    r = SampleReader(path)
    chunks = list(r)
    t = np.concatenate([c.t for c in chunks])
    acc = np.concatenate([c.acc for c in chunks])
    assert t.size == N
    np.testing.assert_allclose(t - t[0], T, atol=2e-6)
    assert t[0] == pytest.approx(t0, abs=1.0)
    np.testing.assert_allclose(acc, ACC, atol=2e-5 if "mg" not in name else 1e-5)
    notes = " | ".join(r.notes)
    assert time_note in notes and unit_note in notes


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_small_read_blocks_give_the_same_samples_and_lines(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Files are read by size and cut at the last newline of each read: with blocks of a few
    # rows every cut lands somewhere else, and the samples and their line numbers must not
    # depend on it (CRLF, a BOM and a missing final newline included).
    content = DIALECTS[name][0]
    path = tmp_path / f"{name}.csv"
    path.write_text(content, encoding="utf-8") if isinstance(content, str) else None
    whole = list(SampleReader(path))
    for rows in (7, 64):
        monkeypatch.setattr(csvio, "_CHUNK_ROWS", rows)
        parts = list(SampleReader(path))
        assert len(parts) > 1
        np.testing.assert_array_equal(
            np.concatenate([c.t for c in parts]), np.concatenate([c.t for c in whole])
        )
        np.testing.assert_array_equal(
            np.concatenate([c.acc for c in parts]), np.concatenate([c.acc for c in whole])
        )
        lines = np.cumsum([0] + [c.t.size for c in parts[:-1]]) + whole[0].first_line
        assert [c.first_line for c in parts] == lines.tolist()


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_bad_row_deep_in_the_file_is_named_by_its_line(
    tmp_path: Path, newline: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csvio, "_CHUNK_ROWS", 50)
    rows = [f"{T[i]:.2f},{ACC[i, 0]:.5f},{ACC[i, 1]:.5f},{ACC[i, 2]:.5f}" for i in range(N)]
    rows[1233] = f"{T[1233]:.2f},0.1,oops,1.0"  # line 1235 of the file (header is line 1)
    path = tmp_path / "bad.csv"
    path.write_bytes(newline.join(["t,ax,ay,az", *rows]).encode())  # no final newline
    with pytest.raises(InputError, match=r"line 1235: column 'ay' is not a number: 'oops'"):
        list(SampleReader(path))
    rows[1233] = f"{T[1233]:.2f},0.1,0.2,1.0"
    path.write_bytes(newline.join(["t,ax,ay,az", *rows]).encode())
    assert sum(c.t.size for c in SampleReader(path)) == N


def test_forced_units_and_time_unit(tmp_path: Path) -> None:
    # Gravity removed: the median magnitude says nothing, so it must be given.
    p = tmp_path / "lin.csv"
    p.write_text("t,ax,ay,az\n" + _rows(lambda i: f"{i},{ACC[i, 0]:.5f},{ACC[i, 1]:.5f},0.01"))
    with pytest.raises(Exception, match="cannot tell the acceleration unit"):
        SampleReader(p)
    r = SampleReader(p, units="g", time_unit="ms")
    t = np.concatenate([c.t for c in r])
    assert t[1] - t[0] == pytest.approx(0.001)
    assert "acceleration: g (as given)" in r.notes


def _detect_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes) -> str:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(data)
    code = main(["detect", str(bad), "--out", str(tmp_path / "ev.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert str(bad) in err
    assert err.count("\n") == 1 and "Traceback" not in err and "np.float64" not in err
    return err


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"t,ax,ay,az\n0,0,0,1\n0.01,0,inf,1\n0.02,0,0,1\n", "line 3: column 'ay' is infinite"),
        (
            b"t,ax,ay,az\n0,0,0,1\n0.01,0,0,1\n0.02,0,500,1\n",
            "line 4: column 'ay' is 500 g: beyond",
        ),
        (b"t,ax,ay,az\n0,0,0,1\n0.01,0,0\n0.02,0,0,1\n", "line 3: short row: 3 fields, expected 4"),
        (b"t,ax,ay,az\n0,0,0,1\n0.01,0,0,1,7\n", "line 3: long row: 5 fields, expected 4"),
        (b"t,ax,ay,az\n0,0,0,1\n\n0.02,0,0,1\n", "line 3: empty line"),
        (b"t,ax,ay,az\n0,0,0,1\n0.01,0,0,1 \xb0\n", "line 3: not UTF-8 text (byte 0xb0)"),
        (b"t,ax,ay,az\n0,0,0,1\n\x00\x01\x02\x03\n", "line 3: binary data"),
        (b"t,ax,ay,az\n0.5,0,0,1\n0.52,0,0,1\n0.51,0,0,1\n", "(t = 0.51 s after 0.52 s)"),
        (b"t,ax,ay,az\n0,0,0,3\n0.01,0,0,3\n0.02,0,0,3\n", "cannot tell the acceleration unit"),
        (b"t,ax,ay,az\n0,0,0,1\n1e-5,0,0,1\n2e-5,0,0,1\n", "cannot tell the unit of column 't'"),
        (b"x,y,z\n1,2,3\n", "line 1: missing column 't'"),
        (b"a,b,c,d\n1,2,3,4\n", "no header naming a time"),
        (b"time,x,y,acc_x\n0,0,0,1\n", "both read as 'ax'"),
    ],
)
def test_bad_files_get_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, expected: str
) -> None:
    assert expected in _detect_error(tmp_path, capsys, data)


def test_summary_states_what_was_detected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = DIALECTS["tab_ms_epoch_mg"][0]
    assert isinstance(content, str)
    p = tmp_path / "x.tsv"
    p.write_text(content)
    assert main(["detect", str(p), "--out", str(tmp_path / "e.csv")]) == 0
    out = capsys.readouterr().out
    assert "tab-delimited" in out and "milliseconds since the Unix epoch" in out and "mg" in out
