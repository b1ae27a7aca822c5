"""Provisional jerks (``JerkDetector(provisional=True)``, ``pop_provisional``): each final jerk
is handed out once before, with the same onset and measurements; nothing handed out is ever
dropped later (a 'restless' verdict comes first); final events do not change."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from detector import DetectorConfig, JerkDetector, JerkEvent
from sim import NightConfig, simulate_night


@pytest.fixture(scope="module")
def busy_night() -> tuple[np.ndarray, np.ndarray, float]:
    rec = simulate_night(NightConfig(hours=1.0, rate_hz=100.0, seed=600, jerk_rate_per_h=600.0))
    s = rec.sensors[0]
    return np.ascontiguousarray(s.t), np.ascontiguousarray(s.acc), 100.0


def _packets(
    det: JerkDetector, t: np.ndarray, acc: np.ndarray, step: int
) -> tuple[list[JerkEvent], list[tuple[float, JerkEvent]], list[tuple[float, JerkEvent]]]:
    """Final events, and (sample time when handed out, event) for provisional and final."""
    finals: list[JerkEvent] = []
    prov: list[tuple[float, JerkEvent]] = []
    fin_at: list[tuple[float, JerkEvent]] = []
    for i in range(0, t.size, step):
        new = det.process(t[i : i + step], acc[i : i + step])
        now = float(t[min(i + step, t.size) - 1])
        prov += [(now, e) for e in det.pop_provisional()]
        fin_at += [(now, e) for e in new]
        finals += new
    tail = det.flush()
    prov += [(float(t[-1]), e) for e in det.pop_provisional()]
    fin_at += [(float(t[-1]), e) for e in tail]
    return finals + tail, prov, fin_at


def _measured(e: JerkEvent) -> JerkEvent:
    return replace(e, kind="myoclonic", series=None, state="unknown")


def test_each_final_jerk_is_published_once_before_and_never_retracted(
    busy_night: tuple[np.ndarray, np.ndarray, float],
) -> None:
    t, acc, rate = busy_night
    plain = JerkDetector(rate)
    want = plain.process(t, acc) + plain.flush()
    det = JerkDetector(rate, provisional=True)
    det.trace = []
    finals, prov, fin_at = _packets(det, t, acc, 25)
    assert finals == want  # provisional publishing does not touch the final events
    assert det.rejected.get("restless", 0) > 0  # cancellations happened and were never published
    assert len(finals) > 100
    onsets = [e.onset for _, e in prov]
    assert len(set(onsets)) == len(onsets) == len(finals)
    by_onset = {e.onset: (when, e) for when, e in prov}
    for when_final, f in fin_at:
        when, p = by_onset[f.onset]
        assert when <= when_final
        assert _measured(p) == _measured(f)
        assert p.series is None and p.kind in ("myoclonic", "hypnic")
    # Published once the rules have seen what they need after the jerk (6 s look-ahead, plus
    # 2 s for a rather smooth one that a movement could still make restless), not held.
    cfg = DetectorConfig()
    look = max(cfg.post_context_s, cfg.settle_window_s)
    delays = np.array([when - (e.onset + e.duration) for when, e in prov])
    holds = np.array([w - e.onset for w, e in fin_at])
    assert delays.max() <= look + cfg.post_context_s + cfg.max_burst_s + 0.5
    assert np.median(delays) <= look + 0.5
    assert np.median(holds) > np.median(delays) + 2.0


def test_provisional_jerks_are_chunk_invariant_and_off_by_default(
    busy_night: tuple[np.ndarray, np.ndarray, float],
) -> None:
    t, acc, rate = busy_night
    n = t.size // 3
    t, acc = t[:n], acc[:n]
    _, by25, _ = _packets(JerkDetector(rate, provisional=True), t, acc, 25)
    _, by977, _ = _packets(JerkDetector(rate, provisional=True), t, acc, 977)
    # The jerks and their measurements do not depend on chunking; the kind is a guess from
    # what the sleep estimate has seen so far, which may.
    assert [_measured(e) for _, e in by25] == [_measured(e) for _, e in by977] and by25
    off = JerkDetector(rate)
    off.process(t, acc)
    off.flush()
    assert off.pop_provisional() == []
