"""Negative myoclonus (kind ``negative``): the lapse rule on synthetic physics, the detector
on randomised nights, and the counts that keep it apart from the jerks."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from detector import DetectorConfig, JerkDetector, MinuteAggregator
from detector.negative import NegativeLapse, NegativeParams, negative_lapse
from detector.summary import summarize
from reports.evaluation import score_cells
from sim import TUNE_SEEDS, randomised_night, simulate_night

RATE = 100.0
FloatArray = npt.NDArray[np.float64]


def _half_sine(x: FloatArray) -> FloatArray:
    return np.where((x >= 0) & (x <= 1), np.sin(np.pi * np.clip(x, 0, 1)), 0.0)


def _held_arm(
    lapse_s: float = 0.15,
    drop_g: float = 0.5,
    burst_s: float = 0.1,
    impulse_ratio: float = 2.0,
    axis: int = 2,
    sign: float = -1.0,
    tilt_after_deg: float = 0.0,
    seed: int = 1,
) -> tuple[FloatArray, FloatArray]:
    """6 s of a forearm held still (gravity along +z, 3 mg noise) with, at 3.0 s, a fall of
    ``drop_g`` for ``lapse_s`` along ``axis`` (``sign`` -1: down along gravity), then a
    corrective burst of ``impulse_ratio`` x its impulse, and a settle that stops the
    lift; optionally the posture ends tilted by ``tilt_after_deg``."""
    t = np.arange(0, 6.0, 1 / RATE)
    tau = t - 3.0
    lapse = drop_g * np.sqrt(_half_sine(tau / lapse_s))
    impulse = float(np.sum(lapse)) / RATE
    burst_g = impulse * impulse_ratio * math.pi / (2 * burst_s)
    settle_s = 0.3
    settle_g = impulse * (impulse_ratio - 1.0) * math.pi / (2 * settle_s)
    along = (
        -lapse
        + burst_g * _half_sine((tau - lapse_s) / burst_s)
        - settle_g * _half_sine((tau - lapse_s - burst_s) / settle_s)
    )
    acc = np.zeros((t.size, 3))
    acc[:, 2] = 1.0
    acc[:, axis] += -sign * along if sign > 0 else along
    if tilt_after_deg:
        a = math.radians(tilt_after_deg) * np.clip((tau - 0.2) / 0.4, 0, 1)
        acc[:, 0] += np.sin(a)
        acc[:, 2] += np.cos(a) - 1.0
    acc += np.random.default_rng(seed).normal(0, 0.003, acc.shape)
    return t, acc


def _judge(t: FloatArray, acc: FloatArray) -> object:
    return negative_lapse(t, acc, 3.02, 3.3, NegativeParams())


def test_a_lapse_of_tone_is_found_at_the_start_of_the_fall() -> None:
    t, acc = _held_arm()
    lapse = negative_lapse(t, acc, 3.02, 3.3, NegativeParams())
    assert lapse is not None
    assert abs(lapse.onset - 3.0) <= 0.015
    assert lapse.dip_g == pytest.approx(0.5, abs=0.08)
    assert 0.1 <= lapse.lapse_s <= 0.2
    assert lapse.t_end > 3.0 + 0.15
    assert lapse.peak_acc_g >= 0.5


@pytest.mark.parametrize(
    ("why", "kw"),
    [
        ("across gravity: an active push, not a fall", dict(axis=0)),
        ("up first: a positive jerk", dict(sign=1.0)),
        ("stopped but not lifted back: a voluntary down-and-stop", dict(impulse_ratio=1.0)),
        ("ends 45 deg elsewhere: a voluntary lowering", dict(tilt_after_deg=45.0)),
        ("30 ms: the first phase of a positive jerk", dict(lapse_s=0.03, burst_s=0.04)),
        ("faster than free fall", dict(drop_g=1.6)),
    ],
)
def test_what_is_not_a_lapse_of_tone(why: str, kw: dict[str, float]) -> None:
    t, acc = _held_arm(**kw)  # type: ignore[arg-type]
    assert _judge(t, acc) is None, why


def _night(seed_index: int, rate: float) -> object:
    return simulate_night(
        randomised_night(TUNE_SEEDS.start + 1000 * seed_index + 1, rate_hz=rate, hours=2.0)
    )


@pytest.mark.parametrize(("index", "rate"), [(2, 52.0), (5, 200.0)])
def test_negative_myoclonus_on_randomised_nights(index: int, rate: float) -> None:
    night = _night(index, rate)
    rec = night.sensors[0]  # type: ignore[attr-defined]
    truth = night.truth  # type: ignore[attr-defined]
    det = JerkDetector(rec.rate_hz)
    events = det.process(rec.t, rec.acc) + det.flush()
    c = score_cells([e.onset for e in events], [e.kind for e in events], truth)
    assert c.negative_true >= 4
    assert c.negative_sensitivity >= 0.7
    assert c.negative_ppv >= 0.8
    neg = [e for e in events if e.kind == "negative"]
    # A lying limb cannot lapse against gravity; a lapse is no jerk of a series.
    assert all(e.state != "asleep" and e.series is None for e in neg)
    # Counted apart: not in the jerk count of a minute, nor among the summary's jerks.
    agg = MinuteAggregator(rec.rate_hz)
    minutes = agg.process(rec.t, events, math.inf) + agg.flush()
    assert sum(m.negative for m in minutes) == len(neg)
    assert sum(m.count for m in minutes) == len(events) - len(neg)
    assert all(m.count == m.hypnic + m.myoclonic for m in minutes)
    s = summarize(events, det.sleep_periods(), 7200.0, 7200.0)
    assert s.negative == len(neg) and s.jerks == len(events) - len(neg)


def test_negative_myoclonus_is_chunk_invariant() -> None:
    night = _night(2, 52.0)
    rec = night.sensors[0]  # type: ignore[attr-defined]
    whole = JerkDetector(rec.rate_hz)
    want = whole.process(rec.t, rec.acc) + whole.flush()
    assert any(e.kind == "negative" for e in want)
    det = JerkDetector(rec.rate_hz)
    got = []
    rng = np.random.default_rng(3)
    i = 0
    while i < rec.t.size:
        j = min(rec.t.size, i + int(rng.integers(1, 5000)))
        got += det.process(rec.t[i:j], rec.acc[i:j])
        i = j
    got += det.flush()
    assert got == want


def test_config_carries_the_negative_parameters() -> None:
    cfg = DetectorConfig(negative_min_impulse_ratio=1.5, negative_max_perp_ratio=0.6)
    p = cfg.negative_params()
    assert p.min_impulse_ratio == 1.5 and p.max_perp_ratio == 0.6


def test_jerk_scores_leave_negative_myoclonus_out() -> None:
    from reports.evaluation import score

    truth = {
        "hours": 1.0,
        "jerks": [
            {"onset": 100.0, "kind": "myoclonic", "amplitude_g": 0.5},
            {"onset": 200.0, "kind": "negative", "amplitude_g": 0.4},
        ],
    }
    s = score(np.array([100.01, 200.02, 300.0]), ["myoclonic", "negative", "negative"], truth)
    assert (s.n_true, s.n_detected, s.true_positives) == (1, 1, 1)
    c = score_cells([100.01, 200.02, 300.0], ["myoclonic", "negative", "negative"], truth)
    assert (c.negative_true, c.negative_detected, c.negative_found) == (1, 2, 1)


def _reference_lapse(
    t: FloatArray, acc: FloatArray, t_first: float, t_last: float, params: NegativeParams
) -> NegativeLapse | None:
    """The rules of detector.negative in NumPy (the form the compiled kernel replaced)."""
    p = params
    a, b, w1 = np.searchsorted(
        t, (t_first - p.pre_gap_s - p.pre_s, t_first - p.pre_gap_s, t_last + p.recover_s)
    )
    if b - a < 5 or w1 <= b:
        return None
    # A lapse lasts >= 50 ms: a centred 40 ms mean takes the sensor noise down without
    # blurring it (the posture and sigma are measured on the same smoothed signal).
    dt = (t[w1 - 1] - t[a]) / max(w1 - 1 - a, 1)  # sample period, s
    k = max(1, round(0.04 / dt) | 1)
    sm = _ref_boxcar(acc[a:w1], k)
    pre = sm[: b - a]
    g0 = pre.mean(axis=0)
    g_norm = float(np.sqrt(g0 @ g0))
    if g_norm < 0.5:  # no gravity reference (free fall, bad data)
        return None
    up = g0 / g_norm
    dev0 = pre - g0
    sigma = float(np.sqrt(np.mean(np.einsum("ij,ij->i", dev0, dev0))))
    d = sm[b - a :] - g0
    along = d @ up
    mag = np.sqrt(np.einsum("ij,ij->i", d, d))
    # Relative to the event too: a slow stream, interpolated to the analysis rate, rings
    # a few per cent of a step before it (band-limited interpolation).
    thr = max(5.0 * sigma, p.min_dip_g, 0.08 * float(mag.max()))
    big = np.flatnonzero(mag > thr)
    if big.size == 0 or along[big[0]] >= 0.0:
        return None
    i0 = int(big[0])
    back = np.flatnonzero(along[i0:] >= 0.0)
    if back.size == 0:
        return None
    j = i0 + int(back[0])
    # The fall began where the reading left rest: the last sample before i0 within 2 sigma.
    rest = np.flatnonzero(along[:i0] > -2.0 * sigma)
    s = int(rest[-1]) + 1 if rest.size else 0
    lapse = along[s:j]
    k = int(np.argmin(lapse))
    dip = -float(lapse[k])
    lapse_s = float(t[b + j] - t[b + s])
    # (half a sample's tolerance: at 25 Hz a 55 ms lapse spans one or two periods)
    if not (p.min_dip_g <= dip <= p.max_dip_g) or lapse_s < p.min_lapse_s - 0.5 * dt:
        return None
    perp = d[s + k] - along[s + k] * up
    if float(np.sqrt(perp @ perp)) > p.max_perp_ratio * dip:
        return None
    t_rec = float(t[b + j]) + p.recover_s
    r1 = int(np.searchsorted(t, t_rec)) - b
    rec = along[j:r1]
    # Impulses as sums x sample period (g s).
    imp_lapse = -float(lapse.sum())
    imp_rec = float(np.clip(rec, 0.0, None).sum())
    if imp_rec < p.min_impulse_ratio * imp_lapse:
        return None
    c0, c1 = np.searchsorted(t, (t_last + 0.5, t_last + 1.1))
    if c1 - c0 >= 3:
        g1 = acc[c0:c1].mean(axis=0)
        cos = float(g1 @ g0) / (float(np.sqrt(g1 @ g1)) * g_norm + 1e-12)
        if math.degrees(math.acos(min(1.0, max(-1.0, cos)))) > p.max_tilt_deg:
            return None
    # End of the corrective burst: back below rest after its peak (or the window's end).
    if rec.size:
        kp = int(np.argmax(rec))
        down = np.flatnonzero(rec[kp:] <= 0.0)
        e = j + kp + (int(down[0]) if down.size else rec.size - 1 - kp)
    else:
        e = j
    e = min(e, along.size - 1)
    return NegativeLapse(
        onset=float(t[b + s]),
        t_end=float(t[b + e]),
        dip_g=dip,
        peak_acc_g=_ref_peak_dev(acc[b + s : b + e + 1], g0),
        lapse_s=lapse_s,
    )


def _ref_boxcar(x: FloatArray, k: int) -> FloatArray:
    """(n, 3) centred running mean over ``k`` (odd) samples, shrinking at the edges."""
    if k <= 1 or x.shape[0] < k:
        return x
    c = np.cumsum(np.vstack((np.zeros((1, x.shape[1])), x)), axis=0)
    n, h = x.shape[0], k // 2
    lo = np.clip(np.arange(n) - h, 0, n)
    hi = np.clip(np.arange(n) + h + 1, 0, n)
    out: FloatArray = (c[hi] - c[lo]) / (hi - lo)[:, None]
    return out


def _ref_peak_dev(acc: FloatArray, g0: FloatArray) -> float:
    """Largest |acc - g0| over (m, 3) raw samples, g (the smoothed signal under-reads it)."""
    d = acc - g0
    return float(np.sqrt(np.einsum("ij,ij->i", d, d)).max()) if d.shape[0] else 0.0


def test_compiled_lapse_rules_equal_the_numpy_form() -> None:
    rng = np.random.default_rng(11)
    found = 0
    for i in range(300):
        kw = dict(
            lapse_s=float(np.exp(rng.uniform(np.log(0.03), np.log(0.5)))),
            drop_g=float(np.exp(rng.uniform(np.log(0.02), np.log(1.2)))),
            burst_s=float(rng.uniform(0.04, 0.25)),
            impulse_ratio=float(rng.uniform(0.8, 2.5)),
            axis=int(rng.choice([0, 2, 2])),
            sign=float(rng.choice([-1.0, -1.0, 1.0])),
            tilt_after_deg=float(rng.choice([0.0, 0.0, 25.0, 40.0])),
            seed=i,
        )
        t, acc = _held_arm(**kw)  # type: ignore[arg-type]
        tf = 3.0 + float(rng.uniform(-0.1, 0.4))
        tl = tf + float(rng.uniform(0.05, 0.6))
        want = _reference_lapse(t, acc, tf, tl, NegativeParams())
        got = negative_lapse(t, acc, tf, tl, NegativeParams())
        assert (want is None) == (got is None), (i, kw)
        if want is not None and got is not None:
            found += 1
            assert got.onset == want.onset and got.t_end == want.t_end
            for a, b in ((got.dip_g, want.dip_g), (got.peak_acc_g, want.peak_acc_g)):
                assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    assert 30 <= found <= 270  # both outcomes exercised


def test_a_lapse_leaves_the_sleep_estimate_as_the_jerk_rules_made_it() -> None:
    from sim import NightConfig

    rec = simulate_night(NightConfig(hours=8, rate_hz=100, seed=7)).sensors[0]
    with_neg = JerkDetector(100.0)
    ev = with_neg.process(rec.t, rec.acc) + with_neg.flush()
    assert any(e.kind == "negative" for e in ev)
    without = JerkDetector(100.0, DetectorConfig(negative_max_dip_g=0.0))  # never a lapse
    ev0 = without.process(rec.t, rec.acc) + without.flush()
    assert with_neg.sleep_periods() == without.sleep_periods()
    assert [e for e in ev if e.kind != "negative"] == [e for e in ev0 if e.kind != "negative"]
