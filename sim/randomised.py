"""The randomised night model (issue 16): nights drawn wider than any single night model.

``randomised_night(seed)`` draws a whole :class:`~sim.config.NightConfig` from the seed
(rate, clock error, BLE timing and packet loss, range and resolution, confounders) with
``randomised=True``; :func:`plan_randomised` then plans its events instead of the
standard jerk planners.  The standard model (``NightConfig()``) is left as it was, bit for
bit: everything here draws from random streams of its own.

What is randomised, per night or per event:

* jerk amplitudes log-uniform 0.05-3 g; main lobes 30-350 ms; transient shapes from a single
  lobe through push-return to 3-12 Hz ringing (plus skewed and two-axis lobes);
* JME clusters of 3-15 jerks 0.3-3 s apart (often in the half hour after waking) and
  cortical trains of 3-15 jerks at 1-3 Hz, aperiodic (5-25 % period variation);
* jerks superimposed on sitting up, reaching and holding something while awake, and in
  tremor episodes (4-12 Hz, 0.02-0.3 g);
* fragmented sleep onsets (2-3 attempts) and re-onsets after brief awakenings, with
  0-3 hypnic jerks at each (:func:`sim.schedule.fragment_onsets`);
* negative myoclonus while the forearm is held against gravity: a 50-500 ms lapse of tone
  (the wrist drops along gravity first), then a corrective burst restores it (truth
  ``kind="negative"``);
* confounders: turning over, scratching, fidgets, REM twitches, periodic limb movements,
  REM behaviour disorder, sensor knocks, walking, activity, reading, off-wrist, clonic
  episodes;
* rates 25/26/50/52/100/104/200 Hz, clock error ±0.5 %, host timestamps on a 7.5-15 ms
  connection-interval grid with jitter and retransmissions, 36-sample packets, burst packet
  loss and disconnections, 12/16-bit samples over ±2/4/8 g (clipping).

Seeds: :data:`TUNE_SEEDS` are for tuning and development; :data:`HELD_OUT_SEEDS` are only
for the held-out evaluation (``benchmarks/accuracy.py --randomised --split held-out``) and
must never be tuned on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from sim import waveforms as wf
from sim.config import NightConfig
from sim.geometry import FloatArray, random_unit
from sim.schedule import N1, N2, N3, REM, WAKE

if TYPE_CHECKING:
    from sim.plan import IntArray, _Planner

#: Stated rates of the wrist sensors the model covers (Polar H10: 25/50/100/200 Hz, Verity
#: Sense: 26/52/104 Hz).
RATES_HZ: tuple[float, ...] = (25.0, 26.0, 50.0, 52.0, 100.0, 104.0, 200.0)
#: Seeds for tuning (anyone may look at these nights as often as they like).
TUNE_SEEDS = range(100_000, 500_000)
#: Seeds for the held-out evaluation only: never tune on them.
HELD_OUT_SEEDS = range(500_000, 1_000_000)

_CONFIG_STREAM = 40
_G = 9.81
_FOREARM_M = 0.3


def randomised_night(
    seed: int,
    *,
    rate_hz: float | None = None,
    hours: float = 2.0,
    sensors: int = 1,
    t0: float = 0.0,
) -> NightConfig:
    """The randomised night of ``seed``: its sensor, link and confounders drawn from the seed
    (``rate_hz`` from :data:`RATES_HZ` unless given).  ``simulate_night`` renders it."""
    seq = np.random.SeedSequence(seed, spawn_key=(_CONFIG_STREAM,))
    rng = np.random.Generator(np.random.PCG64(seq))
    rate = float(RATES_HZ[int(rng.integers(0, len(RATES_HZ)))])
    off_wrist = bool(rng.random() < 0.25)
    return NightConfig(
        hours=hours,
        rate_hz=rate if rate_hz is None else rate_hz,
        seed=seed,
        sensors=sensors,
        range_g=float(rng.choice([2.0, 4.0, 8.0])),
        bits=int(rng.choice([12, 16])),
        noise_mg=float(np.exp(rng.uniform(math.log(1.5), math.log(12.0)))),
        gaps=False,  # packet loss and disconnections instead
        walking=bool(rng.random() < 0.7),
        activity=bool(rng.random() < 0.7),
        off_wrist=off_wrist,
        idle=off_wrist and bool(rng.random() < 0.5),
        clonic=bool(rng.random() < 0.2),
        t0=t0,
        randomised=True,
        rate_error_ppm=float(rng.uniform(-5000.0, 5000.0)),
        ble_interval_ms=float(rng.uniform(7.5, 15.0)),
        ble_jitter_ms=float(rng.uniform(0.2, 3.0)),
        packet_samples=36,
        packet_loss_pct=float(np.exp(rng.uniform(math.log(0.1), math.log(5.0)))),
    )


# ------------------------------------------------------------------------------ the link


def packet_arrivals(rng: np.random.Generator, cfg: NightConfig, n: int) -> FloatArray:
    """Host arrival time (s) of every packet of ``cfg.packet_samples`` slots.

    A packet leaves once its last sample is taken (plus 1-4 ms of processing), waits for the
    next connection event (grid of ``ble_interval_ms`` with a random phase), 3 % wait for
    retransmissions (1+ more intervals), and the host adds |N(0, ble_jitter_ms)|.  Arrivals
    are then made late enough that time stamps dated back at the stated rate strictly
    increase (a quarter sample period at least between packets), as host loggers enforce.
    """
    size = int(cfg.packet_samples)
    n_pk = -(-n // size)
    interval = float(cfg.ble_interval_ms) / 1000.0
    k = np.arange(n_pk)
    ready = (k * size + size - 1) / cfg.sample_rate_hz + float(rng.uniform(0.001, 0.004))
    phase = float(rng.uniform(0.0, interval))
    event = phase + np.ceil((ready - phase) / interval) * interval
    retry = rng.random(n_pk) < 0.03
    event = event + interval * rng.geometric(0.5, size=n_pk) * retry
    arrival = event + np.abs(rng.normal(0.0, float(cfg.ble_jitter_ms) / 1000.0, size=n_pk))
    step = (size - 0.75) / float(cfg.rate_hz)
    arrival = np.maximum.accumulate(arrival - k * step) + k * step
    return np.asarray(arrival, dtype=np.float64)


def packet_loss(rng: np.random.Generator, cfg: NightConfig, n: int) -> IntArray:
    """Slot ranges [start, end) (g, 2) of lost packets: a two-state (Gilbert-Elliott) burst
    process losing ``packet_loss_pct`` % of packets in bursts of 1-4 on average, plus
    disconnections (0.3 per hour, 5-120 s)."""
    size = int(cfg.packet_samples)
    n_pk = -(-n // size)
    share = float(cfg.packet_loss_pct) / 100.0
    p_exit = 1.0 / float(rng.uniform(1.0, 4.0))
    p_enter = min(share * p_exit / (1.0 - share), 1.0)
    lost: list[tuple[int, int]] = []
    pos = int(rng.geometric(p_enter))
    while pos < n_pk:
        length = int(rng.geometric(p_exit))
        lost.append((pos, min(pos + length, n_pk)))
        pos += length + int(rng.geometric(p_enter))
    for _ in range(int(rng.poisson(0.3 * cfg.hours))):
        length_s = float(np.exp(rng.uniform(math.log(5.0), math.log(120.0))))
        a = int(rng.integers(0, n_pk))
        lost.append((a, min(a + math.ceil(length_s * cfg.sample_rate_hz / size), n_pk)))
    rows = [(a * size, min(b * size, n)) for a, b in sorted(lost)]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


# ------------------------------------------------------------------------------ the jerks

#: Transient families of the randomised model (truth ``per_sensor[side]["shape"]``).
SHAPES: tuple[str, ...] = ("single_lobe", "push_return", "ringing", "skewed", "multi_axis")


def random_jerk(
    rng: np.random.Generator, amplitude_g: float, duration_s: float, family: str | None = None
) -> wf.Transient:
    """A jerk transient of one of :data:`SHAPES` (random if None): a single lobe with little
    ringing, a push and return, a lobe followed by strong 3-12 Hz ringing of the limb, or
    the standard skewed and two-axis lobes."""
    if family is None:
        family = SHAPES[int(rng.choice(len(SHAPES), p=[0.25, 0.25, 0.25, 0.125, 0.125]))]
    if family == "single_lobe":
        tr = wf.jerk(rng, amplitude_g, duration_s, shape="half_sine", ring_fraction=(0.0, 0.1))
    elif family == "push_return":
        tr = wf.jerk(rng, amplitude_g, duration_s, shape="biphasic", ring_fraction=(0.0, 0.3))
    elif family == "ringing":
        tr = wf.jerk(
            rng,
            amplitude_g,
            duration_s,
            shape=str(rng.choice(["half_sine", "biphasic"])),
            ring_fraction=(0.4, 0.9),
            ring_freq_hz=(3.0, 12.0),
            ring_decay_s=(0.2, 0.8),
        )
    else:
        tr = wf.jerk(rng, amplitude_g, duration_s, shape=family)
    tr.info["lobe"] = tr.info["shape"]
    tr.info["shape"] = family
    return tr


def _maker(family: str | None) -> Callable[[np.random.Generator, float, float], wf.Transient]:
    def make(rng: np.random.Generator, amplitude_g: float, duration_s: float) -> wf.Transient:
        return random_jerk(rng, amplitude_g, duration_s, family)

    return make


def _amplitude(rng: np.random.Generator, lo_g: float = 0.05, hi_g: float = 3.0) -> float:
    return float(np.exp(rng.uniform(math.log(lo_g), math.log(hi_g))))


def _duration(rng: np.random.Generator, cap_s: float = 0.35) -> float:
    return float(np.clip(np.exp(rng.normal(math.log(0.1), 0.55)), 0.03, min(cap_s, 0.35)))


def plan_randomised(p: _Planner) -> None:
    """Plan a randomised night's events onto the planner (after off-wrist periods)."""
    if p.cfg.hypnic:
        _hypnic(p)
    if p.cfg.series:
        _clusters(p)
        _trains(p)
    _sporadic(p)
    p.plan_turns()
    p.plan_scratches()
    p.plan_fidgets()
    if p.cfg.tremor:
        _tremor(p)
    p.plan_twitches()
    _moving(p)
    _plm(p)
    _rbd(p)
    _knocks(p)
    p.plan_reading()
    p.plan_bathroom()
    p.plan_morning()
    p.plan_clonic()


