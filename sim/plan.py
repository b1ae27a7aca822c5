"""Planning a night: every random decision, turned into sample-indexed event lists and truth.

Rendering (:mod:`sim.render`) is a pure function of the plan, so a night can be rendered
whole or chunk by chunk with identical results.  Each kind of event draws from its own
random stream (derived from the seed), so switching one confounder off leaves the others,
and all jerks, where they were.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.ndimage import gaussian_filter1d

from sim import waveforms as wf
from sim.config import NightConfig
from sim.geometry import (
    FloatArray,
    angle_between,
    arm_up_vector,
    initial_posture,
    near,
    next_posture,
    perpendicular_axis,
    random_unit,
    rotate,
    unit,
)
from sim.link import packet_arrivals, packet_loss
from sim.schedule import (
    N1,
    N2,
    N3,
    REM,
    STAGES,
    WAKE,
    SleepSchedule,
    fragment_onsets,
    make_schedule,
)

IntArray = npt.NDArray[np.int64]

TRUTH_VERSION = 1
_FOREARM_M = 0.3  # elbow-to-wrist radius that turns wrist displacement into a tilt angle
_G = 9.81

# Independent random streams, one per kind of decision (ids are part of the seeding).
_STREAMS = {
    "schedule": 1,
    "posture": 2,
    "series": 3,
    "hypnic": 4,
    "sporadic": 5,
    "turns": 6,
    "scratch": 7,
    "fidgets": 8,
    "tremor": 9,
    "twitches": 10,
    "gaps": 11,
    "baseline": 12,
    "walking": 13,
    "reading": 14,
    "off_wrist": 15,
    "clonic": 16,
    "morning": 17,
    # The randomised model (sim.randomised) draws from streams of its own.
    "fragments": 20,
    "packets": 21,
    "ble": 22,
    "r_hypnic": 23,
    "r_clusters": 24,
    "r_trains": 25,
    "r_sporadic": 26,
    "r_tremor": 27,
    "r_moving": 28,
    "r_plm": 29,
    "r_rbd": 30,
    "r_knocks": 31,
}

#: What a jerk happens in (truth ``context``): alone, in a series whose neighbouring jerks
#: are >= 1 s or < 1 s apart, superimposed on a voluntary movement while awake, or in tremor.
CONTEXTS: tuple[str, ...] = (
    "isolated",
    "series_ge_1s",
    "series_lt_1s",
    "awake_moving",
    "in_tremor",
)
#: Truth ``kind`` of a jerk; "negative" is negative myoclonus (a lapse of tone).
KINDS: tuple[str, ...] = ("hypnic", "myoclonic", "negative")
#: Truth ``size``: amplitude_g < 0.15 g, 0.15-0.5 g, > 0.5 g.
SIZES: tuple[str, ...] = ("small", "medium", "large")


def size_class(amplitude_g: float) -> str:
    """The truth ``size`` of a jerk of this peak amplitude (g)."""
    if amplitude_g < 0.15:
        return "small"
    return "medium" if amplitude_g <= 0.5 else "large"


@dataclass(frozen=True)
class AccEvent:
    """Linear acceleration added to samples ``start .. start + len(data) - 1``; data (m, 3) g."""

    start: int
    data: FloatArray


@dataclass(frozen=True)
class UpEvent:
    """Acceleration along the arm's current up vector (gravity direction, resolved at render
    time) added to samples ``start .. start + len(along_up_g) - 1``; negative = falling."""

    start: int
    along_up_g: FloatArray


@dataclass(frozen=True)
class RotEvent:
    """A rotation of the arm about ``axis`` (3,) in the sensor frame.

    ``angle_rad`` (m,) is the angle at samples ``start .. start + m - 1``; from ``start + m``
    on the arm stays rotated by ``final_rad``.
    """

    start: int
    angle_rad: FloatArray
    final_rad: float
    axis: FloatArray

    @property
    def end(self) -> int:
        return self.start + int(self.angle_rad.size)


@dataclass(frozen=True)
class Baseline:
    """Slow background signals of one sensor, as knots to interpolate at sample times.

    Breathing tilts the arm by ``breath_amp_g * w(breath_phase)`` radians (≈ g) about
    ``breath_axis`` × up; the ballistocardiogram adds ``heart_amp_g * h(heart_phase)`` along
    ``heart_dir``; ``drift_g`` (kd, 3) is a slow offset drift with knots every
    ``drift_step_s``.  ``bias_g`` (3,) is constant, ``noise_g`` is the white noise RMS per axis.
    """

    knot_step_s: float
    breath_phase: FloatArray
    breath_amp_g: FloatArray
    breath_axis: FloatArray
    heart_phase: FloatArray
    heart_amp_g: float
    heart_dir: FloatArray
    drift_step_s: float
    drift_g: FloatArray
    bias_g: FloatArray
    noise_g: float
    breathing: bool
    heartbeat: bool


@dataclass(frozen=True)
class SensorPlan:
    """Everything needed to render one sensor.

    ``rot_states`` (k + 1, 3): up vector before rotation k assuming all earlier rotations have
    completed (row 0 is the initial up vector).  ``gaps`` (g, 2): sample index ranges
    [start, end) that the BLE link loses, sorted and disjoint.
    """

    index: int
    side: str
    acc_events: tuple[AccEvent, ...]
    acc_starts: IntArray
    acc_ends: IntArray
    rot_events: tuple[RotEvent, ...]
    rot_starts: IntArray
    rot_ends: IntArray
    rot_states: FloatArray
    baseline: Baseline
    gaps: IntArray
    off: IntArray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    idle: bool = False
    table_up: FloatArray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    up_events: tuple[UpEvent, ...] = ()
    # Host arrival time (s from the first slot) of each BLE packet, None: sensor time grid.
    arrival_s: FloatArray | None = None


def slot_times(config: NightConfig, arrival_s: FloatArray | None, idx: IntArray) -> FloatArray:
    """Time stamps (s, without t0) of sample slots ``idx``: the sensor's grid at its true rate,
    or with host timestamps the packet's arrival dated back at the stated rate."""
    if arrival_s is None:
        return np.asarray(idx / config.sample_rate_hz, dtype=np.float64)
    size = int(config.packet_samples)
    back = (size - 1 - idx % size) / float(config.rate_hz)
    return np.asarray(arrival_s[idx // size] - back, dtype=np.float64)


@dataclass(frozen=True)
class NightPlan:
    """A planned night: config, hypnogram, per-sensor render plans and the truth.

    ``truth`` is complete except ``"clipped"``, which is only known after rendering.
    """

    config: NightConfig
    schedule: SleepSchedule
    sensors: tuple[SensorPlan, ...]
    truth: dict[str, Any]


def plan_night(config: NightConfig) -> NightPlan:
    """Draw every random decision of the night described by ``config``."""
    return _Planner(config).run()


def plan_walks(config: NightConfig, bout_s: tuple[float, float] = (15.0, 120.0)) -> NightPlan:
    """A recording that is walking from start to end: bouts of ``bout_s`` seconds, each with
    its own gait (cadence, arm swing, heel strikes, variability; see ``_Planner._gait``),
    10-20 s of standing between them.  No jerks: every jerk reported there is false.  The
    other components of ``config`` (noise, gaps, breathing...) apply as usual."""
    planner = _Planner(config)
    planner.plan_off_wrist()
    rng = planner._rng("walking")
    t = 5.0
    while True:
        length = float(rng.uniform(*bout_s))
        if t + length > planner.duration_s - 5.0:
            break
        planner._walk(rng, t, length)
        t += length + float(rng.uniform(10.0, 20.0))
    return planner.run_rest()


class _Occupancy:
    """Disjoint, sorted time intervals already taken on one arm."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []

    def free(self, a: float, b: float) -> bool:
        i = bisect.bisect_left(self.starts, b) - 1
        return i < 0 or self.ends[i] <= a

    def add(self, a: float, b: float) -> None:
        i = bisect.bisect_left(self.starts, a)
        j = i
        # Merge with the neighbours it touches so the list stays disjoint.
        if i > 0 and self.ends[i - 1] >= a:
            i -= 1
            a = self.starts[i]
        while j < len(self.starts) and self.starts[j] <= b:
            j += 1
        if j > i:
            b = max(b, self.ends[j - 1])
        self.starts[i:j] = [a]
        self.ends[i:j] = [b]


@dataclass
class _RotSpec:
    """A rotation whose axis is fixed only once the arm's orientation at its start is known.

    mode "target": rotate the up vector onto ``vector`` along ``shape`` (0 → 1), by at least
    ``angle_rad``.  mode "tilt": tilt towards ``vector`` by ``angle_rad * shape`` (signed).
    """

    start: int
    shape: FloatArray
    final_shape: float
    mode: str
    vector: FloatArray
    angle_rad: float


@dataclass
class _Arm:
    index: int
    side: str
    up0: FloatArray
    acc: list[AccEvent] = field(default_factory=list)
    up_acc: list[UpEvent] = field(default_factory=list)
    rot: list[_RotSpec] = field(default_factory=list)
    busy: _Occupancy = field(default_factory=_Occupancy)
    jerk_busy: _Occupancy = field(default_factory=_Occupancy)
    off: list[tuple[float, float]] = field(default_factory=list)  # sensor off the wrist, s
    big_busy: _Occupancy = field(default_factory=_Occupancy)  # turns, scratching, tremor


@dataclass
class _JerkPart:
    onset_s: float
    duration_s: float
    amplitude_g: float
    shape: str


@dataclass
class _Jerk:
    kind: str
    series: int | None
    bilateral: bool
    parts: dict[int, _JerkPart]  # arm index -> its transient
    context: str | None = None  # set where it is planned (awake moving, in tremor)


class _Planner:
    def __init__(self, config: NightConfig) -> None:
        self.cfg = config
        self.rate_hz = config.sample_rate_hz
        self.n = config.n_samples
        self.duration_s = config.duration_s
        # ~1 ms resolution for the sensor's sample-period averaging of short transients.
        self.oversample = max(4, math.ceil(1000.0 / self.rate_hz))
        self.schedule = make_schedule(self._rng("schedule"), self.duration_s)
        if config.randomised:
            self.schedule = fragment_onsets(self._rng("fragments"), self.schedule)
        self.next_series = 1
        self.grid_s = np.arange(0.0, self.duration_s, 1.0)
        self.grid_stage = self.schedule.stage_at(self.grid_s)
        rng = self._rng("posture")
        self.posture0 = initial_posture(rng)
        self.arms = [
            _Arm(i, side, arm_up_vector(rng, self.posture0, side))
            for i, side in enumerate(config.sides)
        ]
        self.jerks: list[_Jerk] = []
        self.confounders: list[dict[str, Any]] = []
        self.episodes: list[dict[str, Any]] = []
        self._idle: list[bool] = [False] * len(self.arms)
        self._table_up: list[FloatArray] = [np.array([0.0, 0.0, 1.0]) for _ in self.arms]

    def _rng(self, name: str, arm: int = 0) -> np.random.Generator:
        seq = np.random.SeedSequence(self.cfg.seed, spawn_key=(_STREAMS[name], arm))
        return np.random.Generator(np.random.PCG64(seq))

    # ----------------------------------------------------------------------------- helpers
    def _poisson_times(
        self, rng: np.random.Generator, rate_per_h: FloatArray, margin_s: float = 2.0
    ) -> FloatArray:
        """Sorted event times of an inhomogeneous Poisson process given on the 1 s grid."""
        lam = np.asarray(rate_per_h, dtype=np.float64) / 3600.0
        lam[(self.grid_s < margin_s) | (self.grid_s > self.duration_s - margin_s - 1.0)] = 0.0
        total = float(lam.sum())
        if total <= 0.0:
            return np.zeros(0)
        count = int(rng.poisson(total))
        cells = rng.choice(lam.size, size=count, p=lam / total)
        return np.sort(self.grid_s[cells] + rng.random(count))

    def _stage_rate(self, per_stage: dict[int, float]) -> FloatArray:
        """Rate on the 1 s grid from a rate per stage code."""
        table = np.array([per_stage.get(code, 0.0) for code in range(len(STAGES))])
        return np.asarray(table[self.grid_stage], dtype=np.float64)

    def _after_awakening(self, window_s: float) -> npt.NDArray[np.bool_]:
        """Grid mask of the ``window_s`` after each awakening starts (JME: jerks on waking)."""
        mask = np.zeros(self.grid_s.size, dtype=bool)
        for a, _ in self.schedule.awakenings_s:
            mask |= (self.grid_s >= a) & (self.grid_s < a + window_s)
        return mask

    def _inside(self, a: float, b: float) -> bool:
        return a >= 1.0 and b <= self.duration_s - 1.0

    def _add_transient(self, arm: _Arm, tr: wf.Transient, start_s: float) -> None:
        i0, data = wf.sample_transient(tr, start_s, self.rate_hz, self.n, self.oversample)
        if data.shape[0]:
            arm.acc.append(AccEvent(i0, data))

    def _add_smooth(self, arm: _Arm, tr: wf.Transient, start_s: float) -> None:
        i0, data = wf.sample_smooth(tr, start_s, self.rate_hz, self.n)
        if data.shape[0]:
            arm.acc.append(AccEvent(i0, data))

    def _add_rotation(
        self,
        arm: _Arm,
        start_s: float,
        length_s: float,
        shape: Callable[[FloatArray], FloatArray],
        mode: str,
        vector: FloatArray,
        angle_rad: float,
    ) -> None:
        """Schedule a rotation whose path is ``shape(tau)`` sampled at the sample instants."""
        i0 = max(math.ceil(start_s * self.rate_hz), 0)
        i1 = min(math.ceil((start_s + length_s) * self.rate_hz), self.n)
        if i1 <= i0:
            return
        tau = np.arange(i0, i1, dtype=np.float64) / self.rate_hz - start_s
        final = float(shape(np.array([length_s]))[0])
        arm.rot.append(_RotSpec(i0, shape(tau), final, mode, vector, angle_rad))

    # ------------------------------------------------------------------------------- jerks
    def _jerk_sides(self, rng: np.random.Generator, p_bilateral: float) -> tuple[bool, list[int]]:
        bilateral = bool(rng.random() < p_bilateral)
        if len(self.arms) == 1:
            return bilateral, [0]
        if bilateral:
            return True, [0, 1]
        return False, [int(rng.integers(0, 2))]

    def _make_jerk(
        self,
        rng: np.random.Generator,
        kind: str,
        onset_s: float,
        amplitude_g: float,
        duration_s: float,
        arms: list[int],
        bilateral: bool,
        series: int | None,
        check: bool,
        maker: Callable[[np.random.Generator, float, float], wf.Transient] | None = None,
        context: str | None = None,
    ) -> bool:
        """Render one jerk onto ``arms``; with ``check``, refuse it if it would overlap one.

        ``maker(rng, amplitude_g, duration_s)`` draws the transient (default :func:`wf.jerk`);
        ``context`` is stored when the planner knows it (see :data:`CONTEXTS`)."""
        lead = int(rng.choice(arms))
        parts: dict[int, _JerkPart] = {}
        for a in arms:
            if a == lead:
                onset, amp, dur = onset_s, amplitude_g, duration_s
            else:
                # The other wrist of a bilateral jerk: within 15 ms, its own size and direction.
                onset = onset_s + float(rng.uniform(0.0, 0.015))
                amp = max(amplitude_g * float(rng.uniform(0.3, 1.0)), 0.1)
                dur = float(np.clip(duration_s * rng.uniform(0.8, 1.2), 0.04, 0.4))
            parts[a] = _JerkPart(onset, dur, amp, "")
        if check and not all(
            self.arms[a].jerk_busy.free(p.onset_s - 0.4, p.onset_s + p.duration_s + 0.8)
            for a, p in parts.items()
        ):
            return False
        if not all(self._inside(p.onset_s, p.onset_s + p.duration_s + 1.0) for p in parts.values()):
            return False
        for a, p in parts.items():
            arm = self.arms[a]
            if maker is None:
                tr = wf.jerk(rng, p.amplitude_g, p.duration_s)
            else:
                tr = maker(rng, p.amplitude_g, p.duration_s)
            p.shape = str(tr.info["shape"])
            self._add_transient(arm, tr, p.onset_s)
            self._jerk_rotation(rng, arm, p, tr.length_s, kind)
            arm.jerk_busy.add(p.onset_s - 0.4, p.onset_s + p.duration_s + 0.8)
            arm.busy.add(p.onset_s - 1.0, p.onset_s + tr.length_s + 1.0)
        self.jerks.append(_Jerk(kind, series, bilateral, parts, context))
        return True

    def _jerk_rotation(
        self, rng: np.random.Generator, arm: _Arm, part: _JerkPart, length_s: float, kind: str
    ) -> None:
        """The limb swings with the jerk and comes back near (not exactly to) where it was."""
        # Peak wrist excursion ≈ a T^2 / pi for a half-sine push, as a tilt of the forearm.
        excursion_m = part.amplitude_g * _G * part.duration_s**2 / math.pi
        peak = min(excursion_m / _FOREARM_M, math.radians(15.0)) * float(rng.uniform(0.5, 1.0))
        if kind == "hypnic" and rng.random() < 0.5:
            residual_deg = float(rng.uniform(3.0, 15.0))  # whole-arm start: a bigger shift
        else:
            residual_deg = min(float(rng.exponential(1.5)), 10.0)
        residual = math.radians(residual_deg) * float(rng.choice([-1.0, 1.0]))
        peak *= float(rng.choice([-1.0, 1.0]))

        def shape(tau: FloatArray) -> FloatArray:
            s = tau / length_s
            return np.asarray(
                peak * wf.bump(s) + residual * wf.min_jerk_progress(s), dtype=np.float64
            )

        self._add_rotation(arm, part.onset_s, length_s, shape, "tilt", random_unit(rng), 1.0)

    @staticmethod
    def _myoclonic_amplitude(rng: np.random.Generator) -> float:
        # Log-uniform 0.1–3 g, tilted further towards small jerks.
        return float(0.1 * 30.0 ** (rng.random() ** 1.3))

    @staticmethod
    def _myoclonic_duration(rng: np.random.Generator) -> float:
        return float(np.clip(np.exp(rng.normal(math.log(0.11), 0.5)), 0.04, 0.4))

    def plan_series(self) -> None:
        rng = self._rng("series")
        count = self.cfg.series_count
        if count is None:
            count = int(rng.choice(5, p=[0.3, 0.25, 0.2, 0.15, 0.1]))
        if not self.cfg.series:
            count = 0
        wakes = [a for a, _ in self.schedule.awakenings_s]
        planned: list[tuple[float, FloatArray]] = []
        for _ in range(count):
            n_jerks = int(rng.integers(3, 11))
            gaps = rng.uniform(1.0, 6.0, size=n_jerks - 1)
            length = float(gaps.sum())
            for _attempt in range(50):
                if wakes and rng.random() < 0.65:
                    start = wakes[int(rng.integers(0, len(wakes)))] + float(rng.uniform(0, 1800.0))
                else:
                    start = float(rng.uniform(0.0, self.duration_s))
                if not self._inside(start, start + length + 2.0):
                    continue
                if all(start > s + 30.0 or start + length + 30.0 < s for s, _ in planned):
                    planned.append((start, np.concatenate([[0.0], np.cumsum(gaps)]) + start))
                    break
        planned.sort(key=lambda item: item[0])
        for series_id, (_, onsets) in enumerate(planned, start=1):
            generalised = rng.random() < 0.7  # generalised myoclonic seizure: both wrists
            bilateral, arms = self._jerk_sides(rng, 1.0 if generalised else 0.0)
            base = float(np.exp(rng.uniform(math.log(0.2), math.log(2.5))))
            for onset in onsets:
                amp = float(np.clip(base * rng.uniform(0.5, 1.5), 0.1, 3.0))
                self._make_jerk(
                    rng,
                    "myoclonic",
                    float(onset),
                    amp,
                    self._myoclonic_duration(rng),
                    arms,
                    bilateral,
                    series_id,
                    check=False,
                )

    def plan_hypnic(self) -> None:
        if not self.cfg.hypnic:
            return
        rng = self._rng("hypnic")
        for k, onset in enumerate(self.schedule.onsets_s):
            p = [0.1, 0.35, 0.3, 0.2, 0.05] if k == 0 else [0.4, 0.3, 0.2, 0.07, 0.03]
            count = int(rng.choice(5, p=p))
            placed = 0
            for _attempt in range(20 * count):
                if placed >= count:
                    break
                if rng.random() < 0.85:
                    offset = -60.0 + 360.0 * float(rng.beta(1.2, 2.5))
                else:
                    offset = float(rng.uniform(-180.0, 600.0))
                if rng.random() < 0.8:
                    amp = float(np.exp(rng.uniform(math.log(0.5), math.log(3.0))))
                else:
                    amp = float(np.exp(rng.uniform(math.log(0.15), math.log(0.5))))
                dur = float(np.clip(np.exp(rng.normal(math.log(0.2), 0.4)), 0.08, 0.4))
                bilateral, arms = self._jerk_sides(rng, 0.5)
                ok = self._make_jerk(
                    rng, "hypnic", onset + offset, amp, dur, arms, bilateral, None, check=True
                )
                placed += int(ok)

    def plan_sporadic(self) -> None:
        rng = self._rng("sporadic")
        rate = self.cfg.jerk_rate_per_h
        if rate is None:
            rate = float(rng.uniform(3.0, 15.0))
        weight = self._stage_rate({WAKE: 0.3, N1: 1.5, N2: 1.0, N3: 0.6, REM: 0.5})
        weight = weight * np.where(self._after_awakening(1800.0), 2.0, 1.0)
        asleep = self.grid_stage != WAKE
        mean_asleep = float(weight[asleep].mean()) if asleep.any() else 1.0
        for onset in self._poisson_times(rng, rate * weight / mean_asleep):
            bilateral, arms = self._jerk_sides(rng, 0.3)
            self._make_jerk(
                rng,
                "myoclonic",
                float(onset),
                self._myoclonic_amplitude(rng),
                self._myoclonic_duration(rng),
                arms,
                bilateral,
                None,
                check=True,
            )

    # -------------------------------------------------------------------------- confounders
    def _record(self, kind: str, start: float, end: float, arms: list[int], **extra: Any) -> None:
        self.confounders.append(
            {
                "kind": kind,
                "start": float(start),
                "end": float(end),
                "sensors": [self.arms[a].side for a in sorted(arms)],
                **extra,
            }
        )

    def _movement(
        self,
        rng: np.random.Generator,
        span_s: float,
        n_sub: int,
        peak_g: float,
        max_sub_s: float,
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Sub-movements (starts, durations, weights, directions) filling ``span_s``.

        Sub-movement durations are capped so that the wrist does not travel implausibly far
        (peak a ≈ 5.8 x / T^2 for a minimum-jerk reach of length x over T).
        """
        cap = min(max_sub_s, math.sqrt(0.45 / max(peak_g, 1e-3)))
        durations = np.minimum(rng.uniform(0.3, 1.5, size=n_sub), max(cap, 0.3))
        durations = np.minimum(durations, span_s)
        starts = rng.uniform(0.0, 1.0, size=n_sub) * (span_s - durations)
        starts[0] = 0.0
        last = int(np.argmax(starts + durations))
        starts[last] = span_s - durations[last]
        weights = rng.uniform(0.3, 1.0, size=n_sub)
        directions = np.array([random_unit(rng) for _ in range(n_sub)])
        return starts, durations, weights, directions

    def _movement_wave(
        self, rng: np.random.Generator, span_s: float, n_sub: int, peak_g: float, max_sub_s: float
    ) -> tuple[wf.Transient, Callable[[FloatArray], FloatArray]]:
        starts, durations, weights, directions = self._movement(
            rng, span_s, n_sub, peak_g, max_sub_s
        )
        raw = wf.reach_movements(starts, durations, weights, directions)
        grid = np.linspace(0.0, span_s, 4001)
        scale = peak_g / float(np.linalg.norm(raw(grid), axis=1).max())

        def wave(tau: FloatArray) -> FloatArray:
            return np.asarray(raw(tau) * scale, dtype=np.float64)

        progress = wf.reach_progress(starts, durations, weights)
        return wf.Transient(wave, span_s), progress

    def plan_turns(self) -> None:
        rng = self._rng("turns")
        rate = self._stage_rate({WAKE: 2.0, N1: 3.0, N2: 1.5, N3: 0.3, REM: 0.1})
        times = list(self._poisson_times(rng, rate)) if self.cfg.turns else []
        if self.cfg.turns:
            # Brief awakenings come with movement: often a turn.
            for a, b in self.schedule.awakenings_s:
                if rng.random() < 0.6 and b - a > 30.0:
                    times.append(float(rng.uniform(a + 5.0, b - 15.0)))
        posture = self.posture0
        for t in sorted(times):
            duration = float(rng.uniform(2.0, 10.0))
            offsets = [0.0] + [float(rng.uniform(-0.3, 0.3)) for _ in self.arms[1:]]
            spans = [(t + o, t + o + duration) for o in offsets]
            if not all(
                self._inside(a - 2.0, b + 2.0) and arm.busy.free(a - 2.0, b + 2.0)
                for arm, (a, b) in zip(self.arms, spans, strict=True)
            ):
                continue
            posture = next_posture(rng, posture)
            peaks = []
            for arm, (a, b) in zip(self.arms, spans, strict=True):
                peak = float(np.exp(rng.uniform(math.log(0.2), math.log(1.5))))
                peaks.append(peak)
                n_sub = int(np.clip(round(duration / 1.5 * rng.uniform(0.8, 1.5)), 2, 8))
                tr, progress = self._movement_wave(rng, duration, n_sub, peak, 1.5)
                self._add_smooth(arm, tr, a)
                target = arm_up_vector(rng, posture, arm.side)
                min_angle = math.radians(float(rng.uniform(30.0, 50.0)))
                self._add_rotation(arm, a, duration, progress, "target", target, min_angle)
                wobble = math.radians(float(rng.uniform(5.0, 20.0))) * float(rng.choice([-1, 1]))

                self._add_rotation(
                    arm,
                    a,
                    duration,
                    _excursion(progress, wobble, 0.0),
                    "tilt",
                    random_unit(rng),
                    1.0,
                )
                # Small knocks against the bedding, and the arm settling at the end.
                for _ in range(int(rng.integers(0, 4))):
                    knock = wf.jerk(
                        rng,
                        float(rng.uniform(0.02, 0.1)),
                        float(rng.uniform(0.03, 0.1)),
                        ring_fraction=(0.0, 0.3),
                    )
                    self._add_transient(arm, knock, a + float(rng.uniform(0.0, duration)))
                if rng.random() < 0.6:
                    settle = wf.damped_oscillation(
                        float(rng.uniform(0.05, 0.3)),
                        float(rng.uniform(3.0, 8.0)),
                        float(rng.uniform(0.2, 0.6)),
                        random_unit(rng),
                    )
                    self._add_transient(arm, settle, b - float(rng.uniform(0.0, 0.3)))
                arm.busy.add(a - 2.0, b + 2.0)
                arm.big_busy.add(a - 2.0, b + 2.0)
            start = min(a for a, _ in spans)
            end = max(b for _, b in spans) + 0.6
            self._record(
                "turn",
                start,
                min(end, self.duration_s),
                list(range(len(self.arms))),
                posture=posture,
                peak_g=max(peaks),
            )

    def plan_scratches(self) -> None:
        if not self.cfg.scratch:
            return
        rng = self._rng("scratch")
        rate = self._stage_rate({WAKE: 4.0, N1: 1.0, N2: 0.3, N3: 0.0, REM: 0.05})
        for t in self._poisson_times(rng, rate):
            a_idx = int(rng.integers(0, len(self.arms)))
            arm = self.arms[a_idx]
            approach = float(rng.uniform(0.4, 1.2))
            strokes_s = float(np.exp(rng.uniform(math.log(2.0), math.log(30.0))))
            back = float(rng.uniform(0.4, 1.2))
            total = approach + strokes_s + back
            if not (
                self._inside(t - 1.0, t + total + 1.0) and arm.busy.free(t - 1.0, t + total + 1.0)
            ):
                continue
            freq = float(rng.uniform(3.0, 7.0))
            amp = float(np.exp(rng.uniform(math.log(0.1), math.log(1.0))))
            self._add_smooth(arm, wf.scratch_strokes(rng, strokes_s, amp, freq), t + approach)
            reach_g = float(rng.uniform(0.05, 0.3))
            for when, length in ((t, approach), (t + approach + strokes_s, back)):
                tr, _ = self._movement_wave(rng, length, 1, reach_g, length)
                self._add_smooth(arm, tr, when)
            lift = math.radians(float(rng.uniform(15.0, 70.0)))
            residual = math.radians(float(rng.normal(0.0, 3.0)))

            shape = _lift_and_return(approach, strokes_s, back, lift, residual)
            self._add_rotation(arm, t, total, shape, "tilt", random_unit(rng), 1.0)
            arm.busy.add(t - 1.0, t + total + 1.0)
            arm.big_busy.add(t - 1.0, t + total + 1.0)
            self._record("scratch", float(t), float(t + total), [a_idx], freq_hz=freq, peak_g=amp)

    def plan_fidgets(self) -> None:
        if not self.cfg.fidgets:
            return
        for arm in self.arms:
            rng = self._rng("fidgets", arm.index)
            rate = self._stage_rate({WAKE: 40.0, N1: 12.0, N2: 5.0, N3: 1.0, REM: 2.0})
            for t in self._poisson_times(rng, rate):
                span = float(np.exp(rng.uniform(math.log(0.5), math.log(4.0))))
                if not (
                    self._inside(t - 0.5, t + span + 0.5) and arm.busy.free(t - 0.5, t + span + 0.5)
                ):
                    continue
                peak = float(np.exp(rng.uniform(math.log(0.03), math.log(0.4))))
                n_sub = int(np.clip(round(span / 1.0 * rng.uniform(0.7, 1.5)), 1, 4))
                tr, progress = self._movement_wave(rng, span, n_sub, peak, span)
                self._add_smooth(arm, tr, float(t))
                turn = math.radians(float(rng.uniform(2.0, 20.0))) * float(rng.choice([-1, 1]))
                keep = float(rng.uniform(0.0, 1.0))  # how much of the shift stays

                shape = _excursion(progress, turn, keep)
                self._add_rotation(arm, float(t), span, shape, "tilt", random_unit(rng), 1.0)
                arm.busy.add(t - 0.5, t + span + 0.5)
                self._record("fidget", float(t), float(t + span), [arm.index], peak_g=peak)

    def plan_tremor(self) -> None:
        if not self.cfg.tremor:
            return
        rng = self._rng("tremor")
        if rng.random() < 0.5:
            return  # half of the nights have no tremor at all
        wake = self._stage_rate({WAKE: 1.0})
        # A patient's tremor has its own frequency and size; episodes vary a little around it.
        night_hz = float(rng.uniform(4.0, 7.0))
        night_g = float(np.exp(rng.uniform(math.log(0.02), math.log(0.3))))
        taken = _Occupancy()
        for _ in range(int(rng.integers(1, 4))):
            length = float(rng.uniform(60.0, 600.0))
            if rng.random() < 0.85 and wake.sum() > 0:
                start = float(rng.choice(self.grid_s, p=wake / wake.sum()))
            else:
                start = float(rng.uniform(0.0, self.duration_s))
            start = float(np.clip(start, 1.0, max(self.duration_s - 1.0 - length, 1.0)))
            length = min(length, self.duration_s - 1.0 - start)
            if length < 20.0 or not taken.free(start - 10.0, start + length + 10.0):
                continue
            taken.add(start - 10.0, start + length + 10.0)
            arms = list(range(len(self.arms)))
            if len(arms) == 2 and rng.random() < 0.6:
                arms = [int(rng.integers(0, 2))]
            freq = float(np.clip(night_hz + rng.normal(0.0, 0.15), 4.0, 7.0))
            amp = float(np.clip(night_g * rng.uniform(0.6, 1.4), 0.02, 0.3))
            for a in arms:
                # Same oscillator frequency, own direction and modulation on each arm.
                arm_amp = amp * (1.0 if a == arms[0] else float(rng.uniform(0.3, 1.0)))
                self._add_smooth(self.arms[a], wf.tremor(rng, length, arm_amp, freq), start)
                self.arms[a].big_busy.add(start - 2.0, start + length + 2.0)
            self._record("tremor", start, start + length, arms, freq_hz=freq, peak_g=amp)

    def plan_twitches(self) -> None:
        if not self.cfg.rem_twitches:
            return
        rng = self._rng("twitches")
        bursts = self._poisson_times(rng, self._stage_rate({REM: 90.0, N2: 3.0, N1: 3.0}))
        for t in bursts:
            n_twitch = int(rng.integers(1, 7)) if self.schedule.stage_at(t) == REM else 1
            times = np.sort(t + rng.uniform(0.0, 3.0, size=n_twitch))
            for tt in times:
                if len(self.arms) == 2:
                    arms = [0, 1] if rng.random() < 0.2 else [int(rng.integers(0, 2))]
                else:
                    arms = [0]
                dur = float(rng.uniform(0.01, 0.06))
                if not all(self.arms[a].jerk_busy.free(tt - 0.5, tt + dur + 0.5) for a in arms):
                    continue
                if not self._inside(tt, tt + 0.5):
                    continue
                peak = float(np.exp(rng.uniform(math.log(0.005), math.log(0.05))))
                for a in arms:
                    tr = wf.jerk(
                        rng,
                        peak * float(rng.uniform(0.5, 1.0)),
                        dur,
                        shape=str(rng.choice(["half_sine", "biphasic"])),
                        ring_fraction=(0.0, 0.3),
                        ring_decay_s=(0.05, 0.15),
                    )
                    self._add_transient(self.arms[a], tr, float(tt))
                self._record("rem_twitch", float(tt), float(tt + dur), arms, peak_g=peak)

    # ------------------------------------------------------------------- wake activity
    def _free(self, arms: list[int], a: float, b: float) -> bool:
        """No jerk, turn, bout of scratching or tremor (and no off-wrist period) on these arms
        in [a, b] s.  Fidgets may overlap: awake people do several things at once."""
        return all(
            self._inside(a, b)
            and self.arms[i].jerk_busy.free(a, b)
            and self.arms[i].big_busy.free(a, b)
            and not any(x < b and y > a for x, y in self.arms[i].off)
            for i in arms
        )

    def _gait(self, rng: np.random.Generator) -> dict[str, float]:
        """One walk's gait, drawn wider than the detector assumes: cadence 1.3-2.6 steps/s,
        arm swing 2-40 degrees (hand on a wall or carrying something .. brisk), heel strikes
        0.05-1.5 g at the wrist (barefoot on a carpet .. shoes on tiles), left/right
        asymmetry, step-to-step variability 1-8 %, trunk bounce 0.03-0.3 g."""
        return {
            "cadence_hz": float(rng.uniform(1.3, 2.6)),
            "swing_rad": math.radians(float(np.exp(rng.uniform(math.log(2.0), math.log(40.0))))),
            "strike_g": float(np.exp(rng.uniform(math.log(0.05), math.log(1.5)))),
            "asymmetry": float(rng.uniform(0.3, 1.0)),
            "jitter": float(rng.uniform(0.01, 0.08)),
            "bounce_g": float(np.exp(rng.uniform(math.log(0.03), math.log(0.3)))),
        }

    def _walk(self, rng: np.random.Generator, start: float, length: float) -> dict[str, float]:
        """Walking on every arm: heel strikes at each step (the same steps on both wrists),
        the trunk's bounce, and each arm's swing (opposite phases) with its tangential
        acceleration."""
        gait = self._gait(rng)
        cad = gait["cadence_hz"]
        steps = wf.step_times(rng, length, cad, gait["jitter"])
        fade_s = min(2.0 / cad, length / 4.0)
        omega = np.pi * cad  # the arm swings once per stride (two steps)
        for arm in self.arms:
            self._add_smooth(arm, wf.walking_bounce(rng, length, cad, gait["bounce_g"]), start)
            swing = gait["swing_rad"] * float(rng.uniform(0.7, 1.0))
            phi = float(rng.uniform(0.0, 2.0 * np.pi)) + (np.pi if arm.index else 0.0)

            def path(tau: FloatArray, sw: float = swing, ph: float = phi) -> FloatArray:
                fade = wf._fade(tau, length, fade_s)
                return np.asarray(sw * fade * np.sin(omega * tau + ph), dtype=np.float64)

            self._add_rotation(arm, start, length, path, "tilt", random_unit(rng), 1.0)
            # Tangential acceleration of the swinging wrist (pendulum of ~0.6 m).
            tang_g = 0.6 * swing * omega**2 / _G
            d = random_unit(rng)

            def tang(
                tau: FloatArray, a: float = tang_g, ph: float = phi, dv: FloatArray = d
            ) -> FloatArray:
                fade = wf._fade(tau, length, fade_s)
                return np.asarray(
                    (-a * fade * np.sin(omega * tau + ph))[..., None] * dv, dtype=np.float64
                )

            self._add_smooth(arm, wf.Transient(tang, length), start)
            strike_dir = random_unit(rng)
            for k, ts in enumerate(steps.tolist()):
                amp = gait["strike_g"] * (1.0 if k % 2 == arm.index else gait["asymmetry"])
                amp *= float(rng.uniform(0.7, 1.3))
                tr = wf.jerk(
                    rng,
                    amp,
                    float(rng.uniform(0.02, 0.06)),
                    ring_fraction=(0.2, 0.6),
                    ring_freq_hz=(8.0, 20.0),
                    ring_decay_s=(0.05, 0.2),
                    direction=near(rng, strike_dir, 0.3),
                )
                self._add_transient(arm, tr, start + ts)
            arm.busy.add(start - 1.0, start + length + 1.0)
            arm.jerk_busy.add(start - 1.0, start + length + 1.0)
        arms = list(range(len(self.arms)))
        self._record("walk", start, start + length, arms, **gait)
        return gait

    def _posture_change(self, rng: np.random.Generator, start: float, length: float) -> None:
        """Sitting up, standing up or lying down: a large smooth movement with a big
        change of the forearm's orientation."""
        for arm in self.arms:
            peak = float(np.exp(rng.uniform(math.log(0.2), math.log(1.0))))
            n_sub = int(rng.integers(2, 5))
            tr, progress = self._movement_wave(rng, length, n_sub, peak, 1.5)
            self._add_smooth(arm, tr, start)
            angle = math.radians(float(rng.uniform(30.0, 90.0))) * float(rng.choice([-1, 1]))
            self._add_rotation(
                arm, start, length, _excursion(progress, angle, 1.0), "tilt", random_unit(rng), 1.0
            )
            arm.busy.add(start - 1.0, start + length + 1.0)
            arm.jerk_busy.add(start - 1.0, start + length + 1.0)
        self._record("posture", start, start + length, list(range(len(self.arms))))

    def _activity_bout(self, rng: np.random.Generator, start: float, length: float) -> None:
        """Voluntary activity with the hands (washing hands, dressing, drinking, brushing
        teeth): reaches of 0.1-0.6 g one after another, and the knocks of setting things
        down (impulsive, but no larger than twice the movement carrying them)."""
        for arm in self.arms:
            peak = float(np.exp(rng.uniform(math.log(0.1), math.log(0.6))))
            n_sub = max(2, int(length / float(rng.uniform(0.8, 2.0))))
            starts, durations, weights, directions = self._movement(rng, length, n_sub, peak, 1.5)
            raw = wf.reach_movements(starts, durations, weights, directions)
            grid = np.linspace(0.0, length, 8001)
            scale = peak / float(np.linalg.norm(raw(grid), axis=1).max())

            def wave(tau: FloatArray, r: wf.Waveform = raw, k: float = scale) -> FloatArray:
                return np.asarray(r(tau) * k, dtype=np.float64)

            progress = wf.reach_progress(starts, durations, weights)
            self._add_smooth(arm, wf.Transient(wave, length), start)
            angle = math.radians(float(rng.uniform(10.0, 60.0)))
            self._add_rotation(
                arm,
                start,
                length,
                _excursion(progress, angle, float(rng.uniform(0.0, 0.5))),
                "tilt",
                random_unit(rng),
                1.0,
            )
            # Knocks come where a reach ends (the hand meets the table, the tap, the cup).
            ends = (starts + durations * rng.uniform(0.8, 1.0, size=starts.size)).tolist()
            for _ in range(int(rng.poisson(length / 10.0))):
                when = float(ends[int(rng.integers(0, len(ends)))])
                knock = wf.jerk(
                    rng,
                    peak * float(rng.uniform(0.3, 2.0)),
                    float(rng.uniform(0.02, 0.08)),
                    ring_fraction=(0.1, 0.5),
                    ring_freq_hz=(8.0, 20.0),
                    ring_decay_s=(0.05, 0.2),
                )
                self._add_transient(arm, knock, start + when)
            arm.busy.add(start - 1.0, start + length + 1.0)
            arm.jerk_busy.add(start - 1.0, start + length + 1.0)
        self._record("activity", start, start + length, list(range(len(self.arms))), peak_g=peak)

    def _trip(self, rng: np.random.Generator, a: float, b: float, back_to_bed: bool) -> bool:
        """Get up, walk, do something, walk (and lie down again) inside the wake period
        [a, b] s; only where every arm is free.  Returns whether it was placed."""
        t = a + float(rng.uniform(10.0, 40.0))
        parts = [
            ("posture", float(rng.uniform(2.0, 5.0))),
            ("walk", float(rng.uniform(10.0, 60.0))),
            ("activity", float(rng.uniform(30.0, 150.0))),
            ("walk", float(rng.uniform(10.0, 60.0))),
        ]
        if back_to_bed:
            parts.append(("posture", float(rng.uniform(2.0, 5.0))))
        total = sum(x for _, x in parts) + 1.0 * len(parts)
        if t + total > b - 10.0:
            return False
        if not self._free(list(range(len(self.arms))), t - 2.0, t + total + 2.0):
            return False
        for kind, length in parts:
            if kind == "posture":
                self._posture_change(rng, t, length)
            elif kind == "walk":
                self._walk(rng, t, length)
            else:
                self._activity_bout(rng, t, length)
            t += length + float(rng.uniform(0.5, 1.5))
        return True

    def plan_bathroom(self) -> None:
        """Walking to the bathroom and back in a night-time awakening (most nights)."""
        if not self.cfg.walking:
            return
        rng = self._rng("walking")
        wakes = list(self.schedule.awakenings_s[:-1]) or list(self.schedule.awakenings_s)
        order = rng.permutation(len(wakes)).tolist()
        trips = 0
        for i in order:
            a, b = wakes[i]
            if self._trip(rng, a, b, back_to_bed=True):
                trips += 1
            if trips >= 2:
                break

    def plan_morning(self) -> None:
        """Getting up in the morning: the final awakening holds a trip without return."""
        if not self.cfg.walking or not self.schedule.awakenings_s:
            return
        rng = self._rng("morning")
        a, b = self.schedule.awakenings_s[-1]
        for _ in range(5):
            if self._trip(rng, a, b, back_to_bed=False):
                return
            a += 60.0

    def plan_reading(self) -> None:
        """Reading in bed before sleep: the forearm held up (a new orientation), small
        physiological sway, a page turned every 15-60 s."""
        if not self.cfg.activity:
            return
        rng = self._rng("reading")
        latency = self.schedule.onsets_s[0]
        length = min(float(rng.uniform(5.0, 25.0)) * 60.0, latency - 120.0)
        if length < 180.0:
            return
        start = float(rng.uniform(10.0, max(latency - length - 60.0, 11.0)))
        arms = [int(rng.integers(0, len(self.arms)))]
        if not self._free(arms, start - 2.0, start + length + 2.0):
            return
        arm = self.arms[arms[0]]
        lift = math.radians(float(rng.uniform(30.0, 80.0)))
        approach, back = float(rng.uniform(1.0, 2.5)), float(rng.uniform(1.0, 2.5))
        shape = _lift_and_return(approach, length - approach - back, back, lift, 0.0)
        self._add_rotation(arm, start, length, shape, "tilt", random_unit(rng), 1.0)
        for when, dur in ((start, approach), (start + length - back, back)):
            tr, _ = self._movement_wave(rng, dur, 1, float(rng.uniform(0.1, 0.4)), dur)
            self._add_smooth(arm, tr, when)
        t = start + approach + float(rng.uniform(10.0, 40.0))
        while t < start + length - back - 5.0:
            dur = float(rng.uniform(0.6, 2.0))
            tr, progress = self._movement_wave(
                rng, dur, int(rng.integers(1, 3)), float(rng.uniform(0.05, 0.3)), dur
            )
            self._add_smooth(arm, tr, t)
            turn = math.radians(float(rng.uniform(5.0, 25.0)))
            self._add_rotation(
                arm, t, dur, _excursion(progress, turn, 0.0), "tilt", random_unit(rng), 1.0
            )
            t += dur + float(rng.uniform(15.0, 60.0))
        arm.busy.add(start - 2.0, start + length + 2.0)
        arm.jerk_busy.add(start - 2.0, start + length + 2.0)
        self._record("reading", start, start + length, arms)

    def plan_off_wrist(self) -> None:
        """The sensor taken off for about an hour and left on the bedside table (flat, still:
        sensor noise only).  With ``idle`` the device's idle mode repeats one sample."""
        if not self.cfg.off_wrist:
            return
        rng = self._rng("off_wrist")
        length = float(rng.uniform(40.0, 75.0)) * 60.0
        lo, hi = 0.15 * self.duration_s, self.duration_s - length - 0.1 * self.duration_s
        if hi <= lo:
            return
        start = float(rng.uniform(lo, hi))
        arms = list(range(len(self.arms)))
        if len(arms) == 2 and rng.random() < 0.5:
            arms = [int(rng.integers(0, 2))]
        for i in arms:
            face = np.zeros(3)
            face[int(rng.integers(0, 3))] = float(rng.choice([-1.0, 1.0]))
            self._table_up[i] = unit(face + rng.normal(0.0, 0.03, 3))  # a table is not level
            self._idle[i] = bool(self.cfg.idle and rng.random() < 0.7)
            self.arms[i].off.append((start, start + length))
            self.arms[i].busy.add(start - 5.0, start + length + 5.0)
            self.arms[i].jerk_busy.add(start - 5.0, start + length + 5.0)
        self._record("not_worn", start, start + length, arms, idle=any(self._idle))

    def plan_clonic(self) -> None:
        """Clonic seizures in sleep: 12-60 s of jerks of the same muscles at 3-8 Hz,
        slowing towards the end, 0.8-3 g at the wrist; generalised (both wrists) in 70 %."""
        if not self.cfg.clonic:
            return
        rng = self._rng("clonic")
        count = int(rng.integers(1, 3))
        asleep = np.flatnonzero(self.grid_stage != WAKE)
        if asleep.size == 0:
            return
        placed = 0
        for _ in range(50 * count):
            if placed >= count:
                break
            start = float(self.grid_s[int(rng.choice(asleep))])
            length = float(rng.uniform(12.0, 60.0))
            generalised = rng.random() < 0.7
            arms = list(range(len(self.arms)))
            if not generalised and len(arms) == 2:
                arms = [int(rng.integers(0, 2))]
            if not self._free(arms, start - 5.0, start + length + 5.0):
                continue
            f0 = float(rng.uniform(4.0, 8.0))
            f1 = max(3.0, f0 * float(rng.uniform(0.5, 0.9)))
            amp = float(rng.uniform(0.8, 3.0))
            # Beat times: the frequency falls linearly from f0 to f1, with 5 % jitter.
            beats: list[float] = []
            tb = 0.0
            while tb < length:
                beats.append(tb)
                f = f0 + (f1 - f0) * tb / length
                tb += float(rng.normal(1.0, 0.05)) / f
            for i in arms:
                arm = self.arms[i]
                d = random_unit(rng)
                a_arm = amp * (1.0 if i == arms[0] else float(rng.uniform(0.5, 1.0)))
                # Stereotyped beats: the same muscles make the same movement each time.
                shape = str(rng.choice(wf.JERK_SHAPES))
                # A beat (muscle burst and the limb's response) fits in its period: the
                # limb relaxes between beats (at most ~40 % of the fastest period).
                beat_s = min(float(rng.uniform(0.04, 0.12)), 0.4 / f0)
                for tb in beats:
                    tr = wf.jerk(
                        rng,
                        a_arm * float(rng.uniform(0.7, 1.3)),
                        beat_s * float(rng.uniform(0.8, 1.2)),
                        shape=shape,
                        ring_fraction=(0.1, 0.4),
                        ring_decay_s=(0.05, 0.15),
                        direction=near(rng, d, 0.15),
                    )
                    self._add_transient(arm, tr, start + tb)
                arm.busy.add(start - 5.0, start + length + 5.0)
                arm.jerk_busy.add(start - 5.0, start + length + 5.0)
            sides = [self.arms[i].side for i in arms]
            self.episodes.append(
                {
                    "start": start,
                    "end": start + length,
                    "freq_hz": [f0, f1],
                    "peak_g": amp,
                    "sensors": sides,
                    "bilateral": len(arms) == 2 or generalised,
                }
            )
            self._record("clonic", start, start + length, arms, freq_hz=f0, peak_g=amp)
            placed += 1

    # --------------------------------------------------------------------------------- gaps
    def plan_gaps(self, arm: _Arm) -> IntArray:
        gaps = self._plan_link_gaps(arm)
        if self.cfg.packet_loss_pct <= 0.0:
            return gaps
        lost = packet_loss(self._rng("packets", arm.index), self.cfg, self.n)
        return _merge_ranges(np.concatenate([gaps, lost]))

    def _plan_link_gaps(self, arm: _Arm) -> IntArray:
        if not self.cfg.gaps:
            return np.zeros((0, 2), dtype=np.int64)
        rng = self._rng("gaps", arm.index)
        hours = self.duration_s / 3600.0
        n_short = int(rng.poisson(float(rng.uniform(2.0, 30.0)) * hours))
        n_long = min(int(rng.poisson(1.2 * hours / 8.0)), 4)
        short = np.exp(rng.uniform(math.log(0.05), math.log(2.0), size=n_short))
        long = np.exp(rng.uniform(math.log(10.0), math.log(300.0), size=n_long))
        lengths = np.concatenate([short, long])
        starts = rng.uniform(0.0, self.duration_s, size=lengths.size)
        s_idx = np.round(starts * self.rate_hz).astype(np.int64)
        e_idx = np.minimum(s_idx + np.maximum(np.round(lengths * self.rate_hz), 1), self.n)
        order = np.argsort(s_idx)
        merged: list[list[int]] = []
        for s, e in zip(s_idx[order], e_idx[order], strict=True):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], int(e))
            else:
                merged.append([int(s), int(e)])
        return np.array(merged, dtype=np.int64).reshape(-1, 2)

    # ----------------------------------------------------------------------------- baseline
    def _smooth_noise(self, rng: np.random.Generator, size: int, sigma_knots: float) -> FloatArray:
        x = gaussian_filter1d(rng.standard_normal(size), sigma_knots, mode="nearest")
        return np.asarray(x / max(float(x.std()), 1e-12), dtype=np.float64)

    def plan_baseline(self, arm: _Arm) -> Baseline:
        rng = self._rng("baseline", arm.index)
        step = 0.5
        knots = np.arange(0.0, self.duration_s + 2.0 * step, step)
        stage = self.schedule.stage_at(knots)
        # Breathing: 12–20 /min, faster and irregular awake and in REM, regular in deep sleep.
        base_hz = float(rng.uniform(12.0, 18.0)) / 60.0
        offset = np.array([2.0, 0.5, -0.5, -1.0, 1.0])[stage] / 60.0
        irregular = np.array([0.12, 0.06, 0.03, 0.02, 0.12])[stage]
        offset = gaussian_filter1d(offset, 20.0, mode="nearest")
        irregular = gaussian_filter1d(irregular, 20.0, mode="nearest")
        breath_hz = (base_hz + offset) * (1.0 + irregular * self._smooth_noise(rng, knots.size, 30))
        breath_hz = np.clip(breath_hz, 0.1, 0.5)
        breath_phase = float(rng.uniform(0, 2 * np.pi)) + 2 * np.pi * np.cumsum(breath_hz) * step
        amp0 = float(rng.uniform(1.0, 8.0)) / 1000.0
        factor = gaussian_filter1d(np.array([1.2, 1.0, 1.0, 0.9, 0.9])[stage], 20.0)
        envelope = np.exp(0.25 * self._smooth_noise(rng, knots.size, 120))
        breath_amp = np.clip(amp0 * factor * envelope, 0.001, 0.008)
        # Heart rate 50–72 bpm, higher awake/REM, with respiratory sinus arrhythmia.
        hr_bpm = float(rng.uniform(50.0, 72.0)) + gaussian_filter1d(
            np.array([8.0, 3.0, 0.0, -3.0, 5.0])[stage], 20.0, mode="nearest"
        )
        hr_bpm = hr_bpm + 3.0 * self._smooth_noise(rng, knots.size, 60)
        hr_bpm = hr_bpm + 2.0 * np.sin(breath_phase)
        heart_phase = float(rng.uniform(0, 1)) + np.cumsum(hr_bpm / 60.0) * step
        drift_step = 1200.0
        n_drift = int(self.duration_s // drift_step) + 3
        drift = np.cumsum(rng.normal(0.0, 0.001, size=(n_drift, 3)), axis=0)
        bias = rng.uniform(-0.02, 0.02, size=3) if self.cfg.bias else np.zeros(3)
        noise_mg = self.cfg.noise_mg if self.cfg.noise_mg is not None else rng.uniform(2.0, 10.0)
        return Baseline(
            knot_step_s=step,
            breath_phase=np.asarray(breath_phase, dtype=np.float64),
            breath_amp_g=np.asarray(breath_amp, dtype=np.float64),
            breath_axis=random_unit(rng),
            heart_phase=np.asarray(heart_phase, dtype=np.float64),
            heart_amp_g=float(rng.uniform(0.3, 1.5)) / 1000.0,
            heart_dir=random_unit(rng),
            drift_step_s=drift_step,
            drift_g=np.asarray(drift, dtype=np.float64),
            bias_g=np.asarray(bias, dtype=np.float64),
            noise_g=float(noise_mg) / 1000.0,
            breathing=self.cfg.breathing,
            heartbeat=self.cfg.heartbeat,
        )

    # ---------------------------------------------------------------------------- resolving
    def resolve_rotations(self, arm: _Arm) -> tuple[tuple[RotEvent, ...], FloatArray]:
        """Fix each rotation's axis from the arm's orientation when it starts (time order)."""
        specs = sorted(arm.rot, key=lambda s: s.start)
        up = arm.up0.copy()
        events: list[RotEvent] = []
        states = [up.copy()]
        for spec in specs:
            if spec.mode == "target":
                axis = perpendicular_axis(up, spec.vector)
                angle = max(angle_between(up, spec.vector), spec.angle_rad)
                path, final = spec.shape * angle, spec.final_shape * angle
            else:
                axis = perpendicular_axis(up, spec.vector)
                path, final = spec.shape * spec.angle_rad, spec.final_shape * spec.angle_rad
            events.append(RotEvent(spec.start, np.asarray(path, dtype=np.float64), final, axis))
            up = unit(rotate(up[None, :], axis, final)[0])
            states.append(up.copy())
        return tuple(events), np.array(states)

    # --------------------------------------------------------------------------------- truth
    def _off_wrist(self, arm: int, t: float) -> bool:
        return any(a <= t <= b for a, b in self.arms[arm].off)

    def _visible(self, gaps: IntArray, part: _JerkPart) -> bool:
        """Is a jerk observable on a sensor with these gaps?

        The samples just before and just after the onset must both be received (so the onset
        never lies inside a gap), and at least half of the main lobe's samples.
        """
        if gaps.size == 0:
            return True
        first = math.floor(part.onset_s * self.rate_hz) + 1
        last = max(first + 1, math.ceil((part.onset_s + part.duration_s) * self.rate_hz))
        for slot in (first - 1, first):
            i = int(np.searchsorted(gaps[:, 0], slot, side="right")) - 1
            if i >= 0 and gaps[i, 1] > slot:
                return False
        missing = np.clip(np.minimum(gaps[:, 1], last) - np.maximum(gaps[:, 0], first), 0, None)
        return float(missing.sum()) <= 0.5 * (last - first)

    def _context(self, j: _Jerk, visible: dict[int, _JerkPart]) -> str:
        """The truth context of a jerk: as planned, else from tremor and its series."""
        if j.context is not None:
            return j.context
        onset = min(p.onset_s for p in visible.values())
        sides = {self.arms[a].side for a in visible}
        for c in self.confounders:
            if (
                c["kind"] == "tremor"
                and c["start"] <= onset <= c["end"]
                and sides & set(c["sensors"])
            ):
                return "in_tremor"
        if j.series is None:
            return "isolated"
        onsets = self._series_onsets.get(j.series, [])
        i = bisect.bisect_left(onsets, onset)
        near = [abs(onsets[k] - onset) for k in (i - 1, i + 1) if 0 <= k < len(onsets)]
        return "series_lt_1s" if near and min(near) < 1.0 else "series_ge_1s"

    def _host_onset(self, arrival: FloatArray | None, onset_s: float) -> float:
        """An onset (s, physical) on the clock of the samples' time stamps."""
        if arrival is None:
            return onset_s
        k = math.floor(onset_s * self.rate_hz) + 1
        stamp = float(slot_times(self.cfg, arrival, np.array([k], dtype=np.int64))[0])
        return stamp - (k / self.rate_hz - onset_s)

    def _truth(
        self, gaps: list[IntArray], arrivals: list[FloatArray | None] | None = None
    ) -> dict[str, Any]:
        t0 = float(self.cfg.t0)
        sides = [arm.side for arm in self.arms]
        arrivals = arrivals if arrivals is not None else [None] * len(self.arms)
        jerks: list[dict[str, Any]] = []
        self._series_onsets: dict[int, list[float]] = {}
        for j in self.jerks:
            if j.series is not None:
                first = min(p.onset_s for p in j.parts.values())
                bisect.insort(self._series_onsets.setdefault(j.series, []), first)
        for j in self.jerks:
            visible = {
                a: p
                for a, p in j.parts.items()
                if self._visible(gaps[a], p) and not self._off_wrist(a, p.onset_s)
            }
            if not visible:
                continue
            context = self._context(j, visible)
            if any(a is not None for a in arrivals):
                visible = {
                    a: _JerkPart(
                        self._host_onset(arrivals[a], p.onset_s),
                        p.duration_s,
                        p.amplitude_g,
                        p.shape,
                    )
                    for a, p in visible.items()
                }
            onset = min(p.onset_s for p in visible.values())
            end = max(p.onset_s + p.duration_s for p in visible.values())
            # Bilateral: the span of both main lobes, from the earlier onset.
            duration = next(iter(visible.values())).duration_s if len(visible) == 1 else end - onset
            jerks.append(
                {
                    "onset": t0 + onset,
                    "duration": duration,
                    "amplitude_g": max(p.amplitude_g for p in visible.values()),
                    "size": size_class(max(p.amplitude_g for p in visible.values())),
                    "context": context,
                    "kind": j.kind,
                    "series": j.series,
                    "sensors": [sides[a] for a in sorted(visible)],
                    "bilateral": j.bilateral,
                    "stage": STAGES[int(self.schedule.stage_at(np.array([onset]))[0])],
                    "per_sensor": {
                        sides[a]: {
                            "onset": t0 + p.onset_s,
                            "duration": p.duration_s,
                            "amplitude_g": p.amplitude_g,
                            "shape": p.shape,
                        }
                        for a, p in sorted(visible.items())
                    },
                }
            )
        jerks.sort(key=lambda r: r["onset"])
        confounders = sorted(self.confounders, key=lambda r: (r["start"], r["kind"]))
        for c in confounders:
            c["start"] += t0
            c["end"] += t0
        gap_rows = []
        for a, g in enumerate(gaps):
            if g.size == 0:
                continue
            # On the clock of the time stamps (a slot's time whether or not it arrived).
            if arrivals[a] is None:
                starts, ends = g[:, 0] / self.rate_hz, g[:, 1] / self.rate_hz
            else:
                starts = slot_times(self.cfg, arrivals[a], g[:, 0])
                ends = slot_times(self.cfg, arrivals[a], g[:, 1])
            gap_rows += [
                {"sensor": sides[a], "start": t0 + float(x), "end": t0 + float(y)}
                for x, y in zip(starts.tolist(), ends.tolist(), strict=True)
            ]
        gap_rows.sort(key=lambda r: (r["start"], r["sensor"]))
        sched = self.schedule
        return {
            "version": TRUTH_VERSION,
            "seed": self.cfg.seed,
            "rate_hz": float(self.cfg.rate_hz),
            "hours": float(self.cfg.hours),
            "t0": t0,
            "range_g": float(self.cfg.range_g),
            "bits": self.cfg.bits,
            "sensors": sides,
            "sleep_onset": t0 + sched.onsets_s[0],
            "sleep_onsets": [t0 + x for x in sched.onsets_s],
            "sleep_periods": [[t0 + a, t0 + b] for a, b in sched.periods_s],
            "jerks": jerks,
            "confounders": confounders,
            "episodes": sorted(
                (
                    {**e, "start": e["start"] + t0, "end": e["end"] + t0}
                    for e in self.episodes
                    if not any(
                        self._off_wrist(self._side_index(x), e["start"]) for x in e["sensors"]
                    )
                ),
                key=lambda e: e["start"],
            ),
            "gaps": gap_rows,
            "clipped": [],
            "stages": [
                [t0 + float(a), t0 + float(b), STAGES[int(c)]]
                for a, b, c in zip(sched.starts_s, sched.ends_s, sched.stages, strict=True)
            ],
            "duration_s": self.duration_s,
            "config": self.cfg.as_dict(),
        }

    def _side_index(self, side: str) -> int:
        return next(a.index for a in self.arms if a.side == side)

    def run(self) -> NightPlan:
        # Off-wrist periods first: nothing below renders on a sensor lying on the table
        # (jerks planned there are dropped from its truth), and their own random stream
        # leaves every other decision where it was.
        self.plan_off_wrist()
        if self.cfg.randomised:
            plan_randomised(self)
            return self.run_rest()
        self.plan_series()
        self.plan_hypnic()
        self.plan_sporadic()
        self.plan_turns()
        self.plan_scratches()
        self.plan_fidgets()
        self.plan_tremor()
        self.plan_twitches()
        # Wake activity and episodes come last and only where the arms are free, so nights
        # without them are unchanged and no planned jerk is covered by them.
        self.plan_reading()
        self.plan_bathroom()
        self.plan_morning()
        self.plan_clonic()
        return self.run_rest()

    def run_rest(self) -> NightPlan:
        """Gaps, rotations, baselines and the truth of what has been planned."""
        gaps = [self.plan_gaps(arm) for arm in self.arms]
        arrivals: list[FloatArray | None] = [None] * len(self.arms)
        if self.cfg.ble_interval_ms > 0.0:
            arrivals = [
                packet_arrivals(self._rng("ble", arm.index), self.cfg, self.n) for arm in self.arms
            ]
        sensors = []
        for arm, arm_gaps, arrival in zip(self.arms, gaps, arrivals, strict=True):
            rot_events, states = self.resolve_rotations(arm)
            acc = tuple(sorted(arm.acc, key=lambda e: e.start))
            baseline = self.plan_baseline(arm)
            sensors.append(
                SensorPlan(
                    index=arm.index,
                    side=arm.side,
                    acc_events=acc,
                    acc_starts=np.array([e.start for e in acc], dtype=np.int64),
                    acc_ends=np.array([e.start + e.data.shape[0] for e in acc], dtype=np.int64),
                    rot_events=rot_events,
                    rot_starts=np.array([e.start for e in rot_events], dtype=np.int64),
                    rot_ends=np.array([e.end for e in rot_events], dtype=np.int64),
                    rot_states=states,
                    baseline=baseline,
                    gaps=arm_gaps,
                    off=np.array(
                        [[round(a * self.rate_hz), round(b * self.rate_hz)] for a, b in arm.off],
                        dtype=np.int64,
                    ).reshape(-1, 2),
                    idle=self._idle[arm.index] if arm.off else False,
                    table_up=self._table_up[arm.index],
                    up_events=tuple(sorted(arm.up_acc, key=lambda e: e.start)),
                    arrival_s=arrival,
                )
            )
        truth = self._truth(gaps, arrivals)
        truth["noise_mg"] = {s.side: s.baseline.noise_g * 1000.0 for s in sensors}
        return NightPlan(self.cfg, self.schedule, tuple(sensors), truth)


def _excursion(
    progress: Callable[[FloatArray], FloatArray], angle_rad: float, keep: float
) -> Callable[[FloatArray], FloatArray]:
    """Rotation path that swings out by ``angle_rad`` with the movement and keeps ``keep`` of it."""

    def shape(tau: FloatArray) -> FloatArray:
        p = progress(tau)
        return np.asarray(angle_rad * (keep * p + (1.0 - keep) * np.sin(np.pi * p) ** 2))

    return shape


def _lift_and_return(
    approach_s: float, hold_s: float, back_s: float, lift_rad: float, residual_rad: float
) -> Callable[[FloatArray], FloatArray]:
    """Rotation path of a hand reaching somewhere, staying ``hold_s``, and coming back."""

    def shape(tau: FloatArray) -> FloatArray:
        up = wf.min_jerk_progress(tau / approach_s)
        down = wf.min_jerk_progress((tau - approach_s - hold_s) / back_s)
        return np.asarray(lift_rad * up - (lift_rad - residual_rad) * down, dtype=np.float64)

    return shape


def _merge_ranges(ranges: IntArray) -> IntArray:
    """Sorted, disjoint [start, end) ranges (g, 2) covering the given ones."""
    merged: list[list[int]] = []
    for a, b in sorted(ranges.reshape(-1, 2).tolist()):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], int(b))
        else:
            merged.append([int(a), int(b)])
    return np.array(merged, dtype=np.int64).reshape(-1, 2)


