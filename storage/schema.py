"""The InfluxDB schema jerkmon writes (the contract the dashboards read) and converters.

Measurements (tags are indexed and low-cardinality; everything else is a field):

``jerk_event`` — one point per detected jerk, time = onset (ns).
    tags ``subject``, ``sensor``, ``side``; fields ``kind`` (string, ``myoclonic``/
    ``hypnic``; ``negative`` for negative myoclonus, a lapse of tone, stored beside the jerks
    but not one of them: count jerks with :data:`JERKS`; or ``withdrawn``: not a jerk, see
    below), ``provisional`` (bool),
    ``duration_s`` (float, s), ``peak_jerk_g_per_s`` (float, g/s), ``peak_acc_g`` (float, g),
    ``series`` (int, cluster id, 0 = lone jerk), ``confidence`` (float 0..1), ``bilateral``
    (bool, the other wrist jerked at the same time), ``clipped`` (bool), ``state`` (string:
    ``asleep``, ``awake``, ``walking``, ``activity``; absent = unknown).
    The live run writes each jerk twice: at once with ``provisional=true`` (kind a guess,
    series 0, bilateral false) and again when its kind, series and state are final, with
    ``provisional=false``.  Both have the same measurement, tag set and time, so the settled
    point replaces the provisional one: a query counts every jerk once.  That is why
    ``kind`` is a field, not a tag (a tag that changed would make a second series): filter
    with ``WHERE "kind" = 'hypnic'``; it cannot be grouped by.  The provisional point is a
    candidate, written about a second after the jerk from what the detector has seen then;
    the few that the final verdict (seconds later) rejects are overwritten with
    ``kind="withdrawn"``, ``provisional=false``: every query that counts or lists jerks
    filters with :data:`COUNTED` (``"kind" != 'withdrawn'``), every query that counts jerks
    with :data:`JERKS` (also ``"kind" != 'negative'``).
``jerk_count`` — one point per subject/sensor/minute, time = minute start.
    tags ``subject``, ``sensor``, ``side``; int fields ``count`` (jerks: ``hypnic`` +
    ``myoclonic``), ``hypnic``, ``myoclonic``, ``negative`` (negative myoclonus; absent in
    points written before it existed),
    float ``covered_s`` (s of valid signal in the minute, 0..60), ``worn_s`` (of which the
    sensor was worn; absent = unknown).
``jerk_episode`` — one point per convulsive episode (sustained rhythmic high-energy
    movement, :class:`detector.EpisodeEvent`; not a jerk count), time = start.
    tags ``subject``, ``sensor``, ``side``; fields ``duration_s``, ``dominant_hz``,
    ``peak_g`` (float), ``bilateral`` (bool).
``sensor_status`` — link and device state changes and periodic heartbeats.
    tags ``subject``, ``sensor``, ``side``, ``state`` (see :data:`STANDARD_STATES`);
    fields ``connected`` (bool, always present), ``gap_s`` (float, s, duration of a gap that
    starts at the point's time), ``battery_pct`` (float, %), ``rate_hz`` (float, Hz,
    achieved sample rate), ``detail`` (string, e.g. why a link dropped).
``annotation`` — a note on a subject's timeline (e.g. ``clonazepam 0.5 mg -> 1 mg``).
    tag ``subject``; field ``text`` (string); time = when it applies.
``night`` — one point per recorded night (:func:`night_point`), time = first sample.
    tag ``subject``; int fields ``end_ns``, ``sleep_onset_ns``, ``wake_ns`` (ns since the
    epoch), ``jerks``, ``jerks_in_sleep``, ``hypnic``, ``series``, ``negative``; float
    ``sleep_s`` (s);
    strings ``sleep_periods`` (JSON ``[[onset_s, end_s], ...]``), ``detector_version``,
    ``detector_config`` (JSON), ``note``, ``sensors`` (JSON list of the sensor ids).  One
    point per recording session; :mod:`storage.nights` merges the sessions of a night.
    Absent fields are unknown.
``imu`` — raw acceleration, in its own retention policy (1.x: RP ``raw``, 7 d by default;
    2.x: bucket ``<bucket>_raw``). tags ``subject``, ``sensor``, ``side``; fields ``ax``,
    ``ay``, ``az`` (float, g, written with 1 µg resolution).
``activity`` — per-epoch summary of the raw signal for long-term views (default RP).
    tags ``subject``, ``sensor``, ``side``; fields ``enmo_g`` (float, g, mean of
    max(|a| − 1 g, 0)), ``angle_z_deg`` (float, degrees, mean arm angle
    atan(az / sqrt(ax² + ay²))), ``samples`` (int); time = epoch start.

Times are seconds since the Unix epoch in the API and integer ns on the wire; they are taken
from sample time, so replaying the spool rewrites identical points (idempotent).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detector.episodes import EpisodeEvent
from detector.errors import InputError
from detector.events import JerkEvent, MinuteCount

from .lineproto import Point, encode_line, escape_key, seconds_to_ns

__all__ = [
    "ACTIVITY",
    "ANNOTATION",
    "IMU",
    "JERKS",
    "JERK_COUNT",
    "JERK_EVENT",
    "NEGATIVE",
    "NIGHT",
    "SENSOR_STATUS",
    "STANDARD_STATES",
    "ActivityAggregator",
    "ActivityEpoch",
    "Night",
    "SensorStatus",
    "activity_lines",
    "count_line",
    "event_line",
    "imu_payload",
    "night_point",
    "opt_ns",
    "opt_s",
    "periods_from_json",
    "periods_json",
    "sensors_from_json",
    "sensors_json",
    "status_line",
]

JERK_EVENT = "jerk_event"
#: ``jerk_event`` ``kind`` of a live candidate that turned out not to be a jerk.
WITHDRAWN = "withdrawn"
#: InfluxQL condition on ``jerk_event`` that keeps the points that are jerks.
COUNTED = f"\"kind\" != '{WITHDRAWN}'"
#: ``jerk_event`` ``kind`` of negative myoclonus (a lapse of tone, not a jerk).
NEGATIVE = "negative"
#: InfluxQL condition on ``jerk_event`` that keeps the jerks (not negative myoclonus).
JERKS = f"{COUNTED} AND \"kind\" != '{NEGATIVE}'"
JERK_COUNT = "jerk_count"
JERK_EPISODE = "jerk_episode"
SENSOR_STATUS = "sensor_status"
IMU = "imu"
ACTIVITY = "activity"
ANNOTATION = "annotation"
NIGHT = "night"

#: States the collector reports; others matching ``[a-z][a-z0-9_]{0,31}`` are accepted
#: (``state`` is a tag, so keep the set small).
STANDARD_STATES: frozenset[str] = frozenset(
    {
        "connected",
        "disconnected",
        "gap",
        "streaming",
        "low_battery",
        "clipping",
        "error",
        "not_worn",  # the sensor has looked unworn for the configured time (detail: how long)
        "worn",  # worn again after a not_worn warning
        "episode",  # a convulsive episode ended (detail: duration and frequency)
        "disk_low",  # free disk space is low (detail: how much, what happens next)
        "raw_gap",  # raw samples given up to free disk space (detail: how many, how long)
    }
)
_STATE_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")

FloatArray = npt.NDArray[np.float64]


def _tags(subject: str, sensor: str, side: str) -> dict[str, str]:
    for name, value in (("subject", subject), ("sensor", sensor), ("side", side)):
        if not value:
            raise InputError(f"{name} must be a non-empty string")
    return {"side": side, "sensor": sensor, "subject": subject}


def event_line(
    subject: str,
    sensor: str,
    side: str,
    event: JerkEvent,
    bilateral: bool,
    *,
    provisional: bool = False,
) -> str:
    """One ``jerk_event`` line for ``event`` (onset in s since the epoch); a settled line
    (``provisional=False``) overwrites the provisional line of the same jerk."""
    fields: dict[str, object] = {
        "kind": event.kind,
        "provisional": bool(provisional),
        "duration_s": float(event.duration),
        "peak_jerk_g_per_s": float(event.peak_jerk_g_per_s),
        "peak_acc_g": float(event.peak_acc_g),
        "series": int(event.series or 0),
        "confidence": float(event.confidence),
        "bilateral": bool(bilateral),
        "clipped": bool(event.clipped),
    }
    if event.state != "unknown":
        fields["state"] = event.state
    return encode_line(JERK_EVENT, _tags(subject, sensor, side), fields, seconds_to_ns(event.onset))


def withdrawn_line(subject: str, sensor: str, side: str, event: JerkEvent) -> str:
    """The ``jerk_event`` line that overwrites the candidate point of ``event`` (same tags
    and time) when the detector's final verdict is that it is no jerk."""
    fields: dict[str, object] = {"kind": WITHDRAWN, "provisional": False}
    return encode_line(JERK_EVENT, _tags(subject, sensor, side), fields, seconds_to_ns(event.onset))


