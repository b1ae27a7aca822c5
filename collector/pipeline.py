"""The bedside pipeline: samples of each sensor -> detector -> bilateral pairing -> storage.

:class:`NightPipeline` is synchronous and does no I/O of its own besides calling the
:class:`~collector.storage.Storage` it is given; sources (the simulator, the BLE collector)
push samples into it from one task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from collector.storage import Night, SensorStatus, Storage
from detector import (
    DetectorConfig,
    JerkDetector,
    JerkEvent,
    MinuteAggregator,
    NightSummary,
    SleepPeriod,
    summarize,
)
from detector.bilateral import BilateralMatcher
from detector.errors import ConfigError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One worn sensor: ``sensor`` id (address or name), ``side`` (left/right), rate in Hz."""

    sensor: str
    side: str
    rate_hz: float

    def __post_init__(self) -> None:
        if not self.sensor:
            raise ConfigError("sensor id must not be empty")
        if self.side not in ("left", "right", "unknown"):
            raise ConfigError(f"side must be left, right or unknown, got {self.side!r}")
        if not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise ConfigError(f"rate_hz must be positive, got {self.rate_hz}")


@dataclass
class _Channel:
    spec: SensorSpec
    detector: JerkDetector
    minutes: MinuteAggregator
    bridge_s: float
    events: list[JerkEvent] = field(default_factory=list)
    samples: int = 0
    covered_s: float = 0.0
    gaps: int = 0
    t_first: float | None = None
    t_last: float | None = None
    finished: bool = False


