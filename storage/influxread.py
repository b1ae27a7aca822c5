"""Read a subject's nights back from InfluxDB 1.x with InfluxQL (``/query``, v1 API).

:class:`InfluxReader` offers the same queries as the local store
(:class:`~storage.LocalStore`: events, minute counts, gaps, annotations, nights,
subjects), so reports and exports work from either.  Queries go through
:class:`~storage.influxql.InfluxQLClient`; answers are requested in ns epochs and
chunked, so long ranges do not hit the server's row limit.

Nights.  The ``night`` measurement (:data:`~storage.schema.NIGHT`, written by
:func:`~storage.schema.night_point`, re-exported here) carries the sleep estimate.
For a subject without any ``night`` point, nights are derived from the ``jerk_count`` minutes
(runs of minutes at most ``split_h`` hours apart) and have no sleep estimate.
"""

from __future__ import annotations

import math
from typing import Any

from detector.errors import ConfigError
from detector.events import JerkEvent, MinuteCount
from storage.influxql import InfluxQLClient, quote_ident
from storage.lineproto import seconds_to_ns
from storage.local import Annotation, Gap, Night, StoredCount, StoredEvent
from storage.schema import (
    ANNOTATION,
    JERK_COUNT,
    JERK_EVENT,
    NIGHT,
    SENSOR_STATUS,
    WITHDRAWN,
    night_point,
    opt_s,
    periods_from_json,
    sensors_from_json,
)

__all__ = ["NIGHT", "InfluxReader", "night_point"]  # NIGHT, night_point: from the schema

_NS = 1e-9
_FAR_S = 4e9


