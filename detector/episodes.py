"""Convulsive episodes: sustained, rhythmic, high-energy, impulsive movement of one wrist.

The clonic phase of a seizure (clonic or tonic-clonic) is a train of myoclonic jerks at
3-8 Hz (slowing towards the end) lasting tens of seconds.  The jerk detector rightly rejects
each beat as *rhythmic*; an episode must nevertheless never vanish: it is reported as its own
event, :class:`EpisodeEvent`, not as a jerk count.

Per window of ``episode_window_s`` (aligned to multiples of the window in the input time
base, so chunking does not matter) of band-passed acceleration ``bp`` (n, 3) g:

* **energy**: the 90th percentile of the magnitude ``|bp|`` is at least
  ``episode_min_peak_g`` (clonic jerks move the wrist by g; physiological and parkinsonian
  tremor at the wrist stay around 0.01-0.3 g: *tremor is out on energy*);
* **rhythm**: the vector autocorrelation of ``bp`` peaks at a lag of 1/8 .. 1/3 s
  (``episode_hz_lo`` .. ``episode_hz_hi``) above ``episode_min_corr``;
* **impulsive beats**: the median of ``|bp|`` is below ``episode_max_median_ratio`` x its
  90th percentile: each beat is a brief muscle burst and the limb relaxes between beats.
  Scratching and brushing are smooth back-and-forth strokes (the magnitude of an elliptic
  oscillation stays near its peak most of the time: ratio ~0.7): *scratching is out on shape*,
  and a bout of scratching rarely lasts as long as an episode;
* **beats, not strokes**: the vector autocorrelation at half the beat period is above
  ``episode_min_half_corr`` (-0.75).  Brushing teeth, scratching, rubbing and tremor move
  back and forth, reversing direction every half period (close to -1); a clonic beat is a
  muscle jerk in one direction and a relaxation (about -0.6 .. +0.7 on simulated seizures);
* an episode is a run of such windows (one failing window inside is tolerated) lasting at
  least ``episode_min_s``: a few beats are a series of jerks, not a convulsion.

Pure and streaming: samples are buffered only until their window completes.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from detector import _features as _k
from detector.windows import window_runs

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class EpisodeEvent:
    """One convulsive episode (sustained rhythmic high-energy movement).

    Attributes:
        start: s, input time base (start of the first qualifying window).
        duration_s: s.
        dominant_hz: median beat frequency over the episode, Hz.
        peak_g: largest band-passed acceleration magnitude in it, g.
        bilateral: both wrists moved together (set by :func:`pair_episodes`).
    """

    start: float
    duration_s: float
    dominant_hz: float
    peak_g: float
    bilateral: bool = False

    @property
    def end(self) -> float:
        return self.start + self.duration_s

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EpisodeParams:
    """Parameters (see the module docstring and :class:`~detector.config.DetectorConfig`)."""

    window_s: float = 2.0
    min_s: float = 10.0
    min_peak_g: float = 0.5
    hz_lo: float = 3.0
    hz_hi: float = 8.0
    min_corr: float = 0.4
    max_median_ratio: float = 0.5
    min_half_corr: float = -0.75


@dataclass(slots=True)
class _Run:
    start: float
    end: float
    freqs: list[float]
    peak_g: float
    misses: int = 0


class EpisodeDetector:
    """Streaming convulsive-episode detector for one wrist.

    Args:
        rate_hz: rate of the samples fed to :meth:`update`, Hz.
        params: :class:`EpisodeParams`.
    """

    def __init__(self, rate_hz: float, params: EpisodeParams | None = None) -> None:
        self._p = params if params is not None else EpisodeParams()
        self._rate = float(rate_hz)
        self._pt: FloatArray = np.empty(0)
        self._pbp: FloatArray = np.empty((0, 3))
        self._pwin = 0  # window index of the samples in _pt
        self._run: _Run | None = None
        self._last_win: int | None = None
        self._done: list[EpisodeEvent] = []
        self.windows_qualifying = 0
        # Recent runs of qualifying windows (any length), for :meth:`covers`.
        self._recent_runs: list[tuple[float, float]] = []
        self.trace: list[tuple[float, float, float, float, float]] | None = None

    def update(self, t: FloatArray, bp: FloatArray) -> None:
        """Add samples: t (n,) s increasing, bp (n, 3) band-passed acceleration, g."""
        if t.size == 0:
            return
        starts, win = window_runs(t, self._p.window_s)
        if self._pt.size:
            # The window in progress ends in this piece (or before it): only its own samples
            # are joined, not the whole piece.
            j = int(starts[1]) if starts.size > 1 else t.size
            if int(win[0]) == self._pwin:
                ht, hbp = np.concatenate((self._pt, t[:j])), np.concatenate((self._pbp, bp[:j]))
                if j == t.size:
                    self._pt, self._pbp = ht, hbp
                    return
                self._windows(np.array([0, ht.size]), [self._pwin], hbp)
                starts, win = starts[1:], win[1:]
            else:
                self._windows(np.array([0, self._pt.size]), [self._pwin], self._pbp)
        if starts.size > 1:
            self._windows(starts, win[:-1].tolist(), bp)
        done = int(starts[-1])  # the last window may still grow
        self._pt, self._pbp = t[done:].copy(), bp[done:].copy()
        self._pwin = int(win[-1])

    def _windows(self, starts: npt.NDArray[np.int64], wins: list[int], bp: FloatArray) -> None:
        """Judge the complete windows ``bp[starts[j]:starts[j + 1]]`` (``starts`` (m + 1,),
        ``wins`` (m,) their indices; bp (>= starts[-1], 3) g)."""
        gate = self._p.min_peak_g
        # |bp| and the samples reaching the gate per window, in one compiled pass.
        mag, above = _k.gate_counts(np.ascontiguousarray(bp), starts[:-1], int(starts[-1]), gate)
        p90, med, peak = _window_stats(mag, starts, gate, self.trace is None, above)
        bounds = starts.tolist()
        # Most windows are far below the gate (the limb is still): with no episode running
        # (and no trace asked for), such a window changes nothing but the last window seen,
        # so the loop jumps from one loud window to the next.
        loud = np.flatnonzero(~(p90 < gate)).tolist()
        m, j = len(bounds) - 1, 0
        while j < m:
            if self._run is None and self.trace is None:
                i = bisect.bisect_left(loud, j)
                k = loud[i] if i < len(loud) else m
                if k > j:
                    self._last_win = wins[k - 1]
                    j = k
                    continue
            a, b = bounds[j], bounds[j + 1]
            self._window(wins[j], bp[a:b], (p90[j], med[j], peak[j]), mag[a:b])
            j += 1

    def finish(self) -> None:
        """End of stream: judge the partial window and close a running episode."""
        if self._pt.size:
            bp = self._pbp
            mag = np.sqrt(np.einsum("ij,ij->i", bp, bp))
            p90, med, peak = _window_stats(mag, np.array([0, mag.size]), 0.0, False)
            self._window(
                math.floor(self._pt[0] / self._p.window_s), bp, (p90[0], med[0], peak[0]), mag
            )
            self._pt, self._pbp = np.empty(0), np.empty((0, 3))
        self._close()

    def pop(self) -> list[EpisodeEvent]:
        """Episodes that ended (final), oldest first; each is returned once."""
        out, self._done = self._done, []
        return out

    @property
    def in_run(self) -> bool:
        """A run of qualifying windows is open (a quiet window may end it)."""
        return self._run is not None

    @property
    def running(self) -> EpisodeEvent | None:
        """The episode in progress, if its qualifying windows already last ``min_s``."""
        r = self._run
        if r is None or r.end - r.start < self._p.min_s:
            return None
        return EpisodeEvent(r.start, r.end - r.start, float(np.median(r.freqs)), r.peak_g)

    # ------------------------------------------------------------------ windows
    def _window(
        self, k: int, bp: FloatArray, stats: tuple[float, float, float], mag: FloatArray
    ) -> None:
        p = self._p
        if self._last_win is not None and k != self._last_win + 1:
            self._close()  # a gap in the stream ends an episode
        self._last_win = k
        hz, peak = self._judge(bp, stats, mag)
        t0 = k * p.window_s
        r = self._run
        if hz > 0.0:
            self.windows_qualifying += 1
            if r is None:
                self._run = _Run(t0, t0 + p.window_s, [hz], peak)
            else:
                r.end, r.misses = t0 + p.window_s, 0
                r.freqs.append(hz)
                r.peak_g = max(r.peak_g, peak)
        elif r is not None:
            r.misses += 1
            if r.misses > 1:
                self._close()

    def _judge(
        self, bp: FloatArray, stats: tuple[float, float, float], mag: FloatArray
    ) -> tuple[float, float]:
        """Beat frequency (Hz) if the window qualifies, else 0; and its peak |bp|, g.
        ``stats`` are the window's 90th percentile, median and maximum of ``mag`` = |bp|."""
        p = self._p
        n = bp.shape[0]
        if n < 0.8 * p.window_s * self._rate:
            return 0.0, 0.0
        p90, median, peak = (float(v) for v in stats)
        if self.trace is not None:
            self.trace.append((0.0, p90, median / max(p90, 1e-9), peak, 0.0))
        if p90 < p.min_peak_g or median > p.max_median_ratio * p90:
            return 0.0, peak
        lo = max(1, int(self._rate / p.hz_hi))
        hi = min(n // 2, math.ceil(self._rate / p.hz_lo))
        if hi <= lo + 1:
            return 0.0, peak
        # The beats repeat as a vector (same muscles, same direction) and as a magnitude
        # (pulse train, whatever the direction): either rhythm will do.
        best_hz, best_r = 0.0, -1.0
        vec = bp - bp.mean(axis=0)
        for x in (vec, (mag - mag.mean())[:, None]):
            hz, r = _rhythm(x, self._rate, lo, hi)
            if r > best_r:
                best_hz, best_r = hz, r
        if best_r < p.min_corr:
            return 0.0, peak
        # Back and forth: strokes reverse direction every half period (vector
        # autocorrelation near -1 there); a clonic beat is a jerk and a relaxation.
        if _half_period_corr(vec, self._rate / best_hz) < p.min_half_corr:
            return 0.0, peak
        return best_hz, peak

    def covers(self, t0: float, t1: float, margin_s: float = 1.0) -> bool:
        """Does a run of at least two qualifying windows (running or recent) overlap
        ``[t0 - margin_s, t1 + margin_s]``?  A burst there is one beat of a convulsive
        rhythm, never a jerk of its own.  (One window can be a single large jerk and its
        ringing; two in a row are a rhythm.)"""
        r = self._run
        if (
            r is not None
            and len(r.freqs) >= 2
            and r.start - margin_s <= t1
            and t0 <= r.end + margin_s
        ):
            return True
        return any(a - margin_s <= t1 and t0 <= b + margin_s for a, b in self._recent_runs)

    def _close(self) -> None:
        r = self._run
        self._run = None
        if r is None:
            return
        if len(r.freqs) >= 2:
            self._recent_runs.append((r.start, r.end))
            del self._recent_runs[:-8]
        if r.end - r.start >= self._p.min_s:
            self._done.append(
                EpisodeEvent(r.start, r.end - r.start, float(np.median(r.freqs)), r.peak_g)
            )


def _window_stats(
    mag: FloatArray,
    starts: npt.NDArray[np.int64],
    gate_g: float,
    gated: bool,
    above: npt.NDArray[np.int64] | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """90th percentile, median and maximum of ``mag`` (n,) in each window
    ``mag[starts[j]:starts[j + 1]]``: one vectorised call per distinct window length (a
    regular stream has one or two), not three NumPy reductions per 2 s window.  With
    ``gated``, the median and maximum are computed only where the 90th percentile reaches
    ``gate_g`` (elsewhere they are NaN, and the percentile -inf where a count shows it
    below the gate: such a window is not judged further); ``above`` (m,): how many
    samples of each window reach the gate, if already counted."""
    lens = np.diff(starts)
    p90 = np.zeros(lens.size)
    med, peak = np.full(lens.size, np.nan), np.full(lens.size, np.nan)
    todo = lens > 0
    if gated and lens.size:
        # The 90th percentile lies at or below the sorted sample just above rank
        # 0.9 (n - 1): fewer samples reaching the gate than lie above that rank means it
        # is below the gate, found by one count per window instead of a partition.
        if above is None:
            above = np.add.reduceat((mag >= gate_g).astype(np.int64), starts[:-1])
        rank = np.minimum(np.floor(0.9 * (lens - 1)).astype(np.int64) + 1, lens - 1)
        below = todo & (above < lens - rank)
        p90[below] = -np.inf
        todo &= ~below
    for length in np.unique(lens[todo]).tolist():
        idx = np.flatnonzero(todo & (lens == length))
        rows = mag[starts[idx][:, None] + np.arange(length)]
        p90[idx] = np.percentile(rows, 90.0, axis=1)
        if gated:
            sel = p90[idx] >= gate_g
            idx, rows = idx[sel], rows[sel]
            if not idx.size:
                continue
        med[idx] = np.median(rows, axis=1)
        peak[idx] = rows.max(axis=1)
    return p90, med, peak


def _half_period_corr(x: FloatArray, period_n: float) -> float:
    """Normalised vector autocorrelation of ``x`` (n, 3) at half the period (samples)."""
    n = x.shape[0]
    lag = max(1, round(period_n / 2.0))
    if lag >= n - 1:
        return 0.0
    num = float(np.einsum("ij,ij->", x[lag:], x[:-lag])) / (n - lag)
    den = float(np.einsum("ij,ij->", x, x)) / n
    return num / den if den > 0.0 else 0.0


def _rhythm(x: FloatArray, rate_hz: float, lo: int, hi: int) -> tuple[float, float]:
    """Frequency (Hz) and height of the highest peak of the normalised, unbiased
    autocorrelation of ``x`` (n, k) summed over its columns, at lags ``lo .. hi`` samples."""
    n = x.shape[0]
    nfft = 1 << math.ceil(math.log2(2 * n))
    spec = np.fft.rfft(x, nfft, axis=0)
    ac = np.fft.irfft((spec * np.conj(spec)).real.sum(axis=1), nfft)[: hi + 2]
    if ac[0] <= 0.0:
        return 0.0, -1.0
    ac = ac / ac[0] * n / (n - np.arange(ac.size))
    seg = ac[lo - 1 : hi + 2]
    inner = (seg[1:-1] >= seg[:-2]) & (seg[1:-1] >= seg[2:])
    peaks = np.flatnonzero(inner) + 1
    if peaks.size == 0:
        return 0.0, -1.0
    j = int(peaks[np.argmax(seg[peaks])])
    return rate_hz / (lo - 1 + j), float(seg[j])


def pair_episodes(
    left: Sequence[EpisodeEvent], right: Sequence[EpisodeEvent], min_overlap: float = 0.5
) -> tuple[list[EpisodeEvent], list[EpisodeEvent]]:
    """Mark episodes of two wrists that overlap by at least ``min_overlap`` of the shorter
    one as bilateral (a generalised convulsion moves both arms); returns both lists."""
    lo = list(left)
    ro = list(right)
    for i, a in enumerate(lo):
        for j, b in enumerate(ro):
            ov = min(a.end, b.end) - max(a.start, b.start)
            if ov >= min_overlap * min(a.duration_s, b.duration_s):
                lo[i] = replace(lo[i], bilateral=True)
                ro[j] = replace(ro[j], bilateral=True)
    return lo, ro
