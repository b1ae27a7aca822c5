"""Negative myoclonus (kind ``negative``): the lapse rule on synthetic physics, the detector
on randomised nights, and the counts that keep it apart from the jerks."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from detector import DetectorConfig, JerkDetector, MinuteAggregator
from detector.negative import NegativeParams, negative_lapse
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
