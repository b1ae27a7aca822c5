"""Waveform building blocks of the simulator: jerks, tremor, scratching, sampling, rotations."""

from __future__ import annotations

import numpy as np
import pytest

from sim import waveforms as wf
from sim.geometry import angle_between, arm_up_vector, perpendicular_axis, random_unit, rotate


@pytest.mark.parametrize("shape", wf.JERK_SHAPES)
def test_jerk_main_lobe_starts_at_zero_and_peaks_at_amplitude(shape: str) -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        amp, dur = float(rng.uniform(0.1, 3.0)), float(rng.uniform(0.04, 0.4))
        tr = wf.jerk(rng, amp, dur, shape=shape)
        assert tr.info["shape"] == shape
        tau = np.linspace(-0.2, tr.length_s + 0.2, 20001)
        a = np.linalg.norm(tr.wave(tau), axis=1)
        assert np.all(a[tau < 0] == 0.0) and np.all(a[tau >= tr.length_s] == 0.0)
        lobe = (tau >= 0) & (tau < dur)
        assert a[lobe].max() == pytest.approx(amp, rel=0.01)
        # The transient departs from baseline right at the onset, not later.
        early = (tau >= 0) & (tau < 0.35 * dur)
        assert a[early].max() > 0.05 * amp
        # Ringing after the main lobe: 10–50 % of the peak, 5–12 Hz, gone within 0.6 s.
        ring = a[tau >= dur]
        assert 0.02 * amp < ring.max() <= 0.5 * amp + 1e-9
        assert 5.0 <= float(tr.info["ring_hz"]) <= 12.0
        assert tr.length_s - dur <= 0.6 + 1e-9


def test_jerk_directions_are_not_axis_aligned() -> None:
    rng = np.random.default_rng(2)
    dirs = []
    for _ in range(50):
        tr = wf.jerk(rng, 1.0, 0.1, shape="half_sine")
        v = tr.wave(np.array([0.05]))[0]
        dirs.append(np.abs(v) / np.linalg.norm(v))
    dirs_arr = np.array(dirs)
    assert np.mean(dirs_arr.max(axis=1) > 0.99) < 0.1
    assert np.all(dirs_arr.std(axis=0) > 0.15)


@pytest.mark.parametrize("rate_hz", [25.0, 52.0, 100.0, 200.0])
def test_sampling_integrates_over_each_sample_period(rate_hz: float) -> None:
    """A 40 ms jerk at 25 Hz is attenuated, never lost: the area is preserved."""
    rng = np.random.default_rng(3)
    tr = wf.jerk(rng, 1.0, 0.04, shape="half_sine", ring_fraction=(0.0, 0.0))
    onset = 10.0123
    first, data = wf.sample_transient(tr, onset, rate_hz, 10_000, oversample=64)
    assert first == int(np.floor(onset * rate_hz)) + 1
    assert np.linalg.norm(data[0]) > 0.0
    tau = np.linspace(0.0, tr.length_s, 200_001)
    area = np.trapezoid(tr.wave(tau), tau, axis=0)
    np.testing.assert_allclose(data.sum(axis=0) / rate_hz, area, atol=2e-4)


def test_sampling_clips_to_the_recording() -> None:
    tr = wf.jerk(np.random.default_rng(4), 1.0, 0.2)
    first, data = wf.sample_transient(tr, 9.95, 100.0, 1000, oversample=4)
    assert first + data.shape[0] <= 1000
    first, data = wf.sample_smooth(tr, -0.05, 100.0, 1000)
    assert first == 0 and data.shape[0] > 0


def _dominant_hz(x: np.ndarray, rate_hz: float) -> float:
    x = x - x.mean(axis=0)
    power = (np.abs(np.fft.rfft(x * np.hanning(x.shape[0])[:, None], axis=0)) ** 2).sum(axis=1)
    freqs = np.fft.rfftfreq(x.shape[0], 1.0 / rate_hz)
    return float(freqs[np.argmax(power)])


@pytest.mark.parametrize("freq_hz", [4.0, 5.5, 7.0])
def test_tremor_waveform(freq_hz: float) -> None:
    rng = np.random.default_rng(5)
    tr = wf.tremor(rng, 120.0, 0.1, freq_hz)
    tau = np.arange(0.0, 120.0, 0.01)
    x = tr.wave(tau)
    assert abs(_dominant_hz(x, 100.0) - freq_hz) < 0.3
    peak = np.linalg.norm(x, axis=1)
    assert 0.03 < peak.max() < 0.3
    assert peak[:10].max() < 0.01 and peak[-10:].max() < 0.01  # fades in and out
    # Amplitude-modulated: the envelope over 5 s windows varies.
    env = peak[:11_500].reshape(23, 500).max(axis=1)
    assert env[2:-2].max() / env[2:-2].min() > 1.2


@pytest.mark.parametrize("freq_hz", [3.0, 5.0, 7.0])
def test_scratch_waveform(freq_hz: float) -> None:
    rng = np.random.default_rng(6)
    tr = wf.scratch_strokes(rng, 10.0, 0.5, freq_hz)
    tau = np.arange(0.0, 10.0, 0.005)
    x = tr.wave(tau)
    assert abs(_dominant_hz(x, 200.0) - freq_hz) < 0.5
    assert 0.2 < np.linalg.norm(x, axis=1).max() < 1.0


def test_min_jerk_profiles() -> None:
    s = np.linspace(-0.5, 1.5, 4001)
    a = wf.min_jerk_accel(s)
    assert a.max() == pytest.approx(1.0, abs=1e-3) and a.min() == pytest.approx(-1.0, abs=1e-3)
    assert np.all(a[(s < 0) | (s >= 1)] == 0)
    p = wf.min_jerk_progress(s)
    assert p[0] == 0.0 and p[-1] == 1.0 and np.all(np.diff(p) >= 0)


def test_rotation_helpers() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        v = random_unit(rng)
        axis = perpendicular_axis(v, random_unit(rng))
        assert abs(float(np.dot(axis, v))) < 1e-9
        angles = rng.uniform(-np.pi, np.pi, size=5)
        out = rotate(np.tile(v, (5, 1)), axis, angles)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0)
        for o, ang in zip(out, angles, strict=True):
            assert angle_between(v, o) == pytest.approx(abs(ang), abs=1e-7)
    for posture in ("supine", "prone", "left_side", "right_side"):
        for side in ("left", "right"):
            assert np.linalg.norm(arm_up_vector(rng, posture, side)) == pytest.approx(1.0)