def _hypnic(p: _Planner) -> None:
    """0-3 sleep starts at every onset, fragmented attempts and re-onsets included; one
    that comes in a failed attempt falls inside it (the start is what ends it)."""
    rng = p._rng("r_hypnic")
    for onset, (a, b) in zip(p.schedule.onsets_s, p.schedule.periods_s, strict=True):
        count = int(rng.choice(4, p=[0.15, 0.45, 0.3, 0.1]))
        placed = 0
        for _attempt in range(20 * count):
            if placed >= count:
                break
            offset = min(-15.0 + 180.0 * float(rng.beta(1.2, 3.0)), b - a - 2.0)
            big = rng.random() < 0.85
            amp = _amplitude(rng, 0.3, 3.0) if big else _amplitude(rng, 0.08, 0.3)
            dur = float(np.clip(np.exp(rng.normal(math.log(0.2), 0.4)), 0.08, 0.4))
            bilateral, arms = p._jerk_sides(rng, 0.6)
            placed += int(
                p._make_jerk(
                    rng,
                    "hypnic",
                    onset + offset,
                    amp,
                    dur,
                    arms,
                    bilateral,
                    None,
                    check=True,
                    maker=_maker(None),
                )
            )


def _place_series(
    p: _Planner,
    rng: np.random.Generator,
    start: float,
    onsets: FloatArray,
    p_bilateral: float,
    context: str | None = None,
    arms: list[int] | None = None,
) -> bool:
    """A series of jerks at ``start + onsets`` if its arms are free there; similar jerks
    (one family, amplitudes around one size), main lobes shorter than the spacing."""
    end = start + float(onsets[-1])
    if arms is None:
        bilateral, arms = p._jerk_sides(rng, p_bilateral)
    else:
        bilateral = len(arms) == 2
    if context is None and not all(
        p._inside(start - 1.0, end + 2.0)
        and p.arms[a].jerk_busy.free(start - 1.0, end + 2.0)
        and p.arms[a].big_busy.free(start - 1.0, end + 2.0)
        for a in arms
    ):
        return False
    series_id = p.next_series
    p.next_series += 1
    base = _amplitude(rng, 0.05, 2.5)
    family = SHAPES[int(rng.integers(0, len(SHAPES)))]
    spacing = np.diff(onsets) if onsets.size > 1 else np.array([1.0])
    for k, onset in enumerate(onsets.tolist()):
        near = min(spacing[max(k - 1, 0)], spacing[min(k, spacing.size - 1)])
        amp = float(np.clip(base * rng.uniform(0.5, 1.5), 0.05, 3.0))
        p._make_jerk(
            rng,
            "myoclonic",
            start + onset,
            amp,
            _duration(rng, 0.45 * float(near)),
            arms,
            bilateral,
            series_id,
            check=False,
            maker=_maker(family),
            context=context,
        )
    return True


