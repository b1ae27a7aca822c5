"""The storage facade the pipeline writes to: spool → (forwarder → InfluxDB) + local store.

::

    with Storage(data_dir, load_influx_config()) as storage:
        storage.add_imu("s01", "h10-left", "left", t_s, acc_g)      # raw stream (+ activity)
        storage.add_events("s01", "h10-left", "left", events, bilateral)
        storage.add_counts("s01", "h10-left", "left", minute_counts)
        storage.add_status("s01", "h10-left", "left", SensorStatus(t, "gap", gap_s=3.2))
        print(storage.status())

Every ``add_*`` call appends to the durable spool before it returns (see
:mod:`storage.spool` for the fsync policy) and, for events, counts, status and
nights, also writes the local SQLite store (:mod:`storage.local`), so reports work
without a server.  With an :class:`InfluxConfig`, two forwarder threads ship the ``events``
stream (events, counts, status, activity, other small measurements) and the ``raw`` stream
(``imu``) independently.  All methods are thread-safe.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from detector.episodes import EpisodeEvent
from detector.errors import DiskFullError, InputError, StorageError
from detector.events import JerkEvent, MinuteCount

from .config import InfluxConfig, StorageOptions
from .forwarder import Forwarder, ForwarderStats, deliver, split_expired
from .influx import InfluxLink, Stream
from .lineproto import Point, seconds_to_ns
from .local import Annotation, LocalStore, Night
from .quarantine import Quarantine
from .schema import (
    ANNOTATION,
    ActivityAggregator,
    ActivityEpoch,
    SensorStatus,
    activity_lines,
    count_line,
    episode_line,
    event_line,
    imu_line_series,
    imu_payload,
    night_point,
    status_line,
    withdrawn_line,
)
from .spool import GivenUp, SpoolStream

__all__ = ["QuarantineReport", "Storage", "StorageStatus", "StreamStatus"]

log = logging.getLogger(__name__)

_STREAMS: tuple[Stream, ...] = ("events", "raw")


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """One spool stream: backlog (bytes incl. framing, lines) and its forwarder's counters."""

    name: str
    backlog_bytes: int
    backlog_lines: int
    forwarder: ForwarderStats | None


@dataclass(frozen=True, slots=True)
class StorageStatus:
    """What :meth:`Storage.status` reports.

    ``influx_state``: ``not_configured``, ``connecting`` (nothing sent yet), ``ok``,
    ``retrying`` (server unreachable/overloaded, data waits in the spool), ``refusing``
    (credentials or database refused: batches go to quarantine), ``stuck`` (a request far
    past its deadline), ``forwarder dead (restarting)``, ``stopped``.
    """

    influx_state: str
    influx_version: str | None
    influx_api: str | None
    streams: dict[str, StreamStatus]
    quarantined_batches: int
    quarantined_lines: int
    corrupt_files: int
    disk_bytes: int
    disk_cap_bytes: int
    over_disk_cap: bool
    last_error: str | None
    free_bytes: int | None = None
    space_state: str = "ok"  # ok, low (warning), short (raw samples are being given up)
    raw_given_up_samples: int = 0

    @property
    def backlog_lines(self) -> int:
        return sum(s.backlog_lines for s in self.streams.values())

    @property
    def backlog_bytes(self) -> int:
        return sum(s.backlog_bytes for s in self.streams.values())

    def summary(self) -> str:
        """One line for a status display."""
        text = (
            f"influx {self.influx_state}; backlog {self.backlog_lines} lines "
            f"({self.backlog_bytes / 1e6:.1f} MB); quarantined {self.quarantined_lines} lines "
            f"in {self.quarantined_batches} batches"
        )
        if self.over_disk_cap:
            text += f"; OVER DISK CAP ({self.disk_bytes / 2**30:.2f} GiB)"
        if self.space_state != "ok" and self.free_bytes is not None:
            text += f"; DISK LOW: {self.free_bytes / 1e6:.0f} MB free"
        if self.raw_given_up_samples:
            text += f", {self.raw_given_up_samples:,} raw samples given up"
        if self.last_error:
            text += f"; last error: {self.last_error}"
        return text


