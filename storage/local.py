"""The local event store: SQLite in the data directory (stdlib ``sqlite3``).

Holds what summaries and reports need without any server: jerk events, minute counts,
sensor status (gaps, disconnections, battery), nights (one row per recording session; see
:mod:`storage.nights` for how sessions make up a night) and runs.  Events and minute counts
are keyed (subject, sensor, time), status adds the state, nights (subject, start), runs
(subject, sensor, start); writes are ``INSERT OR REPLACE``, so writing the same record twice
leaves one row (idempotent, like InfluxDB's series + timestamp).  ``runs`` records which run
(its :attr:`Run.key`: what produced the data) wrote a sensor's data over which span, so that
a second, different run over the same span is recognised as a conflict
(:meth:`LocalStore.conflicts`) rather than silently added, and :meth:`LocalStore.delete_span`
replaces it when asked.  Times are stored as integer ns since the Unix epoch and returned as
float s.  WAL journal, ``synchronous=FULL``.  Stores of older versions are migrated on open
(missing columns and tables added; ``PRAGMA user_version`` is the schema version).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.episodes import EpisodeEvent
from detector.errors import DiskFullError, StorageError, StoreDamagedError
from detector.events import JerkEvent, MinuteCount

from .lineproto import seconds_to_ns
from .schema import (
    Night,
    SensorStatus,
    opt_ns,
    opt_s,
    periods_from_json,
    periods_json,
    sensors_from_json,
    sensors_json,
)

__all__ = [
    "Annotation",
    "Gap",
    "LocalStore",
    "Night",
    "Run",
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
    ("sensors", "TEXT"),
    ("negative", "INTEGER"),
)
#: Schema version (``PRAGMA user_version``): 2 adds ``nights.sensors`` and ``runs``.
SCHEMA_VERSION = 2
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
CREATE TABLE IF NOT EXISTS episodes (
    subject TEXT NOT NULL, sensor TEXT NOT NULL, start_ns INTEGER NOT NULL,
    side TEXT NOT NULL, duration_s REAL NOT NULL, dominant_hz REAL NOT NULL,
    peak_g REAL NOT NULL, bilateral INTEGER NOT NULL,
    PRIMARY KEY (subject, sensor, start_ns)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nights (
    {_NIGHT_COLUMN_DEFS},
    PRIMARY KEY (subject, start_ns)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    subject TEXT NOT NULL, sensor TEXT NOT NULL, start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL, key TEXT NOT NULL,
    PRIMARY KEY (subject, sensor, start_ns)) WITHOUT ROWID;
"""

_NS = 1e-9
#: Columns added to other tables after the first release: (table, name, SQL type).
_EXTRA_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("counts", "worn_s", "REAL"),
    ("events", "state", "TEXT"),
    ("counts", "negative", "INTEGER"),
)