def _clusters(p: _Planner) -> None:
    """JME clusters: 3-15 jerks 0.3-3 s apart, 60 % in the half hour after waking."""
    rng = p._rng("r_clusters")
    wakes = [a for a, _ in p.schedule.awakenings_s]
    for _ in range(int(rng.poisson(1.5 * p.cfg.hours)) + 1):
        n = int(rng.integers(3, 16))
        typical = float(np.exp(rng.uniform(math.log(0.3), math.log(3.0))))
        gaps = np.clip(typical * rng.uniform(0.6, 1.5, size=n - 1), 0.3, 3.0)
        onsets = np.concatenate([[0.0], np.cumsum(gaps)])
        for _attempt in range(50):
            if wakes and rng.random() < 0.6:
                start = wakes[int(rng.integers(0, len(wakes)))] + float(rng.uniform(0.0, 1800.0))
            else:
                start = float(rng.uniform(0.0, p.duration_s))
            if _place_series(p, rng, start, onsets, 0.6):
                break


def _trains(p: _Planner) -> None:
    """Cortical trains: 3-15 jerks at 1-3 Hz, 5-25 % period variation (not a tremor)."""
    rng = p._rng("r_trains")
    for _ in range(int(rng.poisson(1.5 * p.cfg.hours)) + 1):
        n = int(rng.integers(3, 16))
        period = 1.0 / float(rng.uniform(1.0, 3.0))
        cv = float(rng.uniform(0.05, 0.25))
        gaps = period * np.clip(rng.normal(1.0, cv, size=n - 1), 0.6, 1.4)
        onsets = np.concatenate([[0.0], np.cumsum(gaps)])
        for _attempt in range(50):
            if _place_series(p, rng, float(rng.uniform(0.0, p.duration_s)), onsets, 0.4):
                break


