"""The bedside pipeline: samples of each sensor -> detector -> bilateral pairing -> storage.

:class:`NightPipeline` is synchronous and does no I/O of its own besides calling the
:class:`~storage.Storage` it is given.  :func:`consume` is the loop between a
source and the pipeline: any async iterator of the items described in
:mod:`collector.sources` (simulator, BLE sessions, a replay) can drive it.

Restart after a crash: a pipeline can start with a :class:`ResumePoint` per sensor, read
from the local store by :func:`resume_points`.  The detector's state died with the old
process, so the new one is fed from a little before the resume point (its warm-up, see
:func:`warmup_s`), and everything it would produce that the old process already stored -
minutes counted, events emitted, raw samples and status before the point - is dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import numpy.typing as npt

from collector.sources import BatteryReport, GapReport, LinkReport, Samples, item_kind
from detector import (
    DetectorConfig,
    EpisodeEvent,
    JerkDetector,
    JerkEvent,
    MinuteAggregator,
    MinuteCount,
    NightSummary,
    SleepPeriod,
    summarize_detector,
)
from detector.bilateral import BilateralMatcher
from detector.errors import ConfigError, InputError, StoreDamagedError
from reports.nightdata import night_fields
from storage import LocalStore, Night, SensorStatus, Storage
from storage.ids import check_id, check_sensor_id

FloatArray = npt.NDArray[np.float64]

#: Battery level below which a reading is stored with state ``low_battery``.
LOW_BATTERY_PCT = 15
#: s after a burst ends at which the live detectors first judge it (again at twice this when
#: it was not a jerk then): a jerk reaches InfluxDB about a second after its last sample.
PREVIEW_S = 0.5

EventListener = Callable[[str, JerkEvent, bool], None]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One worn sensor: ``sensor`` id (address or name), ``side`` (left/right), rate in Hz."""

    sensor: str
    side: str
    rate_hz: float

    def __post_init__(self) -> None:
        check_sensor_id(self.sensor)
        if self.side not in ("left", "right", "unknown"):
            raise ConfigError(f"side must be left, right or unknown, got {self.side!r}")
        if not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise ConfigError(f"rate_hz must be positive, got {self.rate_hz}")


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where the stored output of one sensor stops, after a run that did not finish.

    Attributes:
        outputs_from_s: a minute boundary: minute counts, raw samples, activity and status
            before it are stored; the new run stores from here on.
        last_event_s: onset of the last stored event (None: none yet); a new event within
            ``DetectorConfig.max_event_s`` after it is the same jerk seen again.
        series_offset: largest series id stored for the night, added to new series ids so
            that the two runs' series do not merge.
    """

    outputs_from_s: float
    last_event_s: float | None = None
    series_offset: int = 0

    def __post_init__(self) -> None:
        if not math.isfinite(self.outputs_from_s):
            raise ConfigError(f"outputs_from_s must be finite, got {self.outputs_from_s}")
        if self.last_event_s is not None and not math.isfinite(self.last_event_s):
            raise ConfigError(f"last_event_s must be finite, got {self.last_event_s}")
        if self.series_offset < 0:
            raise ConfigError(f"series_offset must be >= 0, got {self.series_offset}")


@dataclass
class _Channel:
    spec: SensorSpec
    detector: JerkDetector
    minutes: MinuteAggregator
    bridge_s: float
    outputs_from: float = -math.inf
    duplicate_until: float = -math.inf
    series_offset: int = 0
    known_gap: tuple[float, float] | None = None  # the last gap the source explained
    events: list[JerkEvent] = field(default_factory=list)
    samples: int = 0
    covered_s: float = 0.0
    gaps: int = 0
    t_first: float | None = None
    t_last: float | None = None
    t_fed: float = -math.inf  # last sample time the detector took
    rejected_samples: int = 0
    finished: bool = False
    not_worn_warned: bool = False
    wear_minute: int | None = None  # last minute the wear warning was checked
    episodes: list[EpisodeEvent] = field(default_factory=list)


class NightPipeline:
    """Runs one subject's night.

    The ``activity`` summary is stored either way: the samples always go to
    :meth:`Storage.add_imu`, which computes it and, with ``store_raw`` (and the storage's
    ``spool_raw`` option), also keeps the ``imu`` points.

    Args:
        subject: pseudonymous subject id (a tag in InfluxDB: no names).
        sensors: the sensors worn.
        storage: where events, minute counts, gaps and raw samples go.
        config: detector configuration shared by all sensors.
        store_raw: also store raw acceleration (``imu``).
        bilateral_window_s: onset window for calling a jerk bilateral.
        resume: per sensor, where the stored output of an unfinished earlier run stops.
        night_start_s: start of the night for the night record (default: first sample).
        on_event: called with (sensor, event, bilateral) when an event is stored.
        on_provisional: called with (sensor, event) when a jerk is published before its
            kind is final (provisional ``jerk_event`` point, replaced when it settles).
            The detectors judge each burst :data:`PREVIEW_S` after it ends and publish the
            jerks among them at once as candidates; the few the final verdict rejects are
            withdrawn (``kind=withdrawn``; ``on_withdrawn`` is called with them).
        aliases: the id a source gives a sensor -> its id in ``sensors`` (e.g. a BLE
            address -> its pseudonym), for sources that know the sensors by another id.
        not_worn_warn_s: a ``not_worn`` status point (and the status line) warns once a
            sensor has looked unworn (van Hees criteria, or idle mode) this long; ``worn``
            follows when it is worn again.  Convulsive episodes are stored
            (``jerk_episode``) and announced with an ``episode`` status point.
    """

    def __init__(
        self,
        subject: str,
        sensors: Sequence[SensorSpec],
        storage: Storage,
        config: DetectorConfig | None = None,
        store_raw: bool = True,
        bilateral_window_s: float = 0.1,
        *,
        resume: Mapping[str, ResumePoint] | None = None,
        night_start_s: float | None = None,
        on_event: EventListener | None = None,
        on_provisional: Callable[[str, JerkEvent], None] | None = None,
        on_withdrawn: Callable[[str, JerkEvent], None] | None = None,
        not_worn_warn_s: float = 1800.0,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        check_id("subject id", subject)
        ids = [s.sensor for s in sensors]
        if not ids or len(set(ids)) != len(ids):
            raise ConfigError(f"need one or more distinct sensors, got {ids}")
        unknown = set(resume or {}) - set(ids)
        if unknown:
            raise ConfigError(f"resume points for unknown sensors {sorted(unknown)}")
        self.subject = subject
        self.storage = storage
        self.store_raw = store_raw
        self.config = config if config is not None else DetectorConfig()
        self.night_start_s = night_start_s
        self.on_event = on_event
        self.on_provisional = on_provisional
        self.on_withdrawn = on_withdrawn
        self.provisional_count = 0  # provisional points written (an update counts again)
        self.withdrawn_count = 0
        self.not_worn_warn_s = float(not_worn_warn_s)
        self._ch: dict[str, _Channel] = {}
        for s in sensors:
            det = JerkDetector(s.rate_hz, self.config, provisional=True, preview_s=PREVIEW_S)
            ch = _Channel(s, det, MinuteAggregator(s.rate_hz), self.config.bridge_s(s.rate_hz))
            point = (resume or {}).get(s.sensor)
            if point is not None:
                ch.outputs_from = point.outputs_from_s
                if point.last_event_s is not None:
                    ch.duplicate_until = point.last_event_s + self.config.max_event_s
                ch.series_offset = point.series_offset
            self._ch[s.sensor] = ch
        self._aliases = dict(aliases or {})
        self._bilateral = BilateralMatcher(ids, bilateral_window_s)
        self.bilateral_count = 0
        self.suppressed_events = 0

    # ------------------------------------------------------------------ feeding
    @property
    def sensors(self) -> list[SensorSpec]:
        return [c.spec for c in self._ch.values()]

    def _channel(self, sensor: str) -> _Channel:
        try:
            return self._ch[self._aliases.get(sensor, sensor)]
        except KeyError:
            raise InputError(
                f"data from unknown sensor {sensor!r} (configured: {', '.join(self._ch)})"
            ) from None

    def handle(self, item: object) -> int:
        """Take one source item (see :mod:`collector.sources`); returns the number of jerks
        that became final."""
        kind = item_kind(item)
        if kind == "samples":
            samples = cast(Samples, item)
            return self.feed(samples.sensor_address, samples.t_host_s, samples.acc_g)
        if kind == "gap":
            gap = cast(GapReport, item)
            self.mark_gap(gap.sensor, gap.start_s, gap.end_s, gap.reason)
        elif kind == "battery":
            battery = cast(BatteryReport, item)
            pct = float(battery.percent)
            state = "low_battery" if pct < LOW_BATTERY_PCT else "streaming"
            self.status(battery.sensor, SensorStatus(battery.t_host_s, state, battery_pct=pct))
        elif kind == "link":
            link = cast(LinkReport, item)
            state = "connected" if link.connected else "disconnected"
            detail = link.detail[:200] or None
            self.status(link.sensor, SensorStatus(link.t_s, state, link.connected, detail=detail))
        else:
            raise InputError(
                f"a source yielded {type(item).__name__}, which the pipeline cannot use"
            )
        return 0

    def feed(self, sensor: str, t: npt.ArrayLike, acc: npt.ArrayLike) -> int:
        """Push samples of one sensor (t: (n,) s since the epoch; acc: (n, 3) g).
        Returns the number of jerks that became final."""
        ch = self._channel(sensor)
        sensor = ch.spec.sensor  # the id it is stored under (a source may use an alias)
        t_arr = np.asarray(t, dtype=np.float64).reshape(-1)
        acc_arr = np.asarray(acc, dtype=np.float64)
        if t_arr.size == 0:
            return 0
        t_arr, acc_arr = self._sanitise(ch, t_arr, acc_arr)
        if t_arr.size == 0:
            return 0
        try:
            new = ch.detector.process(t_arr, acc_arr)
        except InputError as exc:
            # One bad chunk must not end a night: log it, record it as a gap, go on.
            log.error("sensor %s: chunk of %d samples refused (%s)", sensor, t_arr.size, exc)
            ch.rejected_samples += int(t_arr.size)
            self._bad_chunk(ch, float(t_arr[0]), float(t_arr[-1]), f"bad input: {exc}")
            return 0
        ch.t_fed = float(t_arr[-1])
        # Samples before the resume point only warm the detector up: stored already.
        k = int(np.searchsorted(t_arr, ch.outputs_from, "left"))
        if k < t_arr.size:
            t_out, acc_out = t_arr[k:], acc_arr[k:]
            # Gaps inside the stream (lost packets) are recorded; link-level gaps come from
            # mark_gap() by the source, which knows why they happened.
            prev = ch.t_last
            # NaN rows are missing samples: neither coverage nor the end of a gap.
            t_fin = t_out[np.isfinite(acc_out).all(axis=1)]
            tt = t_fin if prev is None else np.concatenate(([prev], t_fin))
            steps = np.diff(tt)
            big = np.flatnonzero(steps > ch.bridge_s)
            for i in big.tolist():
                if not self._explained(ch, float(tt[i]), float(tt[i + 1])):
                    self._status(ch, SensorStatus(float(tt[i]), "gap", gap_s=float(steps[i])))
            ch.gaps += big.size
            ch.covered_s += float(steps[steps <= ch.bridge_s].sum())
            if ch.t_first is None and t_fin.size:
                ch.t_first = float(t_fin[0])
            if t_fin.size:
                ch.t_last = float(t_fin[-1])
            ch.samples += t_out.size
        self._publish(ch)
        n = self._emit(ch, new)
        self._context(ch)
        counts = ch.minutes.process(t_arr, new, ch.detector.watermark, acc_arr)
        self._counts(ch, counts)
        if k < t_arr.size:
            self.storage.add_imu(
                self.subject, sensor, ch.spec.side, t_out, acc_out, keep_raw=self.store_raw
            )
        return n

    def _sanitise(
        self, ch: _Channel, t: npt.NDArray[np.float64], acc: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Keep the samples whose times are finite and strictly after every time fed
        before (a source's clock glitch); the dropped span is logged and recorded."""
        if acc.ndim != 2 or acc.shape != (t.size, 3):
            return t, acc  # the detector names the shape problem
        finite = np.isfinite(t)
        prev = np.maximum.accumulate(
            np.concatenate(([ch.t_fed], np.where(finite, t, -math.inf)[:-1]))
        )
        keep = finite & (t > prev)
        if keep.all():
            return t, acc
        dropped = int(t.size - keep.sum())
        ch.rejected_samples += dropped
        bad = t[~keep]
        bad = bad[np.isfinite(bad)]
        log.warning(
            "sensor %s: %d samples dropped whose times do not increase (source clock glitch)",
            ch.spec.sensor,
            dropped,
        )
        if bad.size and math.isfinite(ch.t_fed):
            lo = float(min(bad.min(), ch.t_fed))
            self._bad_chunk(ch, lo, ch.t_fed, f"{dropped} samples with non-increasing times")
        return t[keep], acc[keep]

    def _bad_chunk(self, ch: _Channel, start_s: float, end_s: float, detail: str) -> None:
        if math.isfinite(start_s) and math.isfinite(end_s):
            gap_s = max(0.0, end_s - start_s)
            self._status(ch, SensorStatus(start_s, "gap", gap_s=gap_s, detail=detail[:200]))

    def mark_gap(self, sensor: str, start_s: float, end_s: float, reason: str) -> None:
        """Record a gap the source knows about (disconnect, stall)."""
        ch = self._channel(sensor)
        ch.known_gap = (start_s, end_s)
        self._status(
            ch,
            SensorStatus(start_s, "gap", gap_s=max(0.0, end_s - start_s), detail=reason[:200]),
        )

    @staticmethod
    def _explained(ch: _Channel, start_s: float, end_s: float) -> bool:
        # The source reported this gap with its reason: a second, anonymous record at the
        # same time would replace it in the store.
        gap = ch.known_gap
        return gap is not None and gap[0] - ch.bridge_s <= start_s and end_s <= gap[1] + ch.bridge_s

    def status(self, sensor: str, status: SensorStatus) -> None:
        self._status(self._channel(sensor), status)

    def _status(self, ch: _Channel, status: SensorStatus) -> None:
        if status.time_s >= ch.outputs_from:
            self.storage.add_status(self.subject, ch.spec.sensor, ch.spec.side, status)

    def _context(self, ch: _Channel) -> None:
        """Store finished convulsive episodes; warn (once per stretch) when the sensor has
        not been worn for ``not_worn_warn_s`` (checked once per minute of signal)."""
        eps = [e for e in ch.detector.pop_episodes() if e.start >= ch.outputs_from]
        if eps:
            ch.episodes += eps
            self.storage.add_episodes(self.subject, ch.spec.sensor, ch.spec.side, eps)
            for e in eps:
                detail = f"convulsive episode {e.duration_s:.0f} s at {e.dominant_hz:.1f} Hz"
                self._status(ch, SensorStatus(e.start, "episode", detail=detail))
        if ch.t_last is None or ch.wear_minute == int(ch.t_last // 60.0):
            return
        ch.wear_minute = int(ch.t_last // 60.0)
        still = ch.detector.wear.still_s
        if still >= self.not_worn_warn_s and not ch.not_worn_warned:
            ch.not_worn_warned = True
            detail = f"not worn for {still / 60.0:.0f} min"
            self._status(ch, SensorStatus(ch.t_last, "not_worn", detail=detail))
        elif still < self.not_worn_warn_s and ch.not_worn_warned:
            ch.not_worn_warned = False
            self._status(ch, SensorStatus(ch.t_last, "worn", detail="worn again"))

    def not_worn(self, sensor: str) -> bool:
        """Is the not-worn warning of ``sensor`` active (for the status line)?"""
        return self._channel(sensor).not_worn_warned

    def _counts(self, ch: _Channel, counts: Sequence[MinuteCount]) -> None:
        # Minute starts are multiples of 60 s; a resume point is one too, or the night start.
        keep = [c for c in counts if c.start + 60.0 > ch.outputs_from]
        if keep:
            self.storage.add_counts(self.subject, ch.spec.sensor, ch.spec.side, keep)

    def _publish(self, ch: _Channel) -> None:
        """Publish the detector's candidate jerks before their kind is final (the live view
        sees a jerk about a second after it, not minutes; the final event replaces each),
        then withdraw the candidates that did not count, in that order."""

        def fresh(events: list[JerkEvent]) -> list[JerkEvent]:
            # what the earlier run stored already, as in _emit
            lo, dup = ch.outputs_from, ch.duplicate_until
            return [e for e in events if e.onset >= lo and e.onset > dup]

        new = fresh(ch.detector.pop_provisional())
        gone = fresh(ch.detector.pop_withdrawn())
        sensor, side = ch.spec.sensor, ch.spec.side
        if new:
            self.storage.add_provisional(self.subject, sensor, side, new)
            self.provisional_count += len(new)
            if self.on_provisional is not None:
                for e in new:
                    self.on_provisional(sensor, e)
        if gone:
            self.storage.add_withdrawn(self.subject, sensor, side, gone)
            self.withdrawn_count += len(gone)
            if self.on_withdrawn is not None:
                for e in gone:
                    self.on_withdrawn(sensor, e)

    def _emit(self, ch: _Channel, new: Sequence[JerkEvent]) -> int:
        final = self._bilateral.process(
            ch.spec.sensor, new, math.inf if ch.finished else ch.detector.watermark
        )
        stored = 0
        for sensor, ev, bilateral in final:
            c = self._ch[sensor]
            if ev.onset < c.outputs_from or ev.onset <= c.duplicate_until:
                self.suppressed_events += 1  # the earlier run stored it (or saw its minute)
                continue
            if ev.series is not None and c.series_offset:
                ev = dataclasses.replace(ev, series=ev.series + c.series_offset)
            c.events.append(ev)
            self.bilateral_count += int(bilateral)
            self.storage.add_events(self.subject, sensor, c.spec.side, [ev], [bilateral])
            stored += 1
            if self.on_event is not None:
                self.on_event(sensor, ev, bilateral)
        return stored

    # ------------------------------------------------------------------ ending
    def finish_sensor(self, sensor: str) -> None:
        """End of one sensor's stream: flush its detector, counts and activity."""
        ch = self._channel(sensor)
        if ch.finished:
            return
        tail = ch.detector.flush()
        ch.finished = True
        self._publish(ch)
        self._emit(ch, tail)
        self._context(ch)
        self._counts(ch, ch.minutes.process(np.empty(0), tail, math.inf) + ch.minutes.flush())
        self.storage.finish_sensor(self.subject, ch.spec.sensor, ch.spec.side)

    def finish(self) -> dict[str, NightSummary]:
        """End of the night for every sensor; records the night and returns summaries."""
        for sensor in self._ch:
            self.finish_sensor(sensor)
        out = self.summaries()
        starts = [c.t_first for c in self._ch.values() if c.t_first is not None]
        ends = [c.t_last for c in self._ch.values() if c.t_last is not None]
        if starts and ends:
            # A resumed detector's first "sleep onset" may just be where it started
            # watching: only onsets after the resume point are reported.
            onsets = [
                s.sleep_onset
                for sensor, s in out.items()
                if s.sleep_onset is not None and s.sleep_onset >= self._ch[sensor].outputs_from
            ]
            wakes = [p[-1].end for c in self._ch.values() if (p := c.detector.sleep_periods())]
            start = self.night_start_s if self.night_start_s is not None else min(starts)
            self.storage.add_night(
                Night(
                    subject=self.subject,
                    start_s=start,
                    end_s=max(ends),
                    sleep_onset_s=min(onsets) if onsets else None,
                    wake_s=max(wakes) if wakes else None,
                    sensors=tuple(s for s, c in self._ch.items() if c.t_first is not None),
                    **night_fields(
                        {s: (c.events, c.detector.sleep_periods()) for s, c in self._ch.items()},
                        self.config,
                        self._bilateral.window_s,
                    ),
                )
            )
        return out

    def summaries(self) -> dict[str, NightSummary]:
        """Per-sensor night summaries so far (since the resume point, after a restart)."""
        out: dict[str, NightSummary] = {}
        for sensor, ch in self._ch.items():
            out[sensor] = summarize_detector(
                ch.detector, ch.events, ch.t_first, ch.t_last, ch.covered_s, len(ch.episodes)
            )
        return out

    def events(self, sensor: str) -> list[JerkEvent]:
        """Final events of one sensor so far, in onset order."""
        return list(self._channel(sensor).events)

    def sleep_periods(self, sensor: str) -> list[SleepPeriod]:
        return self._channel(sensor).detector.sleep_periods()

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
        """Jerks so far over the sensors (negative myoclonus is not counted)."""
        return sum(e.kind != "negative" for c in self._ch.values() for e in c.events)


async def consume(
    pipeline: NightPipeline,
    source: AsyncIterable[object],
    on_item: Callable[[object], None] | None = None,
) -> None:
    """Feed every item of ``source`` into ``pipeline`` until the source ends.

    This is the seam between sources and the pipeline: ``source`` is any async iterable of
    the items described in :mod:`collector.sources` (matched by their attributes), e.g. the
    simulator's :func:`~jerkmon.live.sources.sim_source` or, later, the BLE sessions merged into
    one stream.  The source decides when to stop (on a signal it ends its iteration); the
    caller then calls :meth:`NightPipeline.finish`.  ``on_item`` sees every item before
    the pipeline takes it.  Feeding is synchronous (detector, fsync'd spool append), so the
    loop yields to the event loop only where the source awaits.
    """
    async for item in source:
        if on_item is not None:
            on_item(item)
        pipeline.handle(item)


def warmup_s(config: DetectorConfig) -> float:
    """s of signal a fresh detector sees before a resume point: enough for its noise floor
    and for its sleep estimate to settle, so that it neither calls the first minutes awake
    nor labels jerks hypnic around a sleep onset that is only where it started watching."""
    return (
        config.noise_history_s
        + config.sleep_min_rest_s
        + config.hypnic_before_s
        + config.hypnic_after_s
        + 60.0
    )


def stopped_night_ends(store: LocalStore, subject: str, night_start_s: float) -> list[float]:
    """Where the runs of the night starting at ``night_start_s`` that were stopped (not
    killed) ended: the ends of the nights recorded for it, s (empty: none was stopped)."""
    return [n.end_s for n in store.nights(subject, night_start_s - 1e-3, night_start_s + 1e-3)]


def resume_points(
    store: LocalStore,
    subject: str,
    sensors: Sequence[str],
    night_start_s: float,
    night_end_s: float,
    *,
    stopped: Sequence[float] | None = None,
) -> dict[str, ResumePoint]:
    """Where the stored output of each sensor stops within [night_start_s, night_end_s).

    Minute counts are stored in order, each once the detector could no longer change it, so
    the end of the last stored minute is where the stored record is complete; before any
    count, the resume point is the night's start.  A run that was stopped (not killed)
    flushed its detectors and recorded where the night ended: the minute of that end was
    counted only in part, so the resume point goes back to its start (the new count of that
    minute replaces the partial one: same time, same series) - unless later minutes were
    counted since (a resumed run that then crashed).  ``stopped``: the
    :func:`stopped_night_ends` if the caller has read them already.
    """
    # A damaged store would give a wrong resume point: refuse rather than guess.
    store.check_integrity()
    if stopped is None:
        stopped = stopped_night_ends(store, subject, night_start_s)
    out: dict[str, ResumePoint] = {}
    for sensor in sensors:
        counts = store.minute_counts(subject, night_start_s, night_end_s, sensor)
        events = store.events(subject, night_start_s, night_end_s, sensor)
        odd = [c.count.start for c in counts if abs(c.count.start / 60.0 % 1.0 - 0.5) < 0.49]
        if odd:
            raise StoreDamagedError(
                f"refusing --resume: {store.path} holds a minute count of {sensor} at "
                f"{odd[0]:.6f} s, not a minute boundary: the store is damaged and cannot tell "
                f"where the night stopped. Move it aside (mv {store.path} "
                f"{store.path}.damaged), send the spool with `jerkmon flush`, and run the "
                "night again with --replace"
            )
        start = night_start_s
        if counts:
            start = max(start, counts[-1].count.start + 60.0)
        if stopped:
            # Only when that end is in the last minute counted: a later run may have gone on.
            last_minute = math.floor(max(stopped) / 60.0) * 60.0
            if last_minute + 60.0 >= start:
                start = max(night_start_s, last_minute)
        out[sensor] = ResumePoint(
            outputs_from_s=start,
            last_event_s=max((e.event.onset for e in events), default=None),
            series_offset=max((e.event.series or 0 for e in events), default=0),
        )
    return out