def count_line(subject: str, sensor: str, side: str, count: MinuteCount) -> str:
    """One ``jerk_count`` line for a minute starting at ``count.start`` (s since the epoch)."""
    fields: dict[str, object] = {
        "count": int(count.count),
        "hypnic": int(count.hypnic),
        "myoclonic": int(count.myoclonic),
        "negative": int(count.negative),
        "covered_s": float(count.covered_s),
    }
    if count.worn_s is not None:
        fields["worn_s"] = float(count.worn_s)
    return encode_line(JERK_COUNT, _tags(subject, sensor, side), fields, seconds_to_ns(count.start))


def episode_line(subject: str, sensor: str, side: str, episode: EpisodeEvent) -> str:
    """One ``jerk_episode`` line for a convulsive episode (start in s since the epoch)."""
    fields: dict[str, object] = {
        "duration_s": float(episode.duration_s),
        "dominant_hz": float(episode.dominant_hz),
        "peak_g": float(episode.peak_g),
        "bilateral": bool(episode.bilateral),
    }
    return encode_line(
        JERK_EPISODE, _tags(subject, sensor, side), fields, seconds_to_ns(episode.start)
    )


@dataclass(frozen=True, slots=True)
class SensorStatus:
    """One sensor status report.

    Attributes:
        time_s: when the state began (s since the epoch); for ``gap``, the gap's start.
        state: ``connected``, ``disconnected``, ``gap``, ``streaming`` (periodic heartbeat),
            ``low_battery``, ``clipping``, ``error``, or another ``[a-z][a-z0-9_]*`` word.
        connected: link up; ``None`` derives it (False only for ``disconnected``).
        gap_s: s, duration of a gap in the signal starting at ``time_s``.
        battery_pct: battery level, %.
        rate_hz: achieved sample rate, Hz.
        detail: free text (no newlines), e.g. the reason a link dropped.
    """

    time_s: float
    state: str
    connected: bool | None = None
    gap_s: float | None = None
    battery_pct: float | None = None
    rate_hz: float | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if not _STATE_RE.fullmatch(self.state):
            raise InputError(
                f"sensor state {self.state!r} must match [a-z][a-z0-9_]{{0,31}} "
                f"(standard: {', '.join(sorted(STANDARD_STATES))})"
            )
        if self.gap_s is not None and not (math.isfinite(self.gap_s) and self.gap_s >= 0):
            raise InputError(f"gap_s must be a finite number >= 0 s, got {self.gap_s}")
        if self.battery_pct is not None and not 0 <= self.battery_pct <= 100:
            raise InputError(f"battery_pct must be within 0..100 %, got {self.battery_pct}")
        if self.rate_hz is not None and not (math.isfinite(self.rate_hz) and self.rate_hz >= 0):
            raise InputError(f"rate_hz must be a finite number >= 0 Hz, got {self.rate_hz}")

    @property
    def is_connected(self) -> bool:
        if self.connected is not None:
            return self.connected
        return self.state != "disconnected"


