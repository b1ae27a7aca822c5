"""The local event store: SQLite in the data directory (stdlib ``sqlite3``).

Holds what summaries and reports need without any server: jerk events, minute counts,
sensor status (gaps, disconnections, battery) and nights.  Every table has a primary key on
subject/sensor/time (status adds the state), and writes are ``INSERT OR REPLACE``, so writing
the same record twice leaves one row (idempotent, like InfluxDB).  Times are stored as integer
ns since the Unix epoch and returned as float s.  WAL journal, ``synchronous=FULL``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.errors import StorageError
from detector.events import JerkEvent, MinuteCount

from .lineproto import seconds_to_ns
from .schema import Night, SensorStatus, opt_ns, opt_s, periods_from_json, periods_json

__all__ = [
    "Annotation",
    "Gap",
    "LocalStore",
    "Night",
    "StoredCount",
    "StoredEvent",
    "StoredStatus",
]

#: Columns of ``nights`` in the first release: (name, SQL declaration).
_NIGHT_BASE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("subject", "TEXT NOT NULL"),
    ("start_ns", "INTEGER NOT NULL"),
    ("end_ns", "INTEGER NOT NULL"),
    ("sleep_onset_ns", "INTEGER"),
    ("wake_ns", "INTEGER"),
    ("note", "TEXT"),
)
#: Columns added to ``nights`` after the first release: (name, SQL type).  Stores created
#: before get them with ``ALTER TABLE ... ADD COLUMN`` (NULL for the nights already there).
_NIGHT_EXTRA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("sleep_s", "REAL"),
    ("sleep_periods", "TEXT"),
    ("jerks", "INTEGER"),
    ("jerks_in_sleep", "INTEGER"),
    ("hypnic", "INTEGER"),
    ("series", "INTEGER"),
    ("detector_version", "TEXT"),
    ("detector_config", "TEXT"),
)
_NIGHT_COLUMNS = ", ".join(name for name, _ in _NIGHT_BASE_COLUMNS + _NIGHT_EXTRA_COLUMNS)
_NIGHT_COLUMN_DEFS = ", ".join(
    f"{name} {decl}" for name, decl in _NIGHT_BASE_COLUMNS + _NIGHT_EXTRA_COLUMNS
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    subject TEXT NOT NULL, sensor TEXT NOT NULL, time_ns INTEGER NOT NULL,
    side TEXT NOT NULL, kind TEXT NOT NULL, duration_s REAL NOT NULL,
    peak_jerk_g_per_s REAL NOT NULL, peak_acc_g REAL NOT NULL, series INTEGER NOT NULL,
    confidence REAL NOT NULL, bilateral INTEGER NOT NULL, clipped INTEGER NOT NULL,
    PRIMARY KEY (subject, sensor, time_ns)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counts (
    subject TEXT NOT NULL, sensor TEXT NOT NULL, start_ns INTEGER NOT NULL,
    side TEXT NOT NULL, count INTEGER NOT NULL, hypnic INTEGER NOT NULL,
    myoclonic INTEGER NOT NULL, covered_s REAL NOT NULL,
    PRIMARY KEY (subject, sensor, start_ns)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS status (
    subject TEXT NOT NULL, sensor TEXT NOT NULL, time_ns INTEGER NOT NULL, state TEXT NOT NULL,
    side TEXT NOT NULL, connected INTEGER NOT NULL, gap_s REAL, battery_pct REAL,
    rate_hz REAL, detail TEXT,
    PRIMARY KEY (subject, sensor, time_ns, state)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS annotations (
    subject TEXT NOT NULL, time_ns INTEGER NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (subject, time_ns)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nights (
    {_NIGHT_COLUMN_DEFS},
    PRIMARY KEY (subject, start_ns)) WITHOUT ROWID;
"""

_NS = 1e-9


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A jerk event as stored: who/where, the detector's record and the bilateral flag."""

    subject: str
    sensor: str
    side: str
    event: JerkEvent
    bilateral: bool


@dataclass(frozen=True, slots=True)
class StoredCount:
    subject: str
    sensor: str
    side: str
    count: MinuteCount


@dataclass(frozen=True, slots=True)
class StoredStatus:
    subject: str
    sensor: str
    side: str
    status: SensorStatus