# ------------------------------------------------------------------ the randomised model
# Event planners of the randomised model (issue 16; the config is drawn by
# sim.randomised.randomised_night): each draws from a stream of its own.


def _r_maker(family: str | None) -> Callable[[np.random.Generator, float, float], wf.Transient]:
    def make(rng: np.random.Generator, amplitude_g: float, duration_s: float) -> wf.Transient:
        return wf.random_jerk(rng, amplitude_g, duration_s, family)

    return make


def _r_amplitude(rng: np.random.Generator, lo_g: float = 0.05, hi_g: float = 3.0) -> float:
    return float(np.exp(rng.uniform(math.log(lo_g), math.log(hi_g))))


def _r_duration(rng: np.random.Generator, cap_s: float = 0.35) -> float:
    return float(np.clip(np.exp(rng.normal(math.log(0.1), 0.55)), 0.03, min(cap_s, 0.35)))


def plan_randomised(p: _Planner) -> None:
    """Plan a randomised night's events onto the planner (after off-wrist periods)."""
    if p.cfg.hypnic:
        _r_hypnic(p)
    if p.cfg.series:
        _r_clusters(p)
        _r_trains(p)
    _r_sporadic(p)
    p.plan_turns()
    p.plan_scratches()
    p.plan_fidgets()
    if p.cfg.tremor:
        _r_tremor(p)
    p.plan_twitches()
    _r_moving(p)
    _r_plm(p)
    _r_rbd(p)
    _r_knocks(p)
    p.plan_reading()
    p.plan_bathroom()
    p.plan_morning()
    p.plan_clonic()