def store_error(path: Path, exc: sqlite3.Error) -> StorageError:
    """A clear error for what SQLite said about the store at ``path``: a full disk, a
    damaged file (with how to recover), or anything else, naming the file."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name == "SQLITE_FULL" or "database or disk is full" in text:
        return DiskFullError(
            f"local event store {path}: the disk is full ({text}); free space on "
            f"{path.parent} (what was stored before is intact; the spool keeps the rest)"
        )
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or (
        "malformed" in text or "not a database" in text
    ):
        return StoreDamagedError(
            f"local event store {path} is damaged ({text}). To recover: move it aside "
            f"(mv {path} {path}.damaged); `jerkmon flush` sends the spool without it, the "
            "next `jerkmon run` starts a new store (without --resume: the damaged one cannot "
            "tell where the night stopped), and `sqlite3 FILE .recover` may rescue its rows"
        )
    if name.startswith("SQLITE_IOERR"):
        return StorageError(f"local event store {path}: disk I/O error ({text}): is it full?")
    return StorageError(f"local event store {path}: {text}")


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


@dataclass(frozen=True, slots=True)
class Run:
    """One run's claim on a sensor's data: [start_s, end_s) s since the epoch, and ``key``,
    what produced it (for a simulated night: seed, rate, length, detector; for real
    sensors: a unique id per recording).  Two runs with the same key over the same span
    write the same data."""

    subject: str
    sensor: str
    start_s: float
    end_s: float
    key: str


class LocalStore:
    """SQLite event store at ``path`` (thread-safe; one connection behind a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"local event store {self.path}: {exc.strerror or exc}") from None
        try:
            # Owner only (health data); SQLite gives its -wal/-shm files the same mode.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(self.path, 0o600)
        except OSError as exc:
            raise StorageError(f"local event store {self.path}: {exc.strerror or exc}") from None
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(nights)")}
            for name, sql_type in _NIGHT_EXTRA_COLUMNS:
                if name not in have:
                    self._db.execute(f"ALTER TABLE nights ADD COLUMN {name} {sql_type}")
            # Added later, NULL (unknown) for what was stored before.
            for table, name, sql_type in _EXTRA_COLUMNS:
                have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                if name not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}")
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            # The file may be damaged beyond the pages opening reads: check it all.
            (verdict,) = self._db.execute("PRAGMA quick_check(1)").fetchone()
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed: {verdict}")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error, AttributeError):
                self._db.close()
            raise store_error(self.path, exc) from exc
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
                self._rollback()
                raise store_error(self.path, exc) from exc

    def _rollback(self) -> None:
        # SQLite may have rolled back already (a full disk does): then ROLLBACK itself
        # fails with "cannot rollback - no transaction is active".
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _read(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._db.execute(sql, args))
            except sqlite3.Error as exc:
                raise store_error(self.path, exc) from exc

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
                None if e.state == "unknown" else e.state,
            )
            for e, b in zip(events, bilateral, strict=True)
        ]
        self._write(
            "INSERT OR REPLACE INTO events (subject, sensor, time_ns, side, kind, duration_s, "
            "peak_jerk_g_per_s, peak_acc_g, series, confidence, bilateral, clipped, state) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )

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
                c.worn_s,
                c.negative,
            )
            for c in counts
        ]
        self._write(
            "INSERT OR REPLACE INTO counts (subject, sensor, start_ns, side, count, hypnic, "
            "myoclonic, covered_s, worn_s, negative) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )

    def add_episodes(
        self, subject: str, sensor: str, side: str, episodes: Sequence[EpisodeEvent]
    ) -> None:
        """Store convulsive episodes (idempotent: keyed by subject, sensor and start)."""
        rows = [
            (
                subject,
                sensor,
                seconds_to_ns(e.start),
                side,
                e.duration_s,
                e.dominant_hz,
                e.peak_g,
                int(e.bilateral),
            )
            for e in episodes
        ]
        self._write("INSERT OR REPLACE INTO episodes VALUES (?,?,?,?,?,?,?,?)", rows)

    def episodes(
        self, subject: str, start_s: float, end_s: float, sensor: str | None = None
    ) -> list[tuple[str, str, EpisodeEvent]]:
        """(sensor, side, episode) of ``subject`` starting in [start_s, end_s)."""
        where, args = self._where(subject, start_s, end_s, sensor, "start_ns")
        rows = self._read(
            "SELECT sensor, side, start_ns, duration_s, dominant_hz, peak_g, bilateral "
            f"FROM episodes WHERE {where} ORDER BY start_ns, sensor",
            args,
        )
        return [(r[0], r[1], EpisodeEvent(r[2] * _NS, r[3], r[4], r[5], bool(r[6]))) for r in rows]

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
            sensors_json(night.sensors),
            night.negative,
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
            f"kind, series, confidence, clipped, bilateral, state FROM events WHERE {where} "
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
                    state=r[12] or "unknown",
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
            "SELECT subject, sensor, side, start_ns, count, hypnic, myoclonic, covered_s, worn_s, "
            f"negative FROM counts WHERE {where} ORDER BY start_ns, sensor",
            args,
        )
        return [
            StoredCount(
                r[0],
                r[1],
                r[2],
                MinuteCount(r[3] * _NS, r[4], r[5], r[6], r[7], r[8], negative=r[9] or 0),
            )
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
                sensors=sensors_from_json(r[14]),
                negative=r[15],
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ runs
    def add_run(self, run: Run) -> None:
        row = (
            run.subject,
            run.sensor,
            seconds_to_ns(run.start_s),
            seconds_to_ns(run.end_s),
            run.key,
        )
        self._write("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?)", [row])

    def runs(self, subject: str, sensor: str, start_s: float, end_s: float) -> list[Run]:
        """Runs of ``subject``'s ``sensor`` whose span overlaps [start_s, end_s)."""
        rows = self._read(
            "SELECT subject, sensor, start_ns, end_ns, key FROM runs WHERE subject = ? AND "
            "sensor = ? AND start_ns < ? AND end_ns > ? ORDER BY start_ns",
            [subject, sensor, seconds_to_ns(end_s), seconds_to_ns(start_s)],
        )
        return [Run(r[0], r[1], r[2] * _NS, r[3] * _NS, r[4]) for r in rows]

    def data_span(
        self, subject: str, sensor: str, start_s: float, end_s: float
    ) -> tuple[float, float] | None:
        """First and last time (s) of stored events and minute counts of ``subject``'s
        ``sensor`` in [start_s, end_s), or None when there are none."""
        a, b = seconds_to_ns(start_s), seconds_to_ns(end_s)
        rows = self._read(
            "SELECT min(t), max(t) FROM (SELECT time_ns AS t FROM events WHERE subject = ? "
            "AND sensor = ? AND time_ns >= ? AND time_ns < ? UNION ALL SELECT start_ns FROM "
            "counts WHERE subject = ? AND sensor = ? AND start_ns >= ? AND start_ns < ?)",
            [subject, sensor, a, b, subject, sensor, a, b],
        )
        lo, hi = rows[0]
        return None if lo is None else (lo * _NS, hi * _NS)

    def conflicts(self, run: Run) -> list[Run]:
        """What stands in the way of ``run``: stored runs of its sensor over its span made by
        a different key, and data of that sensor in the span no run claims (stores from
        before runs were recorded), reported as runs with key ``"?"``."""
        overlapping = self.runs(run.subject, run.sensor, run.start_s, run.end_s)
        out = [r for r in overlapping if r.key != run.key]
        if not overlapping:
            span = self.data_span(run.subject, run.sensor, run.start_s, run.end_s)
            if span is not None:
                out.append(Run(run.subject, run.sensor, span[0], span[1], "?"))
        return out

    def delete_span(
        self, subject: str, sensors: Sequence[str], start_s: float, end_s: float
    ) -> int:
        """Delete the events, minute counts, status and runs of ``subject``'s ``sensors`` in
        [start_s, end_s), and the nights (sessions) in that span that recorded only these
        sensors (or did not record which); returns the number of rows deleted."""
        a, b = seconds_to_ns(start_s), seconds_to_ns(end_s)
        deleted = 0
        chosen = set(sensors)
        with self._lock:
            try:
                self._db.execute("BEGIN")
                for sensor in sensors:
                    for table, col in (
                        ("events", "time_ns"),
                        ("counts", "start_ns"),
                        ("status", "time_ns"),
                    ):
                        cur = self._db.execute(
                            f"DELETE FROM {table} WHERE subject = ? AND sensor = ? AND "
                            f"{col} >= ? AND {col} < ?",
                            [subject, sensor, a, b],
                        )
                        deleted += cur.rowcount
                    cur = self._db.execute(
                        "DELETE FROM runs WHERE subject = ? AND sensor = ? AND start_ns < ? "
                        "AND end_ns > ?",
                        [subject, sensor, b, a],
                    )
                    deleted += cur.rowcount
                nights = list(
                    self._db.execute(
                        "SELECT start_ns, sensors FROM nights WHERE subject = ? AND "
                        "start_ns < ? AND end_ns >= ?",
                        [subject, b, a],
                    )
                )
                for start_ns, text in nights:
                    if set(sensors_from_json(text)) <= chosen:
                        cur = self._db.execute(
                            "DELETE FROM nights WHERE subject = ? AND start_ns = ?",
                            [subject, start_ns],
                        )
                        deleted += cur.rowcount
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise store_error(self.path, exc) from exc
        return deleted

    def check_integrity(self) -> None:
        """Read every page and index (``PRAGMA integrity_check``): StoreDamagedError, naming
        the file and how to recover, unless the store is intact."""
        rows = self._read("PRAGMA integrity_check(5)", [])
        problems = [str(r[0]) for r in rows if r[0] != "ok"]
        if problems:
            err = sqlite3.DatabaseError(f"database disk image is malformed: {'; '.join(problems)}")
            raise store_error(self.path, err)

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
