"""The ``sensor_night`` measurement: one point per subject, sensor and recorded night.

Written from the local SQLite store (:class:`storage.LocalStore`), which holds the
nights the pipeline recorded, their events and minute counts; so it can be (re)published at
any time and rewriting is idempotent (same measurement, tags and time).

One night is (subject, night date) as :mod:`storage.nights` defines it: every recording
session of the subject in that night (restarts, resumes, a second sensor started later) is
merged into it, so each (subject, sensor, night) has one point.

``sensor_night`` — time = first sample of the night (ns).  (The subject-level ``night``
measurement of :mod:`storage.influxread` counts a bilateral jerk once; this one is per
wrist, which the dashboards' sensor filter needs.)

    tags ``subject``, ``sensor``, ``side``, ``night`` (date of the night's evening,
    ``YYYY-MM-DD`` by the night rule: noon to noon local time by default);
    int fields ``start_ms``, ``end_ms`` (first / last sample, epoch ms), ``sleep_onset_ms``
    and ``wake_ms`` (epoch ms, absent when not detected), ``jerks``, ``hypnic``,
    ``myoclonic``, ``bilateral``, ``series`` (distinct clusters), ``jerks_in_series``,
    ``jerks_in_sleep`` (onset inside a sleep period); float fields ``sleep_s`` (s, total
    estimated sleep: the union of the sensors' sleep periods, 0 when none was detected;
    for nights stored without periods, sleep onset to final awakening),
    ``recording_s`` (s, first to last sample), ``covered_s`` (s with valid signal, from the
    minute counts) and ``jerks_per_hour_sleep`` (jerks_in_sleep per hour of sleep, absent
    without sleep).
"""

from __future__ import annotations

from collections.abc import Iterable

from storage import LocalStore, Night, Point, Storage, seconds_to_ns
from storage.nights import NightRule, subject_nights

__all__ = ["SENSOR_NIGHT", "night_label", "night_points", "publish_nights"]

SENSOR_NIGHT = "sensor_night"


def night_label(start_s: float) -> str:
    """``YYYY-MM-DD`` of the evening a night belongs to (:class:`~storage.nights.NightRule`:
    noon to noon local time by default)."""
    return NightRule.from_env().label(start_s)


def night_points(store: LocalStore, night: Night) -> list[Point]:
    """``sensor_night`` points (one per sensor that delivered data) for one night (merged:
    see :func:`storage.nights.subject_nights`).  Counts are per wrist: a bilateral jerk
    counts once on each wrist that saw it; negative myoclonus is counted apart
    (``negative``)."""
    end_s = night.end_s + 1.0  # events/counts are selected in [start, end)
    counts = store.minute_counts(night.subject, night.start_s, end_s)
    events = store.events(night.subject, night.start_s, end_s)
    sensors: dict[str, str] = {}
    for c in counts:
        sensors.setdefault(c.sensor, c.side)
    for e in events:
        sensors.setdefault(e.sensor, e.side)
    onset, wake = night.sleep_onset_s, night.wake_s
    periods = list(night.sleep_periods)
    if not periods and onset is not None and wake is not None and wake > onset:
        periods = [(onset, wake)]  # nights stored before sleep periods were recorded
    sleep_s = night.sleep_s if night.sleep_s is not None else sum(b - a for a, b in periods)
    label = night_label(night.start_s)
    points: list[Point] = []
    for sensor in sorted(sensors):
        evs = [e for e in events if e.sensor == sensor and e.event.kind != "negative"]
        negative = sum(1 for e in events if e.sensor == sensor and e.event.kind == "negative")
        hypnic = sum(1 for e in evs if e.event.kind == "hypnic")
        series_ids = {e.event.series for e in evs if e.event.series}
        in_sleep = sum(1 for e in evs if any(a <= e.event.onset <= b for a, b in periods))
        fields: dict[str, object] = {
            "start_ms": int(night.start_s * 1000),
            "end_ms": int(night.end_s * 1000),
            "sleep_onset_ms": None if onset is None else int(onset * 1000),
            "wake_ms": None if wake is None else int(wake * 1000),
            "jerks": len(evs),
            "hypnic": hypnic,
            "myoclonic": len(evs) - hypnic,
            "bilateral": sum(1 for e in evs if e.bilateral),
            "series": len(series_ids),
            "jerks_in_series": sum(1 for e in evs if e.event.series),
            "jerks_in_sleep": in_sleep,
            "sleep_s": float(sleep_s),
            "recording_s": float(night.end_s - night.start_s),
            "covered_s": float(sum(c.count.covered_s for c in counts if c.sensor == sensor)),
            "jerks_per_hour_sleep": in_sleep / (sleep_s / 3600.0) if sleep_s > 0 else None,
            "negative": negative,
        }
        tags = {"subject": night.subject, "sensor": sensor, "side": sensors[sensor], "night": label}
        points.append(Point(SENSOR_NIGHT, tags, fields, seconds_to_ns(night.start_s)))
    return points


def publish_nights(storage: Storage, subjects: Iterable[str] | None = None) -> int:
    """Write ``sensor_night`` points for every recorded night of ``subjects`` (default: all in the
    local store) through the storage's events stream; returns the number of points."""
    store = storage.store
    chosen = list(subjects) if subjects is not None else store.subjects()
    points = [p for s in chosen for n in subject_nights(store, s) for p in night_points(store, n)]
    return storage.add_points(points) if points else 0