def _r_hypnic(p: _Planner) -> None:
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
            amp = _r_amplitude(rng, 0.3, 3.0) if big else _r_amplitude(rng, 0.08, 0.3)
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
                    maker=_r_maker(None),
                )
            )


def _r_place_series(
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
    base = _r_amplitude(rng, 0.05, 2.5)
    family = wf.RANDOM_SHAPES[int(rng.integers(0, len(wf.RANDOM_SHAPES)))]
    spacing = np.diff(onsets) if onsets.size > 1 else np.array([1.0])
    for k, onset in enumerate(onsets.tolist()):
        near = min(spacing[max(k - 1, 0)], spacing[min(k, spacing.size - 1)])
        amp = float(np.clip(base * rng.uniform(0.5, 1.5), 0.05, 3.0))
        p._make_jerk(
            rng,
            "myoclonic",
            start + onset,
            amp,
            _r_duration(rng, 0.45 * float(near)),
            arms,
            bilateral,
            series_id,
            check=False,
            maker=_r_maker(family),
            context=context,
        )
    return True


def _r_clusters(p: _Planner) -> None:
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
            if _r_place_series(p, rng, start, onsets, 0.6):
                break


def _r_trains(p: _Planner) -> None:
    """Cortical trains: 3-15 jerks at 1-3 Hz, 5-25 % period variation (not a tremor)."""
    rng = p._rng("r_trains")
    for _ in range(int(rng.poisson(1.5 * p.cfg.hours)) + 1):
        n = int(rng.integers(3, 16))
        period = 1.0 / float(rng.uniform(1.0, 3.0))
        cv = float(rng.uniform(0.05, 0.25))
        gaps = period * np.clip(rng.normal(1.0, cv, size=n - 1), 0.6, 1.4)
        onsets = np.concatenate([[0.0], np.cumsum(gaps)])
        for _attempt in range(50):
            if _r_place_series(p, rng, float(rng.uniform(0.0, p.duration_s)), onsets, 0.4):
                break


def _r_sporadic(p: _Planner) -> None:
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
            _r_amplitude(rng),
            _r_duration(rng),
            arms,
            bilateral,
            None,
            check=True,
            maker=_r_maker(None),
        )