def _quote_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxReader:
    """InfluxQL reader of one database (InfluxDB 1.x, or 2.x/3.x v1 compatibility).

    Args:
        url: ``http(s)://host:port``.  db: database.  rp: retention policy the events were
            written to (None: the database's default).
        user, password: basic-auth credentials (1.x with auth enabled).
        timeout_s: per request, s.  split_h: h without minute counts that separate two
            derived nights (used only for subjects without ``night`` points).
    """

    def __init__(
        self,
        url: str,
        db: str,
        rp: str | None = None,
        user: str | None = None,
        password: str | None = None,
        timeout_s: float = 30.0,
        split_h: float = 3.0,
    ) -> None:
        url = url.rstrip("/")
        self.client = InfluxQLClient(
            url, db, user=user, password=password, timeout_s=timeout_s, epoch="ns", chunked=True
        )  # checks url, db and credentials
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ConfigError(f"timeout_s must be > 0 s, got {timeout_s}")
        if not (math.isfinite(split_h) and split_h > 0):
            raise ConfigError(f"split_h must be > 0 h, got {split_h}")
        self.url = url
        self.db = db
        self.rp = rp
        self.timeout_s = timeout_s
        self.split_h = split_h

    # ------------------------------------------------------------------ HTTP
    def query(self, q: str) -> list[dict[str, Any]]:
        """Run InfluxQL; rows as dicts (columns and tags; ``time`` in ns).

        Raises StorageError when InfluxDB refuses the query, InfluxUnavailableError (a
        StorageError) when it cannot be reached or answers 429/5xx.
        """
        rows: list[dict[str, Any]] = []
        for statement in self.client.query(q):
            for series in statement:
                for values in series.values:
                    row = dict(zip(series.columns, values, strict=True))
                    row.update(series.tags)
                    rows.append(row)
        return rows

    def _source(self, measurement: str) -> str:
        m = quote_ident(measurement)
        return f"{quote_ident(self.rp)}.{m}" if self.rp else m

    def _where(self, subject: str, start_s: float, end_s: float, sensor: str | None) -> str:
        lo = seconds_to_ns(max(start_s, 0.0))
        hi = seconds_to_ns(min(end_s, _FAR_S))
        sql = f'"subject" = {_quote_str(subject)} AND time >= {lo} AND time < {hi}'
        if sensor is not None:
            sql += f' AND "sensor" = {_quote_str(sensor)}'
        return sql

    # ------------------------------------------------------------------ queries
    def events(
        self, subject: str, start_s: float, end_s: float, sensor: str | None = None
    ) -> list[StoredEvent]:
        """Events of ``subject`` with onset in [start_s, end_s) (s since the epoch)."""
        rows = self.query(
            f"SELECT * FROM {self._source(JERK_EVENT)} "
            f"WHERE {self._where(subject, start_s, end_s, sensor)}"
        )
        out = [
            StoredEvent(
                subject=r["subject"],
                sensor=r["sensor"],
                side=r["side"],
                event=JerkEvent(
                    onset=int(r["time"]) * _NS,
                    duration=float(r["duration_s"]),
                    peak_jerk_g_per_s=float(r["peak_jerk_g_per_s"]),
                    peak_acc_g=float(r["peak_acc_g"]),
                    kind=r["kind"],
                    series=int(r["series"] or 0) or None,
                    confidence=float(r["confidence"]),
                    clipped=bool(r["clipped"]),
                    state=r.get("state") or "unknown",
                ),
                bilateral=bool(r["bilateral"]),
            )
            for r in rows
            # A point still provisional is a jerk whose run stopped before it settled; a
            # withdrawn one was a live candidate that is no jerk.
            if not r.get("provisional") and r.get("kind") != WITHDRAWN
        ]
        return sorted(out, key=lambda e: (e.event.onset, e.sensor))

    def minute_counts(
        self, subject: str, start_s: float, end_s: float, sensor: str | None = None
    ) -> list[StoredCount]:
        """Minute counts of ``subject`` whose minute starts in [start_s, end_s)."""
        rows = self.query(
            f"SELECT * FROM {self._source(JERK_COUNT)} "
            f"WHERE {self._where(subject, start_s, end_s, sensor)}"
        )
        out = [
            StoredCount(
                r["subject"],
                r["sensor"],
                r["side"],
                MinuteCount(
                    int(r["time"]) * _NS,
                    int(r["count"]),
                    int(r["hypnic"]),
                    int(r["myoclonic"]),
                    float(r["covered_s"]),
                    negative=int(r.get("negative") or 0),
                ),
            )
            for r in rows
        ]
        return sorted(out, key=lambda c: (c.count.start, c.sensor))

    def gaps(
        self, subject: str, start_s: float, end_s: float, sensor: str | None = None
    ) -> list[Gap]:
        """Signal gaps (``sensor_status`` points with ``gap_s``) starting in [start_s, end_s)."""
        rows = self.query(
            f'SELECT "gap_s", "sensor", "side", "subject" FROM {self._source(SENSOR_STATUS)} '
            f"WHERE {self._where(subject, start_s, end_s, sensor)}"
        )
        out = [
            Gap(r["subject"], r["sensor"], r["side"], int(r["time"]) * _NS, float(r["gap_s"]))
            for r in rows
            if r.get("gap_s") is not None
        ]
        return sorted(out, key=lambda g: (g.start_s, g.sensor))

    def annotations(
        self, subject: str, start_s: float = 0.0, end_s: float = _FAR_S
    ) -> list[Annotation]:
        """Annotations of ``subject`` in [start_s, end_s), oldest first."""
        rows = self.query(
            f'SELECT "text" FROM {self._source(ANNOTATION)} '
            f"WHERE {self._where(subject, start_s, end_s, None)}"
        )
        return [Annotation(subject, int(r["time"]) * _NS, str(r["text"])) for r in rows]

    def has_night_points(self, subject: str) -> bool:
        """Whether any ``night`` point of ``subject`` exists."""
        rows = self.query(
            f'SELECT count("end_ns") FROM {self._source(NIGHT)} '
            f'WHERE "subject" = {_quote_str(subject)}'
        )
        return bool(rows) and int(rows[0].get("count") or 0) > 0

    def nights(self, subject: str, start_s: float = 0.0, end_s: float = _FAR_S) -> list[Night]:
        """Nights of ``subject`` starting in [start_s, end_s): the ``night`` points, or for a
        subject without any, nights derived from the minute counts (no sleep estimate)."""
        rows = self.query(
            f"SELECT * FROM {self._source(NIGHT)} "
            f"WHERE {self._where(subject, start_s, end_s, None)}"
        )
        # A row with ``end_ns`` is a night point, so has_night_points would be true: ask the
        # server only when the range holds none.
        if not any(r.get("end_ns") is not None for r in rows) and not self.has_night_points(
            subject
        ):
            return self._derived_nights(subject, start_s, end_s)

        def opt_i(v: Any) -> int | None:
            return None if v is None else int(v)

        return [
            Night(
                subject=r["subject"],
                start_s=int(r["time"]) * _NS,
                end_s=int(r["end_ns"]) * _NS,
                sleep_onset_s=opt_s(r.get("sleep_onset_ns")),
                wake_s=opt_s(r.get("wake_ns")),
                note=r.get("note"),
                sleep_s=None if r.get("sleep_s") is None else float(r["sleep_s"]),
                sleep_periods=periods_from_json(r.get("sleep_periods")),
                jerks=opt_i(r.get("jerks")),
                jerks_in_sleep=opt_i(r.get("jerks_in_sleep")),
                hypnic=opt_i(r.get("hypnic")),
                series=opt_i(r.get("series")),
                negative=opt_i(r.get("negative")),
                detector_version=r.get("detector_version"),
                detector_config=r.get("detector_config"),
                sensors=sensors_from_json(r.get("sensors")),
            )
            for r in rows
        ]

    def _derived_nights(self, subject: str, start_s: float, end_s: float) -> list[Night]:
        rows = self.query(
            f'SELECT "covered_s" FROM {self._source(JERK_COUNT)} '
            f"WHERE {self._where(subject, start_s, end_s, None)}"
        )
        minutes = sorted({int(r["time"]) for r in rows})
        # A gap of more than split_h between minute counts separates two nights.
        split_ns = self.split_h * 3600e9
        cuts = [i for i in range(1, len(minutes)) if minutes[i] - minutes[i - 1] > split_ns]
        return [
            Night(subject, minutes[a] * _NS, minutes[b - 1] * _NS + 60.0)
            for a, b in zip([0, *cuts], [*cuts, len(minutes)], strict=True)
            if b > a
        ]

    def subjects(self) -> list[str]:
        """Subjects with events, minute counts or nights."""
        rows = self.query(
            f'SHOW TAG VALUES FROM "{JERK_EVENT}", "{JERK_COUNT}", "{NIGHT}" WITH KEY = "subject"'
        )
        return sorted({str(r["value"]) for r in rows})

    def close(self) -> None:
        """Nothing to release (one request per query)."""
