"""detector/filters.py reproduces SciPy's designs to the bit (the detector's events must not
change because it stopped importing SciPy)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, signal, special

from detector import DetectorConfig, JerkDetector
from detector import filters as f
from detector.interp import StreamInterpolator

# Stream rates the detector meets (sim.randomised.RATES_HZ and common sensors), the analysis
# rate they are interpolated to (25 -> 100, 26 -> 104, 50 -> 100, 52 -> 104), and a few more.
RATES_HZ = (25.0, 26.0, 50.0, 52.0, 100.0, 104.0, 200.0)
WORK_HZ = (100.0, 104.0, 200.0, 30.0, 12.5, 33.3, 75.0, 400.0)


def _same(a: np.ndarray, b: np.ndarray) -> None:
    """Identical arrays: same shape, dtype and bits (within the brief's tolerance a fortiori)."""
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert a.tobytes() == b.tobytes(), f"max difference {np.max(np.abs(a - b))}"


@pytest.mark.parametrize("rate", RATES_HZ)
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_the_detectors_filters_are_scipys(rate: float, order: int) -> None:
    """Every design the detector makes (DetectorConfig.filter_order may be 1..4): the
    detection band-pass and the impulse high-pass at the work rate, and their zi."""
    cfg = DetectorConfig(filter_order=order)
    det = JerkDetector(rate, cfg)
    high = min(cfg.band_high_hz, 0.45 * rate)
    ref = signal.butter(order, [cfg.band_low_hz, high], "bandpass", fs=det.work_hz, output="sos")
    _same(det._sos, ref)
    _same(det._zi_unit, signal.sosfilt_zi(ref))
    hp = min(cfg.impulse_hz, 0.4 * rate)
    ref_hf = signal.butter(2, hp, "highpass", fs=det.work_hz, output="sos")
    _same(det._sos_hf, ref_hf)
    _same(det._zi_hf, signal.sosfilt_zi(ref_hf))


_DESIGNS: list[tuple[float | tuple[float, float], f.BType]] = [
    ((1.0, 15.0), "bandpass"),  # detection band
    ((1.0, 5.0), "bandpass"),
    ((3.0, 8.0), "bandpass"),  # the episode band (config.episode_hz_*)
    ((1.4, 2.5), "bandpass"),  # the step band (config.step_hz_*)
    (5.0, "highpass"),  # impulse_hz
    (0.5, "highpass"),
    (5.0, "lowpass"),
    (0.5, "lowpass"),
]


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize(
    "fs,wn,btype",
    [(fs, wn, bt) for fs in WORK_HZ for wn, bt in _DESIGNS if np.max(wn) < fs / 2],
)
def test_butter_sos_is_scipys(
    fs: float, order: int, wn: float | tuple[float, float], btype: f.BType
) -> None:
    wn_arg: float | list[float] = float(wn) if isinstance(wn, float) else list(wn)
    ours = f.butter_sos(order, wn_arg, btype, fs=fs)
    ref = signal.butter(order, wn_arg, btype=btype, fs=fs, output="sos")
    _same(ours, ref)  # same sections, in the same order (zpk2sos' pairing)
    _same(f.sosfilt_zi(ours), signal.sosfilt_zi(ref))


def test_butter_sos_rejects_what_it_does_not_design() -> None:
    with pytest.raises(ValueError):
        f.butter_sos(2, [1.0, 60.0], "bandpass", fs=100.0)  # above Nyquist
    with pytest.raises(ValueError):
        f.butter_sos(2, [5.0, 1.0], "bandpass", fs=100.0)
    with pytest.raises(ValueError):
        f.butter_sos(0, 5.0, "lowpass", fs=100.0)
    with pytest.raises(ValueError):
        f.butter_sos(2, 5.0, "bandstop", fs=100.0)  # type: ignore[arg-type]


def test_i0_is_scipys() -> None:
    x = np.concatenate((np.linspace(-40.0, 40.0, 20001), [8.0, np.nextafter(8.0, 9.0), 5.0]))
    ours = np.array([f.i0(v) for v in x.tolist()])
    _same(ours, special.i0(x))


@pytest.mark.parametrize("beta", [0.0, 0.5, 5.0, 8.6, 14.0])
@pytest.mark.parametrize("m", [1, 2, 3, 21, 41, 81, 161])
def test_kaiser_is_scipys(m: int, beta: float) -> None:
    _same(f.kaiser(m, beta), signal.windows.kaiser(m, beta))


@pytest.mark.parametrize("factor", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("half_len", [1, 5, 10, 16])
@pytest.mark.parametrize("beta", [5.0, 8.0])
def test_firwin_kaiser_is_scipys(factor: int, half_len: int, beta: float) -> None:
    numtaps = 2 * half_len * factor + 1  # StreamInterpolator's design
    ours = f.firwin_kaiser(numtaps, 1.0 / factor, beta)
    _same(ours, signal.firwin(numtaps, 1.0 / factor, window=("kaiser", beta)))
    _same(f.firwin_kaiser(40, 0.3, beta), signal.firwin(40, 0.3, window=("kaiser", beta)))


@pytest.mark.parametrize("rate", [r for r in RATES_HZ if round(100.0 / r) > 1])
def test_the_interpolators_taps_are_from_scipys_firwin(rate: float) -> None:
    factor = round(DetectorConfig().analysis_rate_hz / rate)
    si = JerkDetector(rate)._interp
    assert isinstance(si, StreamInterpolator) and si.factor == factor
    d = si.half_len
    h = signal.firwin(2 * d * factor + 1, 1.0 / factor, window=("kaiser", 5.0)) * factor
    j = np.arange(-d, d)
    for p, taps in enumerate(si._taps, start=1):
        g = h[j * factor + p + d * factor]
        _same(taps, g / g.sum())


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 10, 59, 60, 61, 120, 301])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 59, 60, 61, 200, 3000])
def test_median_filter_is_ndimages(n: int, size: int) -> None:
    rng = np.random.default_rng(n * 1000 + size)
    for x in (
        rng.normal(size=n),
        np.round(rng.normal(size=n), 1) + 0.0,  # many ties (+ 0.0: no -0.0, see below)
        np.cumsum(rng.normal(size=n)),  # a drifting angle
    ):
        _same(f.median_filter_nearest(x, size), ndimage.median_filter(x, size=size, mode="nearest"))


def test_median_filter_of_the_sleep_window() -> None:
    """The size the HDCZA window uses (5 min of ``epoch_s`` epochs) on z-angle-like data."""
    cfg = DetectorConfig()
    size = max(1, round(300.0 / cfg.epoch_s))
    rng = np.random.default_rng(3)
    z = np.clip(np.cumsum(rng.normal(0, 2.0, 8 * 720)), -90, 90)
    zm = f.median_filter_nearest(z, size)
    _same(zm, ndimage.median_filter(z, size=size, mode="nearest"))
    dz = np.abs(np.diff(zm, prepend=zm[0]))
    _same(f.median_filter_nearest(dz, size), ndimage.median_filter(dz, size=size, mode="nearest"))


def test_median_filter_of_signed_zeros() -> None:
    """Among tied -0.0 and +0.0 the two may pick a different zero (equal values; the sleep
    window takes ``abs`` of differences of the medians, so nothing downstream differs)."""
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(size=3000), 1)
    assert np.any(np.signbit(x) & (x == 0))
    for size in (3, 4, 60, 61):
        np.testing.assert_array_equal(
            f.median_filter_nearest(x, size), ndimage.median_filter(x, size=size, mode="nearest")
        )