def _r_tremor(p: _Planner) -> None:
    """Tremor (70 % of nights) at the patient's 4-12 Hz, 1-3 episodes of 1-10 min, mostly
    awake, each with 3-12 jerks inside it."""
    rng = p._rng("r_tremor")
    if rng.random() < 0.3:
        return
    wake = p._stage_rate({WAKE: 1.0})
    night_hz = float(rng.uniform(4.0, 12.0))
    night_g = _r_amplitude(rng, 0.02, 0.3)
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
                _r_amplitude(rng),
                _r_duration(rng),
                on,
                len(on) == 2,
                None,
                check=True,
                maker=_r_maker(None),
                context="in_tremor",
            )
        for a in arms:
            p.arms[a].big_busy.add(start - 2.0, start + length + 2.0)
        p._record("tremor", start, start + length, arms, freq_hz=freq, peak_g=amp)


def _r_wake_segments(p: _Planner, min_s: float) -> list[tuple[float, float]]:
    sched = p.schedule
    return [
        (float(a), float(b))
        for a, b, c in zip(sched.starts_s, sched.ends_s, sched.stages, strict=True)
        if c == WAKE and b - a >= min_s
    ]


def _r_moving(p: _Planner) -> None:
    """Awake and moving: sitting up, reaching, holding something; 1-3 jerks (or a short
    train) during the movement, and negative myoclonus while holding."""
    rng = p._rng("r_moving")
    segments = _r_wake_segments(p, 40.0)
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
                    rng, length, int(rng.integers(2, 5)), _r_amplitude(rng, 0.15, 1.0), 1.5
                )
                p._add_smooth(p.arms[i], tr, t)
                angle = math.radians(float(rng.uniform(30.0, 90.0))) * float(rng.choice([-1, 1]))
                p._add_rotation(
                    p.arms[i],
                    t,
                    length,
                    _excursion(progress, angle, 1.0),
                    "tilt",
                    random_unit(rng),
                    1.0,
                )
            window = (t + 0.2 * length, t + 0.9 * length)
        else:
            arm = p.arms[arms[0]]
            peak = _r_amplitude(rng, 0.1, 0.5)
            for when, dur in ((t, approach), (t + approach + hold, back)):
                tr, _ = p._movement_wave(rng, dur, 1, peak, dur)
                p._add_smooth(arm, tr, when)
            lo, hi = (15.0, 60.0) if kind == "reach" else (30.0, 80.0)
            lift = math.radians(float(rng.uniform(lo, hi)))
            residual = math.radians(float(rng.normal(0.0, 3.0)))
            shape = _lift_and_return(approach, hold, back, lift, residual)
            p._add_rotation(arm, t, length, shape, "tilt", random_unit(rng), 1.0)
            if kind == "hold":
                # Holding against gravity: physiological tremor and a slow sway.
                physio = wf.tremor(
                    rng, hold, _r_amplitude(rng, 0.003, 0.02), float(rng.uniform(8.0, 12.0))
                )
                p._add_smooth(arm, physio, t + approach)
                window = (t + approach + 1.0, t + approach + hold - 1.0)
            else:
                window = (t + 0.1, t + length - 0.3)
        _r_moving_jerks(p, rng, arms, kind, window)
        for i in arms:
            p.arms[i].busy.add(t - 2.0, t + length + 2.0)
            p.arms[i].jerk_busy.add(t - 2.0, t + length + 2.0)
            p.arms[i].big_busy.add(t - 2.0, t + length + 2.0)
        p._record(kind, t, t + length, arms)