def _sporadic(p: _Planner) -> None:
    """Isolated jerks, 5-30 per hour of sleep (more in N1 and after waking), some awake."""
    rng = p._rng("r_sporadic")
    rate = float(rng.uniform(5.0, 30.0))
    weight = p._stage_rate({WAKE: 0.4, N1: 1.5, N2: 1.0, N3: 0.6, REM: 0.5})
    weight = weight * np.where(p._after_awakening(1800.0), 2.0, 1.0)
    asleep = p.grid_stage != WAKE
    mean_asleep = float(weight[asleep].mean()) if asleep.any() else 1.0
    for onset in p._poisson_times(rng, rate * weight / mean_asleep):
        bilateral, arms = p._jerk_sides(rng, 0.3)
        p._make_jerk(
            rng,
            "myoclonic",
            float(onset),
            _amplitude(rng),
            _duration(rng),
            arms,
            bilateral,
            None,
            check=True,
            maker=_maker(None),
        )


def _tremor(p: _Planner) -> None:
    """Tremor (70 % of nights) at the patient's 4-12 Hz, 1-3 episodes of 1-10 min, mostly
    awake, each with 3-12 jerks inside it."""
    rng = p._rng("r_tremor")
    if rng.random() < 0.3:
        return
    wake = p._stage_rate({WAKE: 1.0})
    night_hz = float(rng.uniform(4.0, 12.0))
    night_g = _amplitude(rng, 0.02, 0.3)
    for _ in range(int(rng.integers(1, 4))):
        length = float(rng.uniform(60.0, 600.0))
        if rng.random() < 0.85 and wake.sum() > 0:
            start = float(rng.choice(p.grid_s, p=wake / wake.sum()))
        else:
            start = float(rng.uniform(0.0, p.duration_s))
        start = float(np.clip(start, 1.0, max(p.duration_s - 1.0 - length, 1.0)))
        length = min(length, p.duration_s - 1.0 - start)
        arms = list(range(len(p.arms)))
        if len(arms) == 2 and rng.random() < 0.6:
            arms = [int(rng.integers(0, 2))]
        if length < 20.0 or not all(
            p.arms[a].big_busy.free(start - 10.0, start + length + 10.0) for a in arms
        ):
            continue
        freq = float(np.clip(night_hz + rng.normal(0.0, 0.2), 4.0, 12.0))
        amp = float(np.clip(night_g * rng.uniform(0.6, 1.4), 0.02, 0.3))
        for a in arms:
            arm_amp = amp * (1.0 if a == arms[0] else float(rng.uniform(0.3, 1.0)))
            p._add_smooth(p.arms[a], wf.tremor(rng, length, arm_amp, freq), start)
        for t in np.sort(rng.uniform(start + 5.0, start + length - 5.0, size=rng.integers(3, 13))):
            on = [a for a in arms if rng.random() < 0.7] or arms[:1]
            p._make_jerk(
                rng,
                "myoclonic",
                float(t),
                _amplitude(rng),
                _duration(rng),
                on,
                len(on) == 2,
                None,
                check=True,
                maker=_maker(None),
                context="in_tremor",
            )
        for a in arms:
            p.arms[a].big_busy.add(start - 2.0, start + length + 2.0)
        p._record("tremor", start, start + length, arms, freq_hz=freq, peak_g=amp)


