"""Streaming band-limited interpolation of slow streams (detector/interp.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from detector import DetectorConfig, JerkDetector
from detector.interp import StreamInterpolator


def _run(si: StreamInterpolator, t: np.ndarray, x: np.ndarray, sizes: list[int]) -> tuple:
    si.start(x[0])
    outs = []
    i, k = 0, 0
    while i < t.size:
        n = sizes[k % len(sizes)]
        outs.append(si.push(t[i : i + n], x[i : i + n], np.zeros(t[i : i + n].size, dtype=bool)))
        i, k = i + n, k + 1
    outs.append(si.finish())
    return tuple(np.concatenate([o[j] for o in outs]) for j in range(3))


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_interpolation_is_resample_poly_and_keeps_the_original_samples(factor: int) -> None:
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(600, 3)), axis=0)
    t = np.arange(600) / 50.0
    ty, y, _ = _run(StreamInterpolator(factor), t, x, [600])
    assert y.shape == ((600 - 1) * factor + 1, 3)
    np.testing.assert_array_equal(y[::factor], x)  # originals pass through untouched
    np.testing.assert_allclose(ty, np.interp(np.arange(ty.size) / factor, np.arange(600), t))
    ref = signal.resample_poly(x, factor, 1, axis=0)
    # resample_poly's filter, whose phases we scale to unit DC gain each.
    h = signal.firwin(20 * factor + 1, 1.0 / factor, window=("kaiser", 5.0)) * factor
    inner = slice(30 * factor, 570 * factor)  # away from the differently padded edges
    for p in range(1, factor):
        gain = float(h[p::factor].sum())
        np.testing.assert_allclose(y[inner][p::factor], ref[inner][p::factor] / gain, atol=1e-9)


def test_any_chunking_gives_bitwise_identical_output() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 3))
    t = np.cumsum(rng.uniform(0.018, 0.022, 500))  # irregular, as over BLE
    whole = _run(StreamInterpolator(2), t, x, [500])
    for sizes in ([1], [7, 3, 40], [13, 1, 1, 200]):
        parts = _run(StreamInterpolator(2), t, x, sizes)
        for a, b in zip(whole, parts, strict=True):
            np.testing.assert_array_equal(a, b)


def test_still_limb_stays_still_and_filled_marks_spread_to_neighbours() -> None:
    si = StreamInterpolator(2)
    x = np.tile([0.1, -0.2, 0.97], (50, 1))
    f = np.zeros(50, dtype=bool)
    f[20] = True
    si.start(x[0])
    a = si.push(np.arange(50) / 50.0, x, f)
    b = si.finish()
    y, fy = np.concatenate((a[1], b[1])), np.concatenate((a[2], b[2]))
    np.testing.assert_allclose(y, np.tile(x[0], (99, 1)), rtol=0, atol=1e-12)
    assert np.flatnonzero(fy).tolist() == [39, 40, 41]  # the sample and both half-steps


def test_brief_jerks_at_50_hz_are_measured_between_the_samples() -> None:
    # A 40 ms jerk through a sensor's anti-alias filter, sampled at 50 Hz at twelve
    # different sub-sample phases: on the raw samples its peak and onset depend on where
    # the samples fall; interpolated, they do not.
    fs, hi = 50.0, 1000.0
    tt = np.arange(int(200 * hi)) / hi
    x = np.zeros((tt.size, 3))
    x[:, 2] = 1.0
    u = np.array([0.6, 0.8, 0.0])
    true = []
    for k in range(12):
        on = 10 + 15 * k + k / 12 / fs
        m = (tt >= on) & (tt < on + 0.04)
        x[m] += 0.3 * np.sin(np.pi * (tt[m] - on) / 0.04)[:, None] * u
        true.append(on)
    x = signal.sosfiltfilt(signal.butter(4, 0.4 * fs, fs=hi, output="sos"), x, axis=0)
    true_peak = float(np.linalg.norm(x - [0.0, 0.0, 1.0], axis=1).max())
    step = int(hi / fs)
    t = tt[::step]
    acc = x[::step] + np.random.default_rng(0).normal(0, 0.004, (t.size, 3))

    worst: dict[float, tuple[float, float]] = {}
    for analysis_hz in (100.0, 50.0):  # 50: no interpolation
        det = JerkDetector(fs, DetectorConfig(analysis_rate_hz=analysis_hz))
        events = det.process(t, acc) + det.flush()
        assert len(events) == 12
        peak_err = max(abs(e.peak_acc_g - true_peak) for e in events)
        onset_err = max(abs(e.onset - o) for e, o in zip(events, true, strict=True))
        worst[analysis_hz] = (peak_err, onset_err)
    assert worst[100.0][0] < 0.1 * true_peak and worst[100.0][1] < 0.02
    assert worst[100.0][0] < 0.6 * worst[50.0][0]
    assert worst[100.0][1] < 0.75 * worst[50.0][1]


def test_work_rate_follows_the_input_rate() -> None:
    assert JerkDetector(25.0).work_hz == 100.0
    assert JerkDetector(50.0).work_hz == 100.0
    assert JerkDetector(100.0).work_hz == 100.0
    assert JerkDetector(200.0).work_hz == 200.0
    assert JerkDetector(50.0, DetectorConfig(analysis_rate_hz=50.0)).work_hz == 50.0