def _r_moving_jerks(
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
            _r_negative(p, rng, on[0], x)
        if rng.random() < 0.5:
            return
        lo = min(keep[-1] + 1.5, hi)
    if hi - lo < 0.3:
        return
    if rng.random() < 0.2:
        n = int(rng.integers(3, 7))
        onsets = np.concatenate([[0.0], np.cumsum(rng.uniform(0.3, 0.9, size=n - 1))])
        if onsets[-1] < hi - lo:
            _r_place_series(p, rng, lo, onsets, 0.0, context="awake_moving", arms=on)
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
            _r_amplitude(rng),
            _r_duration(rng),
            on,
            len(on) == 2,
            None,
            check=False,
            maker=_r_maker(None),
            context="awake_moving",
        )


def _r_negative(p: _Planner, rng: np.random.Generator, arm_index: int, onset_s: float) -> None:
    """One negative myoclonus on one arm at ``onset_s`` (the start of the lapse)."""
    lapse = float(np.exp(rng.uniform(math.log(0.05), math.log(0.5))))
    drop_m = float(np.exp(rng.uniform(math.log(0.005), math.log(0.08))))
    # Half-sine-root lapse: x ~ 0.35 a T^2; never more than a near free fall.
    drop_g = min(drop_m / (0.35 * _G * lapse**2), 0.8)
    burst = float(rng.uniform(0.06, 0.2))
    settle = float(rng.uniform(0.2, 0.5))
    tr, peak_g = wf.negative_profile(lapse, drop_g, burst, settle)
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