@dataclass(frozen=True, slots=True)
class QuarantineReport:
    """Result of :meth:`Storage.retry_quarantine`."""

    resent_lines: int
    resent_batches: int
    still_refused_lines: int
    still_refused_batches: int
    messages: tuple[str, ...]
    salvaged_lines: int = 0  # intact records recovered from damaged spool bytes (.bin)


class Storage:
    """Durable storage for one data directory.

    Args:
        data_dir: directory for ``spool/``, ``quarantine/`` and ``events.sqlite3``.
        influx: where to forward, or None for spool + local store only.
        options: tuning (defaults: 2 GiB disk cap, 10 000-line batches, ...).
        start_forwarder: start the forwarder threads (False for one-shot use, e.g.
            ``jerkmon flush``, which calls :meth:`drain`).
        local_store: open the SQLite store (False: the spool alone, e.g. ``jerkmon
            flush``, which needs nothing else and so also works when the store is damaged).
    """

    def __init__(
        self,
        data_dir: Path | str,
        influx: InfluxConfig | None = None,
        options: StorageOptions | None = None,
        *,
        start_forwarder: bool = True,
        local_store: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.influx = influx
        self.options = options or StorageOptions()
        try:
            fresh = not self.data_dir.exists()
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            if fresh or (self.data_dir / "spool").is_dir():
                # ours (new, or a jerkmon data directory): health data, owner only
                os.chmod(self.data_dir, 0o700)
            if not os.access(self.data_dir, os.W_OK | os.X_OK):
                raise PermissionError(13, "Permission denied")
        except OSError as exc:
            raise StorageError(
                f"data directory {self.data_dir}: cannot write there ({exc.strerror or exc}); "
                "choose another with --data-dir or $JERKMON_DATA_DIR"
            ) from None
        self.quarantine = Quarantine(self.data_dir / "quarantine")
        spool_opts = {"events": self.options.events_spool, "raw": self.options.raw_spool}
        self.spools: dict[Stream, SpoolStream] = {}
        try:
            for name in _STREAMS:
                self.spools[name] = SpoolStream(
                    self.data_dir / "spool" / name,
                    name,
                    spool_opts[name],
                    quarantine_dir=self.quarantine.directory,
                )
            self._store = LocalStore(self.data_dir / "events.sqlite3") if local_store else None
        except BaseException:
            for spool in self.spools.values():
                spool.close()
            raise
        self.link = InfluxLink(influx) if influx is not None else None
        self.forwarders: dict[Stream, Forwarder] = {}
        if self.link is not None:
            for name in _STREAMS:
                self.forwarders[name] = Forwarder(
                    self.spools[name], name, self.link, self.quarantine, self.options
                )
        self._activity: dict[tuple[str, str, str], ActivityAggregator] = {}
        self._activity_lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self._last_cap_warning = 0.0
        # Free disk space (see check_space): who gets the status points, raw samples not
        # stored while space is short, the give-up lock (re-entered from a retry).
        self.space_state = "ok"
        self.free_bytes: int | None = None
        self.raw_given_up_samples = 0
        self._space_lock = threading.RLock()
        self._last_space_warning = 0.0
        self._series: dict[tuple[str, str], tuple[str, float]] = {}
        self._raw_refused: dict[tuple[str, str, str], list[float]] = {}
        self._raw_since_check = 0
        self.check_space()
        self._background = threading.Thread(
            target=self._housekeeping, name="jerkmon-spool-sync", daemon=True
        )
        self._background.start()
        if start_forwarder:
            self.start_forwarders()

    @property
    def store(self) -> LocalStore:
        """The local SQLite store (StorageError when opened without it)."""
        if self._store is None:
            raise StorageError(f"{self.data_dir}: opened without its local store (spool only)")
        return self._store

    def start_forwarders(self) -> None:
        """Start the forwarder threads (when not started by the constructor, e.g. after
        :meth:`check_influx_target`); starting twice does nothing."""
        for fwd in self.forwarders.values():
            fwd.start()

    # ------------------------------------------------------------------ writing
    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("storage is closed")

    def add_events(
        self,
        subject: str,
        sensor: str,
        side: str,
        events: Sequence[JerkEvent],
        bilateral: Sequence[bool] | None = None,
    ) -> int:
        """Store jerk events (``jerk_event``); ``bilateral[i]`` flags events[i] (default
        False).  Returns the number stored."""
        self._check_open()
        flags = [False] * len(events) if bilateral is None else list(bilateral)
        if len(flags) != len(events):
            raise InputError(f"{len(events)} events but {len(flags)} bilateral flags")
        lines = [
            event_line(subject, sensor, side, e, b) for e, b in zip(events, flags, strict=True)
        ]
        self._keep(lambda: self.spools["events"].append_lines(lines))
        self._keep(lambda: self.store.add_events(subject, sensor, side, events, flags))
        return len(lines)

    def add_provisional(
        self, subject: str, sensor: str, side: str, events: Sequence[JerkEvent]
    ) -> int:
        """Publish jerks whose kind is not final yet (``jerk_event`` with
        ``provisional=true``) for the live view; :meth:`add_events` later replaces each
        point.  Spool only: the local store (reports, resume) holds final events alone.
        Returns the number published."""
        self._check_open()
        lines = [event_line(subject, sensor, side, e, False, provisional=True) for e in events]
        self.spools["events"].append_lines(lines)
        return len(lines)

    def add_withdrawn(
        self, subject: str, sensor: str, side: str, events: Sequence[JerkEvent]
    ) -> int:
        """Withdraw provisional points (:meth:`add_provisional`) of candidates that turned
        out not to be jerks: each is overwritten with ``kind="withdrawn"``, which the
        dashboards and readers leave out.  Spool only, like the provisional points."""
        self._check_open()
        lines = [withdrawn_line(subject, sensor, side, e) for e in events]
        self.spools["events"].append_lines(lines)
        return len(lines)

    def add_counts(
        self, subject: str, sensor: str, side: str, counts: Sequence[MinuteCount]
    ) -> int:
        """Store minute counts (``jerk_count``); returns the number stored."""
        self._check_open()
        lines = [count_line(subject, sensor, side, c) for c in counts]
        self._keep(lambda: self.spools["events"].append_lines(lines))
        self._keep(lambda: self.store.add_counts(subject, sensor, side, counts))
        return len(lines)

    def add_episodes(
        self, subject: str, sensor: str, side: str, episodes: Sequence[EpisodeEvent]
    ) -> int:
        """Store convulsive episodes (``jerk_episode``); returns the number stored."""
        self._check_open()
        lines = [episode_line(subject, sensor, side, e) for e in episodes]
        self._keep(lambda: self.spools["events"].append_lines(lines))
        self._keep(lambda: self.store.add_episodes(subject, sensor, side, episodes))
        return len(lines)

    def add_status(self, subject: str, sensor: str, side: str, status: SensorStatus) -> None:
        """Store one sensor status report (``sensor_status``)."""
        self._check_open()
        self._seen(subject, sensor, side, status.time_s)
        line = status_line(subject, sensor, side, status)
        self._keep(lambda: self.spools["events"].append_lines([line]))
        self._keep(lambda: self.store.add_status(subject, sensor, side, status))

    def add_imu(
        self,
        subject: str,
        sensor: str,
        side: str,
        t_s: npt.ArrayLike,
        acc_g: npt.ArrayLike,
        keep_raw: bool = True,
    ) -> int:
        """Feed the ``activity`` summary with samples (t_s (n,) s since the epoch, acc_g
        (n, 3) in g) and, with ``keep_raw`` and the ``spool_raw`` option, store them raw
        (``imu``).  Returns the number of samples stored raw (non-finite rows are
        skipped)."""
        self._check_open()
        if self.options.activity_epoch_s > 0:
            key = (subject, sensor, side)
            with self._activity_lock:
                agg = self._activity.get(key)
                if agg is None:
                    agg = self._activity[key] = ActivityAggregator(self.options.activity_epoch_s)
                epochs = agg.add(t_s, acc_g)
            if epochs:
                self.add_activity(subject, sensor, side, epochs)
        if not (keep_raw and self.options.spool_raw):
            return 0
        t = np.asarray(t_s, dtype=np.float64)
        acc = np.asarray(acc_g, dtype=np.float64)
        if t.size:
            self._seen(subject, sensor, side, float(t[-1]))
        step = self.options.raw_spool.max_record_lines
        stored = 0
        for i in range(0, max(len(t), 1), step):
            payload, n = imu_payload(subject, sensor, side, t[i : i + step], acc[i : i + step])
            if not n:
                continue
            if self.space_state == "short":
                self._refuse_raw((subject, sensor, side), t[i : i + step], n)
                continue
            try:
                self.spools["raw"].append(payload, n)
            except DiskFullError:
                self._refuse_raw((subject, sensor, side), t[i : i + step], n)
                self.check_space()
                continue
            stored += n
            self._raw_since_check += len(payload)
            if self._raw_since_check >= self._CHECK_EVERY_BYTES:
                self.check_space()
        return stored

    def finish_sensor(self, subject: str, sensor: str, side: str) -> None:
        """Write the last partial activity epoch of a sensor (end of night / disconnect)."""
        self._check_open()
        self._finish_activity(subject, sensor, side)
        with self._space_lock:
            self._record_refused_raw()

    def _finish_activity(self, subject: str, sensor: str, side: str) -> None:
        with self._activity_lock:
            agg = self._activity.pop((subject, sensor, side), None)
        epochs = agg.finish() if agg is not None else []
        if epochs:
            lines = activity_lines(subject, sensor, side, epochs)
            self._keep(lambda: self.spools["events"].append_lines(lines))

    def add_activity(
        self, subject: str, sensor: str, side: str, epochs: Sequence[ActivityEpoch]
    ) -> int:
        """Store activity epochs (``activity``, default retention)."""
        self._check_open()
        lines = activity_lines(subject, sensor, side, epochs)
        self._keep(lambda: self.spools["events"].append_lines(lines))
        return len(lines)

    def add_night(self, night: Night) -> None:
        """Record a night in the local store and as a ``night`` point in InfluxDB (sleep onset,
        hours of sleep, counts, detector version: what reports read from a server)."""
        self._check_open()
        line = night_point(night).to_line()
        self._keep(lambda: self.spools["events"].append_lines([line]))
        self._keep(lambda: self.store.add_night(night))

    def check_influx_target(self, raw: bool | None = None) -> None:
        """Raise StorageError when InfluxDB answers that the database, retention policy or
        bucket the writes go to does not exist (nothing is sent: the data stays in the
        spool).  An unreachable server is not an error here: the spool waits for it.
        ``raw``: check the raw target too (default: when raw points are kept)."""
        if self.link is None or self.influx is None:
            return
        from detector.errors import InfluxRejectedError, InfluxUnavailableError

        try:
            missing = self.link.missing(self.options.spool_raw if raw is None else raw)
        except InfluxUnavailableError as exc:
            log.warning("cannot check the InfluxDB target now (%s); the spool keeps the data", exc)
            return
        except InfluxRejectedError as exc:
            # e.g. 401: the writes will be refused with the same words and quarantined.
            log.warning("InfluxDB refused to list its databases/buckets: %s", exc.server_message)
            return
        if missing:
            raise StorageError(
                f"InfluxDB at {self.influx.url} has no {' and no '.join(missing)}: nothing is "
                f"sent, the data stays in the spool ({self.data_dir / 'spool'}). Check "
                "--db/--bucket, or create it once with `jerkmon init` (or `jerkmon run "
                "--create-db`)"
            )

    def delete_span(
        self, subject: str, sensors: Sequence[str], start_s: float, end_s: float
    ) -> int:
        """Delete what ``sensors`` of ``subject`` stored over [start_s, end_s): local rows
        (:meth:`LocalStore.delete_span`) and, on InfluxDB 1.x (v1 API), the points of every
        measurement tagged with these sensors and the ``night`` points of the sessions
        deleted locally.  Returns the number of local rows deleted.  InfluxDB that cannot be
        reached is logged and left as it is (re-sent points of the same times replace it)."""
        self._check_open()
        gone = [
            n.start_s
            for n in self.store.nights(subject, start_s - 86400.0, end_s)
            if n.end_s >= start_s and set(n.sensors) <= set(sensors)
        ]
        deleted = self.store.delete_span(subject, sensors, start_s, end_s)
        if self.link is not None:
            self._delete_influx(subject, sensors, start_s, end_s, gone)
        return deleted

    def _delete_influx(
        self,
        subject: str,
        sensors: Sequence[str],
        start_s: float,
        end_s: float,
        night_starts: Sequence[float],
    ) -> None:
        from .influx import V1Writer

        assert self.link is not None
        a, b = seconds_to_ns(start_s), seconds_to_ns(end_s)

        def quote_string(v: str) -> str:
            return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"

        who = f'"subject" = {quote_string(subject)}'
        statements = [
            f'DELETE WHERE {who} AND "sensor" = {quote_string(s)} AND time >= {a} AND time < {b}'
            for s in sensors
        ]
        statements += [
            f'DELETE FROM "night" WHERE {who} AND time = {seconds_to_ns(t)}' for t in night_starts
        ]
        try:
            writer = self.link.new_writer()
        except StorageError as exc:
            log.warning("cannot delete the replaced data in InfluxDB: %s", exc)
            return
        try:
            if not isinstance(writer, V1Writer):
                log.warning(
                    "replaced data is deleted from the local store only: delete it in the "
                    "v2 bucket with `influx delete` (subject %s, sensors %s)",
                    subject,
                    ", ".join(sensors),
                )
                return
            for q in statements:
                writer.query(q, db=writer.db)
        except StorageError as exc:
            log.warning("cannot delete the replaced data in InfluxDB: %s", exc)
        finally:
            writer.close()

    def add_annotation(self, annotation: Annotation) -> None:
        """Store a timeline note (``annotation``: tag ``subject``, string field ``text``),
        e.g. a dose change, in InfluxDB (Grafana annotations) and the local store."""
        self._check_open()
        point = Point(
            ANNOTATION,
            {"subject": annotation.subject},
            {"text": annotation.text},
            seconds_to_ns(annotation.time_s),
        )
        self.spools["events"].append_lines([point.to_line()])
        self.store.add_annotation(annotation)

    def add_points(self, points: Iterable[Point], *, raw: bool = False) -> int:
        """Store generic points (e.g. ``night``/``annotation`` measurements) in the events
        stream, or in the raw stream with ``raw=True``."""
        self._check_open()
        lines = [p.to_line() for p in points]
        self.spools["raw" if raw else "events"].append_lines(lines)
        return len(lines)

    # ------------------------------------------------------------------ control
    def flush(self, timeout_s: float, *, give_up: Callable[[], bool] | None = None) -> bool:
        """fsync the spool; with InfluxDB, wait up to ``timeout_s`` until the forwarders have
        sent (or quarantined) everything appended so far, or until ``give_up()`` returns
        True.  Returns True when nothing is left to send (always True without InfluxDB: the
        data is durable in the spool and store)."""
        for spool in self.spools.values():
            spool.sync()
        if self.link is None:
            return True
        deadline = time.monotonic() + timeout_s
        # Asked each time: a forwarder that died is being restarted, not gone.
        while any(f.wanted for f in self.forwarders.values()) and time.monotonic() < deadline:
            if all(s.is_drained() for s in self.spools.values()):
                return True
            if give_up is not None and give_up():
                break
            time.sleep(0.02)
        return all(s.is_drained() for s in self.spools.values())

    def refused(self) -> bool:
        """True while a forwarder is paused after InfluxDB refused us (credentials, missing
        database): waiting for it would only move the rest into quarantine."""
        return any(f.stats().state == "paused" for f in self.forwarders.values())

    def drain(self, timeout_s: float, *, stop_on_refusal: bool = True) -> dict[str, bool]:
        """Send both spools now from this thread (forwarder threads must not run); returns
        per stream whether it is empty.  The events stream goes first."""
        if self.link is None:
            raise StorageError("no InfluxDB configured: nothing to flush to")
        if any(f.running for f in self.forwarders.values()):
            raise StorageError("drain() needs start_forwarder=False")
        deadline = time.monotonic() + timeout_s
        result: dict[str, bool] = {}
        for name in _STREAMS:
            left = max(0.0, deadline - time.monotonic())
            result[name] = self.forwarders[name].drain(left, stop_on_refusal=stop_on_refusal)
        return result

    def retry_quarantine(self) -> QuarantineReport:
        """Re-send every quarantined batch; delete what is accepted now, keep the rest with
        the new message.  Stops early (and raises InfluxUnavailableError) if the server is
        unreachable."""
        if self.link is None:
            raise StorageError("no InfluxDB configured: cannot re-send quarantined batches")
        resent_lines = resent_batches = refused_lines = refused_batches = 0
        messages: list[str] = []
        _salvaged_records, salvaged_lines = self.quarantine.salvage()
        writer = self.link.new_writer()
        try:
            for entry in self.quarantine.entries():
                stream: Stream = "raw" if entry.stream == "raw" else "events"
                payload = entry.path.read_bytes()
                if not payload:
                    self.quarantine.remove(entry)
                    continue
                if not payload.endswith(b"\n"):
                    payload += b"\n"
                rejections, _expired = split_expired(
                    deliver(writer, payload, entry.n_lines, stream)
                )
                if rejections:
                    new = self.quarantine.replace(entry, rejections)
                    refused_lines += new.n_lines
                    refused_batches += 1
                    messages.extend(new.messages)
                    resent_lines += entry.n_lines - new.n_lines
                else:
                    self.quarantine.remove(entry)
                    resent_lines += entry.n_lines
                    resent_batches += 1
        finally:
            writer.close()
        return QuarantineReport(
            resent_lines,
            resent_batches,
            refused_lines,
            refused_batches,
            tuple(dict.fromkeys(messages)),
            salvaged_lines,
        )

    def status(self) -> StorageStatus:
        """Backlog, InfluxDB state, quarantine and disk use (cheap; safe from any thread)."""
        streams: dict[str, StreamStatus] = {
            name: StreamStatus(
                name,
                spool.pending_bytes(),
                spool.pending_lines,
                self.forwarders[name].stats() if name in self.forwarders else None,
            )
            for name, spool in self.spools.items()
        }
        q_batches, q_lines = self.quarantine.totals()
        disk = self._disk_bytes()
        last_error = None
        state = "not_configured"
        if self.forwarders:
            stats = [s.forwarder for s in streams.values() if s.forwarder is not None]
            states = {s.state for s in stats}
            errors = [s.last_error for s in stats if s.last_error]
            last_error = errors[0] if errors else None
            stuck_s = 3.0 * (self.influx.timeout_s if self.influx else 10.0) + 5.0
            if not all(s.alive for s in stats) or "dead" in states:
                state = "forwarder dead (restarting)"
            elif any(s.busy_s > stuck_s for s in stats):
                state = "stuck"
            elif "retrying" in states:
                state = "retrying"
            elif "paused" in states:
                state = "refusing"
            elif states == {"stopped"}:
                state = "stopped"
            elif any(s.last_success_s for s in stats):
                state = "ok"
            else:
                state = "connecting"
        server = self.link.server if self.link is not None else None
        return StorageStatus(
            influx_state=state,
            influx_version=server.version if server is not None else None,
            influx_api=self.link.api if self.link is not None else None,
            streams=streams,
            quarantined_batches=q_batches,
            quarantined_lines=q_lines,
            corrupt_files=len(self.quarantine.corrupt_files()),
            disk_bytes=disk,
            disk_cap_bytes=self.options.disk_cap_bytes,
            over_disk_cap=disk > self.options.disk_cap_bytes,
            last_error=last_error,
            free_bytes=self.free_bytes,
            space_state=self.space_state,
            raw_given_up_samples=self.raw_given_up_samples,
        )

    def _disk_bytes(self) -> int:
        return sum(s.disk_bytes() for s in self.spools.values()) + self.quarantine.disk_bytes()

    def _housekeeping(self) -> None:
        """fsync the raw stream on its interval; warn loudly above the disk cap."""
        next_cap_check = 0.0
        while not self._stop.wait(0.1):
            for spool in self.spools.values():
                if spool.options.fsync_interval_s > 0:
                    try:
                        spool.sync_if_due()
                    except (OSError, StorageError):
                        log.exception("spool %s: fsync failed", spool.name)
            now = time.monotonic()
            if now >= next_cap_check:
                next_cap_check = now + 1.0
                self.check_disk_cap()
                if not self._closed:
                    try:
                        self.check_space()
                    except StorageError:
                        log.exception("checking free disk space failed")
            if not self._closed:
                for fwd in self.forwarders.values():
                    fwd.restart_if_dead()

    # ------------------------------------------------------------------ disk space
    _CHECK_EVERY_BYTES = 1024 * 1024  # raw bytes appended between free-space checks

    def _seen(self, subject: str, sensor: str, side: str, t_s: float) -> None:
        # The sensors that get a disk_low point, stamped with their latest sample time
        # (a simulated night's clock, not the wall clock).
        last = self._series.get((subject, sensor))
        if last is None or t_s > last[1]:
            self._series[(subject, sensor)] = (side, t_s)

    def _keep(self, write: Callable[[], None]) -> None:
        """Write data that must be kept (events, counts, status); on a full disk give up
        raw data first and try once more."""
        try:
            write()
        except DiskFullError:
            with self._space_lock:
                if not self._give_up_raw(need_free=self.options.free_reserve_bytes):
                    raise
            write()

    def _free(self) -> int:
        return shutil.disk_usage(self.data_dir).free

    def check_space(self) -> str:
        """Check the free space on the data directory's disk: warn below
        ``free_warn_bytes`` (log, status line, a ``disk_low`` point per sensor); below
        ``free_reserve_bytes`` give up the oldest unsent raw data, and store no raw
        samples until space is back.  Returns the state: ``ok``, ``low`` or ``short``."""
        with self._space_lock:
            try:
                free = self._free()
            except OSError as exc:
                log.warning("cannot tell the free space on %s: %s", self.data_dir, exc)
                return self.space_state
            self._raw_since_check = 0
            reserve, warn = self.options.free_reserve_bytes, self.options.free_warn_bytes
            # Other threads (SQLite, the events spool) write meanwhile: give up until the
            # reserve is free as measured after the last deletion, or nothing is left.
            while free < reserve and self._give_up_raw(need_free=reserve):
                free = self._free()
            state = "short" if free < reserve else "low" if free < warn else "ok"
            before, self.space_state, self.free_bytes = self.space_state, state, free
            if state != "short":
                self._record_refused_raw()
            now = time.monotonic()
            due = now - self._last_space_warning >= self.options.warn_interval_s
            if state != "ok" and (state != before or due):
                self._last_space_warning = now
                self._warn_space(state, free)
            elif state == "ok" and before != "ok":
                log.warning("free disk space on %s is back (%.0f MB)", self.data_dir, free / 1e6)
            return state

    def _warn_space(self, state: str, free: int) -> None:
        reserve_mb = self.options.free_reserve_bytes / 1e6
        if state == "short":
            what = (
                f"raw samples are given up (below {reserve_mb:.0f} MB) to keep events, "
                "minute counts and status"
            )
        else:
            what = f"below {reserve_mb:.0f} MB raw samples will be given up"
        text = f"free disk space {free / 1e6:.0f} MB on {self.data_dir}: {what}; free space"
        log.warning("%s", text)
        for (subject, sensor), (side, t_s) in list(self._series.items()):
            self.add_status(subject, sensor, side, SensorStatus(t_s, "disk_low", detail=text))

    def _give_up_raw(self, need_free: int) -> bool:
        """Delete the oldest unsent raw segments until ``need_free`` bytes are free;
        record what each sensor lost as a ``raw_gap``.  True if anything was given up."""
        given: list[GivenUp] = []
        while self._free() < need_free:
            g = self.spools["raw"].give_up_oldest()
            if g is None:
                break
            given.append(g)
        if not given:
            return False
        spans: dict[tuple[str, str, str], list[float]] = {}
        for g in given:
            for first, last, n in g.record_ends:
                a, b = imu_line_series(first), imu_line_series(last)
                if a is None or b is None:
                    continue
                span = spans.setdefault(a[:3], [math.inf, -math.inf, 0])
                span[0] = min(span[0], a[3] / 1e9)
                span[1] = max(span[1], b[3] / 1e9)
                span[2] += float(n)
        lines = sum(g.lines for g in given)
        loud = not self.raw_given_up_samples
        self.raw_given_up_samples += lines
        # the first time loudly; after that every segment would repeat it
        log.log(
            logging.ERROR if loud else logging.INFO,
            "disk space short on %s: gave up %d raw samples not yet sent (%.1f MB, %s) to "
            "keep events, minute counts and status",
            self.data_dir,
            lines,
            sum(g.size for g in given) / 1e6,
            ", ".join(g.segment for g in given),
        )
        for key, (t0, t1, count) in spans.items():
            self._raw_gap(key, t0, t1, int(count), "not yet sent, deleted")
        return True

    def _refuse_raw(self, key: tuple[str, str, str], t: npt.NDArray[Any], n: int) -> None:
        span = self._raw_refused.setdefault(key, [math.inf, -math.inf, 0])
        fin = t[np.isfinite(t)]
        span[0] = min(span[0], float(fin[0]))
        span[1] = max(span[1], float(fin[-1]))
        span[2] += float(n)
        self.raw_given_up_samples += n

    def _record_refused_raw(self) -> None:
        refused, self._raw_refused = self._raw_refused, {}
        for key, (t0, t1, n) in refused.items():
            self._raw_gap(key, t0, t1, int(n), "not stored")

    def _raw_gap(self, key: tuple[str, str, str], t0: float, t1: float, n: int, how: str) -> None:
        subject, sensor, side = key
        detail = f"raw samples given up (disk space short): {n} samples over {t1 - t0:.1f} s {how}"
        self.add_status(subject, sensor, side, SensorStatus(t0, "raw_gap", detail=detail))

    def check_disk_cap(self) -> bool:
        """Log an error (rate-limited) if spool + quarantine exceed the cap; True if over."""
        try:
            disk = self._disk_bytes()
        except OSError:
            return False
        if disk <= self.options.disk_cap_bytes:
            return False
        now = time.monotonic()
        due = now - self._last_cap_warning >= self.options.warn_interval_s
        if due or not self._last_cap_warning:
            self._last_cap_warning = now
            log.error(
                "jerkmon spool in %s holds %.2f GiB, over the %.2f GiB cap: InfluxDB is not "
                "taking data (%s). Nothing is deleted; free disk space or fix the server.",
                self.data_dir,
                disk / 2**30,
                self.options.disk_cap_bytes / 2**30,
                self.status_error_hint(),
            )
        return True

    def status_error_hint(self) -> str:
        errors = [f.stats().last_error for f in self.forwarders.values()]
        return next((e for e in errors if e), "no InfluxDB configured" if not self.link else "?")

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the forwarders (unsent data stays in the spool), fsync, release files."""
        if self._closed:
            return
        for key in list(self._activity):
            self._finish_activity(*key)
        with self._space_lock:
            self._record_refused_raw()
        self._closed = True
        for fwd in self.forwarders.values():
            fwd.stop(timeout_s)
        self._stop.set()
        self._background.join(timeout_s)
        for spool in self.spools.values():
            spool.close()
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