@dataclass(frozen=True, slots=True)
class Gap:
    """A gap in a sensor's signal: start (s since the epoch) and duration (s)."""

    subject: str
    sensor: str
    side: str
    start_s: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class Annotation:
    """A note on a subject's timeline, e.g. a dose change: time (s since the epoch), text."""

    subject: str
    time_s: float
    text: str


class LocalStore:
    """SQLite event store at ``path`` (thread-safe; one connection behind a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(nights)")}
            for name, sql_type in _NIGHT_EXTRA_COLUMNS:
                if name not in have:
                    self._db.execute(f"ALTER TABLE nights ADD COLUMN {name} {sql_type}")
        except sqlite3.Error as exc:
            raise StorageError(f"local event store {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def _write(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        with self._lock:
            try:
                self._db.execute("BEGIN")
                self._db.executemany(sql, rows)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise StorageError(f"local event store {self.path}: {exc}") from exc

    def _read(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._db.execute(sql, args))
            except sqlite3.Error as exc:
                raise StorageError(f"local event store {self.path}: {exc}") from exc

    # ------------------------------------------------------------------ writes
    def add_events(
        self,
        subject: str,
        sensor: str,
        side: str,
        events: Sequence[JerkEvent],
        bilateral: Sequence[bool],
    ) -> None:
        rows = [
            (
                subject,
                sensor,
                seconds_to_ns(e.onset),
                side,
                e.kind,
                e.duration,
                e.peak_jerk_g_per_s,
                e.peak_acc_g,
                int(e.series or 0),
                e.confidence,
                int(b),
                int(e.clipped),
            )
            for e, b in zip(events, bilateral, strict=True)
        ]
        self._write("INSERT OR REPLACE INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def add_counts(
        self, subject: str, sensor: str, side: str, counts: Sequence[MinuteCount]
    ) -> None:
        rows = [
            (
                subject,
                sensor,
                seconds_to_ns(c.start),
                side,
                c.count,
                c.hypnic,
                c.myoclonic,
                c.covered_s,
            )
            for c in counts
        ]
        self._write("INSERT OR REPLACE INTO counts VALUES (?,?,?,?,?,?,?,?)", rows)

    def add_status(self, subject: str, sensor: str, side: str, status: SensorStatus) -> None:
        row = (
            subject,
            sensor,
            seconds_to_ns(status.time_s),
            status.state,
            side,
            int(status.is_connected),
            status.gap_s,
            status.battery_pct,
            status.rate_hz,
            status.detail,
        )
        self._write("INSERT OR REPLACE INTO status VALUES (?,?,?,?,?,?,?,?,?,?)", [row])

    def add_night(self, night: Night) -> None:
        row = (
            night.subject,
            seconds_to_ns(night.start_s),
            seconds_to_ns(night.end_s),
            opt_ns(night.sleep_onset_s),
            opt_ns(night.wake_s),
            night.note,
            night.sleep_s,
            periods_json(night.sleep_periods),
            night.jerks,
            night.jerks_in_sleep,
            night.hypnic,
            night.series,
            night.detector_version,
            night.detector_config,
        )
        marks = ",".join("?" * len(row))
        self._write(f"INSERT OR REPLACE INTO nights ({_NIGHT_COLUMNS}) VALUES ({marks})", [row])

    def add_annotation(self, annotation: Annotation) -> None:
        row = (annotation.subject, seconds_to_ns(annotation.time_s), annotation.text)
        self._write("INSERT OR REPLACE INTO annotations VALUES (?,?,?)", [row])

    # ------------------------------------------------------------------ queries
    def annotations(
        self, subject: str, start_s: float = 0.0, end_s: float = 4e9
    ) -> list[Annotation]:
        """Annotations of ``subject`` in [start_s, end_s), oldest first."""
        rows = self._read(
            "SELECT subject, time_ns, text FROM annotations "
            "WHERE subject = ? AND time_ns >= ? AND time_ns < ? ORDER BY time_ns",
            [subject, seconds_to_ns(start_s), seconds_to_ns(end_s)],
        )
        return [Annotation(r[0], r[1] * _NS, r[2]) for r in rows]

    @staticmethod
    def _where(
        subject: str, start_s: float, end_s: float, sensor: str | None, col: str
    ) -> tuple[str, list[Any]]:
        sql = f"subject = ? AND {col} >= ? AND {col} < ?"
        args: list[Any] = [subject, seconds_to_ns(start_s), seconds_to_ns(end_s)]
        if sensor is not None:
            sql += " AND sensor = ?"
            args.append(sensor)
        return sql, args

    def events(
        self, subject: str, start_s: float, end_s: float, sensor: str | None = None
    ) -> list[StoredEvent]:
        """Events of ``subject`` with onset in [start_s, end_s) (s since the epoch)."""
        where, args = self._where(subject, start_s, end_s, sensor, "time_ns")
        rows = self._read(
            "SELECT subject, sensor, side, time_ns, duration_s, peak_jerk_g_per_s, peak_acc_g, "
            f"kind, series, confidence, clipped, bilateral FROM events WHERE {where} "
            "ORDER BY time_ns, sensor",
            args,
        )
        return [
            StoredEvent(
                subject=r[0],
                sensor=r[1],
                side=r[2],
                event=JerkEvent(
                    onset=r[3] * _NS,
                    duration=r[4],
                    peak_jerk_g_per_s=r[5],
                    peak_acc_g=r[6],
                    kind=r[7],
                    series=r[8] or None,
                    confidence=r[9],
                    clipped=bool(r[10]),
                ),
                bilateral=bool(r[11]),
            )
            for r in rows
        ]

    def minute_counts(
        self, subject: str, start_s: float, end_s: float, sensor: str | None = None
    ) -> list[StoredCount]:
        """Minute counts of ``subject`` whose minute starts in [start_s, end_s)."""
        where, args = self._where(subject, start_s, end_s, sensor, "start_ns")
        rows = self._read(
            "SELECT subject, sensor, side, start_ns, count, hypnic, myoclonic, covered_s "
            f"FROM counts WHERE {where} ORDER BY start_ns, sensor",
            args,
        )
        return [
            StoredCount(r[0], r[1], r[2], MinuteCount(r[3] * _NS, r[4], r[5], r[6], r[7]))
            for r in rows
        ]

    def statuses(
        self, subject: str, start_s: float, end_s: float, sensor: str | None = None
    ) -> list[StoredStatus]:
        """Status reports of ``subject`` in [start_s, end_s)."""
        where, args = self._where(subject, start_s, end_s, sensor, "time_ns")
        rows = self._read(
            "SELECT subject, sensor, side, time_ns, state, connected, gap_s, battery_pct, "
            f"rate_hz, detail FROM status WHERE {where} ORDER BY time_ns, sensor",
            args,
        )
        return [
            StoredStatus(
                r[0],
                r[1],
                r[2],
                SensorStatus(r[3] * _NS, r[4], bool(r[5]), r[6], r[7], r[8], r[9]),
            )
            for r in rows
        ]

    def gaps(
        self, subject: str, start_s: float, end_s: float, sensor: str | None = None
    ) -> list[Gap]:
        """Signal gaps (status reports carrying ``gap_s``) starting in [start_s, end_s)."""
        return [
            Gap(s.subject, s.sensor, s.side, s.status.time_s, float(s.status.gap_s))
            for s in self.statuses(subject, start_s, end_s, sensor)
            if s.status.gap_s is not None
        ]

    def nights(self, subject: str, start_s: float = 0.0, end_s: float = 4e9) -> list[Night]:
        """Nights of ``subject`` that start in [start_s, end_s) (s since the epoch), oldest
        first."""
        rows = self._read(
            f"SELECT {_NIGHT_COLUMNS} FROM nights "
            "WHERE subject = ? AND start_ns >= ? AND start_ns < ? ORDER BY start_ns",
            [subject, seconds_to_ns(start_s), seconds_to_ns(end_s)],
        )
        return [
            Night(
                r[0],
                r[1] * _NS,
                r[2] * _NS,
                opt_s(r[3]),
                opt_s(r[4]),
                r[5],
                sleep_s=r[6],
                sleep_periods=periods_from_json(r[7]),
                jerks=r[8],
                jerks_in_sleep=r[9],
                hypnic=r[10],
                series=r[11],
                detector_version=r[12],
                detector_config=r[13],
            )
            for r in rows
        ]

    def subjects(self) -> list[str]:
        rows = self._read(
            "SELECT subject FROM events UNION SELECT subject FROM counts "
            "UNION SELECT subject FROM status UNION SELECT subject FROM nights",
            [],
        )
        return sorted(r[0] for r in rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()