def _r_plm(p: _Planner) -> None:
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
                peak = _r_amplitude(rng, 0.02, 0.25)
                tr, progress = p._movement_wave(rng, dur, int(rng.integers(1, 3)), peak, dur)
                p._add_smooth(arm, tr, t)
                turn = math.radians(float(rng.uniform(1.0, 8.0)))
                path = _excursion(progress, turn, 0.0)
                p._add_rotation(arm, t, dur, path, "tilt", random_unit(rng), 1.0)
                arm.busy.add(t - 1.0, t + dur + 1.0)
                arm.jerk_busy.add(t - 1.0, t + dur + 1.0)
                p._record("plm", t, t + dur, [arm_index], peak_g=peak)
            t += period * float(rng.uniform(0.8, 1.2))


def _r_rbd(p: _Planner) -> None:
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
                tr, progress = p._movement_wave(
                    rng, length, n_sub, _r_amplitude(rng, 0.3, 2.0), 1.0
                )
                p._add_smooth(arm, tr, t)
                angle = math.radians(float(rng.uniform(20.0, 60.0)))
                keep = float(rng.uniform(0.0, 0.5))
                path = _excursion(progress, angle, keep)
                p._add_rotation(arm, t, length, path, "tilt", random_unit(rng), 1.0)
                for _k in range(int(rng.poisson(length / 4.0))):
                    knock = wf.jerk(
                        rng,
                        _r_amplitude(rng, 0.2, 2.0),
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


def _r_knocks(p: _Planner) -> None:
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
        tr, _ = p._movement_wave(rng, reach, 1, _r_amplitude(rng, 0.05, 0.3), reach)
        p._add_smooth(arm, tr, t)
        knock = wf.jerk(
            rng,
            _r_amplitude(rng, 0.2, 3.0),
            float(rng.uniform(0.01, 0.04)),
            ring_fraction=(0.2, 0.6),
            ring_freq_hz=(12.0, 30.0),
            ring_decay_s=(0.03, 0.15),
        )
        p._add_transient(arm, knock, t + reach * float(rng.uniform(0.85, 1.0)))
        arm.busy.add(t - 1.0, t + reach + 1.5)
        arm.jerk_busy.add(t - 1.0, t + reach + 1.5)
        p._record("knock", t, t + reach + 0.2, [arm_index])