class NightPipeline:
    """Runs one subject's night.

    Args:
        subject: pseudonymous subject id (a tag in InfluxDB: no names).
        sensors: the sensors worn.
        storage: where events, minute counts, gaps and raw samples go.
        config: detector configuration shared by all sensors.
        store_raw: also store raw acceleration (``imu``) and its activity summary.
        bilateral_window_s: onset window for calling a jerk bilateral.
    """

    def __init__(
        self,
        subject: str,
        sensors: Sequence[SensorSpec],
        storage: Storage,
        config: DetectorConfig | None = None,
        store_raw: bool = True,
        bilateral_window_s: float = 0.1,
    ) -> None:
        if not subject:
            raise ConfigError("subject id must not be empty")
        ids = [s.sensor for s in sensors]
        if not ids or len(set(ids)) != len(ids):
            raise ConfigError(f"need one or more distinct sensors, got {ids}")
        self.subject = subject
        self.storage = storage
        self.store_raw = store_raw
        self.config = config if config is not None else DetectorConfig()
        self._ch: dict[str, _Channel] = {}
        for s in sensors:
            det = JerkDetector(s.rate_hz, self.config)
            bridge = self.config.max_bridge_s or 3.5 / s.rate_hz
            self._ch[s.sensor] = _Channel(s, det, MinuteAggregator(s.rate_hz), bridge)
        self._bilateral = BilateralMatcher(ids, bilateral_window_s)
        self.bilateral_count = 0

    # ------------------------------------------------------------------ feeding
    @property
    def sensors(self) -> list[SensorSpec]:
        return [c.spec for c in self._ch.values()]

    def feed(self, sensor: str, t: npt.ArrayLike, acc: npt.ArrayLike) -> int:
        """Push samples of one sensor (t: (n,) s since the epoch; acc: (n, 3) g).
        Returns the number of jerks that became final."""
        ch = self._ch[sensor]
        t_arr = np.asarray(t, dtype=np.float64).reshape(-1)
        acc_arr = np.asarray(acc, dtype=np.float64)
        if t_arr.size == 0:
            return 0
        # Gaps inside the stream (lost packets) are recorded; link-level gaps come from
        # mark_gap() by the source, which knows why they happened.
        prev = ch.t_last
        tt = t_arr if prev is None else np.concatenate(([prev], t_arr))
        steps = np.diff(tt)
        big = np.flatnonzero(steps > ch.bridge_s)
        for i in big.tolist():
            self._status(ch, SensorStatus(float(tt[i]), "gap", gap_s=float(steps[i])))
        ch.gaps += big.size
        ch.covered_s += float(steps[steps <= ch.bridge_s].sum())
        if ch.t_first is None:
            ch.t_first = float(t_arr[0])
        ch.t_last = float(t_arr[-1])
        ch.samples += t_arr.size
        new = ch.detector.process(t_arr, acc_arr)
        n = self._emit(ch, new)
        counts = ch.minutes.process(t_arr, new, ch.detector.watermark)
        if counts:
            self.storage.add_counts(self.subject, sensor, ch.spec.side, counts)
        if self.store_raw:
            self.storage.add_imu(self.subject, sensor, ch.spec.side, t_arr, acc_arr)
        return n

    def mark_gap(self, sensor: str, start_s: float, end_s: float, reason: str) -> None:
        """Record a gap the source knows about (disconnect, stall)."""
        ch = self._ch[sensor]
        self._status(
            ch,
            SensorStatus(start_s, "gap", gap_s=max(0.0, end_s - start_s), detail=reason[:200]),
        )

    def status(self, sensor: str, status: SensorStatus) -> None:
        self._status(self._ch[sensor], status)

    def _status(self, ch: _Channel, status: SensorStatus) -> None:
        self.storage.add_status(self.subject, ch.spec.sensor, ch.spec.side, status)

    def _emit(self, ch: _Channel, new: Sequence[JerkEvent]) -> int:
        final = self._bilateral.process(
            ch.spec.sensor, new, math.inf if ch.finished else ch.detector.watermark
        )
        for sensor, ev, bilateral in final:
            c = self._ch[sensor]
            c.events.append(ev)
            self.bilateral_count += int(bilateral)
            self.storage.add_events(self.subject, sensor, c.spec.side, [ev], [bilateral])
        return len(final)

    # ------------------------------------------------------------------ ending
    def finish_sensor(self, sensor: str) -> None:
        """End of one sensor's stream: flush its detector and counts."""
        ch = self._ch[sensor]
        if ch.finished:
            return
        tail = ch.detector.flush()
        ch.finished = True
        self._emit(ch, tail)
        counts = ch.minutes.process(np.empty(0), tail, math.inf) + ch.minutes.flush()
        if counts:
            self.storage.add_counts(self.subject, sensor, ch.spec.side, counts)
        if self.store_raw:
            self.storage.finish_sensor(self.subject, sensor, ch.spec.side)

    def finish(self) -> dict[str, NightSummary]:
        """End of the night for every sensor; records the night and returns summaries."""
        for sensor in self._ch:
            self.finish_sensor(sensor)
        out = self.summaries()
        starts = [c.t_first for c in self._ch.values() if c.t_first is not None]
        ends = [c.t_last for c in self._ch.values() if c.t_last is not None]
        if starts and ends:
            onsets = [s.sleep_onset for s in out.values() if s.sleep_onset is not None]
            wakes = [p[-1].end for c in self._ch.values() if (p := c.detector.sleep_periods())]
            self.storage.add_night(
                Night(
                    subject=self.subject,
                    start_s=min(starts),
                    end_s=max(ends),
                    sleep_onset_s=min(onsets) if onsets else None,
                    wake_s=max(wakes) if wakes else None,
                )
            )
        return out

    def summaries(self) -> dict[str, NightSummary]:
        """Per-sensor night summaries so far."""
        out: dict[str, NightSummary] = {}
        for sensor, ch in self._ch.items():
            span = (ch.t_last - ch.t_first) if ch.t_first is not None and ch.t_last else 0.0
            out[sensor] = summarize(ch.events, ch.detector.sleep_periods(), span, ch.covered_s)
        return out

    def events(self, sensor: str) -> list[JerkEvent]:
        """Final events of one sensor so far, in onset order."""
        return list(self._ch[sensor].events)

    def sleep_periods(self, sensor: str) -> list[SleepPeriod]:
        return self._ch[sensor].detector.sleep_periods()

    def span(self) -> tuple[float, float]:
        """First and last sample time over all sensors, s (0, 0 before any sample)."""
        starts = [c.t_first for c in self._ch.values() if c.t_first is not None]
        ends = [c.t_last for c in self._ch.values() if c.t_last is not None]
        return (min(starts), max(ends)) if starts and ends else (0.0, 0.0)

    @property
    def samples(self) -> int:
        return sum(c.samples for c in self._ch.values())

    @property
    def jerks(self) -> int:
        return sum(len(c.events) for c in self._ch.values())