def _wake_segments(p: _Planner, min_s: float) -> list[tuple[float, float]]:
    sched = p.schedule
    return [
        (float(a), float(b))
        for a, b, c in zip(sched.starts_s, sched.ends_s, sched.stages, strict=True)
        if c == WAKE and b - a >= min_s
    ]


def _moving(p: _Planner) -> None:
    """Awake and moving: sitting up, reaching, holding something; 1-3 jerks (or a short
    train) during the movement, and negative myoclonus while holding."""
    rng = p._rng("r_moving")
    segments = _wake_segments(p, 40.0)
    if not segments:
        return
    lengths = np.array([b - a for a, b in segments])
    count = int(rng.poisson(14.0 * float(lengths.sum()) / 3600.0)) + 2
    for _ in range(count):
        a, b = segments[int(rng.choice(len(segments), p=lengths / lengths.sum()))]
        kind = str(rng.choice(["sit_up", "reach", "hold"], p=[0.3, 0.35, 0.35]))
        t = float(rng.uniform(a + 5.0, b - 35.0)) if b - a > 45.0 else a + 5.0
        if kind == "sit_up":
            arms = list(range(len(p.arms)))
            length = float(rng.uniform(2.0, 5.0))
        else:
            arms = [int(rng.integers(0, len(p.arms)))]
            approach, back = float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.5, 1.5))
            hold = float(rng.uniform(0.3, 3.0) if kind == "reach" else rng.uniform(5.0, 30.0))
            length = approach + hold + back
        if not p._free(arms, t - 2.0, t + length + 2.0):
            continue
        if kind == "sit_up":
            for i in arms:
                tr, progress = p._movement_wave(
                    rng, length, int(rng.integers(2, 5)), _amplitude(rng, 0.15, 1.0), 1.5
                )
                p._add_smooth(p.arms[i], tr, t)
                angle = math.radians(float(rng.uniform(30.0, 90.0))) * float(rng.choice([-1, 1]))
                p._add_rotation(
                    p.arms[i], t, length, _keep(progress, angle), "tilt", random_unit(rng), 1.0
                )
            window = (t + 0.2 * length, t + 0.9 * length)
        else:
            arm = p.arms[arms[0]]
            peak = _amplitude(rng, 0.1, 0.5)
            for when, dur in ((t, approach), (t + approach + hold, back)):
                tr, _ = p._movement_wave(rng, dur, 1, peak, dur)
                p._add_smooth(arm, tr, when)
            lo, hi = (15.0, 60.0) if kind == "reach" else (30.0, 80.0)
            lift = math.radians(float(rng.uniform(lo, hi)))
            residual = math.radians(float(rng.normal(0.0, 3.0)))
            shape = _lift(approach, hold, back, lift, residual)
            p._add_rotation(arm, t, length, shape, "tilt", random_unit(rng), 1.0)
            if kind == "hold":
                # Holding against gravity: physiological tremor and a slow sway.
                physio = wf.tremor(
                    rng, hold, _amplitude(rng, 0.003, 0.02), float(rng.uniform(8.0, 12.0))
                )
                p._add_smooth(arm, physio, t + approach)
                window = (t + approach + 1.0, t + approach + hold - 1.0)
            else:
                window = (t + 0.1, t + length - 0.3)
        _moving_jerks(p, rng, arms, kind, window)
        for i in arms:
            p.arms[i].busy.add(t - 2.0, t + length + 2.0)
            p.arms[i].jerk_busy.add(t - 2.0, t + length + 2.0)
            p.arms[i].big_busy.add(t - 2.0, t + length + 2.0)
        p._record(kind, t, t + length, arms)


