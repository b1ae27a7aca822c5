"""Many live streams in one object: :class:`JerkDetectorBank`.

A :class:`~detector.core.JerkDetector` costs about the same per call whatever the chunk
size (~200 us of fixed work for a 0.25 s packet, ~0.25 us per sample), and its events do not
depend on the chunking.  The bank therefore checks every stream's packet in a few NumPy
operations over all streams and holds gap-free packets back while nothing can come out of
them, feeding them to the stream's detector in one chunk when something may (a burst due
for analysis, a held jerk whose sleep epoch or series may close, an open convulsive
episode), when the held-back signal is full, or when anything is unusual (a gap, bad
samples: the detector then sees the packet on its own, and raises for it as it would).
Events are identical, and returned at the same packet, as per-stream detectors fed the
same packets; only the bookkeeping between them is deferred.

>>> bank = JerkDetectorBank(100.0, streams=1000)
>>> new = bank.process(t, acc)   # t: (streams, n) s, acc: (streams, n, 3) g
>>> new = bank.process_each([(t0, a0), None, (t2, a2), ...])  # any packet sizes
>>> tail = bank.flush()          # {stream: [JerkEvent, ...]} for streams with events

Provisional detectors (``provisional=True``) are fed every packet: their provisional kind
is a guess that depends on when the previous call was.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from functools import partial

import numpy as np
import numpy.typing as npt

from detector.config import DetectorConfig
from detector.core import MAX_ABS_ACC_G, MAX_ABS_TIME_S, JerkDetector
from detector.episodes import EpisodeEvent
from detector.errors import ConfigError, InputError
from detector.events import JerkEvent

FloatArray = npt.NDArray[np.float64]
Events = dict[int, list[JerkEvent]]


class BankInputError(InputError):
    """One stream's packet was rejected (as :meth:`JerkDetector.process` rejects it); the
    other streams' packets were processed and their events are in ``events``."""

    def __init__(self, stream: int, cause: InputError, events: Events) -> None:
        super().__init__(f"stream {stream}: {cause}")
        self.stream = stream
        self.events = events


