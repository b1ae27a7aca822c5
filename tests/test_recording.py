"""Device files read through the one Recording interface, checked against a second,
independent reader on the real files in ../shared/data/devices: scikit-digital-health's C
readers for Axivity .cwa and GENEActiv .bin, ActiGraph's pygt3x for .gt3x."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collector.recording import (
    ArrayRecording,
    device_gaps,
    open_recording,
    read_gt3x_pygt3x,
    sniff_format,
)
from detector.errors import InputError
from jerkmon.cli import main
from tests.shared_data import DEVICES

CWA_BIN = [
    "ggirread_ax3_testfile.cwa",
    "ggirread_ax6_testfile.cwa",
    "skdh_ax3_sample.cwa",
    "skdh_ax6_sample.cwa",
    "skdh_gnactv_sample.bin",
    "sleeppy_test_geneactiv.bin",
]
GT3X = DEVICES / "ggir_actigraph_testfile.gt3x"


def _whole(rec: object) -> ArrayRecording:
    assert isinstance(rec, ArrayRecording)
    return rec


def _skdh(path: Path) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from skdh.io import ReadBin, ReadCwa

        reader = ReadCwa() if path.suffix == ".cwa" else ReadBin()
        out: dict[str, np.ndarray] = reader.predict(file=str(path))
    return out


def test_the_real_files_are_there() -> None:
    assert DEVICES.is_dir(), (
        f"{DEVICES} missing: CI provides ../shared/data (or set JERKMON_SHARED_DATA)"
    )
    for name in [*CWA_BIN, GT3X.name]:
        assert (DEVICES / name).is_file()


@pytest.mark.parametrize("name", CWA_BIN)
def test_cwa_and_bin_agree_with_a_second_reader(name: str) -> None:
    path = DEVICES / name
    rec = _whole(open_recording(path))
    other = _skdh(path)
    t2, a2 = np.asarray(other["time"], float), np.asarray(other["accel"], float)
    # Same samples, same values (g), same rate.
    assert rec.t.size == t2.size
    np.testing.assert_allclose(rec.acc, a2, atol=1e-5)
    assert rec.nominal_rate_hz == pytest.approx(float(other["fs"]), rel=0.01)
    assert 1.0 / np.median(np.diff(rec.t)) == pytest.approx(rec.nominal_rate_hz, rel=0.02)
    # Timestamps: skdh keeps the device's local clock; we shift by the stated zone.
    offset = (rec.t[0] - t2[0]) if "gnactv" in name or "geneactiv" in name.lower() else 0.0
    assert offset == pytest.approx(round(offset / 900) * 900, abs=0.05)  # whole zones
    np.testing.assert_allclose(rec.t - offset, t2, atol=0.03)  # block-timestamp jitter
    # Gaps: the same steps are gaps for both readers.
    rate = rec.nominal_rate_hz
    assert rate is not None
    assert len(device_gaps(rec.t, rate)) == len(device_gaps(t2, rate))
    # Ranges: gravity near 1 g and within the devices' +-16 g.
    assert 0.9 < np.median(np.linalg.norm(rec.acc, axis=1)) < 1.1
    assert np.abs(rec.acc).max() <= 16.0
    assert rec.t[0] > 1.3e9  # s since the epoch (2011 or later)


def test_gt3x_actfast_and_pygt3x_agree_and_idle_sleep_is_a_gap() -> None:
    a = _whole(open_recording(GT3X))
    b = read_gt3x_pygt3x(GT3X)
    assert a.format == b.format == "ActiGraph GT3X"
    assert "actfast" in a.notes[0] and "pygt3x" in b.notes[0]
    assert a.t.size == b.t.size == 17640
    np.testing.assert_allclose(a.t, b.t, atol=1e-6)
    np.testing.assert_allclose(a.acc, b.acc, atol=1e-6)
    assert a.nominal_rate_hz == b.nominal_rate_hz == 30.0
    # The idle-sleep-mode stretches pygt3x fills (and flags) are exactly our gaps.
    from pygt3x.reader import FileReader

    with FileReader(str(GT3X)) as r:
        df = r.to_pandas()
    ism = df["IdleSleepMode"].to_numpy(bool)
    t_all = df.index.to_numpy(float) - 2 * 3600  # the file's zone: UTC+02:00
    edges = np.flatnonzero(np.diff(ism.astype(int)))
    starts = [t_all[i] for i in edges if not ism[i]]  # last real sample before each run
    gaps = device_gaps(a.t, 30.0)
    assert len(gaps) == len(starts) == 23
    np.testing.assert_allclose([g[0] for g in gaps], starts, atol=1e-6)
    # Each gap spans its filled samples plus one step: no filler survives as "signal".
    assert sum(g[1] - g[0] for g in gaps) == pytest.approx((ism.sum() + 23) / 30.0, abs=1e-3)


def test_reader_is_chosen_by_content_not_name(tmp_path: Path) -> None:
    disguised = tmp_path / "night.csv"
    shutil.copy(GT3X, disguised)
    assert sniff_format(disguised) == "gt3x"
    assert _whole(open_recording(disguised)).t.size == 17640
    cwa_as_bin = tmp_path / "x.bin"
    shutil.copy(DEVICES / "skdh_ax3_sample.cwa", cwa_as_bin)
    assert open_recording(cwa_as_bin).format == "Axivity CWA"
    csv_named_cwa = tmp_path / "y.cwa"
    csv_named_cwa.write_text("t,ax,ay,az\n0,0,0,1\n0.01,0,0,1\n0.02,0,0,1\n")
    assert open_recording(csv_named_cwa).format == "CSV"


def test_unsupported_binary_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    mtx = DEVICES / "ggirread_mtx_25Hz_acc_HR.BIN"
    assert main(["detect", str(mtx), "--out", "/dev/null"]) == 2
    err = capsys.readouterr().err
    assert str(mtx) in err and "Matrix" in err and err.count("\n") == 1


def test_detect_reads_a_device_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ev.csv"
    assert main(["detect", str(GT3X), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ActiGraph GT3X, 17640 samples at 30 Hz" in text
    assert "23 gaps" in text and "UTC+02:00" in text
    assert "0.16 h with signal" in text  # idle sleep mode is not signal
    assert out.read_text().startswith("onset,")


def test_npy_and_parquet_give_the_same_samples(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    t = 1.7e9 + np.arange(3000) / 50.0
    acc = np.c_[np.zeros(3000), np.zeros(3000), np.ones(3000)] + 0.01 * rng.standard_normal(
        (3000, 3)
    )
    npy = tmp_path / "r.npy"
    np.save(npy, np.c_[t, acc * 1000.0])  # mg: detected
    pq = tmp_path / "r.parquet"
    pd.DataFrame(
        {
            "timestamp": pd.to_datetime(t, unit="s", utc=True),
            "acc_x": acc[:, 0] * 9.80665,
            "acc_y": acc[:, 1] * 9.80665,
            "acc_z": acc[:, 2] * 9.80665,
        }
    ).to_parquet(pq)
    a, b = _whole(open_recording(npy)), _whole(open_recording(pq))
    assert a.format == "NumPy .npy" and b.format == "Parquet"
    assert any("mg" in n for n in a.notes) and any("m/s2" in n for n in b.notes)
    for r in (a, b):
        np.testing.assert_allclose(r.t, t, atol=1e-5)
        np.testing.assert_allclose(r.acc, acc, atol=1e-9)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.c_[t, acc * 3.0])
    with pytest.raises(InputError, match="cannot tell the acceleration unit"):
        open_recording(bad)