def _moving_jerks(
    p: _Planner, rng: np.random.Generator, arms: list[int], kind: str, window: tuple[float, float]
) -> None:
    lo, hi = window
    if hi - lo < 0.3:
        return
    on = [a for a in arms if rng.random() < 0.5] or [arms[int(rng.integers(0, len(arms)))]]
    if kind == "hold" and rng.random() < 0.8:
        # Negative myoclonus: 1-4 lapses, at least 1.5 s apart.
        times = np.sort(rng.uniform(lo, hi, size=int(rng.integers(1, 5))))
        keep = [float(times[0])]
        for x in times[1:].tolist():
            if x - keep[-1] >= 1.5:
                keep.append(float(x))
        for x in keep:
            _negative(p, rng, on[0], x)
        if rng.random() < 0.5:
            return
        lo = min(keep[-1] + 1.5, hi)
    if hi - lo < 0.3:
        return
    if rng.random() < 0.2:
        n = int(rng.integers(3, 7))
        onsets = np.concatenate([[0.0], np.cumsum(rng.uniform(0.3, 0.9, size=n - 1))])
        if onsets[-1] < hi - lo:
            _place_series(p, rng, lo, onsets, 0.0, context="awake_moving", arms=on)
            return
    times = np.sort(rng.uniform(lo, hi, size=int(rng.integers(1, 4))))
    last = -math.inf
    for x in times.tolist():
        if x - last < 0.4:
            continue
        last = x
        p._make_jerk(
            rng,
            "myoclonic",
            x,
            _amplitude(rng),
            _duration(rng),
            on,
            len(on) == 2,
            None,
            check=False,
            maker=_maker(None),
            context="awake_moving",
        )


def negative_profile(
    lapse_s: float, drop_g: float, burst_s: float, settle_s: float
) -> tuple[wf.Transient, float]:
    """Negative myoclonus as acceleration along up (g, in column 0; negative = falling):
    the lapse (the wrist accelerates down along gravity by up to ``drop_g``), a corrective
    burst twice the lapse's impulse upward (stops the fall and lifts the arm back), a gentle
    settle (stops it where it was).  Returns the transient and its peak |acceleration| g."""
    c_lapse = float(np.mean(np.sqrt(np.sin(np.pi * (np.arange(4000) + 0.5) / 4000))))
    impulse = drop_g * lapse_s * c_lapse
    burst_g = impulse * math.pi / burst_s  # area 2 * impulse under a half-sine lobe
    settle_g = impulse * math.pi / (2.0 * settle_s)
    length = lapse_s + burst_s + settle_s

    def wave(tau: FloatArray) -> FloatArray:
        tau = np.asarray(tau, dtype=np.float64)
        along = (
            -drop_g * np.sqrt(wf.half_sine(tau / lapse_s))
            + burst_g * wf.half_sine((tau - lapse_s) / burst_s)
            - settle_g * wf.half_sine((tau - lapse_s - burst_s) / settle_s)
        )
        out = np.zeros((*tau.shape, 3))
        out[..., 0] = along
        return out

    return wf.Transient(wave, length, {"shape": "negative"}), max(drop_g, burst_g, settle_g)


