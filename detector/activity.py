"""Wake activity around a transient: walking, other voluntary activity, or rest.

A wrist that walks shows the arm swing (stride, 0.7-1.25 Hz) and a heel-strike transient at
every step (cadence 84-150 steps/min, 1.4-2.5 Hz); each heel strike is a brief impulsive
transient that looks like a jerk on its own.  Brushing teeth, eating, setting a glass down:
sustained voluntary movement whose own strokes and knocks are transients too.  What tells a
jerk apart inside such movement is that it is *against* the movement: aperiodic and larger
than anything the movement itself produces nearby.

:func:`movement_context` judges one burst from the signal the detector already buffers
(``activity_window_s`` either side; the detector analyses a burst ``settle_window_s`` after
it ended, so both sides are there).  It is a pure function of the samples around the
burst, hence chunk-invariant like the rest of the detector.  Its rest test (the active
fraction and the reach below: most bursts of a night end there) is compiled
(``activity_fraction`` in detector/_features.pyx; the detector's burst kernel computes it
with the other features); the rare rest runs here.

* **Active surroundings**: the band-passed magnitude exceeds ``activity_env_g`` (a moving
  limb; a resting or sleeping wrist stays at sensor noise, a few mg) for at least
  ``activity_min_fraction`` of the window on both sides of the burst, or for that much more
  than it on one side (the first or last step of a walk), or throughout the second before
  the burst (the knock that ends a reach: setting a glass down), counted outside the other
  brief bursts and their ringing: the previous jerks of a series are not a reach.
* **Walking**: active, and the envelope's autocorrelation over the whole window peaks at a
  step period (1 / ``step_hz_hi`` .. 1 / ``step_hz_lo``) or a stride period (twice that)
  above ``walk_min_corr``.  A stronger fast rhythm (the envelope repeating at 3-16 Hz:
  tremor or scratching, whose magnitude beats at twice their frequency) is left to the
  detector's rhythmic rules; anything else active is **activity**.
* **Far above the movement's level**: off a step rhythm and not ending a reach, a burst
  whose peak envelope is at least ``activity_rest_ratio`` times the median envelope around
  it counts: the limb rests between brief transients (a jerk cluster whose ringing the
  active fraction took for movement), or the burst dwarfs what the movement does.
* **A jerk still counts** when its peak envelope is at least ``activity_jerk_ratio`` times
  the 99th percentile of the movement's envelope around it (outside the burst, i.e. about
  the peaks of its own heel strikes and strokes): those repeat at their own size; a
  myoclonic jerk interrupting them is an outlier in size and therefore also off the
  rhythm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from detector import _features as _k

FloatArray = npt.NDArray[np.float64]
ActivityState = Literal["rest", "walking", "activity"]


@dataclass(frozen=True, slots=True)
class MovementContext:
    """What surrounds one burst.

    Attributes:
        state: ``"rest"``, ``"walking"`` or ``"activity"``.
        active_fraction: how much the burst sits inside movement (0..1, see the module).
        cadence_hz: step frequency when walking, else 0.
        size_ratio: the burst's peak envelope / the movement's 99th percentile envelope.
        counts: the burst is a jerk that interrupts the movement (only meaningful when
            ``state`` is not ``"rest"``).
        step_corr: height of the envelope's autocorrelation at the step rhythm (-1..1; 0
            when not judged).
    """

    state: ActivityState
    active_fraction: float
    cadence_hz: float
    size_ratio: float
    counts: bool
    step_corr: float = 0.0


@dataclass(frozen=True, slots=True)
class ActivityParams:
    """Parameters of :func:`movement_context` (see :class:`~detector.config.DetectorConfig`)."""

    window_s: float = 5.0
    env_g: float = 0.02
    min_fraction: float = 0.3
    step_hz_lo: float = 1.4
    step_hz_hi: float = 2.5
    walk_min_corr: float = 0.3
    walk_min_fraction: float = 0.5
    walk_sure_corr: float = 0.6
    jerk_ratio: float = 3.0
    rest_ratio: float = 20.0


_REST = MovementContext("rest", 0.0, 0.0, 0.0, True)


def at_rest(active_fraction: float) -> MovementContext:
    """What :func:`movement_context` says of a burst whose rest test (the compiled
    ``activity_fraction``) gave ``active_fraction`` below ``min_fraction`` (NaN: too
    little signal to judge)."""
    if math.isnan(active_fraction):
        return _REST
    return MovementContext("rest", active_fraction, 0.0, 0.0, True)


def movement_context(
    t: FloatArray,
    env: FloatArray,
    t_first: float,
    t_last: float,
    peak_env_g: float,
    rate_hz: float,
    params: ActivityParams,
    others: FloatArray | None = None,
    fraction: tuple[float, bool] | None = None,
) -> MovementContext:
    """Classify the surroundings of the burst ``t_first .. t_last`` (s).

    Args:
        t: (n,) s, increasing, and env: (n,) g, the band-passed magnitude around the burst
            (at least ``params.window_s`` either side when the segment allows).
        peak_env_g: the burst's peak envelope, g.  rate_hz: rate of ``t``, Hz.
        others: (m, 2) s, (first, last) supra-threshold sample of the other bursts nearby.
            Brief ones (jerk-sized, with their ringing) are left out of the active
            fraction where the limb rests between them: a series of jerks seconds apart is
            not movement.  Where they leave too little of a side (steps of a walk, strokes),
            that side is judged whole.
        fraction: the rest test's result (active fraction, ends a reach) when the caller
            has it already (the detector's burst kernel computes it on the same samples).
    """
    o = (
        np.empty((0, 2))
        if others is None or not len(others)
        else np.ascontiguousarray(others, dtype=np.float64).reshape(-1, 2)
    )
    if fraction is None:
        # The active fraction and the reach (the rest test of most bursts), compiled:
        # detector/_features.pyx, activity_fraction.
        fraction = _k.activity_fraction(
            np.ascontiguousarray(t, dtype=np.float64),
            np.ascontiguousarray(env, dtype=np.float64),
            o,
            t_first,
            t_last,
            params.window_s,
            params.env_g,
            params.min_fraction,
            rate_hz,
        )
    frac, reach = fraction
    if not frac >= params.min_fraction:  # (NaN: too little signal to judge)
        return at_rest(frac)
    w = params.window_s
    a0, a1, b0, b1 = np.searchsorted(t, (t_first - w, t_first - 0.3, t_last + 0.6, t_last + w))
    before, after = env[a0:a1], env[b0:b1]
    around = np.concatenate((before, after))
    ref = float(np.percentile(around, 99.0))
    ratio = peak_env_g / max(ref, 1e-6)
    x = env[a0:b1]
    # Steps: on the envelope smoothed over 0.15 s, so that brief heel strikes a few tens of
    # ms off the beat (step-to-step variability) still line up.
    k = max(1, round(0.15 * rate_hz))
    smooth = np.convolve(x, np.full(k, 1.0 / k), mode="same")
    step_hz, r_step = _rhythm(smooth, rate_hz, params.step_hz_lo / 2.0, params.step_hz_hi)
    _, r_fast = _rhythm(x, rate_hz, 3.0, 16.0)
    if r_fast >= max(0.6, r_step):
        # A fast steady rhythm (tremor, scratching: the envelope repeats at 1-2 x its
        # 3-8 Hz): the detector's rhythmic rules judge it, not this one.
        return MovementContext("rest", frac, 0.0, ratio, True, r_step)
    cadence = 0.0
    if r_step >= params.walk_min_corr:
        if frac < params.walk_min_fraction and r_step < params.walk_sure_corr:
            # Transients at a step rhythm with the limb at rest between them: a jerk train
            # (cortical trains repeat at 1-3 Hz), not a walk, whose arm swing and trunk
            # bounce keep the wrist moving between heel strikes.
            return MovementContext("rest", frac, 0.0, ratio, True, r_step)
        cadence = step_hz if step_hz >= params.step_hz_lo else 2.0 * step_hz  # stride
    state: ActivityState = "walking" if cadence > 0.0 else "activity"
    if (
        state == "activity"
        and not reach
        and peak_env_g >= params.rest_ratio * float(np.median(around))
    ):
        # Most of the window lies far below this transient: the limb rests between brief
        # transients (the jerks of a cluster and their ringing made it "active"), or the
        # transient dwarfs the movement, the way a voluntary movement's own strokes (a few
        # times its ongoing level) never do: it counts.  Walking keeps its own rule (a
        # gait with little arm swing also rests between heel strikes; its regularity tells
        # it), and so does the knock that ends a reach (the limb moving throughout the
        # second before, which a resting limb is not).
        return MovementContext(state, frac, cadence, ratio, True, r_step)
    if state == "activity":
        # Off any step rhythm, the other brief bursts nearby may be jerks of the same
        # series (JME clusters while sitting up or holding something): the movement's size
        # is judged without them, as long as they leave most of it.
        keep = _between_brief_bursts(t, t_first, o)
        kept = np.concatenate((keep[a0:a1], keep[b0:b1]))
        if np.count_nonzero(kept) >= 0.5 * kept.size:
            ref = float(np.percentile(around[kept], 99.0))
            ratio = max(ratio, peak_env_g / max(ref, 1e-6))
    return MovementContext(state, frac, cadence, ratio, ratio >= params.jerk_ratio, r_step)


#: s; a burst this short is jerk-sized; its envelope rings on for _TAIL_S after it.
_BRIEF_S = 0.5
_TAIL_S = 0.5


def _between_brief_bursts(
    t: FloatArray, t_first: float, others: FloatArray | None
) -> npt.NDArray[np.bool_]:
    """(n,) True where ``t`` lies outside every brief other burst (and its ringing)."""
    keep = np.ones(t.size, dtype=bool)
    if others is None or not len(others):
        return keep
    o = np.asarray(others, dtype=np.float64).reshape(-1, 2)
    o = o[(o[:, 1] - o[:, 0] <= _BRIEF_S) & (o[:, 0] != t_first)]
    if not o.size:
        return keep
    lo = np.searchsorted(t, o[:, 0] - 0.1, "left")
    hi = np.searchsorted(t, o[:, 1] + _TAIL_S, "right")
    # Interval cover by a difference array: no loop per burst.
    d = np.bincount(lo, minlength=t.size + 1) - np.bincount(hi, minlength=t.size + 1)
    covered: npt.NDArray[np.bool_] = np.cumsum(d[:-1]) > 0
    return ~covered


def _rhythm(x: FloatArray, rate_hz: float, f_lo: float, f_hi: float) -> tuple[float, float]:
    """Fundamental frequency (Hz) and height (normalised autocorrelation, -1..1) of the
    rhythm of ``x`` (n,) between ``f_lo`` and ``f_hi``: the shortest-lag autocorrelation
    peak reaching 80 % of the highest one (a periodic signal repeats at every multiple of
    its period; the shortest is the rhythm itself)."""
    x = x - float(x.mean())
    n = x.size
    lo, hi = max(1, int(rate_hz / f_hi)), min(n - 2, int(np.ceil(rate_hz / f_lo)))
    if hi <= lo + 1:
        return 0.0, 0.0
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(x, nfft)
    ac = np.fft.irfft(spec * np.conj(spec), nfft)[: hi + 2]
    if ac[0] <= 0.0:
        return 0.0, 0.0
    # Unbiased: each lag averages over the samples it overlaps.
    ac = ac / ac[0] * n / (n - np.arange(ac.size))
    seg = ac[lo : hi + 1]
    inner = (seg[1:-1] >= seg[:-2]) & (seg[1:-1] >= seg[2:])
    peaks = np.flatnonzero(inner) + 1
    if peaks.size == 0:
        return 0.0, 0.0
    best = float(seg[peaks].max())
    if best <= 0.0:
        return 0.0, best
    k = int(peaks[np.flatnonzero(seg[peaks] >= 0.8 * best)[0]])
    return rate_hz / (lo + k), float(seg[k])
