"""Nights of one subject as reports and exports see them: subject-level totals from stored
events, whichever store they come from (the local SQLite store or InfluxDB).

A subject may wear one or two wrist sensors.  Everything here counts *jerks of the subject*:
a bilateral jerk, seen by both wrists within :data:`BILATERAL_WINDOW_S`, is one jerk; sleep
is the union of the sensors' sleep periods; a series seen on both wrists is one series.

A night is (subject, night date): the date of its evening, by the one rule of
:class:`storage.nights.NightRule` (noon to noon local time by default: a recording that
starts at 01:30 on 3 November is the night of 2 November).  Every recording session of the
subject in that night is part of it (restarts, ``--resume``, a second sensor started later,
a re-run): :func:`load_nights` reads the merged nights of :func:`storage.nights.subject_nights`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Protocol, TypedDict

from detector import __version__ as DETECTOR_VERSION
from detector.config import DetectorConfig
from detector.episodes import EpisodeEvent
from detector.events import JerkEvent
from detector.sleep import SleepPeriod
from storage.local import Annotation, Gap, Night, StoredCount, StoredEvent
from storage.nights import NightRule, subject_nights

__all__ = [
    "BILATERAL_WINDOW_S",
    "Jerk",
    "NightData",
    "NightFields",
    "NightRecord",
    "NightSource",
    "count_series",
    "date_bounds",
    "group_jerks",
    "group_negative",
    "in_periods",
    "load_nights",
    "local_time",
    "minute_coverage",
    "night_date",
    "night_fields",
    "series_periods",
    "union_periods",
]

#: s, largest onset difference between the wrists for one (bilateral) jerk; the pipeline's
#: bilateral matcher uses the same default.
BILATERAL_WINDOW_S = 0.1

#: s after the last sample still searched for events of a night.
_END_SLACK_S = 1.0

Periods = tuple[tuple[float, float], ...]


class NightSource(Protocol):
    """What reports read: :class:`~storage.LocalStore` and
    :class:`~storage.influxread.InfluxReader` both provide it.  Times in s since the
    epoch; ranges are half-open [start_s, end_s)."""

    def subjects(self) -> list[str]: ...

    def nights(self, subject: str, start_s: float = ..., end_s: float = ...) -> list[Night]: ...

    def events(
        self, subject: str, start_s: float, end_s: float, sensor: str | None = ...
    ) -> list[StoredEvent]: ...

    def minute_counts(
        self, subject: str, start_s: float, end_s: float, sensor: str | None = ...
    ) -> list[StoredCount]: ...

    def gaps(
        self, subject: str, start_s: float, end_s: float, sensor: str | None = ...
    ) -> list[Gap]: ...

    def annotations(
        self, subject: str, start_s: float = ..., end_s: float = ...
    ) -> list[Annotation]: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------- time helpers
def local_time(t_s: float, tz: tzinfo | None = None) -> datetime:
    """``t_s`` (s since the epoch) as an aware datetime in ``tz`` (None: the system's)."""
    return (
        datetime.fromtimestamp(t_s, tz)
        if tz is not None
        else datetime.fromtimestamp(t_s).astimezone()
    )


def night_date(start_s: float, tz: tzinfo | None = None) -> date:
    """The night (date of its evening) that ``start_s`` belongs to, by the night rule
    (:class:`~storage.nights.NightRule`, noon to noon by default)."""
    return NightRule.from_env(tz=tz).date_of(start_s)


def date_bounds(first: date, last: date, tz: tzinfo | None = None) -> tuple[float, float]:
    """[start, end) in s since the epoch of the nights of ``first`` .. ``last`` (inclusive):
    the night boundary (noon by default) of ``first`` to that of the day after ``last``."""
    return NightRule.from_env(tz=tz).bounds(first, last)


# ---------------------------------------------------------------------- subject-level jerks
@dataclass(frozen=True, slots=True)
class Jerk:
    """One jerk of the subject: the events of one or more sensors (one per sensor).

    Attributes:
        onset_s: earliest onset over the sensors, s since the epoch.
        kind: ``hypnic`` if any sensor's event is hypnic, else ``myoclonic``.
        sensors: the sensors that saw it.  events: their events.
    """

    onset_s: float
    kind: str
    sensors: tuple[str, ...]
    events: tuple[StoredEvent, ...]

    @property
    def bilateral(self) -> bool:
        return len(self.sensors) > 1

    @property
    def peak_acc_g(self) -> float:
        """Largest peak dynamic acceleration over the sensors, g."""
        return max(e.event.peak_acc_g for e in self.events)


def group_jerks(events: Sequence[StoredEvent], window_s: float = BILATERAL_WINDOW_S) -> list[Jerk]:
    """Merge events of different sensors that are one bilateral jerk (negative myoclonus is
    left out: see :func:`group_negative`).

    An event joins the jerk started by an earlier event when both carry the bilateral flag,
    come from different sensors (one event per sensor) and their onsets are at most
    ``window_s`` apart; the flags come from the pipeline's matcher, so unilateral events
    never merge even when close in time.
    """
    jerks = [e for e in events if e.event.kind != "negative"]
    return [
        Jerk(
            onset_s=g[0].event.onset,
            kind="hypnic" if any(e.event.kind == "hypnic" for e in g) else "myoclonic",
            sensors=tuple(e.sensor for e in g),
            events=tuple(g),
        )
        for g in _groups(jerks, window_s)
    ]


def group_negative(
    events: Sequence[StoredEvent], window_s: float = BILATERAL_WINDOW_S
) -> list[Jerk]:
    """The subject's negative myoclonus (lapses of tone; kind ``negative``), grouped over
    the sensors like :func:`group_jerks`."""
    lapses = [e for e in events if e.event.kind == "negative"]
    return [
        Jerk(g[0].event.onset, "negative", tuple(e.sensor for e in g), tuple(g))
        for g in _groups(lapses, window_s)
    ]


def _groups(events: Sequence[StoredEvent], window_s: float) -> list[list[StoredEvent]]:
    ordered = sorted(events, key=lambda e: (e.event.onset, e.sensor))
    groups: list[list[StoredEvent]] = []
    for ev in ordered:
        if groups:
            g = groups[-1]
            first = g[0]
            if (
                ev.bilateral
                and first.bilateral
                and ev.sensor not in {e.sensor for e in g}
                and ev.event.onset - first.event.onset <= window_s
            ):
                g.append(ev)
                continue
        groups.append([ev])
    return groups


def series_periods(events: Sequence[StoredEvent], tol: float = BILATERAL_WINDOW_S) -> Periods:
    """Series of the subject as sorted (first onset s, last onset s): each sensor's series
    spans its first to last onset; spans of different sensors that overlap (within ``tol``)
    are one series."""
    spans: dict[tuple[str, int], list[float]] = {}
    for e in events:
        if e.event.series is None:
            continue
        span = spans.setdefault((e.sensor, e.event.series), [e.event.onset, e.event.onset])
        span[0] = min(span[0], e.event.onset)
        span[1] = max(span[1], e.event.onset)
    return union_periods([(a, b) for a, b in spans.values()], tol)


def count_series(events: Sequence[StoredEvent], tolerance_s: float = BILATERAL_WINDOW_S) -> int:
    """Distinct series of the subject (see :func:`series_periods`)."""
    return len(series_periods(events, tolerance_s))


def union_periods(periods: Sequence[tuple[float, float]], join_s: float = 0.0) -> Periods:
    """The union of intervals (s) as sorted, disjoint intervals; intervals closer than
    ``join_s`` are joined."""
    out: list[list[float]] = []
    for a, b in sorted((float(a), float(b)) for a, b in periods):
        if out and a <= out[-1][1] + join_s:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def in_periods(t_s: float, periods: Periods) -> bool:
    """``t_s`` inside one of the (closed) periods."""
    return any(a <= t_s <= b for a, b in periods)


class NightFields(TypedDict):
    """The subject-level fields of :class:`~storage.Night` the pipeline records."""

    sleep_s: float
    sleep_periods: Periods
    jerks: int
    jerks_in_sleep: int
    hypnic: int
    series: int
    negative: int
    detector_version: str
    detector_config: str


def night_fields(
    per_sensor: Mapping[str, tuple[Sequence[JerkEvent], Sequence[SleepPeriod]]],
    config: DetectorConfig,
    bilateral_window_s: float = BILATERAL_WINDOW_S,
) -> NightFields:
    """Subject-level totals of a finished night, for :class:`~storage.Night`.

    Args:
        per_sensor: sensor id -> (its final events, its sleep periods).
        config: the detector configuration (recorded as JSON with the detector version).
        bilateral_window_s: the pipeline's bilateral window, s.  Events of different sensors
            this close are one jerk (what the bilateral matcher flags).
    """
    periods = union_periods([(p.onset, p.end) for _, ps in per_sensor.values() for p in ps])
    stored = [
        StoredEvent("", sensor, "", ev, True)
        for sensor, (events, _) in per_sensor.items()
        for ev in events
    ]
    jerks = group_jerks(stored, bilateral_window_s)
    return NightFields(
        sleep_s=sum(b - a for a, b in periods),
        sleep_periods=periods,
        jerks=len(jerks),
        jerks_in_sleep=sum(in_periods(j.onset_s, periods) for j in jerks),
        hypnic=sum(j.kind == "hypnic" for j in jerks),
        series=count_series(stored, bilateral_window_s),
        negative=len(group_negative(stored, bilateral_window_s)),
        detector_version=DETECTOR_VERSION,
        detector_config=json.dumps(config.as_dict(), sort_keys=True),
    )


# ---------------------------------------------------------------------- night records
@dataclass(frozen=True, slots=True)
class NightRecord:
    """Subject-level summary of one night (one row of the cohort export).

    Attributes:
        night: date of the evening.  start_s / end_s: first / last sample (s since epoch).
        sleep_onset_s / wake_s: first sleep onset / end of the last sleep period, or None.
        sleep_h: hours of estimated sleep (None: no sleep estimate stored).
        sleep_source: ``detector`` (sleep periods recorded), ``onset-wake`` (only onset and
            wake recorded: the span between them, awakenings included) or ``none``.
        recording_h: first to last sample, h.  signal_h: h with signal from at least one
            sensor (from the minute counts; None without them).
        sensors: sensors that reported events, counts or gaps.  gaps: signal gaps (all
            sensors); gap_h: their total duration, h.
        jerks: distinct jerks (bilateral once); jerks_in_sleep: inside a sleep period (None
            without a sleep estimate); hypnic / myoclonic: by kind; series: distinct series;
            bilateral: jerks seen on both wrists.
        rate_per_h_sleep: jerks_in_sleep / sleep_h, jerks per hour of sleep.
        detector_version / detector_config: what produced the events (config as JSON).
        negative: negative myoclonus (lapses of tone; not jerks), bilateral once.
    """

    subject: str
    night: date
    start_s: float
    end_s: float
    sleep_onset_s: float | None
    wake_s: float | None
    sleep_h: float | None
    sleep_source: str
    recording_h: float
    signal_h: float | None
    sensors: int
    gaps: int
    gap_h: float
    jerks: int
    jerks_in_sleep: int | None
    hypnic: int
    myoclonic: int
    series: int
    bilateral: int
    rate_per_h_sleep: float | None
    detector_version: str | None
    detector_config: str | None
    negative: int = 0


@dataclass(frozen=True, slots=True)
class NightData:
    """One night with everything a report draws: the stored night, its subject-level
    record, sleep periods, events (per sensor: jerks; negative myoclonus apart), jerks
    (subject), minute counts, gaps."""

    night: Night
    record: NightRecord
    periods: Periods
    events: tuple[StoredEvent, ...]
    jerks: tuple[Jerk, ...]
    counts: tuple[StoredCount, ...]
    gaps: tuple[Gap, ...]
    #: Convulsive episodes (sensor, side, episode), when the store keeps them.
    episodes: tuple[tuple[str, str, EpisodeEvent], ...] = ()
    #: Negative myoclonus of the subject (kind ``negative``), and its per-sensor events.
    negative: tuple[Jerk, ...] = ()
    negative_events: tuple[StoredEvent, ...] = ()

    @property
    def not_worn_h(self) -> float:
        """Hours of signal in minutes the sensor was not worn (from ``worn_s``; summed
        over sensors; 0 when the counts do not say)."""
        return (
            sum(
                max(0.0, c.count.covered_s - c.count.worn_s)
                for c in self.counts
                if c.count.worn_s is not None
            )
            / 3600.0
        )

    @property
    def sensors(self) -> dict[str, str]:
        """Sensor id -> side, in a stable order (left before right)."""
        found: dict[str, str] = {}
        for sensor, side in _sensor_sides(self.events, self.counts, self.gaps):
            found.setdefault(sensor, side)
        order = {"left": 0, "right": 1}
        return dict(sorted(found.items(), key=lambda kv: (order.get(kv[1], 2), kv[0])))

    def detector_config(self) -> dict[str, object]:
        """The recorded detector configuration, or the defaults when none was recorded."""
        if self.record.detector_config:
            loaded: dict[str, object] = json.loads(self.record.detector_config)
            return loaded
        return DetectorConfig().as_dict()


def _sensor_sides(
    events: Sequence[StoredEvent], counts: Sequence[StoredCount], gaps: Sequence[Gap]
) -> list[tuple[str, str]]:
    return (
        [(e.sensor, e.side) for e in events]
        + [(c.sensor, c.side) for c in counts]
        + [(g.sensor, g.side) for g in gaps]
    )


def sleep_periods_of(night: Night) -> tuple[Periods, str]:
    """(sleep periods, source) of a stored night; see :attr:`NightRecord.sleep_source`."""
    if night.sleep_periods:
        return union_periods(night.sleep_periods), "detector"
    if night.sleep_s is not None and night.sleep_onset_s is not None and night.sleep_s > 0:
        return ((night.sleep_onset_s, night.sleep_onset_s + night.sleep_s),), "detector"
    if night.sleep_s is not None:
        return (), "detector"  # recorded: no sleep at all
    if night.sleep_onset_s is not None and night.wake_s is not None:
        return ((night.sleep_onset_s, night.wake_s),), "onset-wake"
    return (), "none"


def minute_coverage(counts: Sequence[StoredCount]) -> dict[float, float]:
    """s of signal in each minute (keyed by its start, s): the best-covered sensor's."""
    out: dict[float, float] = {}
    for c in counts:
        m = c.count.start
        out[m] = max(out.get(m, 0.0), c.count.covered_s)
    return out


def build_night(
    night: Night,
    events: Sequence[StoredEvent],
    counts: Sequence[StoredCount],
    gaps: Sequence[Gap],
    tz: tzinfo | None = None,
    bilateral_window_s: float = BILATERAL_WINDOW_S,
) -> NightData:
    """Subject-level totals of one night from its stored events, counts and gaps."""
    periods, source = sleep_periods_of(night)
    lapses = [e for e in events if e.event.kind == "negative"]
    events = [e for e in events if e.event.kind != "negative"]
    jerks = group_jerks(events, bilateral_window_s)
    negative = group_negative(lapses, bilateral_window_s)
    has_sleep = source != "none"
    sleep_s = sum(b - a for a, b in periods) if has_sleep else None
    in_sleep = sum(in_periods(j.onset_s, periods) for j in jerks) if has_sleep else None
    minute_max = minute_coverage(counts)
    hypnic = sum(j.kind == "hypnic" for j in jerks)
    sensors = {sensor for sensor, _ in _sensor_sides(events, counts, gaps)}
    rate = (
        in_sleep / (sleep_s / 3600.0)
        if in_sleep is not None and sleep_s is not None and sleep_s > 0
        else None
    )
    record = NightRecord(
        subject=night.subject,
        night=night_date(night.start_s, tz),
        start_s=night.start_s,
        end_s=night.end_s,
        sleep_onset_s=night.sleep_onset_s
        if night.sleep_onset_s is not None
        else (periods[0][0] if periods else None),
        wake_s=night.wake_s if night.wake_s is not None else (periods[-1][1] if periods else None),
        sleep_h=None if sleep_s is None else sleep_s / 3600.0,
        sleep_source=source,
        recording_h=(night.end_s - night.start_s) / 3600.0,
        signal_h=sum(minute_max.values()) / 3600.0 if minute_max else None,
        sensors=len(sensors),
        gaps=len(gaps),
        gap_h=sum(g.duration_s for g in gaps) / 3600.0,
        jerks=len(jerks),
        jerks_in_sleep=in_sleep,
        hypnic=hypnic,
        myoclonic=len(jerks) - hypnic,
        series=count_series(events, bilateral_window_s),
        bilateral=sum(j.bilateral for j in jerks),
        rate_per_h_sleep=rate,
        detector_version=night.detector_version,
        detector_config=night.detector_config,
        negative=len(negative),
    )
    return NightData(
        night=night,
        record=record,
        periods=periods,
        events=tuple(sorted(events, key=lambda e: (e.event.onset, e.sensor))),
        jerks=tuple(jerks),
        counts=tuple(counts),
        gaps=tuple(gaps),
        negative=tuple(negative),
        negative_events=tuple(sorted(lapses, key=lambda e: (e.event.onset, e.sensor))),
    )


def load_nights(
    source: NightSource,
    subject: str,
    first: date | None = None,
    last: date | None = None,
    tz: tzinfo | None = None,
) -> list[NightData]:
    """The nights of ``subject`` from ``first`` to ``last`` (evening dates, inclusive; None
    = unbounded), oldest first, one per night date (all its recording sessions merged), with
    their events, counts and gaps."""
    out: list[NightData] = []
    for night in subject_nights(source, subject, first, last, NightRule.from_env(tz=tz)):
        end = night.end_s + _END_SLACK_S
        nd = build_night(
            night,
            source.events(subject, night.start_s, end),
            source.minute_counts(subject, night.start_s, end),
            source.gaps(subject, night.start_s, end),
            tz,
        )
        episodes = getattr(source, "episodes", None)  # the local store keeps them
        if callable(episodes):
            nd = dataclasses.replace(nd, episodes=tuple(episodes(subject, night.start_s, end)))
        out.append(nd)
    return out