def status_line(subject: str, sensor: str, side: str, status: SensorStatus) -> str:
    """One ``sensor_status`` line."""
    tags = _tags(subject, sensor, side)
    tags["state"] = status.state
    fields: dict[str, object] = {
        "connected": status.is_connected,
        "gap_s": None if status.gap_s is None else float(status.gap_s),
        "battery_pct": None if status.battery_pct is None else float(status.battery_pct),
        "rate_hz": None if status.rate_hz is None else float(status.rate_hz),
        "detail": status.detail,
    }
    return encode_line(SENSOR_STATUS, tags, fields, seconds_to_ns(status.time_s))


def opt_ns(t_s: float | None) -> int | None:
    """s since the epoch -> ns (:func:`seconds_to_ns`), None stays None."""
    return None if t_s is None else seconds_to_ns(t_s)


def opt_s(t_ns: int | None) -> float | None:
    """ns since the epoch -> s, None stays None."""
    return None if t_ns is None else int(t_ns) * 1e-9


def periods_json(periods: Sequence[tuple[float, float]]) -> str | None:
    """Sleep periods as the JSON text ``[[onset_s, end_s], ...]``; None when there are none."""
    return json.dumps([[float(a), float(b)] for a, b in periods]) if periods else None


def periods_from_json(text: str | None) -> tuple[tuple[float, float], ...]:
    """The periods of :func:`periods_json` text (empty for None or empty text)."""
    if not text:
        return ()
    return tuple((float(a), float(b)) for a, b in json.loads(text))


