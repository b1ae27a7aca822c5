"""Provisional jerks (``JerkDetector(provisional=True)``, ``pop_provisional``): without a
preview each final jerk is handed out once before, with the same onset and measurements, and
nothing handed out is ever dropped later (a 'restless' verdict comes first); with
``preview_s`` candidates come out about a second after the jerk and the few the final
verdict rejects are withdrawn (``pop_withdrawn``).  Final events never change."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from detector import ConfigError, DetectorConfig, JerkDetector, JerkEvent
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
        assert p.series is None and p.kind in ("myoclonic", "hypnic", "negative")
    # Published once the rules have seen what they need after the jerk (6 s look-ahead, plus
    # 2 s for a rather smooth one that a movement could still make restless), not held.
    cfg = DetectorConfig()
    look = max(cfg.post_context_s, cfg.settle_window_s)
    # (Negative myoclonus waits for its state: a lying limb cannot lapse.)
    delays = np.array([when - (e.onset + e.duration) for when, e in prov if e.kind != "negative"])
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


def _live(
    det: JerkDetector, t: np.ndarray, acc: np.ndarray, step: int
) -> tuple[list[JerkEvent], dict[float, JerkEvent], list[tuple[float, JerkEvent]], int]:
    """Feed packets as the live run does: final events, the points standing at the end
    (onset -> provisional event), (sample time, event) of each first publication, and how
    many were withdrawn."""
    finals: list[JerkEvent] = []
    live: dict[float, JerkEvent] = {}
    first: list[tuple[float, JerkEvent]] = []
    withdrawn = 0

    def pop(now: float) -> None:
        nonlocal withdrawn
        for e in det.pop_provisional():
            if e.onset not in live:
                first.append((now, e))
            live[e.onset] = e
        for e in det.pop_withdrawn():
            assert e.onset in live  # only a standing point is withdrawn
            del live[e.onset]
            withdrawn += 1

    for i in range(0, t.size, step):
        finals += det.process(t[i : i + step], acc[i : i + step])
        pop(float(t[min(i + step, t.size) - 1]))
    finals += det.flush()
    pop(float(t[-1]))
    return finals, live, first, withdrawn


@pytest.mark.parametrize("rate", [100.0, 25.0])
def test_preview_publishes_candidates_within_a_second_and_withdraws_the_rest(
    busy_night: tuple[np.ndarray, np.ndarray, float], rate: float
) -> None:
    t, acc, _ = busy_night
    if rate != 100.0:
        t, acc = t[::4], acc[::4]
    plain = JerkDetector(rate)
    want = plain.process(t, acc) + plain.flush()
    det = JerkDetector(rate, provisional=True, preview_s=0.5)
    finals, live, first, withdrawn = _live(det, t, acc, max(1, int(rate / 4)))
    assert finals == want and len(finals) > 100  # the final events do not change
    # Exactly the final jerks stand at the end, each once, with its measured values.
    assert sorted(live) == [e.onset for e in finals]
    for f in finals:
        assert _measured(live[f.onset]) == _measured(f)
    # Most jerks are out about a second after their last sample (the preview at 0.5 s after
    # the burst's last supra-threshold sample, its ringing, one 0.25 s packet); few are
    # candidates the final verdict rejects.
    delays = np.array([now - (e.onset + e.duration) for now, e in first if e.onset in live])
    assert np.median(delays) <= (1.2 if rate >= 50 else 1.5)  # 25 Hz: interpolation lag
    assert np.percentile(delays, 98) <= (2.0 if rate >= 50 else 2.25)
    assert 0 < withdrawn <= 0.05 * len(finals)
    assert len(first) == len(finals) + withdrawn


def test_preview_needs_a_positive_time() -> None:
    for bad in (0.0, -1.0, math.nan, "1"):
        with pytest.raises(ConfigError, match="preview_s"):
            JerkDetector(100.0, provisional=True, preview_s=bad)  # type: ignore[arg-type]