class JerkDetectorBank:
    """``streams`` live jerk detectors at one sample rate, fed together.

    Args:
        rate_hz, config, provisional, preview_s: as :class:`JerkDetector` (one per stream).
        streams: number of streams (indices 0 .. streams - 1).
        max_stage_s: most signal (s at ``rate_hz``) held back per stream; memory per
            stream grows by 32 bytes a sample, and a stream's detector is called about
            once per this time when nothing is due.
    """

    def __init__(
        self,
        rate_hz: float,
        streams: int,
        config: DetectorConfig | None = None,
        *,
        provisional: bool = False,
        preview_s: float | None = None,
        max_stage_s: float = 5.0,
    ) -> None:
        if not (isinstance(streams, int) and streams >= 1):
            raise ConfigError(f"streams must be a positive integer, got {streams!r}")
        if not (math.isfinite(max_stage_s) and max_stage_s >= 0):
            raise ConfigError(f"max_stage_s must be >= 0 s, got {max_stage_s!r}")
        self.detectors = [
            JerkDetector(rate_hz, config, provisional=provisional, preview_s=preview_s)
            for _ in range(streams)
        ]
        det = self.detectors[0]
        self.rate_hz = det.rate_hz
        self._bridge_s = det._bridge_s
        # Signal held back may hold the start of a burst, analysed this long after it.
        self._look_ahead_s = det._look_ahead_s
        self._cap = max(0, round(max_stage_s * self.rate_hz))
        self._st: FloatArray = np.empty((streams, self._cap))
        self._sacc: FloatArray = np.empty((streams, self._cap, 3))
        self._cnt = np.zeros(streams, dtype=np.int64)  # samples held back
        self._due = np.full(streams, -math.inf)  # JerkDetector._quiet_until()
        self._t0 = np.full(streams, math.inf)  # first sample held back
        self._last = np.full(streams, -math.inf)  # latest sample accepted
        self._ar = np.arange(self._cap)

    # ------------------------------------------------------------------ feeding
    def process(self, t: npt.ArrayLike, acc: npt.ArrayLike) -> Events:
        """One packet of ``n`` samples for every stream: ``t`` (streams, n) s, ``acc``
        (streams, n, 3) g.  Returns the jerks that became final, by stream (streams
        without any are left out).

        Raises:
            BankInputError: a stream's packet is invalid (see :meth:`JerkDetector.process`).
        """
        t_arr = np.ascontiguousarray(t, dtype=np.float64)
        acc_arr = np.ascontiguousarray(acc, dtype=np.float64)
        s = len(self.detectors)
        if t_arr.ndim != 2 or t_arr.shape[0] != s or acc_arr.shape != (*t_arr.shape, 3):
            raise InputError(
                f"t must be (streams, n) = ({s}, n) and acc (streams, n, 3), "
                f"got {t_arr.shape} and {acc_arr.shape}"
            )
        n = t_arr.shape[1]
        if n == 0:
            return {}
        # Held back: finite, in range, increasing within the packet and after the stream's
        # last sample with no step that the detector would fill or cut at, clean samples,
        # room left, nothing due.  Anything else goes to the detector now.
        first, last = t_arr[:, 0], t_arr[:, -1]
        gap = first - self._last
        ok = (np.abs(first) <= MAX_ABS_TIME_S) & (np.abs(last) <= MAX_ABS_TIME_S)
        ok &= (gap > 0) & (gap <= self._bridge_s) & (self._cnt + n <= self._cap)
        if n > 1:
            dt = np.diff(t_arr, axis=1)
            ok &= (dt.min(axis=1) > 0) & (dt.max(axis=1) <= self._bridge_s)
        with np.errstate(invalid="ignore"):  # (NaN fails both comparisons)
            flat = acc_arr.reshape(s, -1)
            ok &= (flat.min(axis=1) >= -MAX_ABS_ACC_G) & (flat.max(axis=1) <= MAX_ABS_ACC_G)
        t0 = np.minimum(self._t0, first)
        ok &= last < np.minimum(self._due, t0 + self._look_ahead_s)
        rows = np.flatnonzero(ok)
        if rows.size:
            cols = self._cnt[rows, None] + self._ar[:n]
            self._st[rows[:, None], cols] = t_arr[rows]
            self._sacc[rows[:, None], cols] = acc_arr[rows]
            self._cnt[rows] += n
            self._t0[rows] = t0[rows]
            self._last[rows] = last[rows]
        return _gather(
            (i, partial(self._feed, i, t_arr[i], acc_arr[i])) for i in np.flatnonzero(~ok).tolist()
        )

    def process_each(self, packets: Sequence[tuple[npt.ArrayLike, npt.ArrayLike] | None]) -> Events:
        """One packet per stream, of any size (None: nothing for that stream): ``(t, acc)``
        as :meth:`JerkDetector.process` takes them.  Returns as :meth:`process`."""
        if len(packets) != len(self.detectors):
            raise InputError(f"{len(self.detectors)} packets expected, got {len(packets)}")
        return _gather(
            (i, partial(self._one, i, *pk)) for i, pk in enumerate(packets) if pk is not None
        )

    def _one(self, i: int, t: npt.ArrayLike, acc: npt.ArrayLike) -> list[JerkEvent]:
        """:meth:`process` for one stream's packet."""
        try:
            t_arr = np.ascontiguousarray(t, dtype=np.float64).reshape(-1)
            acc_arr = np.ascontiguousarray(acc, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return self._feed(i, t, acc)  # (the detector says what is wrong)
        n = t_arr.size
        if n == 0 or acc_arr.shape != (n, 3):
            return self._feed(i, t_arr, acc_arr)
        c = int(self._cnt[i])
        first, last = float(t_arr[0]), float(t_arr[-1])
        gap = first - float(self._last[i])
        t0 = min(float(self._t0[i]), first)
        with np.errstate(invalid="ignore"):
            ok = (
                abs(first) <= MAX_ABS_TIME_S
                and abs(last) <= MAX_ABS_TIME_S
                and 0 < gap <= self._bridge_s
                and c + n <= self._cap
                and last < min(float(self._due[i]), t0 + self._look_ahead_s)
                and (n == 1 or _steps_ok(t_arr, self._bridge_s))
                and acc_arr.min() >= -MAX_ABS_ACC_G
                and acc_arr.max() <= MAX_ABS_ACC_G
            )
        if not ok:
            return self._feed(i, t_arr, acc_arr)
        self._st[i, c : c + n] = t_arr
        self._sacc[i, c : c + n] = acc_arr
        self._cnt[i] = c + n
        self._t0[i] = t0
        self._last[i] = last
        return []

    def _feed(self, i: int, t: npt.ArrayLike, acc: npt.ArrayLike) -> list[JerkEvent]:
        """Give stream ``i`` what it holds back and then this packet (in one chunk when the
        packet is clean, else on its own, so that an error is the packet's own)."""
        det = self.detectors[i]
        c = int(self._cnt[i])
        out: list[JerkEvent] = []
        try:
            if c and _plain(t, acc, float(self._last[i])):
                ta = np.asarray(t, dtype=np.float64)
                out = det.process(
                    np.concatenate((self._st[i, :c], ta.reshape(-1))),
                    np.concatenate((self._sacc[i, :c], np.asarray(acc, dtype=np.float64))),
                )
            else:
                out = self._release(i)
                out += det.process(t, acc)
        finally:
            self._after(i)
        return out

    def _release(self, i: int) -> list[JerkEvent]:
        """Feed stream ``i`` what it holds back."""
        c = int(self._cnt[i])
        if not c:
            return []
        self._cnt[i] = 0
        self._t0[i] = math.inf
        return self.detectors[i].process(self._st[i, :c], self._sacc[i, :c])

    def _after(self, i: int) -> None:
        det = self.detectors[i]
        self._cnt[i] = 0
        self._t0[i] = math.inf
        self._last[i] = det._last_t if det._last_t is not None else -math.inf
        self._due[i] = det._quiet_until()

    # ------------------------------------------------------------------ the rest
    def sync(self, i: int) -> list[JerkEvent]:
        """Feed stream ``i`` what it holds back now (its detector's state is then that of a
        detector fed every packet) and return the jerks that became final (none unless
        called in between :meth:`process` calls of a different schedule)."""
        out = self._release(i)
        self._after(i)
        return out

    def detector(self, i: int) -> JerkDetector:
        """Stream ``i``'s detector, brought up to date (for its queries: sleep, wear...).
        Feed it only through the bank.  Jerks that the catch-up made final (none when
        only the bank feeds it) would be lost: use :meth:`sync` to get them."""
        self.sync(i)
        return self.detectors[i]

    def watermark(self, i: int) -> float:
        """:attr:`JerkDetector.watermark` of stream ``i`` (brings it up to date)."""
        return self.detector(i).watermark

    def pop_episodes(self, i: int) -> list[EpisodeEvent]:
        """Convulsive episodes of stream ``i`` that ended (as per-stream; exact without a
        catch-up: a stream with an open episode run is fed at every window's end)."""
        return self.detectors[i].pop_episodes()

    def flush(self) -> Events:
        """End of every stream: decide everything pending, as :meth:`JerkDetector.flush`."""
        out: Events = {}
        for i, det in enumerate(self.detectors):
            ev = self._release(i) + det.flush()
            self._after(i)
            if ev:
                out[i] = ev
        return out


def _steps_ok(t: FloatArray, bridge_s: float) -> bool:
    dt = np.diff(t)
    return bool(dt.min() > 0 and dt.max() <= bridge_s)


def _plain(t: npt.ArrayLike, acc: npt.ArrayLike, after: float) -> bool:
    """A packet the detector accepts as it is after a sample at ``after`` s: joined to the
    held-back signal, the chunk is then just as valid (errors must be the packet's own)."""
    try:
        ta = np.asarray(t, dtype=np.float64).reshape(-1)
        aa = np.asarray(acc, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return False
    if not ta.size or aa.shape != (ta.size, 3):
        return False
    with np.errstate(invalid="ignore"):
        return bool(
            np.isfinite(ta).all()
            and ta[0] > after
            and (np.abs(ta) <= MAX_ABS_TIME_S).all()
            and (ta.size == 1 or (np.diff(ta) > 0).all())
        )


def _gather(calls: Iterable[tuple[int, Callable[[], list[JerkEvent]]]]) -> Events:
    """Run each stream's call; the first bad packet raises :class:`BankInputError` after
    all others ran (a bad packet fails its own stream only), with their events."""
    out: Events = {}
    error: tuple[int, InputError] | None = None
    for i, call in calls:
        try:
            ev = call()
        except InputError as exc:
            if error is None:
                error = (i, exc)
            continue
        if ev:
            out[i] = ev
    if error is not None:
        raise BankInputError(error[0], error[1], out)
    return out
