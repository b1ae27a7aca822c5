"""No traceback for any input: random bytes and malformed CSVs into ``detect``, random arrays
into ``JerkDetector.process``, random truth files into ``evaluate``.  Only jerkmon's typed
errors (detector/errors.py) may escape; through the CLI they are one line and exit 2."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from detector import JerkDetector
from detector.errors import JerkmonError
from jerkmon.cli import main
from jerkmon.offline import detect_file, evaluate_files

# JERKMON_FUZZ_EXAMPLES=2000 searches longer (the default keeps the suite quick).
FUZZ = settings(
    max_examples=int(os.environ.get("JERKMON_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

_CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "nan", "inf", "-inf", "1e300", "-1e308", "1e-320", "0x1p3", "NaN"]),
    st.sampled_from(["abc", '"', '""', "1,2", " ", "\t", "\x00", "é", "\ufeff", "1e999"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=6),
)


@st.composite
def malformed_csv(draw: st.DrawFn) -> bytes:
    """A CSV that is roughly a sample file: a header of (perhaps) the right columns, rows
    of random cells, random line endings, sometimes a non-UTF-8 byte."""
    columns = draw(
        st.one_of(
            st.just(["t", "ax", "ay", "az"]),
            st.permutations(["t", "ax", "ay", "az", "sensor"]).map(list),
            st.lists(st.sampled_from(["t", "ax", "ay", "az", "x", "", "t"]), max_size=6),
        )
    )
    increasing = draw(st.booleans())
    rows = []
    for i in range(draw(st.integers(0, 40))):
        cells = [draw(_CELLS) for _ in range(draw(st.integers(len(columns) - 1, len(columns) + 1)))]
        if increasing and cells and "t" in columns[:1]:
            cells[0] = repr(i * draw(st.sampled_from([0.01, 1e-9, 1e9, 0.02])))
        rows.append(",".join(cells))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    data = (newline.join([",".join(columns), *rows]) + newline).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


def _detect_only_typed_errors(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                detect_file(path, Path(tmp) / "out.csv", progress=False)
            except JerkmonError as exc:
                assert str(exc)


@FUZZ
@given(st.binary(max_size=3000))
def test_detect_random_bytes(data: bytes) -> None:
    _detect_only_typed_errors(data)


@FUZZ
@given(malformed_csv())
def test_detect_malformed_csv(data: bytes) -> None:
    _detect_only_typed_errors(data)


_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([1e300, -1e300, 1e308, 5e-324, 0.0, 1.0]),
)


@st.composite
def arrays(draw: st.DrawFn) -> tuple[object, object]:
    """(t, acc) of random shapes and dtypes: mostly well-shaped with hostile values, some
    wrong shapes, some non-numeric."""
    n = draw(st.integers(0, 300))
    kind = draw(st.sampled_from(["good", "values", "shape", "dtype"]))
    t = np.cumsum(draw(hnp.arrays(np.float64, n, elements=st.floats(1e-4, 1.0)))) + draw(
        st.sampled_from([0.0, 1.8e9, -5.0])
    )
    acc: object = draw(hnp.arrays(np.float64, (n, 3), elements=_FLOATS))
    t_out: object = t
    if kind == "good":
        acc = draw(hnp.arrays(np.float64, (n, 3), elements=st.floats(-16, 16)))
    elif kind == "values":
        t_out = draw(hnp.arrays(np.float64, n, elements=_FLOATS))
    elif kind == "shape":
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=5))
        acc = draw(hnp.arrays(np.float64, shape, elements=_FLOATS))
    else:
        dtype = draw(st.sampled_from([np.int8, np.uint64, np.complex128, np.bool_, object, "U3"]))
        acc = np.zeros((n, 3), dtype=dtype)
        if dtype == "U3":
            acc[...] = "x"
    return t_out, acc


@FUZZ
@given(st.lists(arrays(), min_size=1, max_size=4), st.sampled_from([25.0, 50.0, 100.0]))
def test_detector_process_random_arrays(chunks: list[tuple[object, object]], rate: float) -> None:
    det = JerkDetector(rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t, acc in chunks:
            try:
                det.process(t, acc)  # type: ignore[arg-type]
            except JerkmonError as exc:
                assert str(exc)
        try:
            det.flush()
        except JerkmonError as exc:
            assert str(exc)


@FUZZ
@given(st.one_of(st.binary(max_size=500), st.text(max_size=300).map(str.encode)))
def test_evaluate_random_truth_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "e.csv"
        events.write_text("onset,kind\n1.0,myoclonic\n")
        truth = Path(tmp) / "t.json"
        truth.write_bytes(data)
        try:
            evaluate_files(events, truth)
        except JerkmonError as exc:
            assert str(exc)


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        "t,ax,ay,az\n0,\xe9,0,1\n".encode("latin-1"),
        b"t,ax,ay,az\n0,0,0,1\x00\n",
    ],
)
def test_cli_bad_files_one_line_exit_2(
    content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    assert main(["detect", str(bad), "--out", str(tmp_path / "e.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and "Traceback" not in err
    (tmp_path / "e.csv").write_text("onset,kind\n1.0,myoclonic\n")
    assert main(["evaluate", str(tmp_path / "e.csv"), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err


def test_cli_huge_values_and_unwritable_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "\n".join(f"{i / 50},{1e300 if i % 7 == 0 else 0.01},0,1" for i in range(3000))
    csv = tmp_path / "huge.csv"
    csv.write_text("t,ax,ay,az\n" + rows + "\n")
    # 1e300 g is not an acceleration: one line naming the file and line, not an OverflowError.
    assert main(["detect", str(csv), "--out", str(tmp_path / "e.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(csv) in err and "line 2" in err
    csv.write_text("t,ax,ay,az\n" + rows.replace("1e+300", "0.02") + "\n")
    nowhere = tmp_path / "file-not-dir"
    nowhere.write_text("")
    assert main(["detect", str(csv), "--out", str(nowhere / "e.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(nowhere) in err
    argv = ["run", "--sim", "--hours", "0.1", "--speed", "max", "--subject", "x"]
    assert main([*argv, "--data-dir", str(nowhere / "d")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("jerkmon: error: data directory") and str(nowhere) in err[-1]
