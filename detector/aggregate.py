"""Per-minute jerk counts for storage and dashboards, fed beside the detector."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from detector.events import JerkEvent, MinuteCount
from detector.wear import WearEstimator


class MinuteAggregator:
    """Counts jerks and signal coverage per minute of the input time base.

    Feed it the same ``t`` the detector got (for coverage), the events the detector returned,
    and the detector's :attr:`~detector.core.JerkDetector.watermark`; it returns the minutes
    that can no longer change, oldest first, including minutes with no jerk but with signal.

    Args:
        rate_hz: nominal sample rate, Hz; coverage = samples / rate_hz, capped at 60 s.
        minute_s: bucket length, s (60 unless a test wants otherwise).
    """

    def __init__(self, rate_hz: float, minute_s: float = 60.0) -> None:
        self._rate_hz = float(rate_hz)
        self._minute_s = float(minute_s)
        self._samples: dict[int, int] = {}
        self._hypnic: dict[int, int] = {}
        self._myoclonic: dict[int, int] = {}
        self._negative: dict[int, int] = {}
        self._emitted_until: int | None = None  # first minute index not yet emitted
        self._wear: WearEstimator | None = None

    def process(
        self,
        t: npt.ArrayLike,
        events: Iterable[JerkEvent],
        watermark: float,
        acc: npt.ArrayLike | None = None,
        wear: WearEstimator | None = None,
    ) -> list[MinuteCount]:
        """Add samples (t: (n,) s) and events; return minutes entirely before ``watermark``
        and before the last sample seen.

        ``acc`` (n, 3) g, when given, marks which rows are signal: a row with NaN/inf
        acceleration is a missing sample (the detector skips it) and is not coverage.
        ``wear``, the detector's :class:`~detector.wear.WearEstimator`, gives ``worn_s``;
        minutes then also wait until their wear is final (up to its window, an hour)."""
        self._wear = wear if wear is not None else self._wear
        t_arr = np.asarray(t, dtype=np.float64).reshape(-1)
        ok = np.isfinite(t_arr)
        if acc is not None:
            a = np.asarray(acc, dtype=np.float64).reshape(t_arr.size, -1)
            ok &= np.isfinite(a).all(axis=1)
        t_arr = t_arr[ok]
        if t_arr.size:
            minutes, counts = np.unique(
                np.floor(t_arr / self._minute_s).astype(np.int64), return_counts=True
            )
            for m, c in zip(minutes.tolist(), counts.tolist(), strict=True):
                self._samples[m] = self._samples.get(m, 0) + c
        for ev in events:
            m = math.floor(ev.onset / self._minute_s)
            bucket = {"hypnic": self._hypnic, "negative": self._negative}.get(
                ev.kind, self._myoclonic
            )
            bucket[m] = bucket.get(m, 0) + 1
        return self._emit(
            math.floor(watermark / self._minute_s) if math.isfinite(watermark) else None,
            final=False,
        )

    def flush(self) -> list[MinuteCount]:
        """Return every minute not yet returned."""
        return self._emit(None, final=True)

    def _emit(self, limit: int | None, final: bool) -> list[MinuteCount]:
        keys = set(self._samples) | set(self._hypnic) | set(self._myoclonic) | set(self._negative)
        if not keys:
            return []
        if not final:
            if limit is None:
                return []
            # The minute holding the newest sample may still receive samples.
            limit = min(limit, max(self._samples) if self._samples else limit)
            if self._wear is not None:
                fin = self._wear.final_until
                limit = min(
                    limit, math.floor(fin / self._minute_s) if math.isfinite(fin) else -(2**62)
                )
        out: list[MinuteCount] = []
        for m in sorted(keys):
            if not final and limit is not None and m >= limit:
                break
            h = self._hypnic.pop(m, 0)
            y = self._myoclonic.pop(m, 0)
            neg = self._negative.pop(m, 0)
            n = self._samples.pop(m, 0)
            covered = min(self._minute_s, n / self._rate_hz)
            worn: float | None = None
            if self._wear is not None:
                off = self._wear.not_worn_s(m * self._minute_s, (m + 1) * self._minute_s)
                worn = max(0.0, covered - off)
            out.append(
                MinuteCount(
                    start=m * self._minute_s,
                    count=h + y,
                    hypnic=h,
                    myoclonic=y,
                    covered_s=covered,
                    worn_s=worn,
                    negative=neg,
                )
            )
        return out
