"""Read a subject's nights back from InfluxDB 1.x with InfluxQL (``/query``, v1 API).

:class:`InfluxReader` offers the same queries as the local store
(:class:`~collector.storage.LocalStore`: events, minute counts, gaps, annotations, nights,
subjects), so reports and exports work from either.  Plain HTTP with the standard library;
answers are requested in ns epochs and chunked, so long ranges do not hit the server's row
limit.

Nights.  The ``night`` measurement (:func:`night_point`; tag ``subject``, time = first
sample; integer fields ``end_ns``, ``sleep_onset_ns``, ``wake_ns`` (ns since the epoch),
``jerks``, ``jerks_in_sleep``, ``hypnic``, ``series``; float ``sleep_s`` (s); strings
``sleep_periods`` (JSON ``[[onset_s, end_s], ...]``), ``detector_version``,
``detector_config`` (JSON), ``note``) carries the sleep estimate.  For a subject without any
``night`` point, nights are derived from the ``jerk_count`` minutes (runs of minutes with
less than ``split_h`` hours between them) and have no sleep estimate.
"""

from __future__ import annotations

import base64
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from collector.storage.lineproto import Point, seconds_to_ns
from collector.storage.local import Annotation, Gap, Night, StoredCount, StoredEvent
from collector.storage.schema import ANNOTATION, JERK_COUNT, JERK_EVENT, SENSOR_STATUS
from detector.errors import ConfigError, InfluxUnavailableError, StorageError
from detector.events import JerkEvent, MinuteCount

__all__ = ["NIGHT", "InfluxReader", "night_point"]

NIGHT = "night"

_NS = 1e-9
_FAR_S = 4e9


def night_point(night: Night) -> Point:
    """The ``night`` point of a recorded night (see the module docstring)."""

    def ns(t: float | None) -> int | None:
        return None if t is None else seconds_to_ns(t)

    fields: dict[str, object] = {
        "end_ns": ns(night.end_s),
        "sleep_onset_ns": ns(night.sleep_onset_s),
        "wake_ns": ns(night.wake_s),
        "sleep_s": None if night.sleep_s is None else float(night.sleep_s),
        "sleep_periods": (
            json.dumps([[float(a), float(b)] for a, b in night.sleep_periods])
            if night.sleep_periods
            else None
        ),
        "jerks": night.jerks,
        "jerks_in_sleep": night.jerks_in_sleep,
        "hypnic": night.hypnic,
        "series": night.series,
        "detector_version": night.detector_version,
        "detector_config": night.detector_config,
        "note": night.note,
    }
    return Point(NIGHT, {"subject": night.subject}, fields, seconds_to_ns(night.start_s))


def _quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


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
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"InfluxDB url {url!r} must look like http://host:8086")
        if not db:
            raise ConfigError("InfluxDB database name must not be empty")
        if (user is None) != (password is None):
            raise ConfigError("InfluxDB user and password must be given together")
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ConfigError(f"timeout_s must be > 0 s, got {timeout_s}")
        if not (math.isfinite(split_h) and split_h > 0):
            raise ConfigError(f"split_h must be > 0 h, got {split_h}")
        self.url = url.rstrip("/")
        self.db = db
        self.rp = rp
        self.timeout_s = timeout_s
        self.split_h = split_h
        self._auth = (
            "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if user is not None
            else None
        )

    # ------------------------------------------------------------------ HTTP
    def query(self, q: str) -> list[dict[str, Any]]:
        """Run one InfluxQL statement; rows as dicts (columns and tags; ``time`` in ns)."""
        form = {"q": q, "db": self.db, "epoch": "ns", "chunked": "true", "chunk_size": "10000"}
        req = urllib.request.Request(
            f"{self.url}/query",
            data=urllib.parse.urlencode(form).encode(),
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if self._auth is not None:
            req.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                body = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace").strip()[:300]
            if exc.code == 429 or exc.code >= 500:
                raise InfluxUnavailableError(
                    f"InfluxDB {self.url} answered {exc.code} to a query: {detail}"
                ) from exc
            raise StorageError(
                f"InfluxDB {self.url} refused the query {q!r} ({exc.code}): {detail}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise InfluxUnavailableError(f"InfluxDB {self.url} unreachable: {exc}") from exc
        return list(self._rows(body, q))

    @staticmethod
    def _rows(body: bytes, q: str) -> Iterator[dict[str, Any]]:
        for line in body.splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)
            if "error" in doc:
                raise StorageError(f"InfluxDB refused {q!r}: {doc['error']}")
            for result in doc.get("results", []):
                if "error" in result:
                    raise StorageError(f"InfluxDB refused {q!r}: {result['error']}")
                for series in result.get("series", []):
                    cols = series["columns"]
                    tags = series.get("tags", {})
                    for values in series.get("values", []):
                        row = dict(zip(cols, values, strict=True))
                        row.update(tags)
                        yield row

    def _source(self, measurement: str) -> str:
        m = _quote_ident(measurement)
        return f"{_quote_ident(self.rp)}.{m}" if self.rp else m

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
                ),
                bilateral=bool(r["bilateral"]),
            )
            for r in rows
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
        if not self.has_night_points(subject):
            return self._derived_nights(subject, start_s, end_s)
        rows = self.query(
            f"SELECT * FROM {self._source(NIGHT)} "
            f"WHERE {self._where(subject, start_s, end_s, None)}"
        )

        def opt_s(v: Any) -> float | None:
            return None if v is None else int(v) * _NS

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
                sleep_periods=tuple(
                    (float(a), float(b)) for a, b in json.loads(r.get("sleep_periods") or "[]")
                ),
                jerks=opt_i(r.get("jerks")),
                jerks_in_sleep=opt_i(r.get("jerks_in_sleep")),
                hypnic=opt_i(r.get("hypnic")),
                series=opt_i(r.get("series")),
                detector_version=r.get("detector_version"),
                detector_config=r.get("detector_config"),
            )
            for r in rows
        ]

    def _derived_nights(self, subject: str, start_s: float, end_s: float) -> list[Night]:
        rows = self.query(
            f'SELECT "covered_s" FROM {self._source(JERK_COUNT)} '
            f"WHERE {self._where(subject, start_s, end_s, None)}"
        )
        minutes = sorted({int(r["time"]) for r in rows})
        nights: list[Night] = []
        split_ns = self.split_h * 3600e9
        first = prev = None
        for m in minutes:
            if first is None or prev is None:
                first = prev = m
                continue
            if m - prev > split_ns:
                nights.append(Night(subject, first * _NS, prev * _NS + 60.0))
                first = m
            prev = m
        if first is not None and prev is not None:
            nights.append(Night(subject, first * _NS, prev * _NS + 60.0))
        return nights

    def subjects(self) -> list[str]:
        """Subjects with events, minute counts or nights."""
        rows = self.query(
            f'SHOW TAG VALUES FROM "{JERK_EVENT}", "{JERK_COUNT}", "{NIGHT}" WITH KEY = "subject"'
        )
        return sorted({str(r["value"]) for r in rows})

    def close(self) -> None:
        """Nothing to release (one request per query)."""