def _negative(p: _Planner, rng: np.random.Generator, arm_index: int, onset_s: float) -> None:
    """One negative myoclonus on one arm at ``onset_s`` (the start of the lapse)."""
    from sim.plan import UpEvent, _Jerk, _JerkPart

    lapse = float(np.exp(rng.uniform(math.log(0.05), math.log(0.5))))
    drop_m = float(np.exp(rng.uniform(math.log(0.005), math.log(0.08))))
    # Half-sine-root lapse: x ~ 0.35 a T^2; never more than a near free fall.
    drop_g = min(drop_m / (0.35 * _G * lapse**2), 0.8)
    burst = float(rng.uniform(0.06, 0.2))
    settle = float(rng.uniform(0.2, 0.5))
    tr, peak_g = negative_profile(lapse, drop_g, burst, settle)
    if not p._inside(onset_s, onset_s + tr.length_s + 1.0):
        return
    arm = p.arms[arm_index]
    i0, data = wf.sample_transient(tr, onset_s, p.rate_hz, p.n, p.oversample)
    if data.shape[0] == 0:
        return
    arm.up_acc.append(UpEvent(i0, np.ascontiguousarray(data[:, 0])))
    # The forearm dips about the elbow with the drop and comes back.
    grid = np.linspace(0.0, tr.length_s, 2001)
    step = grid[1] - grid[0]
    velocity = np.cumsum(tr.wave(grid)[:, 0]) * step * _G
    depth = np.cumsum(velocity) * step  # m, negative = down

    def shape(tau: FloatArray) -> FloatArray:
        return np.asarray(np.interp(tau, grid, depth) / _FOREARM_M, dtype=np.float64)

    p._add_rotation(arm, onset_s, tr.length_s, shape, "tilt", random_unit(rng), 1.0)
    part = _JerkPart(onset_s, lapse + burst, peak_g, "negative")
    p.jerks.append(_Jerk("negative", None, False, {arm_index: part}, "awake_moving"))


def _plm(p: _Planner) -> None:
    """Periodic limb movements in N1/N2 (40 % of nights): runs of 4-30 slow 0.5-3 s
    movements, 15-45 s apart, 0.02-0.25 g at the wrist."""
    rng = p._rng("r_plm")
    if rng.random() >= 0.4:
        return
    light = np.flatnonzero((p.grid_stage == N1) | (p.grid_stage == N2))
    if light.size == 0:
        return
    for _ in range(int(rng.integers(1, 4))):
        t = float(p.grid_s[int(rng.choice(light))])
        arm_index = int(rng.integers(0, len(p.arms)))
        period = float(rng.uniform(15.0, 45.0))
        for _k in range(int(rng.integers(4, 31))):
            dur = float(rng.uniform(0.5, 3.0))
            if p._free([arm_index], t - 1.0, t + dur + 1.0):
                arm = p.arms[arm_index]
                peak = _amplitude(rng, 0.02, 0.25)
                tr, progress = p._movement_wave(rng, dur, int(rng.integers(1, 3)), peak, dur)
                p._add_smooth(arm, tr, t)
                turn = math.radians(float(rng.uniform(1.0, 8.0)))
                path = _keep(progress, turn, 0.0)
                p._add_rotation(arm, t, dur, path, "tilt", random_unit(rng), 1.0)
                arm.busy.add(t - 1.0, t + dur + 1.0)
                arm.jerk_busy.add(t - 1.0, t + dur + 1.0)
                p._record("plm", t, t + dur, [arm_index], peak_g=peak)
            t += period * float(rng.uniform(0.8, 1.2))


