"""Chunk invariance (hypothesis), sleep onset and hypnic labels, minute aggregation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector import JerkDetector, JerkEvent, MinuteAggregator
from tests import synth

RATES = (50.0, 100.0)  # interpolated to the analysis rate, and taken as is


def _busy_signal(fs: float) -> tuple[np.ndarray, np.ndarray]:
    t, acc = synth.rest(240, fs, seed=11)
    for k, onset in enumerate([15.0, 17.5, 20.0, 60.0, 100.0, 180.0, 181.5]):
        synth.add_jerk(acc, fs, onset, 0.3 + 0.2 * k, 0.08 + 0.03 * k, seed=k)
    synth.add_scratch(acc, fs, 30, 6, 0.25)
    synth.add_tremor(acc, fs, 120, 20, 0.04)
    synth.add_turn(acc, fs, 150, 3.0, 70.0)
    keep = np.ones(t.size, dtype=bool)
    keep[round(70 * fs) : round(71 * fs)] = False  # a gap
    keep[round(90 * fs) + 3] = False  # one lost sample (bridged)
    keep[round(100.4 * fs) : round(100.7 * fs)] = False  # a lost packet after a jerk (filled)
    acc[round(200 * fs) : round(200 * fs) + 4] = np.nan  # filled too
    return t[keep], acc[keep]


def _whole(fs: float, t: np.ndarray, acc: np.ndarray) -> list[JerkEvent]:
    det = JerkDetector(fs)
    return det.process(t, acc) + det.flush()


BUSY = {fs: _busy_signal(fs) for fs in RATES}
WHOLE = {fs: _whole(fs, *BUSY[fs]) for fs in RATES}


@pytest.mark.parametrize("fs", RATES)
def test_reference_signal_has_events(fs: float) -> None:
    # Guards the property tests below against comparing two empty lists.
    assert len(WHOLE[fs]) == 7
    assert sum(1 for e in WHOLE[fs] if e.series is not None) >= 5


@pytest.mark.parametrize("fs", RATES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=60))
def test_any_chunking_gives_identical_events(fs: float, sizes: list[int]) -> None:
    t, acc = BUSY[fs]
    det = JerkDetector(fs)
    out: list[JerkEvent] = []
    i, k = 0, 0
    while i < t.size:
        step = sizes[k % len(sizes)]
        out += det.process(t[i : i + step], acc[i : i + step])
        i += step
        k += 1
    out += det.flush()
    assert out == WHOLE[fs]


@pytest.mark.parametrize("fs", RATES)
def test_single_sample_feeding_gives_identical_events(fs: float) -> None:
    t, acc = BUSY[fs]
    det = JerkDetector(fs)
    out: list[JerkEvent] = []
    for i in range(t.size):
        out += det.process(t[i : i + 1], acc[i : i + 1])
    out += det.flush()
    assert out == WHOLE[fs]


def _night() -> tuple[np.ndarray, np.ndarray, float]:
    """40 min awake and restless, then still (asleep) for 80 min; returns the still start."""
    fs = 25.0
    t, acc = synth.rest(7200, fs, seed=12)
    for k in range(40):  # restless wake: fidgets and posture shifts every minute
        synth.add_fidget(acc, fs, 30 + 58 * k, 2.5, 0.25)
        synth.add_turn(acc, fs, 55 + 58 * k, 2.0, 12.0 if k % 2 else -12.0)
    synth.add_turn(acc, fs, 2380, 4.0, 40.0)
    return t, acc, 2384.0


def test_sleep_onset_and_hypnic_labels() -> None:
    fs = 25.0
    t, acc, still = _night()
    synth.add_jerk(acc, fs, still + 90, 1.5, 0.15, seed=1)  # hypnic: just after onset
    synth.add_jerk(acc, fs, still + 3000, 0.8, 0.15, seed=2)  # deep in the night
    synth.add_jerk(acc, fs, 600.0, 0.8, 0.15, seed=3)  # while awake, long before sleep
    det = JerkDetector(fs)
    events = det.process(t, acc) + det.flush()
    assert det.sleep_onset is not None and abs(det.sleep_onset - still) < 30
    # (Wake movements here are crude; false jerks are measured on simulated nights instead.)
    want = {600: "myoclonic", round(still + 90): "hypnic", round(still + 3000): "myoclonic"}
    kinds = {round(e.onset): e.kind for e in events if round(e.onset) in want}
    assert kinds == want
    periods = det.sleep_periods()
    assert len(periods) == 1 and periods[0].end > 7000


def test_jerks_in_sleep_are_released_after_a_bounded_delay() -> None:
    fs = 25.0
    t, acc, still = _night()
    synth.add_jerk(acc, fs, still + 3000, 0.8, 0.15, seed=2)
    det = JerkDetector(fs)
    released_at = None
    step = round(fs)  # 1 s packets, as live
    for i in range(0, t.size, step):
        if det.process(t[i : i + step], acc[i : i + step]):
            released_at = float(t[min(i + step, t.size) - 1])
    assert released_at is not None
    # In established sleep a lone jerk is final once no sleep onset can still fall within
    # hypnic_before_s after it (plus an epoch of the sleep estimate and the burst context).
    cfg = det.config
    delay = released_at - (still + 3000)
    assert cfg.hypnic_before_s <= delay < cfg.hypnic_before_s + 2 * cfg.epoch_s + 10


def test_minute_counts_add_up_and_report_coverage() -> None:
    fs = 50.0
    t, acc = BUSY[fs]
    det = JerkDetector(fs)
    agg = MinuteAggregator(fs)
    events: list[JerkEvent] = []
    minutes = []
    for i in range(0, t.size, 137):
        new = det.process(t[i : i + 137], acc[i : i + 137])
        events += new
        minutes += agg.process(t[i : i + 137], new, det.watermark)
    tail = det.flush()
    events += tail
    minutes += agg.process(np.empty(0), tail, det.watermark) + agg.flush()
    starts = [m.start for m in minutes]
    assert starts == sorted(set(starts)) == [0.0, 60.0, 120.0, 180.0]
    assert sum(m.count for m in minutes) == len(events) == len(WHOLE[fs])
    assert sum(m.hypnic + m.myoclonic for m in minutes) == len(events)
    assert minutes[1].covered_s < 59.5  # the 1 s gap at 70 s
    assert minutes[0].covered_s > 59.9
