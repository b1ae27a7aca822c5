"""Acceleration waveforms of movements at the wrist and their sampling.

A waveform is a function of the time since the event's start, ``tau`` (any shape, seconds),
returning the linear acceleration in the sensor frame, shape ``tau.shape + (3,)``, in g, and
exactly zero outside its support ``[0, length_s)``.  Gravity (orientation) changes are not
part of these: they are rotation paths rendered separately (see :mod:`sim.render`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sim.geometry import FloatArray, near, random_unit, unit

Waveform = Callable[[FloatArray], FloatArray]

JERK_SHAPES: tuple[str, ...] = ("half_sine", "biphasic", "skewed", "multi_axis")
_MIN_JERK_PEAK = 10.0 * math.sqrt(3.0) / 3.0  # max of 60s - 180s^2 + 120s^3 on [0, 1]


@dataclass(frozen=True)
class Transient:
    """A waveform with its support length in seconds and descriptive parameters."""

    wave: Waveform
    length_s: float
    info: dict[str, float | str] = field(default_factory=dict)


def half_sine(u: FloatArray) -> FloatArray:
    """sin(pi u) on u in [0, 1], zero elsewhere (same shape as ``u``)."""
    inside = (u >= 0.0) & (u < 1.0)
    return np.where(inside, np.sin(np.pi * np.clip(u, 0.0, 1.0)), 0.0)


def min_jerk_accel(s: FloatArray) -> FloatArray:
    """Acceleration of a minimum-jerk reach over s in [0, 1] (peak +1 then -1), zero elsewhere.

    Smooth voluntary movements (turning, fidgeting, reaching to scratch) follow this profile.
    """
    sc = np.clip(s, 0.0, 1.0)
    a = (60.0 * sc - 180.0 * sc**2 + 120.0 * sc**3) / _MIN_JERK_PEAK
    return np.where((s >= 0.0) & (s < 1.0), a, 0.0)


def min_jerk_progress(s: FloatArray) -> FloatArray:
    """Position of a minimum-jerk reach: 0 before s = 0, rising smoothly to 1 at s = 1."""
    sc = np.clip(s, 0.0, 1.0)
    return np.asarray(10.0 * sc**3 - 15.0 * sc**4 + 6.0 * sc**5, dtype=np.float64)


def bump(s: FloatArray) -> FloatArray:
    """sin^2(pi s) on [0, 1], zero elsewhere: a smooth excursion that starts and ends flat."""
    return np.where((s >= 0.0) & (s < 1.0), np.sin(np.pi * np.clip(s, 0.0, 1.0)) ** 2, 0.0)


def _taper_end(x: FloatArray, fraction: float) -> FloatArray:
    """Raised-cosine fade from 1 to 0 over the last ``fraction`` of x in [0, 1]."""
    start = 1.0 - fraction
    ramp = np.clip((x - start) / fraction, 0.0, 1.0)
    return np.asarray(0.5 * (1.0 + np.cos(np.pi * ramp)), dtype=np.float64)


def _fade(tau: FloatArray, length_s: float, fade_s: float) -> FloatArray:
    """Raised-cosine fade in over ``fade_s`` and out over ``fade_s``; zero outside support."""
    rise = np.clip(tau / fade_s, 0.0, 1.0)
    fall = np.clip((length_s - tau) / fade_s, 0.0, 1.0)
    env = 0.25 * (1.0 - np.cos(np.pi * rise)) * (1.0 - np.cos(np.pi * fall))
    return np.where((tau >= 0.0) & (tau < length_s), env, 0.0)


def jerk(
    rng: np.random.Generator,
    amplitude_g: float,
    duration_s: float,
    *,
    shape: str | None = None,
    ring_fraction: tuple[float, float] = (0.1, 0.5),
    ring_freq_hz: tuple[float, float] = (5.0, 12.0),
    ring_decay_s: tuple[float, float] = (0.1, 0.5),
    direction: FloatArray | None = None,
) -> Transient:
    """A myoclonic transient: main lobe of ``duration_s`` then a damped limb ringing.

    The main lobe starts at tau = 0 (the ground-truth onset) and its peak acceleration
    magnitude is ``amplitude_g``.  ``shape`` is one of :data:`JERK_SHAPES` (random if None):
    half-sine, biphasic push-pull, skewed (beta-like, fast rise or fast fall) or multi-axis
    (a second lobe in another direction overlapping the first).  The ringing (5–12 Hz, 10–50 %
    of the peak, decaying within 0.1–0.5 s) follows the main lobe with the opposite sign, as the
    limb overshoots back.
    """
    if shape is None:
        shape = JERK_SHAPES[int(rng.choice(len(JERK_SHAPES), p=[0.3, 0.3, 0.2, 0.2]))]
    d1 = random_unit(rng)
    if direction is not None:  # a repeated beat of the same muscles (clonic activity)
        d1 = unit(direction)
    d2 = d1
    profile: Callable[[FloatArray], FloatArray]
    second: Callable[[FloatArray], FloatArray] | None = None
    if shape == "half_sine":
        power = float(rng.uniform(0.8, 1.6))  # blunter or sharper peak

        def profile(u: FloatArray) -> FloatArray:
            return np.asarray(half_sine(u) ** power, dtype=np.float64)

    elif shape == "biphasic":
        split = float(rng.uniform(0.35, 0.65))
        ratio = float(rng.uniform(0.4, 1.0))

        def profile(u: FloatArray) -> FloatArray:
            return half_sine(u / split) - ratio * half_sine((u - split) / (1.0 - split))

    elif shape == "skewed":
        a, b = float(rng.uniform(0.8, 2.0)), float(rng.uniform(1.8, 5.0))
        if rng.random() < 0.3:
            a, b = b, a  # slow rise, fast fall
        mode = a / (a + b)
        peak = mode**a * (1.0 - mode) ** b

        def profile(u: FloatArray) -> FloatArray:
            uc = np.clip(u, 0.0, 1.0)
            return np.where((u >= 0.0) & (u < 1.0), uc**a * (1.0 - uc) ** b / peak, 0.0)

    elif shape == "multi_axis":
        d2 = near(rng, d1, float(rng.uniform(0.8, 2.0)))
        lag = float(rng.uniform(0.15, 0.5))
        ratio2 = float(rng.uniform(0.3, 0.8))

        def profile(u: FloatArray) -> FloatArray:
            return half_sine(u / (1.0 - lag * 0.5))

        def second(u: FloatArray) -> FloatArray:
            return ratio2 * half_sine((u - lag) / (1.0 - lag))

    else:
        raise ValueError(f"unknown jerk shape {shape!r}")

    def lobe_unscaled(tau: FloatArray) -> FloatArray:
        u = tau / duration_s
        vec = profile(u)[..., None] * d1
        if second is not None:
            vec = vec + second(u)[..., None] * d2
        return np.asarray(vec, dtype=np.float64)

    grid = np.linspace(0.0, duration_s, 2001, endpoint=False)
    lobe_grid = lobe_unscaled(grid)
    magnitude = np.linalg.norm(lobe_grid, axis=1)
    scale = amplitude_g / float(magnitude.max())
    last = lobe_grid[int(np.nonzero(magnitude > 0.3 * magnitude.max())[0][-1])]

    ring_amp = amplitude_g * float(rng.uniform(*ring_fraction))
    ring_hz = float(rng.uniform(*ring_freq_hz))
    decay_s = float(rng.uniform(*ring_decay_s))
    ring_len = 1.2 * decay_s
    ring_dir = near(rng, last, 0.35)
    tau_decay = decay_s / 3.0  # the envelope is down to 5 % after decay_s

    def wave(tau: FloatArray) -> FloatArray:
        tau = np.asarray(tau, dtype=np.float64)
        out = lobe_unscaled(tau) * scale
        r = tau - duration_s
        inside = (r >= 0.0) & (r < ring_len)
        rc = np.clip(r, 0.0, ring_len)
        ring = (
            -ring_amp
            * np.exp(-rc / tau_decay)
            * np.sin(2.0 * np.pi * ring_hz * rc)
            * _taper_end(rc / ring_len, 0.3)
        )
        out = out + np.where(inside, ring, 0.0)[..., None] * ring_dir
        return np.asarray(out, dtype=np.float64)

    info: dict[str, float | str] = {
        "shape": shape,
        "ring_hz": ring_hz,
        "ring_g": ring_amp,
        "ring_decay_s": decay_s,
    }
    return Transient(wave, duration_s + ring_len, info)


def damped_oscillation(
    amplitude_g: float, freq_hz: float, decay_s: float, direction: FloatArray
) -> Transient:
    """A limb settling on the mattress: a decaying sinusoid along ``direction`` (3,)."""
    length = 1.2 * decay_s
    tau_decay = decay_s / 3.0
    d = unit(direction)

    def wave(tau: FloatArray) -> FloatArray:
        tau = np.asarray(tau, dtype=np.float64)
        tc = np.clip(tau, 0.0, length)
        s = (
            np.sin(2.0 * np.pi * freq_hz * tc)
            * np.exp(-tc / tau_decay)
            * _taper_end(tc / length, 0.3)
        )
        s = np.where((tau >= 0.0) & (tau < length), amplitude_g * s, 0.0)
        return np.asarray(s[..., None] * d, dtype=np.float64)

    return Transient(wave, length, {"freq_hz": freq_hz})


def reach_movements(
    starts_s: FloatArray, durations_s: FloatArray, weights: FloatArray, directions: FloatArray
) -> Waveform:
    """Sum of minimum-jerk sub-movements (k,) with directions (k, 3) and relative weights."""

    def wave(tau: FloatArray) -> FloatArray:
        tau = np.asarray(tau, dtype=np.float64)
        out = np.zeros((*tau.shape, 3))
        for s0, d, w, v in zip(starts_s, durations_s, weights, directions, strict=True):
            out += (w * min_jerk_accel((tau - s0) / d))[..., None] * v
        return out

    return wave


def reach_progress(
    starts_s: FloatArray, durations_s: FloatArray, weights: FloatArray
) -> Callable[[FloatArray], FloatArray]:
    """Progress 0 → 1 (monotone) of a movement made of weighted minimum-jerk sub-movements."""
    total = float(np.sum(weights))

    def progress(tau: FloatArray) -> FloatArray:
        tau = np.asarray(tau, dtype=np.float64)
        out = np.zeros(tau.shape)
        for s0, d, w in zip(starts_s, durations_s, weights, strict=True):
            out += w * min_jerk_progress((tau - s0) / d)
        return out / total

    return progress


def _wandering_phase(
    rng: np.random.Generator, freq_hz: float, depth: float
) -> Callable[[FloatArray], FloatArray]:
    """Phase (rad) of an oscillation whose frequency wanders slowly by about ±``depth``.

    Instantaneous frequency f0 (1 + sum c_k cos(2 pi m_k t + p_k)); the phase is its exact
    integral, so it can be evaluated at any time without accumulating.
    """
    mods = rng.uniform(0.03, 0.4, size=3)
    depths = depth * rng.uniform(0.3, 0.6, size=3)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=3)
    phi0 = float(rng.uniform(0.0, 2.0 * np.pi))

    def phase(tau: FloatArray) -> FloatArray:
        tau = np.asarray(tau, dtype=np.float64)
        wander = np.zeros(tau.shape)
        for m, c, p in zip(mods, depths, phases, strict=True):
            wander += c * (np.sin(2.0 * np.pi * m * tau + p) - np.sin(p)) / (2.0 * np.pi * m)
        return np.asarray(2.0 * np.pi * freq_hz * (tau + wander) + phi0, dtype=np.float64)

    return phase


def _slow_envelope(
    rng: np.random.Generator, depth: float, lo_hz: float, hi_hz: float
) -> Callable[[FloatArray], FloatArray]:
    """Slow multiplicative modulation around 1 by about ±``depth`` (never below 0.15)."""
    freqs = rng.uniform(lo_hz, hi_hz, size=3)
    depths = depth * rng.uniform(0.3, 0.7, size=3)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=3)

    def env(tau: FloatArray) -> FloatArray:
        tau = np.asarray(tau, dtype=np.float64)
        out = np.ones(tau.shape)
        for f, c, p in zip(freqs, depths, phases, strict=True):
            out += c * np.sin(2.0 * np.pi * f * tau + p)
        return np.clip(out, 0.15, None)

    return env


def tremor(
    rng: np.random.Generator, duration_s: float, amplitude_g: float, freq_hz: float
) -> Transient:
    """Tremor: a 4–7 Hz elliptical oscillation, amplitude-modulated, fading in and out.

    ``amplitude_g`` is the typical peak; the modulation makes it vary by about ±40 %.
    """
    phase = _wandering_phase(rng, freq_hz, 0.04)
    env = _slow_envelope(rng, 0.4, 0.02, 0.3)
    d1 = random_unit(rng)
    d2 = unit(np.cross(d1, random_unit(rng)))
    minor = float(rng.uniform(0.1, 0.5))
    h2 = float(rng.uniform(0.03, 0.2))
    h2_phase = float(rng.uniform(0.0, 2.0 * np.pi))
    fade_s = min(float(rng.uniform(3.0, 10.0)), duration_s / 4.0)
    scale = amplitude_g / (1.0 + h2)

    def wave(tau: FloatArray) -> FloatArray:
        tau = np.asarray(tau, dtype=np.float64)
        ph = phase(tau)
        a = scale * env(tau) * _fade(tau, duration_s, fade_s)
        main = (np.cos(ph) + h2 * np.cos(2.0 * ph + h2_phase)) * a
        side = minor * np.sin(ph) * a
        return np.asarray(main[..., None] * d1 + side[..., None] * d2, dtype=np.float64)

    return Transient(wave, duration_s, {"freq_hz": freq_hz})


def scratch_strokes(
    rng: np.random.Generator, duration_s: float, amplitude_g: float, freq_hz: float
) -> Transient:
    """Scratching: rhythmic 3–7 Hz strokes, asymmetric (harmonics), with brief pauses."""
    phase = _wandering_phase(rng, freq_hz, 0.08)
    env = _slow_envelope(rng, 0.25, 0.1, 0.8)
    d1 = random_unit(rng)
    d2 = unit(np.cross(d1, random_unit(rng)))
    minor = float(rng.uniform(0.1, 0.4))
    h2 = float(rng.uniform(0.1, 0.5))
    h3 = float(rng.uniform(0.0, 0.2))
    c2, c3 = rng.uniform(0.0, 2.0 * np.pi, size=2)
    fade_s = min(float(rng.uniform(0.15, 0.4)), duration_s / 4.0)
    n_pauses = int(rng.integers(0, 1 + int(duration_s // 6)))
    pause_at = rng.uniform(0.15, 0.85, size=n_pauses) * duration_s
    pause_len = rng.uniform(0.2, 0.8, size=n_pauses)
    scale = amplitude_g / (1.0 + h2 + h3)

    def wave(tau: FloatArray) -> FloatArray:
        tau = np.asarray(tau, dtype=np.float64)
        ph = phase(tau)
        gate = np.ones(tau.shape)
        for at, length in zip(pause_at, pause_len, strict=True):
            gate -= 0.9 * bump((tau - at) / length)
        a = scale * env(tau) * gate * _fade(tau, duration_s, fade_s)
        main = (np.sin(ph) + h2 * np.sin(2.0 * ph + c2) + h3 * np.sin(3.0 * ph + c3)) * a
        side = minor * np.cos(ph) * a
        return np.asarray(main[..., None] * d1 + side[..., None] * d2, dtype=np.float64)

    return Transient(wave, duration_s, {"freq_hz": freq_hz})


def sample_transient(
    transient: Transient, start_s: float, rate_hz: float, n_samples: int, oversample: int
) -> tuple[int, FloatArray]:
    """Sample a waveform that starts at ``start_s`` (seconds from the first sample).

    Each output sample i (time i / rate_hz) is the mean of the waveform over the preceding
    sample period (i - 1, i] / rate_hz, evaluated at ``oversample`` points: an integrating
    sensor front end, so a transient shorter than a sample period is attenuated, not lost,
    and the first sample showing it is the first one at or after ``start_s``.
    Returns (index of the first sample, data (m, 3) in g), clipped to [0, n_samples).
    """
    period = 1.0 / rate_hz
    first = math.floor(start_s * rate_hz) + 1
    last = math.ceil((start_s + transient.length_s) * rate_hz)
    first, last = max(first, 0), min(last, n_samples - 1)
    if last < first:
        return first, np.zeros((0, 3))
    idx = np.arange(first, last + 1, dtype=np.float64)
    offsets = (np.arange(oversample) + 0.5) / oversample * period
    tau = (idx * period)[:, None] - offsets[None, :] - start_s
    data = transient.wave(tau).mean(axis=1)
    return first, np.asarray(data, dtype=np.float64)


def sample_smooth(
    transient: Transient, start_s: float, rate_hz: float, n_samples: int
) -> tuple[int, FloatArray]:
    """Sample a smooth (band-limited) waveform at the sample instants, no averaging.

    Returns (index of the first sample, data (m, 3) in g), clipped to [0, n_samples).
    """
    first = max(math.ceil(start_s * rate_hz), 0)
    last = min(math.ceil((start_s + transient.length_s) * rate_hz), n_samples)
    if last <= first:
        return first, np.zeros((0, 3))
    tau = np.arange(first, last, dtype=np.float64) / rate_hz - start_s
    return first, transient.wave(tau)


def walking_bounce(
    rng: np.random.Generator, duration_s: float, cadence_hz: float, bounce_g: float
) -> Transient:
    """The body's vertical bounce at the step frequency while walking (the trunk rises and
    falls once per step), carried to the wrist with a little lateral sway at the stride
    frequency; fades in and out over the first and last steps."""
    phase = _wandering_phase(rng, cadence_hz, 0.03)
    d1 = random_unit(rng)
    d2 = unit(np.cross(d1, random_unit(rng)))
    sway = float(rng.uniform(0.1, 0.5))
    h2 = float(rng.uniform(0.1, 0.4))
    fade_s = min(1.5 / cadence_hz, duration_s / 4.0)

    def wave(tau: FloatArray) -> FloatArray:
        tau = np.asarray(tau, dtype=np.float64)
        ph = phase(tau)
        a = bounce_g * _fade(tau, duration_s, fade_s)
        main = (np.cos(ph) + h2 * np.cos(2.0 * ph)) * a
        side = sway * np.sin(0.5 * ph) * a
        return np.asarray(main[..., None] * d1 + side[..., None] * d2, dtype=np.float64)

    return Transient(wave, duration_s, {"freq_hz": cadence_hz})


def step_times(
    rng: np.random.Generator, duration_s: float, cadence_hz: float, jitter: float
) -> FloatArray:
    """Heel-strike times (s from the walk's start): one per step, period 1 / cadence with
    a step-to-step variability of ``jitter`` (coefficient of variation, 0.01-0.05 in
    healthy gait, more when shuffling at night)."""
    n = int(duration_s * cadence_hz) + 2
    periods = np.clip(rng.normal(1.0, jitter, size=n), 0.7, 1.3) / cadence_hz
    times = np.cumsum(periods) - periods[0] * float(rng.uniform(0.2, 1.0))
    return np.asarray(times[(times > 0.05) & (times < duration_s - 0.05)], dtype=np.float64)


#: Transient families of the randomised model (truth ``per_sensor[side]["shape"]``).
RANDOM_SHAPES: tuple[str, ...] = ("single_lobe", "push_return", "ringing", "skewed", "multi_axis")


def random_jerk(
    rng: np.random.Generator, amplitude_g: float, duration_s: float, family: str | None = None
) -> Transient:
    """A jerk transient of one of :data:`RANDOM_SHAPES` (random if None): a single lobe with little
    ringing, a push and return, a lobe followed by strong 3-12 Hz ringing of the limb, or
    the standard skewed and two-axis lobes."""
    if family is None:
        family = RANDOM_SHAPES[
            int(rng.choice(len(RANDOM_SHAPES), p=[0.25, 0.25, 0.25, 0.125, 0.125]))
        ]
    if family == "single_lobe":
        tr = jerk(rng, amplitude_g, duration_s, shape="half_sine", ring_fraction=(0.0, 0.1))
    elif family == "push_return":
        tr = jerk(rng, amplitude_g, duration_s, shape="biphasic", ring_fraction=(0.0, 0.3))
    elif family == "ringing":
        tr = jerk(
            rng,
            amplitude_g,
            duration_s,
            shape=str(rng.choice(["half_sine", "biphasic"])),
            ring_fraction=(0.4, 0.9),
            ring_freq_hz=(3.0, 12.0),
            ring_decay_s=(0.2, 0.8),
        )
    else:
        tr = jerk(rng, amplitude_g, duration_s, shape=family)
    tr.info["lobe"] = tr.info["shape"]
    tr.info["shape"] = family
    return tr


def negative_profile(
    lapse_s: float, drop_g: float, burst_s: float, settle_s: float
) -> tuple[Transient, float]:
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
            -drop_g * np.sqrt(half_sine(tau / lapse_s))
            + burst_g * half_sine((tau - lapse_s) / burst_s)
            - settle_g * half_sine((tau - lapse_s - burst_s) / settle_s)
        )
        out = np.zeros((*tau.shape, 3))
        out[..., 0] = along
        return out

    return Transient(wave, length, {"shape": "negative"}), max(drop_g, burst_g, settle_g)