@dataclass(frozen=True, slots=True)
class Night:
    """One recorded night of one subject; times in s since the epoch.

    Attributes:
        start_s / end_s: first / last sample of any sensor.
        sleep_onset_s: first estimated sleep onset; wake_s: end of the last sleep period.
        note: free text.
        sleep_s: total estimated sleep, s (union of the sensors' sleep periods); None when
            unknown (nights recorded before this field existed).
        sleep_periods: the estimated sleep periods ``((onset_s, end_s), ...)``, union over
            the sensors, in time order.
        jerks: distinct jerks in the night (a bilateral jerk, seen on both wrists, counts
            once); jerks_in_sleep: of which inside a sleep period; hypnic: of which hypnic;
            series: distinct series (clusters); negative: negative myoclonus (lapses of
            tone, not jerks).  None when unknown.
        detector_version: version of the detector that produced the events.
        detector_config: its :class:`~detector.config.DetectorConfig` as a JSON object.
        sensors: the sensors recorded in this session (empty: unknown, older records).

    A stored Night is one recording session; :mod:`storage.nights` merges the sessions of
    one subject and night date into one night.
    """

    subject: str
    start_s: float
    end_s: float
    sleep_onset_s: float | None = None
    wake_s: float | None = None
    note: str | None = None
    sleep_s: float | None = None
    sleep_periods: tuple[tuple[float, float], ...] = ()
    jerks: int | None = None
    jerks_in_sleep: int | None = None
    hypnic: int | None = None
    series: int | None = None
    negative: int | None = None
    detector_version: str | None = None
    detector_config: str | None = None
    sensors: tuple[str, ...] = ()


def sensors_json(sensors: Sequence[str]) -> str | None:
    """Sensor ids as JSON text; None when there are none."""
    return json.dumps(list(sensors)) if sensors else None