def _rbd(p: _Planner) -> None:
    """REM behaviour disorder (in half the REM periods of 30 % of nights): 1-3 bouts of
    2-15 s of vigorous movement (punching, gesturing) with knocks on the bed."""
    rng = p._rng("r_rbd")
    if rng.random() >= 0.3:
        return
    sched = p.schedule
    for a, b, c in zip(sched.starts_s, sched.ends_s, sched.stages, strict=True):
        if c != REM or b - a < 60.0 or rng.random() >= 0.5:
            continue
        for _ in range(int(rng.integers(1, 4))):
            length = float(rng.uniform(2.0, 15.0))
            t = float(rng.uniform(a + 5.0, max(b - length - 5.0, a + 5.0)))
            arms = list(range(len(p.arms)))
            if len(arms) == 2 and rng.random() < 0.5:
                arms = [int(rng.integers(0, 2))]
            if not p._free(arms, t - 2.0, t + length + 2.0):
                continue
            for i in arms:
                arm = p.arms[i]
                n_sub = max(2, int(length / 0.7))
                tr, progress = p._movement_wave(rng, length, n_sub, _amplitude(rng, 0.3, 2.0), 1.0)
                p._add_smooth(arm, tr, t)
                angle = math.radians(float(rng.uniform(20.0, 60.0)))
                keep = float(rng.uniform(0.0, 0.5))
                path = _keep(progress, angle, keep)
                p._add_rotation(arm, t, length, path, "tilt", random_unit(rng), 1.0)
                for _k in range(int(rng.poisson(length / 4.0))):
                    knock = wf.jerk(
                        rng,
                        _amplitude(rng, 0.2, 2.0),
                        float(rng.uniform(0.02, 0.06)),
                        ring_fraction=(0.2, 0.6),
                        ring_freq_hz=(10.0, 25.0),
                        ring_decay_s=(0.05, 0.2),
                    )
                    p._add_transient(arm, knock, t + float(rng.uniform(0.0, length)))
                arm.busy.add(t - 2.0, t + length + 2.0)
                arm.jerk_busy.add(t - 2.0, t + length + 2.0)
                arm.big_busy.add(t - 2.0, t + length + 2.0)
            p._record("rbd", t, t + length, arms)


def _knocks(p: _Planner) -> None:
    """Sensor knocks (2 per hour): a small reach that ends with the watch hitting the bed
    frame or the bedside table: a 10-40 ms impact of 0.2-3 g ringing at 12-30 Hz."""
    rng = p._rng("r_knocks")
    for _ in range(int(rng.poisson(2.0 * p.cfg.hours))):
        t = float(rng.uniform(0.0, p.duration_s))
        arm_index = int(rng.integers(0, len(p.arms)))
        reach = float(rng.uniform(0.4, 1.0))
        if not p._free([arm_index], t - 1.0, t + reach + 1.5):
            continue
        arm = p.arms[arm_index]
        tr, _ = p._movement_wave(rng, reach, 1, _amplitude(rng, 0.05, 0.3), reach)
        p._add_smooth(arm, tr, t)
        knock = wf.jerk(
            rng,
            _amplitude(rng, 0.2, 3.0),
            float(rng.uniform(0.01, 0.04)),
            ring_fraction=(0.2, 0.6),
            ring_freq_hz=(12.0, 30.0),
            ring_decay_s=(0.03, 0.15),
        )
        p._add_transient(arm, knock, t + reach * float(rng.uniform(0.85, 1.0)))
        arm.busy.add(t - 1.0, t + reach + 1.5)
        arm.jerk_busy.add(t - 1.0, t + reach + 1.5)
        p._record("knock", t, t + reach + 0.2, [arm_index])


def _keep(
    progress: Callable[[FloatArray], FloatArray], angle_rad: float, keep: float = 1.0
) -> Callable[[FloatArray], FloatArray]:
    from sim.plan import _excursion

    return _excursion(progress, angle_rad, keep)


def _lift(
    approach_s: float, hold_s: float, back_s: float, lift_rad: float, residual_rad: float
) -> Callable[[FloatArray], FloatArray]:
    from sim.plan import _lift_and_return

    return _lift_and_return(approach_s, hold_s, back_s, lift_rad, residual_rad)
