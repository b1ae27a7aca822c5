"""Real-night context: wear, wake activity, convulsive episodes, the main sleep window."""

from __future__ import annotations

import numpy as np
import pytest

from detector import EpisodeDetector, JerkDetector, JerkEvent, summarize
from detector.activity import ActivityParams, movement_context
from detector.sleepwindow import main_sleep_window
from detector.windows import window_runs
from reports.evaluation import score_episodes, state_at
from sim import NightConfig, simulate_night
from sim.config import EXTRAS
from sim.plan import plan_walks
from tests import synth


def _run(det: JerkDetector, t: np.ndarray, acc: np.ndarray) -> list[JerkEvent]:
    return det.process(t, acc) + det.flush()


def _table(hours: float, fs: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A sensor lying flat on a table: gravity, bias and sensor noise, nothing else."""
    rng = np.random.default_rng(seed)
    n = round(hours * 3600 * fs)
    t = np.arange(n) / fs
    acc = np.tile([0.01, -0.02, 0.99], (n, 1)) + rng.normal(0.0, 0.004, (n, 3))
    return t, np.round(acc / 0.001) * 0.001  # 1 mg quantisation


def test_still_device_is_not_worn_and_never_sleep() -> None:
    t, acc = _table(2.5, 25.0)
    det = JerkDetector(25.0)
    events = _run(det, t, acc)
    off = det.wear.periods()
    assert events == []
    assert sum(p.end - p.start for p in off) >= 0.95 * t[-1]
    assert det.sleep.periods()  # the inactivity estimate alone would call it sleep...
    assert det.sleep_periods() == []  # ...but not-worn time is never sleep
    assert det.main_sleep_window() is None
    s = summarize(events, det.sleep_periods(), t[-1], t[-1], not_worn_s=det.wear.not_worn_s(0, 1e9))
    assert s.sleep_hours == 0.0 and s.covered_hours < 0.1 and s.not_worn_hours > 2.3


def test_idle_mode_repeated_samples_are_not_worn() -> None:
    fs = 50.0
    t, acc = synth.rest(1800, fs, seed=4)
    i0, i1 = round(600 * fs), round(900 * fs)
    acc[i0:i1] = acc[i0]  # the device repeats one sample for 5 min
    det = JerkDetector(fs)
    _run(det, t, acc)
    idle = [p for p in det.wear.periods() if p.reason == "idle"]
    assert len(idle) == 1
    assert abs(idle[0].start - 600.0) < 0.1 and abs(idle[0].end - 900.0) < 0.1


def test_wear_is_chunk_invariant() -> None:
    fs = 25.0
    t, acc = _table(1.5, fs, seed=2)
    wt, wacc = synth.rest(1800, fs, seed=1)
    synth.add_turn(wacc, fs, 900, 3.0, 60.0)
    t = np.concatenate((wt, t + 1800.0))
    acc = np.concatenate((wacc, acc))
    whole = JerkDetector(fs)
    _run(whole, t, acc)
    parts = JerkDetector(fs)
    rng = np.random.default_rng(0)
    i = 0
    while i < t.size:
        k = int(rng.integers(1, 20000))
        parts.process(t[i : i + k], acc[i : i + k])
        i += k
    parts.flush()
    assert whole.wear.periods() == parts.wear.periods()
    assert whole.wear.periods()[0].start >= 1800.0 - 60.0


def _idle_reference(t: np.ndarray, acc: np.ndarray, min_s: float, bridge_s: float) -> list:
    """Runs of identical adjacent samples lasting ``min_s`` or more, one sample at a time."""
    runs: list[tuple[float, float]] = []
    a = 0
    for i in range(1, t.size + 1):
        if i < t.size and (acc[i] == acc[i - 1]).all() and t[i] - t[i - 1] <= bridge_s:
            continue
        if t[i - 1] - t[a] >= min_s:
            if runs and t[a] <= runs[-1][1] + bridge_s:
                runs[-1] = (runs[-1][0], float(t[i - 1]))
            else:
                runs.append((float(t[a]), float(t[i - 1])))
        a = i
    return runs


@pytest.mark.parametrize("seed", range(4))
def test_idle_runs_match_a_sample_by_sample_reference_whatever_the_chunking(seed: int) -> None:
    fs = 25.0
    rng = np.random.default_rng(seed)
    t, acc = synth.rest(1200, fs, seed=seed)  # 20 min: too short for a still window
    t = t + 0.2 * np.cumsum(rng.random(t.size) < 1e-4)  # a few short gaps
    for slot in range(12):  # an idle stretch of 5-95 s in every 100 s, and not in chunks
        i0 = int((100 * slot + rng.uniform(0, 5)) * fs)
        acc[i0 : i0 + int(rng.uniform(5, 95) * fs)] = acc[i0]
    expected = _idle_reference(t, acc, 60.0, 3.5 / fs)
    assert expected  # the case is worth checking
    for chunked in (False, True):
        det = JerkDetector(fs)
        i = 0
        while i < t.size:
            k = int(rng.integers(1, 3000)) if chunked else t.size
            det.process(t[i : i + k], acc[i : i + k])
            i += k
        det.flush()
        got = [(p.start, p.end) for p in det.wear.periods()]
        assert all(p.reason == "idle" for p in det.wear.periods())
        assert got == expected


@pytest.mark.parametrize("rate", [50.0, 100.0])
def test_simulated_night_with_all_confounders(rate: float) -> None:
    night = simulate_night(
        NightConfig(hours=8, rate_hz=rate, seed=7, **dict.fromkeys(EXTRAS, True))
    )
    rec = night.sensors[0]
    det = JerkDetector(rate)
    events = _run(det, rec.t, rec.acc)
    truth = night.truth
    # The hour off the wrist is not worn, and none of it is sleep.
    (off,) = [c for c in truth["confounders"] if c["kind"] == "not_worn"]
    found = det.wear.not_worn_s(off["start"], off["end"])
    assert found >= 0.8 * (off["end"] - off["start"])
    assert all(
        p.end <= off["start"] + 60 or p.onset >= off["end"] - 60 for p in det.sleep_periods()
    )
    # Every clonic episode is reported, nothing else is.
    eps = score_episodes([(e.start, e.end) for e in det.pop_episodes()], truth, "left")
    assert eps.n_true >= 1 and eps.missed == 0 and eps.false == 0
    # No false jerk while walking; every event has a state.
    assert all(e.state in ("asleep", "awake", "walking", "activity") for e in events)
    walking = [e for e in events if state_at(truth, e.onset, "left") == "walking"]
    assert walking == []
    # The main sleep window covers most of the true sleep.
    w = det.main_sleep_window()
    assert w is not None
    onset, wake = truth["sleep_periods"][0][0], truth["sleep_periods"][-1][1]
    overlap = min(w.wake, wake) - max(w.onset, onset)
    assert overlap >= 0.7 * (wake - onset)


def test_walking_of_many_gaits_gives_no_jerks_but_a_real_jerk_still_counts() -> None:
    rate = 50.0
    cfg = NightConfig(hours=0.25, rate_hz=rate, seed=31)
    night = simulate_night(cfg, plan_walks(cfg))
    rec = night.sensors[0]
    det = JerkDetector(rate)
    det.trace = []
    assert _run(det, rec.t, rec.acc) == []
    assert sum(1 for *_, v in det.trace if v == "walking") >= 50
    # A large jerk in the middle of a walk interrupts it: counted, as a jerk while walking.
    walk = next(c for c in night.truth["confounders"] if c["kind"] == "walk")
    t_j = 0.5 * (walk["start"] + walk["end"])
    acc = rec.acc.copy()
    synth.add_jerk(acc, rate, t_j - rec.t[0], 4.0, 0.1, seed=3)
    det = JerkDetector(rate)
    events = _run(det, rec.t, acc)
    assert [round(e.onset, 1) for e in events] == [round(t_j, 1)]
    assert events[0].state in ("walking", "activity")  # its own ringing may hide the steps


def test_tremor_and_scratching_are_not_episodes() -> None:
    fs = 100.0
    t, acc = synth.rest(400, fs, seed=5)
    synth.add_tremor(acc, fs, 20, 120, 0.3)  # strong tremor, minutes
    synth.add_scratch(acc, fs, 200, 30, 1.0)  # vigorous scratching, 30 s
    det = JerkDetector(fs)
    _run(det, t, acc)
    assert det.pop_episodes() == []


def test_clonic_train_is_one_episode_whatever_the_chunking() -> None:
    fs = 50.0
    t, acc = synth.rest(120, fs, seed=6)
    for k, onset in enumerate(np.arange(40.0, 60.0, 1 / 4.5)):
        synth.add_jerk(acc, fs, float(onset), 1.5, 0.06, seed=100 + k % 2)
    whole = EpisodeDetector(fs)
    det = JerkDetector(fs)
    events = _run(det, t, acc)
    eps = det.pop_episodes()
    assert len(eps) == 1 and events == []  # its beats are not jerks
    assert 38.0 <= eps[0].start <= 42.0 and eps[0].duration_s >= 16.0
    assert 4.0 <= eps[0].dominant_hz <= 5.0 and eps[0].peak_g >= 1.0
    parts = JerkDetector(fs)
    rng = np.random.default_rng(1)
    i = 0
    while i < t.size:
        k = int(rng.integers(1, 700))
        parts.process(t[i : i + k], acc[i : i + k])
        i += k
    parts.flush()
    assert parts.pop_episodes() == eps
    del whole


def test_main_sleep_window_needs_a_long_rest_block() -> None:
    ep = 5.0
    start = np.arange(0.0, 10 * 3600.0, ep)
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 20.0, start.size)  # awake: the arm moves all the time
    asleep = (start >= 2 * 3600) & (start < 8 * 3600)
    z[asleep] = 10.0 + np.repeat(rng.normal(0, 30, asleep.sum() // 360 + 1), 360)[: asleep.sum()]
    w = main_sleep_window(start, z, ep)
    assert w is not None
    assert abs(w.onset - 2 * 3600) < 600 and abs(w.wake - 8 * 3600) < 600
    assert main_sleep_window(start, z, ep, not_worn=[(0.0, 10 * 3600.0)]) is None


def _env(rate: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0.0, 12.0, 1.0 / rate)
    return t, 0.005 + 0.002 * np.sin(2 * np.pi * 0.3 * t)  # a resting wrist


def _burst(t: np.ndarray, env: np.ndarray, t0: float, peak_g: float = 0.3) -> tuple[float, float]:
    """A jerk-sized burst at ``t0`` (80 ms) and its ringing (0.4 s above the activity level)."""
    env[(t >= t0) & (t < t0 + 0.08)] = peak_g
    ring = (t >= t0 + 0.08) & (t < t0 + 0.48)
    env[ring] = np.maximum(env[ring], 0.03)
    return t0, t0 + 0.07


def test_jerks_of_a_series_are_not_the_reach_before_a_knock() -> None:
    # Three jerks 0.45 s apart, then a fourth: the second before it is all ringing of the
    # others, which is not voluntary movement, so the fourth is judged at rest.
    t, env = _env()
    others = np.array([_burst(t, env, s) for s in (5.0, 5.45, 5.9, 6.35)])
    ctx = movement_context(t, env, 6.35, 6.42, 0.3, 100.0, ActivityParams(), others)
    assert ctx.state == "rest" and ctx.counts
    # A knock at the end of a smooth reach (the limb moving throughout the second before)
    # is still judged inside the movement.
    t, env = _env()
    env[(t >= 5.2) & (t < 6.35)] = 0.06
    knock = np.array([_burst(t, env, 6.35)])
    ctx = movement_context(t, env, 6.35, 6.42, 0.3, 100.0, ActivityParams(), knock)
    assert ctx.state != "rest"


@pytest.mark.parametrize("length_s", [2.0, 5.0, 60.0, 0.1])
def test_window_runs_are_those_of_flooring_every_sample(length_s: float) -> None:
    rng = np.random.default_rng(int(length_s * 10))
    for _ in range(50):
        n = int(rng.integers(1, 3000))
        dt = rng.choice([0.01, 0.04, 1 / 3, 7.0, 1e4], size=n, p=[0.6, 0.2, 0.1, 0.09, 0.01])
        t = float(rng.uniform(-1e5, 1e9)) + np.cumsum(dt)
        t[rng.random(n) < 0.05] = 0.0  # exact boundaries: multiples of the length
        t = np.unique(np.round(t / length_s) * length_s if rng.random() < 0.3 else t)
        w = np.floor(t / length_s)
        want = np.concatenate(([0], np.flatnonzero(np.diff(w)) + 1))
        starts, index = window_runs(t, length_s)
        assert starts.tolist() == want.tolist()
        assert index.tolist() == w[want].astype(np.int64).tolist()


def _transients(
    rng: np.random.Generator, period_s: float, spread: float, peaks_g: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brief transients (60 ms, then 0.2 s of decaying ringing) ``period_s`` apart with
    ``spread`` relative variation of the period and peaks log-uniform in ``peaks_g``;
    returns t, env and their (first, last) supra-threshold times."""
    t, env = _env()
    starts = 0.3 + np.cumsum(period_s * (1.0 + spread * rng.standard_normal(40)))
    starts = starts[starts < 11.5]
    peaks = np.exp(rng.uniform(np.log(peaks_g[0]), np.log(peaks_g[1]), starts.size))
    for s, a in zip(starts, peaks, strict=True):
        lobe = (t >= s) & (t < s + 0.06)
        env[lobe] = np.maximum(env[lobe], a)
        ring = (t >= s + 0.06) & (t < s + 0.26)
        env[ring] = np.maximum(env[ring], a * np.exp(-(t[ring] - s - 0.06) / 0.05))
    return t, env, np.column_stack((starts, starts + 0.05))


def test_a_jerk_train_at_a_step_rhythm_is_not_walking() -> None:
    rng = np.random.default_rng(3)
    # An aperiodic train near 2 Hz (cortical trains: 1-3 Hz), the limb at rest between
    # the jerks: judged at rest, so the jerks count ...
    t, env, bursts = _transients(rng, 0.55, 0.2, (0.1, 1.0))
    k = len(bursts) // 2
    ctx = movement_context(t, env, *bursts[k], float(env.max()), 100.0, ActivityParams(), bursts)
    assert ctx.state == "rest" and ctx.counts
    # ... where the rule that walking keeps the wrist moving is off, it was walking.
    off = ActivityParams(walk_min_fraction=0.0)
    assert movement_context(t, env, *bursts[k], float(env.max()), 100.0, off, bursts).state == (
        "walking"
    )
    # Heel strikes as regular as a gait stay walking, even with no arm swing between them
    # (a hand on the wall) ...
    t, env, bursts = _transients(rng, 0.6, 0.03, (0.4, 0.5))
    k = len(bursts) // 2
    ctx = movement_context(t, env, *bursts[k], 0.5, 100.0, ActivityParams(), bursts)
    assert ctx.state == "walking" and not ctx.counts
    # ... and so do irregular ones with the arm swing and trunk bounce between them.
    t, env, bursts = _transients(rng, 0.55, 0.1, (0.2, 0.4))
    env += 0.05 * np.abs(np.sin(np.pi * 1.8 * t))
    ctx = movement_context(t, env, *bursts[k], 0.45, 100.0, ActivityParams(), bursts)
    assert ctx.state != "rest" and not ctx.counts


def test_a_dense_jerk_cluster_rests_between_its_jerks_so_each_counts() -> None:
    # JME jerks 0.3-0.9 s apart (off any step rhythm) whose ringing keeps the band-passed
    # magnitude above the activity level most of the time: "active", but the limb rests
    # between the jerks, far below each of them (the median envelope is ringing level).
    rng = np.random.default_rng(5)
    t, env = _env()
    starts = 0.4 + np.cumsum(rng.uniform(0.3, 0.9, 30))
    starts = starts[starts < 11.3]
    for s in starts:
        lobe = (t >= s) & (t < s + 0.07)
        env[lobe] = np.maximum(env[lobe], 0.8)
        ring = (t >= s + 0.07) & (t < s + 0.6)
        env[ring] = np.maximum(
            env[ring], np.maximum(0.03, 0.8 * np.exp(-(t[ring] - s - 0.07) / 0.04))
        )
    bursts = np.column_stack((starts, starts + 0.06))
    k = len(bursts) // 2
    without = ActivityParams(rest_ratio=float("inf"))
    ctx = movement_context(t, env, *bursts[k], 0.8, 100.0, without, bursts)
    assert ctx.state == "activity" and not ctx.counts  # what the rule changes
    ctx = movement_context(t, env, *bursts[k], 0.8, 100.0, ActivityParams(), bursts)
    assert ctx.counts
    # A voluntary movement (the limb moving throughout, strokes a few times its level)
    # stays an activity whose strokes do not count.
    t, env = _env()
    env += 0.12 + 0.05 * np.abs(np.sin(2 * np.pi * 0.7 * t))
    for s in starts:
        env[(t >= s) & (t < s + 0.07)] = 0.6
    ctx = movement_context(t, env, *bursts[k], 0.6, 100.0, ActivityParams(), bursts)
    assert ctx.state == "activity" and not ctx.counts
