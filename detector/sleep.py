"""Streaming rest/sleep estimate from one wrist, in the spirit of van Hees et al. (2015, 2018).

The arm's orientation is taken per 5 s epoch as the mean acceleration over the samples that
are not part of a detector burst (so a brief jerk does not move it).  The detector also
reports what each burst turned out to be: a jerk, or a movement (turning, fidgeting,
scratching: anything that was real motion but not a jerk).  An epoch is *rest* when

* it holds at most ``rest_max_move_s`` of movement (jerks excluded: involuntary jerks are not
  waking behaviour, and hypnic jerks must not postpone the very sleep onset they mark);
* the orientation changed from the previous epoch by at most ``rest_angle_deg`` (van Hees'
  5 degrees), or by at most ``rest_jerk_angle_deg`` when a jerk may have shifted the arm;
* and the mean band-passed magnitude outside bursts stays below ``rest_max_env_g`` (tremor
  and restless activity with no net orientation change are not rest).

Epochs are judged once the detector has analysed every burst that could overlap them, so the
estimate lags the signal by a few seconds and does not depend on chunking.

A run of rest lasting ``sleep_min_rest_s`` (5 min) is a sustained-inactivity bout (SIB).
A SIB starts a new sleep period (its start is a sleep onset) when it is the first, when the
previous SIB ended more than ``wake_after_s`` before, or when waking movement came in between
(``wake_min_moves`` separate movements within ``wake_window_s``): brief awakenings are
followed by a new transition into sleep, with its own hypnic jerks.
Data gaps up to ``max_sleep_bridge_s`` are bridged when the orientation across the
gap did not change; longer gaps end the bout.

Everything is causal.  Sleep onsets become known ``sleep_min_rest_s`` after they happen;
:meth:`SleepEstimator.kind_at` says whether a jerk is hypnic, myoclonic, or not yet decidable.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detector import _features as _k
from detector.config import DetectorConfig
from detector.windows import window_runs

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
#: (usable, z-angle deg, angle to the previous usable epoch deg, that epoch's index)
_Geometry = tuple[bool, float, float, int | None]


@dataclass(frozen=True, slots=True)
class SleepPeriod:
    """One estimated sleep period: ``onset`` to ``end`` in s (input time base)."""

    onset: float
    end: float

    @property
    def hours(self) -> float:
        return (self.end - self.onset) / 3600.0


class SleepEstimator:
    """Causal sleep-onset estimator fed sample by sample (vectorised per chunk).

    Args:
        rate_hz: nominal sample rate, Hz (sets how many samples make a usable epoch).
        config: the detector configuration (epoch and sleep parameters).
    """

    def __init__(self, rate_hz: float, config: DetectorConfig) -> None:
        self._cfg = config
        self._rate_hz = rate_hz
        self._min_samples = max(1, int(0.5 * rate_hz * config.epoch_s))
        # Samples of the epoch being filled (kept until it completes, so per-epoch sums are
        # computed over the same contiguous samples however the stream was chunked).
        self._pt: FloatArray = np.empty(0)
        self._pacc: FloatArray = np.empty((0, 3))
        self._penv: FloatArray = np.empty(0)
        self._pmove: BoolArray = np.empty(0, dtype=bool)
        self._pep = 0  # epoch index of the samples in _pt
        # Last usable epoch (of those queued: their orientation arithmetic is done when
        # they are queued, in epoch order, as _drain would do it).
        self._prev_epoch: int | None = None
        self._prev_g: tuple[float, float, float] | None = None
        # Completed epochs waiting for the detector's verdict on their bursts:
        # (epoch index, geometry (see _features.epoch_geometry), mean quiet envelope).
        self._queue: deque[tuple[int, _Geometry, float]] = deque()
        self._moves: deque[tuple[float, float]] = deque()
        self._move_starts: deque[float] = deque()
        self._last_wake = -math.inf  # end of the latest epoch showing waking movement
        self._jerks: deque[tuple[float, float]] = deque()
        self._analysed_until = -math.inf
        # Current rest bout.
        self._bout_start: float | None = None
        self._bout_end: float | None = None
        self._bout_is_sib = False
        # Results.
        self._sibs: list[tuple[float, float]] = []
        self._onsets: list[float] = []
        self._processed_until: float | None = None  # end of the last completed epoch
        self.z_angles: list[tuple[float, float]] = []  # (epoch start s, z-angle degrees)

    # ----------------------------------------------------------------- feeding
    def update(self, t: FloatArray, acc: FloatArray, env: FloatArray, moving: BoolArray) -> None:
        """Add samples of one gap-free piece.

        Args:
            t: (n,) s, increasing.  acc: (n, 3) g.  env: (n,) band-passed magnitude, g.
            moving: (n,) True where the detector's envelope exceeded its threshold.
        """
        if t.size == 0:
            return
        starts, ep = window_runs(t, self._cfg.epoch_s)
        if self._pt.size:
            # The epoch in progress ends in this piece (or before it): only its own samples
            # are joined, not the whole piece.
            j = int(starts[1]) if starts.size > 1 else t.size
            head = np.zeros(1, dtype=np.int64)
            if int(ep[0]) == self._pep:
                ht = np.concatenate((self._pt, t[:j]))
                hacc = np.concatenate((self._pacc, acc[:j]))
                henv = np.concatenate((self._penv, env[:j]))
                hmove = np.concatenate((self._pmove, moving[:j]))
                if j == t.size:
                    self._pt, self._pacc, self._penv, self._pmove = ht, hacc, henv, hmove
                    return
                self._close_epochs(head, ep[:1], hacc, henv, hmove, ht.size)
                starts, ep = starts[1:], ep[1:]
            else:
                self._close_epochs(
                    head, np.array([self._pep]), self._pacc, self._penv, self._pmove, self._pt.size
                )
        done = int(starts[-1])  # the last epoch may still grow
        self._close_epochs(starts[:-1], ep[:-1], acc, env, moving, done)
        self._pt, self._pacc = t[done:].copy(), acc[done:].copy()
        self._penv, self._pmove = env[done:].copy(), moving[done:].copy()
        self._pep = int(ep[-1])

    def finish(self) -> None:
        """End of stream (every burst reported): close the partial epoch and the bout."""
        self._analysed_until = math.inf
        if self._pt.size:
            starts, ep = window_runs(self._pt, self._cfg.epoch_s)
            self._close_epochs(starts, ep, self._pacc, self._penv, self._pmove, self._pt.size)
            self._pt = np.empty(0)
            self._pacc = np.empty((0, 3))
            self._penv = np.empty(0)
            self._pmove = np.empty(0, dtype=bool)
        self._end_bout()

    # ----------------------------------------------------------------- epochs
    def _close_epochs(
        self,
        starts: npt.NDArray[np.int64],
        ep: npt.NDArray[np.int64],
        acc: FloatArray,
        env: FloatArray,
        move: BoolArray,
        n: int,
    ) -> None:
        """Per-epoch orientation (mean of the samples outside bursts, so a jerk does not tilt
        it), quiet envelope and seconds of movement; then the rest/bout logic per epoch.
        ``starts`` (m,): first sample of each epoch in ``acc`` (>= n, 3) g, ``env`` (>= n,)
        g and ``move`` (>= n,); the last epoch ends at sample ``n``; ``ep`` (m,): the
        epochs' indices."""
        if starts.size == 0:
            return
        # np.add.reduceat of the quiet samples per epoch, compiled (detector/_features.pyx).
        counts, g, env_mean = _k.epoch_sums(
            np.ascontiguousarray(acc),
            np.ascontiguousarray(env),
            np.ascontiguousarray(move).view(np.uint8),
            starts,
            n,
        )
        # Norms, z-angles and angles between usable epochs, compiled (Python's arithmetic).
        geo, self._prev_g, self._prev_epoch = _k.epoch_geometry(
            ep, counts, g, self._min_samples, self._prev_g, self._prev_epoch
        )
        self._queue.extend(zip(ep.tolist(), geo, env_mean.tolist(), strict=True))
        self._drain()

    # ----------------------------------------------------------------- movement
    def note_burst(self, t_first: float, t_last: float, jerk: bool) -> None:
        """The detector analysed a burst: a jerk, or a movement (anything else that was
        real motion: turning, fidgeting, scratching...).  Noise blips are not reported."""
        if jerk:
            self._jerks.append((t_first, t_last))
        else:
            self._moves.append((t_first, t_last))
            self._move_starts.append(t_first)

    def advance(self, analysed_until: float) -> None:
        """Every burst starting before ``analysed_until`` (s) has been reported."""
        self._analysed_until = max(self._analysed_until, analysed_until)
        self._drain()

    def _drain(self) -> None:
        ep_s = self._cfg.epoch_s
        while self._queue and (self._queue[0][0] + 1) * ep_s <= self._analysed_until:
            k, geo, em = self._queue.popleft()
            e0, e1 = k * ep_s, (k + 1) * ep_s
            while self._moves and self._moves[0][1] < e0:
                self._moves.popleft()
            while self._jerks and self._jerks[0][1] < e0 - ep_s:
                self._jerks.popleft()
            move_s = (
                sum(min(b, e1) - max(a, e0) for a, b in self._moves if a < e1 and b >= e0)
                if self._moves
                else 0
            )
            # Waking: several separate movements within a few minutes.
            w0 = e1 - self._cfg.wake_window_s
            while self._move_starts and self._move_starts[0] < w0:
                self._move_starts.popleft()
            if (
                len(self._move_starts) >= self._cfg.wake_min_moves
                and sum(1 for m in self._move_starts if m < e1) >= self._cfg.wake_min_moves
            ):
                self._last_wake = e1
            jerk = bool(self._jerks) and any(a < e1 and b >= e0 - ep_s for a, b in self._jerks)
            self._epoch(k, geo, em, move_s, jerk)

    def _epoch(self, k: int, geo: _Geometry, env_mean: float, move_s: float, jerk: bool) -> None:
        cfg = self._cfg
        start = k * cfg.epoch_s
        self._processed_until = start + cfg.epoch_s
        # Orientation: the mean acceleration's direction (unit vector of the quiet
        # samples' sum), computed when the epoch was queued (_features.epoch_geometry).
        usable, z_deg, angle_deg, prev_k = geo
        if not usable:
            return  # too little data (treated like a gap) or no orientation
        # z-angle per epoch for the main sleep window (detector.sleepwindow, HDCZA).
        self.z_angles.append((start, z_deg))
        if prev_k is None:
            return
        missing_s = (k - prev_k - 1) * cfg.epoch_s
        # angle_deg: the orientation change since the previous usable epoch
        if missing_s > cfg.max_sleep_bridge_s:
            self._end_bout()
            return
        rest = (
            env_mean <= cfg.rest_max_env_g
            and move_s <= cfg.rest_max_move_s
            and (angle_deg <= cfg.rest_angle_deg or (jerk and angle_deg <= cfg.rest_jerk_angle_deg))
        )
        if not rest:
            self._end_bout()
            return
        if self._bout_start is None:
            self._bout_start = prev_k * cfg.epoch_s
        self._bout_end = start + cfg.epoch_s
        if not self._bout_is_sib and self._bout_end - self._bout_start >= cfg.sleep_min_rest_s:
            self._bout_is_sib = True
            if (
                not self._sibs
                or self._bout_start - self._sibs[-1][1] > cfg.wake_after_s
                or self._last_wake > self._sibs[-1][1]
            ):
                self._onsets.append(self._bout_start)
            self._sibs.append((self._bout_start, self._bout_end))
        elif self._bout_is_sib:
            self._sibs[-1] = (self._bout_start, self._bout_end)

    def _end_bout(self) -> None:
        self._bout_start = None
        self._bout_end = None
        self._bout_is_sib = False

    # ----------------------------------------------------------------- queries
    @property
    def sleep_onsets(self) -> list[float]:
        """Sleep onsets known so far, s (final once listed)."""
        return list(self._onsets)

    @property
    def sleep_onset(self) -> float | None:
        """The first sleep onset of the recording, s, or None before one is known."""
        return self._onsets[0] if self._onsets else None

    def periods(self) -> list[SleepPeriod]:
        """Sleep periods known so far: from each onset to the end of its last SIB."""
        out: list[SleepPeriod] = []
        onsets = set(self._onsets)
        for start, end in self._sibs:
            if out and start not in onsets:
                out[-1] = SleepPeriod(out[-1].onset, end)
            else:
                out.append(SleepPeriod(start, end))
        return out

    def state_at(self, t: float, final: bool = False) -> str | None:
        """``"asleep"`` when ``t`` (s) lies in a sustained-inactivity bout (sleep as
        estimated), ``"awake"`` otherwise, or None while that can still change (the epochs
        around ``t`` are not judged yet, or ``t`` is in a rest bout that may still last
        ``sleep_min_rest_s``).  Depends only on the samples, not on when it is asked."""
        for a, b in reversed(self._sibs):
            if a <= t <= b:
                return "asleep"
            if b < t:
                break
        if final:
            return "awake"
        ep = self._cfg.epoch_s
        # A bout starts one epoch before its first rest epoch: wait for two epochs after t.
        if self._processed_until is None or self._processed_until < (t // ep + 2) * ep:
            return None
        b0 = self._bout_start
        if b0 is not None and not self._bout_is_sib and b0 <= t:
            return None
        if self._bout_is_sib and b0 is not None and b0 <= t:
            return "asleep"
        return "awake"

    def kind_at(self, t: float, final: bool = False) -> str | None:
        """``"hypnic"``, ``"myoclonic"``, or None while a future onset could still change it.

        A jerk at ``t`` is hypnic when some sleep onset lies in
        ``[t - hypnic_after_s, t + hypnic_before_s]``.  Known onsets are final; an unknown
        onset can only start at the running bout (not yet a SIB) or after the last processed
        epoch, and only where it would not merge into the preceding SIB.
        """
        cfg = self._cfg
        for onset in self._onsets:
            if onset - cfg.hypnic_before_s <= t <= onset + cfg.hypnic_after_s:
                return "hypnic"
        if final:
            return "myoclonic"
        latest = t + cfg.hypnic_before_s
        if self._bout_start is not None and not self._bout_is_sib:
            earliest_unknown = self._bout_start
        elif self._processed_until is not None:
            earliest_unknown = self._processed_until - cfg.epoch_s
        else:
            return None
        if earliest_unknown > latest:
            return "myoclonic"
        return None


def subtract_periods(
    periods: list[SleepPeriod], remove: list[tuple[float, float]]
) -> list[SleepPeriod]:
    """``periods`` minus the (start, end) intervals in ``remove`` (sorted or not): the
    pieces that remain, in time order (e.g. sleep minus time the sensor was not worn)."""
    out: list[SleepPeriod] = []
    cuts = sorted(remove)
    for p in periods:
        pieces = [(p.onset, p.end)]
        for a, b in cuts:
            if b <= p.onset or a >= p.end:
                continue
            nxt: list[tuple[float, float]] = []
            for x, y in pieces:
                if a > x:
                    nxt.append((x, min(y, a)))
                if b < y:
                    nxt.append((max(x, b), y))
            pieces = [(x, y) for x, y in nxt if y > x]
        out += [SleepPeriod(x, y) for x, y in pieces]
    return out