def sensors_from_json(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(str(s) for s in json.loads(text))


def night_point(night: Night) -> Point:
    """The ``night`` point of a recorded night (see the module docstring)."""
    fields: dict[str, object] = {
        "end_ns": seconds_to_ns(night.end_s),
        "sleep_onset_ns": opt_ns(night.sleep_onset_s),
        "wake_ns": opt_ns(night.wake_s),
        "sleep_s": None if night.sleep_s is None else float(night.sleep_s),
        "sleep_periods": periods_json(night.sleep_periods),
        "jerks": night.jerks,
        "jerks_in_sleep": night.jerks_in_sleep,
        "hypnic": night.hypnic,
        "series": night.series,
        "negative": night.negative,
        "detector_version": night.detector_version,
        "detector_config": night.detector_config,
        "note": night.note,
        "sensors": sensors_json(night.sensors),
    }
    return Point(NIGHT, {"subject": night.subject}, fields, seconds_to_ns(night.start_s))


def _series_prefix(measurement: str, subject: str, sensor: str, side: str) -> str:
    tags = _tags(subject, sensor, side)
    return measurement + "".join(
        f",{escape_key(k, 'tag key')}={escape_key(v, 'tag value')}" for k, v in sorted(tags.items())
    )


def _times_ns(t_s: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Vectorised :func:`seconds_to_ns` (same rounding to the whole µs)."""
    t = np.asarray(t_s, dtype=np.float64)
    whole = np.floor(t)
    micros = np.round((t - whole) * 1e6).astype(np.int64)
    return whole.astype(np.int64) * 1_000_000_000 + micros * 1000


def imu_payload(
    subject: str, sensor: str, side: str, t_s: npt.ArrayLike, acc_g: npt.ArrayLike
) -> tuple[bytes, int]:
    """Encode raw samples as ``imu`` lines; return (newline-terminated bytes, line count).

    Args:
        t_s: shape (n,), sample times in s since the epoch.
        acc_g: shape (n, 3), acceleration x, y, z in g; rows with a non-finite value or time
            (dropped samples) are skipped.  Values are written with 1 µg resolution.
    """
    t = np.asarray(t_s, dtype=np.float64)
    acc = np.asarray(acc_g, dtype=np.float64)
    if t.ndim != 1 or acc.shape != (t.shape[0], 3):
        raise InputError(f"imu: need t_s (n,) and acc_g (n, 3), got {t.shape} and {acc.shape}")
    ok = np.isfinite(t) & np.isfinite(acc).all(axis=1)
    if not ok.all():
        t, acc = t[ok], acc[ok]
    if t.size == 0:
        return b"", 0
    fmt = _series_prefix(IMU, subject, sensor, side) + " ax=%.6f,ay=%.6f,az=%.6f %d\n"
    ax, ay, az = acc[:, 0].tolist(), acc[:, 1].tolist(), acc[:, 2].tolist()
    rows = zip(ax, ay, az, _times_ns(t).tolist(), strict=True)
    text = "".join([fmt % row for row in rows])
    return text.encode(), int(t.size)


_UNESCAPED = re.compile(rb"(?<!\\)[, ]")


def imu_line_series(line: bytes) -> tuple[str, str, str, int] | None:
    """``(subject, sensor, side, time ns)`` of one ``imu`` line as :func:`imu_payload`
    writes it, or None for any other line."""
    parts = _UNESCAPED.split(line)
    if len(parts) < 3 or parts[0] != IMU.encode():
        return None
    tags: dict[str, str] = {}
    for part in parts[1:]:
        key, eq, value = part.partition(b"=")
        if not eq or key in (b"ax", b"ay", b"az"):  # the fields: the tags are done
            break
        tags[key.decode()] = re.sub(rb"\\(.)", rb"\1", value).decode(errors="replace")
    try:
        t_ns = int(parts[-1])
    except ValueError:
        return None
    if not {"subject", "sensor", "side"} <= tags.keys():
        return None
    return tags["subject"], tags["sensor"], tags["side"], t_ns


@dataclass(frozen=True, slots=True)
class ActivityEpoch:
    """Summary of one epoch: start (s since the epoch), ENMO mean (g), arm angle (degrees)."""

    start_s: float
    enmo_g: float
    angle_z_deg: float
    samples: int


def activity_lines(
    subject: str, sensor: str, side: str, epochs: Sequence[ActivityEpoch]
) -> list[str]:
    """``activity`` lines for ``epochs``."""
    tags = _tags(subject, sensor, side)
    return [
        encode_line(
            ACTIVITY,
            tags,
            {"enmo_g": e.enmo_g, "angle_z_deg": e.angle_z_deg, "samples": int(e.samples)},
            seconds_to_ns(e.start_s),
        )
        for e in epochs
    ]


class ActivityAggregator:
    """Streams raw samples into fixed epochs aligned to multiples of ``epoch_s``.

    ``add(t_s, acc_g)`` returns the epochs completed by this chunk (an epoch is complete once
    a sample at or after its end arrives); ``finish()`` returns the last partial epoch.
    Samples must come in time order.  Not thread-safe (one per sensor).
    """

    def __init__(self, epoch_s: float = 5.0) -> None:
        if not (math.isfinite(epoch_s) and epoch_s > 0):
            raise InputError(f"epoch_s must be > 0 s, got {epoch_s}")
        self.epoch_s = float(epoch_s)
        self._epoch_index: int | None = None
        self._enmo_sum = 0.0
        self._angle_sum = 0.0
        self._n = 0

    def _emit(self) -> ActivityEpoch | None:
        if self._epoch_index is None or self._n == 0:
            return None
        epoch = ActivityEpoch(
            start_s=self._epoch_index * self.epoch_s,
            enmo_g=self._enmo_sum / self._n,
            angle_z_deg=self._angle_sum / self._n,
            samples=self._n,
        )
        self._enmo_sum = self._angle_sum = 0.0
        self._n = 0
        return epoch

    def add(self, t_s: npt.ArrayLike, acc_g: npt.ArrayLike) -> list[ActivityEpoch]:
        t = np.asarray(t_s, dtype=np.float64)
        acc = np.asarray(acc_g, dtype=np.float64)
        if t.ndim != 1 or acc.shape != (t.shape[0], 3):
            raise InputError(
                f"activity: need t_s (n,) and acc_g (n, 3), got {t.shape} and {acc.shape}"
            )
        ok = np.isfinite(t) & np.isfinite(acc).all(axis=1)
        t, acc = t[ok], acc[ok]
        out: list[ActivityEpoch] = []
        if t.size == 0:
            return out
        norm = np.sqrt((acc**2).sum(axis=1))
        enmo = np.maximum(norm - 1.0, 0.0)
        angle = np.degrees(np.arctan2(acc[:, 2], np.hypot(acc[:, 0], acc[:, 1])))
        idx = np.floor(t / self.epoch_s).astype(np.int64)
        boundaries = np.flatnonzero(np.diff(idx)) + 1
        starts = np.concatenate(([0], boundaries))
        ends = np.concatenate((boundaries, [t.size]))
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            i = int(idx[a])
            if self._epoch_index is not None and i != self._epoch_index:
                done = self._emit()
                if done is not None:
                    out.append(done)
            self._epoch_index = i
            self._enmo_sum += float(enmo[a:b].sum())
            self._angle_sum += float(angle[a:b].sum())
            self._n += b - a
        return out

    def finish(self) -> list[ActivityEpoch]:
        done = self._emit()
        self._epoch_index = None
        return [] if done is None else [done]
