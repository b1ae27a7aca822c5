"""Streaming rest/sleep estimate from one wrist, in the spirit of van Hees et al. (2015, 2018).

The arm's orientation is taken per 5 s epoch as the per-axis *median* of the acceleration
(so a brief jerk does not move it).  Between consecutive epochs the transition is *rest* when

* the orientation changed by at most ``rest_angle_deg`` (van Hees' 5 degrees), or by at most
  ``rest_jerk_angle_deg`` while the two epochs held at most ``rest_max_move_s`` of movement
  above the detector's threshold: an involuntary jerk may shift the arm a little but is not
  waking behaviour (otherwise hypnic jerks would postpone the very sleep onset they mark);
* and the epoch's median band-passed magnitude stays below ``rest_max_env_g`` (tremor and
  restless movement with no net orientation change are not rest).

A run of rest lasting ``sleep_min_rest_s`` (5 min) is a sustained-inactivity bout (SIB).
SIBs closer than ``wake_after_s`` form one sleep period; the start of a period is a sleep
onset.  Data gaps up to ``max_sleep_bridge_s`` are bridged when the orientation across the
gap did not change; longer gaps end the bout.

Everything is causal.  Sleep onsets become known ``sleep_min_rest_s`` after they happen;
:meth:`SleepEstimator.kind_at` says whether a jerk is hypnic, myoclonic, or not yet decidable.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detector.config import DetectorConfig

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


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
        # Samples of the epoch being filled.
        self._cur_epoch: int | None = None
        self._parts_acc: list[FloatArray] = []
        self._parts_env: list[FloatArray] = []
        self._parts_move: list[BoolArray] = []
        # Last usable epoch.
        self._prev_epoch: int | None = None
        self._prev_g: FloatArray | None = None
        self._prev_move_s = 0.0
        # Current rest bout.
        self._bout_start: float | None = None
        self._bout_end: float | None = None
        self._bout_is_sib = False
        # Results.
        self._sibs: list[tuple[float, float]] = []
        self._onsets: list[float] = []
        self._processed_until: float | None = None  # end of the last completed epoch

    # ----------------------------------------------------------------- feeding
    def update(self, t: FloatArray, acc: FloatArray, env: FloatArray, moving: BoolArray) -> None:
        """Add samples of one gap-free piece.

        Args:
            t: (n,) s, increasing.  acc: (n, 3) g.  env: (n,) band-passed magnitude, g.
            moving: (n,) True where the detector's envelope exceeded its threshold.
        """
        if t.size == 0:
            return
        ep = np.floor(t / self._cfg.epoch_s).astype(np.int64)
        cuts = np.flatnonzero(np.diff(ep)) + 1
        bounds = [0, *cuts.tolist(), t.size]
        for a, b in itertools.pairwise(bounds):
            k = int(ep[a])
            if self._cur_epoch is not None and k != self._cur_epoch:
                self._close_epoch()
            self._cur_epoch = k
            self._parts_acc.append(acc[a:b])
            self._parts_env.append(env[a:b])
            self._parts_move.append(moving[a:b])

    def finish(self) -> None:
        """End of stream: close the partial epoch and the running bout."""
        if self._cur_epoch is not None:
            self._close_epoch()
        self._end_bout()

    # ----------------------------------------------------------------- epochs
    def _close_epoch(self) -> None:
        k = self._cur_epoch
        assert k is not None
        acc = self._parts_acc[0] if len(self._parts_acc) == 1 else np.concatenate(self._parts_acc)
        env = self._parts_env[0] if len(self._parts_env) == 1 else np.concatenate(self._parts_env)
        move = (
            self._parts_move[0] if len(self._parts_move) == 1 else np.concatenate(self._parts_move)
        )
        self._parts_acc, self._parts_env, self._parts_move = [], [], []
        self._cur_epoch = None
        cfg = self._cfg
        start = k * cfg.epoch_s
        self._processed_until = start + cfg.epoch_s
        if acc.shape[0] < self._min_samples:
            return  # too little data: treated like a gap
        g = np.median(acc, axis=0)
        norm = float(np.linalg.norm(g))
        if norm < 1e-6:
            return
        g = g / norm
        move_s = float(np.count_nonzero(move)) / self._rate_hz
        env_med = float(np.median(env))
        prev_g, prev_k = self._prev_g, self._prev_epoch
        self._prev_g, self._prev_epoch = g, k
        prev_move_s, self._prev_move_s = self._prev_move_s, move_s
        if prev_g is None or prev_k is None:
            return
        missing_s = (k - prev_k - 1) * cfg.epoch_s
        cosang = float(np.clip(np.dot(prev_g, g), -1.0, 1.0))
        angle_deg = math.degrees(math.acos(cosang))
        if missing_s > cfg.max_sleep_bridge_s:
            self._end_bout()
            return
        rest = env_med <= cfg.rest_max_env_g and (
            angle_deg <= cfg.rest_angle_deg
            or (
                angle_deg <= cfg.rest_jerk_angle_deg and prev_move_s + move_s <= cfg.rest_max_move_s
            )
        )
        if not rest:
            self._end_bout()
            return
        if self._bout_start is None:
            self._bout_start = prev_k * cfg.epoch_s
        self._bout_end = start + cfg.epoch_s
        if not self._bout_is_sib and self._bout_end - self._bout_start >= cfg.sleep_min_rest_s:
            self._bout_is_sib = True
            if not self._sibs or self._bout_start - self._sibs[-1][1] > cfg.wake_after_s:
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
        """Sleep periods known so far: SIBs merged across gaps <= ``wake_after_s``."""
        out: list[SleepPeriod] = []
        for start, end in self._sibs:
            if out and start - out[-1].end <= self._cfg.wake_after_s:
                out[-1] = SleepPeriod(out[-1].onset, end)
            else:
                out.append(SleepPeriod(start, end))
        return out

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
        if self._sibs and latest - self._sibs[-1][1] <= cfg.wake_after_s:
            return "myoclonic"  # any SIB starting by then would continue the same period
        return None
