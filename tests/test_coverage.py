"""Coverage counts finite samples only: rows with NaN acceleration are missing signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from collector.csvio import SampleReader
from detector import MinuteAggregator
from jerkmon.offline import detect_csv


def _write(path: Path, t: np.ndarray, acc: np.ndarray) -> None:
    with path.open("w") as fh:
        fh.write("t,ax,ay,az\n")
        for ti, (x, y, z) in zip(t.tolist(), acc.tolist(), strict=True):
            cells = ["" if np.isnan(v) else f"{v:.5f}" for v in (x, y, z)]
            fh.write(f"{ti:.3f},{','.join(cells)}\n")


def test_file_with_nan_stretches_counts_only_finite_samples(tmp_path: Path) -> None:
    rate = 50.0
    t = np.arange(0.0, 600.0, 1.0 / rate)  # 10 min
    rng = np.random.default_rng(3)
    acc = np.tile([0.0, 0.0, 1.0], (t.size, 1)) + rng.normal(0, 0.005, (t.size, 3))
    nan = ((t >= 100.0) & (t < 220.0)) | ((t >= 400.0) & (t < 430.0))  # 150 s missing
    acc[nan] = np.nan
    acc[(t >= 300.0) & (t < 300.0 + 20.0 / rate), 1] = np.nan  # one axis missing: missing row
    path = tmp_path / "nan.csv"
    _write(path, t, acc)
    res = detect_csv(SampleReader(path), rate_hz=rate, progress=False)
    finite = np.isfinite(acc).all(axis=1)
    # 600 s recorded, 150.4 s of rows missing: coverage is what the finite samples span.
    assert abs(res.summary.covered_hours * 3600.0 - finite.sum() / rate) < 1.0
    assert res.summary.covered_hours * 3600.0 < 455.0
    per_minute = {m.start: m.covered_s for m in res.minutes}
    assert per_minute.get(120.0, 0.0) == 0.0  # minute 2 entirely NaN: no signal
    assert abs(per_minute[60.0] - 40.0) < 0.1  # 100-120 s missing
    assert abs(per_minute[240.0] - 60.0) < 0.1
    assert abs(sum(per_minute.values()) - finite.sum() / rate) < 0.1


def test_minute_aggregator_ignores_nan_rows() -> None:
    t = np.arange(0.0, 120.0, 0.1)
    acc = np.zeros((t.size, 3))
    acc[t < 30.0, 2] = np.nan
    agg = MinuteAggregator(10.0)
    out = agg.process(t, [], 1e9, acc) + agg.flush()
    assert [round(m.covered_s, 3) for m in out] == [30.0, 60.0]
