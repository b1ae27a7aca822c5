"""An append-only, fsync'd, crash-safe spool of line protocol on local disk.

Layout of one stream directory (``<data_dir>/spool/<stream>/``)::

    seg-0000000000000001.jms   segment files, appended to in order, oldest first
    seg-0000000000000002.jms
    committed                  "<segment seq> <byte offset>": everything before it was sent
    .lock                      flock'd by the one process that owns the stream

A segment is a sequence of records.  A record is one text header line followed by its
payload, so a segment stays readable with ``less`` and its payload lines are plain line
protocol (the header starts with ``#``, a comment for InfluxDB)::

    #JM1 <payload bytes> <line count> <crc32 of payload, 8 hex digits>\\n
    <payload: line-protocol lines, each ending in \\n>

Crash safety: a record is written with one ``writev`` and counts as acknowledged once
:meth:`SpoolStream.append` returns.  On open, every segment is read through and every
record's length and CRC-32 is checked; an incomplete record at the end of the last segment
(a torn tail after a crash or SIGKILL) is cut off with ``ftruncate`` — never parsed.

Damage (a flipped byte, a bad sector) is different: the ``#JM1`` header is the frame marker,
so the reader resynchronises on the next header whose CRC matches and loses only the
damaged bytes.  Those are copied to the quarantine directory as ``<stream>-lost-*.bin`` with a
``.json`` report (segment, offset, bytes, lines and measurements when the header survived)
and overwritten in place by a *skip record* (``#JM1 <n> 0 <crc>``: zero lines of ``#``
padding), so offsets, the committed position and the records after it stay as they were.  A
segment that is not the last one and ends inside a record was truncated (not torn): what is
missing is reported lost the same way.  Segments written by earlier versions (which had no
skip records) are read unchanged.

The ``committed`` file is validated against the segments on open: garbage, an unknown
segment or an offset that is not a record boundary is reported and replaced by the oldest
segment's start (everything is re-sent; InfluxDB writes are idempotent), never used to
delete segments.

fsync policy (per stream): with ``fsync_interval_s == 0`` every ``append`` fsyncs the segment
before it returns (the events stream: an acknowledged event survives power loss).  With
``fsync_interval_s > 0`` (the raw IMU stream, 0.5 s by default) an append fsyncs only when the
last fsync is older than that, and the owner calls :meth:`SpoolStream.sync_if_due` from a timer,
so at most that much raw data can be lost on power loss.  Process death (SIGKILL, crash) loses
nothing acknowledged under either policy, since the data is in the kernel's page cache.
New segments and the ``committed`` file are made durable with fsync of the file and of the
directory (``committed`` is replaced atomically with ``rename``).

Sent data is deleted by whole segments: a segment is unlinked once the committed offset has
passed its end and a newer segment exists.  Segments roll over at ``segment_max_bytes``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.errors import ConfigError, DiskFullError, StorageError

__all__ = ["Batch", "GivenUp", "SpoolOptions", "SpoolStream"]

log = logging.getLogger(__name__)

_HEADER_RE = re.compile(rb"#JM1 (\d{1,10}) (\d{1,10}) ([0-9a-f]{8})\n")
_HEADER_MAX = 48
_SEG_RE = re.compile(r"seg-(\d{16})\.jms")


def _seg_name(seq: int) -> str:
    return f"seg-{seq:016d}.jms"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename, fsync directory)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def encode_record(payload: bytes, n_lines: int) -> bytes:
    """The header of a record holding ``payload`` (``n_lines`` newline-terminated lines)."""
    return b"#JM1 %d %d %08x\n" % (len(payload), n_lines, zlib.crc32(payload))


def _next_valid_record(data: bytes) -> int | None:
    """Offset in ``data`` (after its first byte) of the first header whose payload's
    length and CRC match: the frame marker to resynchronise on."""
    pos = data.find(b"#JM1 ", 1)
    while pos >= 0:
        nl = data.find(b"\n", pos, pos + _HEADER_MAX)
        m = _HEADER_RE.fullmatch(data[pos : nl + 1]) if nl >= 0 else None
        if m is not None:
            length = int(m.group(1))
            payload = data[nl + 1 : nl + 1 + length]
            if len(payload) == length and zlib.crc32(payload) == int(m.group(3), 16):
                return pos
        pos = data.find(b"#JM1 ", pos + 1)
    return None


def _record_at(data: bytes, pos: int) -> tuple[int, bytes, int] | None:
    """``(end offset, payload, lines)`` of an intact record at ``pos`` of ``data``."""
    nl = data.find(b"\n", pos, pos + _HEADER_MAX)
    m = _HEADER_RE.fullmatch(data[pos : nl + 1]) if nl >= 0 else None
    if m is None:
        return None
    length = int(m.group(1))
    payload = data[nl + 1 : nl + 1 + length]
    if len(payload) != length or zlib.crc32(payload) != int(m.group(3), 16):
        return None
    return nl + 1 + length, payload, int(m.group(2))


def valid_records(data: bytes) -> tuple[list[tuple[bytes, int]], list[tuple[int, int]]]:
    """Split bytes of a (damaged) segment into its intact records ``(payload, lines)``,
    skip records left out, and the damaged spans ``(offset, length)`` between them."""
    records: list[tuple[bytes, int]] = []
    damaged: list[tuple[int, int]] = []
    pos = 0
    while pos < len(data):
        rec = _record_at(data, pos)
        if rec is not None:
            end, payload, n = rec
            if n:
                records.append((payload, n))
            pos = end
            continue
        nxt = _next_valid_record(data[pos:])
        span = len(data) - pos if nxt is None else nxt
        damaged.append((pos, span))
        pos += span
    return records, damaged


def _skip_record(total: int) -> bytes | None:
    """A record of exactly ``total`` bytes holding no lines (``#`` padding), or None if
    ``total`` is too short for a header."""
    for digits in range(1, 11):
        n = total - (17 + digits)
        if n >= 0 and len(str(n)) == digits:
            payload = b"#" * (n - 1) + b"\n" if n else b""
            rec = b"#JM1 %d 0 %08x\n" % (n, zlib.crc32(payload)) + payload
            assert len(rec) == total
            return rec
    return None


def _overwrite(path: Path, off: int, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, off)
        os.fsync(fd)
    finally:
        os.close(fd)


def describe_damage(data: bytes) -> dict[str, Any]:
    """What damaged spool bytes held: ``lines`` (from the header if it is intact, else
    None), ``bytes`` and ``measurements`` (line counts by measurement name, as far as
    the damaged text can be read: indicative only)."""
    nl = data.find(b"\n", 0, _HEADER_MAX)
    m = _HEADER_RE.fullmatch(data[: nl + 1]) if nl >= 0 else None
    body = data[nl + 1 :] if m is not None else data
    measurements: dict[str, int] = {}
    for line in body.split(b"\n"):
        name = re.match(rb"([A-Za-z_][A-Za-z0-9_]{0,63}),", line)
        if name is not None:
            key = name.group(1).decode()
            measurements[key] = measurements.get(key, 0) + 1
    return {
        "lines": int(m.group(2)) if m is not None else None,
        "bytes": len(data),
        "measurements": measurements,
    }


@dataclass(frozen=True, slots=True)
class SpoolOptions:
    """Tuning of one spool stream.

    Attributes:
        segment_max_bytes: a segment rolls over once it would exceed this many bytes.
        fsync_interval_s: 0 = fsync on every append; > 0 = at most this many s between fsyncs.
        max_record_lines: appends of more lines are split into records of at most this many
            (a batch sent to InfluxDB is made of whole records).
    """

    segment_max_bytes: int = 64 * 1024 * 1024
    fsync_interval_s: float = 0.0
    max_record_lines: int = 5000

    def __post_init__(self) -> None:
        if self.segment_max_bytes < 4096:
            raise ConfigError(f"segment_max_bytes must be >= 4096, got {self.segment_max_bytes}")
        if not 0.0 <= self.fsync_interval_s <= 10.0:
            raise ConfigError(
                f"fsync_interval_s must be within 0..10 s, got {self.fsync_interval_s}"
            )
        if self.max_record_lines < 1:
            raise ConfigError(f"max_record_lines must be >= 1, got {self.max_record_lines}")


@dataclass(frozen=True, slots=True)
class Batch:
    """Consecutive whole records of one segment, ready to send.

    ``payload`` is the concatenated line protocol (newline-terminated lines, no headers);
    ``start``/``end`` are byte offsets in segment ``seq``.
    """

    stream: str
    seq: int
    start: int
    end: int
    payload: bytes
    n_lines: int


@dataclass(frozen=True, slots=True)
class GivenUp:
    """An unsent segment deleted to free disk space: its name, the bytes and lines it held
    (``size``) and, per record, its first and last line and its line count (what was lost, for the
    owner to record as a gap)."""

    segment: str
    size: int
    lines: int
    record_ends: tuple[tuple[bytes, bytes, int], ...]


@dataclass(slots=True)
class _Segment:
    seq: int
    path: Path
    size: int  # bytes of valid records


class SpoolStream:
    """One append-only spool stream (thread-safe; one owning process, enforced by flock).

    Args:
        directory: the stream's directory (created if missing).
        name: stream name, used in logs and batch metadata.
        options: segment size and fsync policy.
        quarantine_dir: where bytes of a corrupt (not merely torn) segment are copied.
    """

    def __init__(
        self,
        directory: Path,
        name: str,
        options: SpoolOptions | None = None,
        *,
        quarantine_dir: Path | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.name = name
        self.options = options or SpoolOptions()
        self.quarantine_dir = quarantine_dir or (self.directory / "corrupt")
        self._lock = threading.RLock()
        self._appended = threading.Condition(self._lock)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = self._acquire_flock()
        self._segments: list[_Segment] = []
        self._write_fd: int | None = None
        self._read_fd: tuple[int, int] | None = None  # (seq, fd)
        self._dirty = False
        self._last_sync = time.monotonic()
        self._closed = False
        self.truncated_bytes = 0  # torn-tail bytes cut at open
        self.lost_records = 0  # damaged records given up (reported in the quarantine)
        self.lost_lines = 0  # lines of those, as far as their headers tell
        self.given_up_bytes = 0  # unsent data deleted to free disk space (give_up_oldest)
        self.given_up_lines = 0
        try:
            self._open()
        except BaseException:
            os.close(self._lock_fd)
            raise

    # ------------------------------------------------------------------ open / recovery
    def _acquire_flock(self) -> int:
        path = self.directory / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise StorageError(
                f"spool {self.directory} is in use by another process (pid {holder or '?'}); "
                "only one jerkmon process may own a data directory at a time"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd

    def _read_committed(self) -> tuple[int, int] | None:
        """The committed position on disk, (0, 0) if none, None if unreadable."""
        path = self.directory / "committed"
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return (0, 0)
        text = raw.decode("ascii", errors="replace").split()
        if len(text) != 2 or not all(x.isdigit() and len(x) <= 18 for x in text):
            return None
        return (int(text[0]), int(text[1]))

    def _bad_committed(self, why: str) -> None:
        path = self.directory / "committed"
        log.error(
            "spool %s: %s is not valid (%s); everything in the spool will be sent again "
            "(InfluxDB keeps one copy of each point) and nothing is deleted",
            self.name,
            path,
            why,
        )
        with contextlib.suppress(OSError):
            os.replace(path, path.with_name("committed.invalid"))

    def _open(self) -> None:
        seqs = sorted(
            int(m.group(1)) for p in self.directory.iterdir() if (m := _SEG_RE.fullmatch(p.name))
        )
        committed = self._read_committed()
        if committed is None:
            self._bad_committed("not '<segment> <offset>'")
        elif seqs and committed != (0, 0) and committed[0] not in seqs:
            # Legitimately, only a segment older than all (its deletion done) is missing.
            if committed[0] > seqs[0]:
                self._bad_committed(f"segment {committed[0]} does not exist")
                committed = None
        elif not seqs and committed is not None and committed[0] > 10**15:
            committed = None
        if committed is None:
            committed = (seqs[0], 0) if seqs else (0, 0)
        self._committed = committed
        for seq in seqs:
            path = self.directory / _seg_name(seq)
            if seq < self._committed[0]:
                path.unlink()  # sent entirely; its deletion was interrupted
                continue
            self._segments.append(_Segment(seq, path, path.stat().st_size))
        if self._segments and self._segments[0].seq > self._committed[0]:
            self._committed = (self._segments[0].seq, 0)
        self.pending_lines = 0
        lines_after: list[list[tuple[int, int]]] = []
        for i, seg in enumerate(self._segments):
            last = i == len(self._segments) - 1
            seg.size, records = self._recover(seg, verify_crc=True, last=last)
            lines_after.append(records)
        if self._segments and self._committed[0] == self._segments[0].seq:
            coff = self._committed[1]
            boundaries = {0, self._segments[0].size} | {off for off, _ in lines_after[0]}
            if coff not in boundaries:
                self._bad_committed(
                    f"offset {coff} of segment {self._committed[0]} is not a record boundary "
                    f"(segment size {self._segments[0].size})"
                )
                self._committed = (self._segments[0].seq, 0)
        for seg, records in zip(self._segments, lines_after, strict=True):
            start = self._committed[1] if seg.seq == self._committed[0] else 0
            self.pending_lines += sum(n for off, n in records if off >= start)
        self._reader = self._committed
        if not self._segments:
            self._new_segment(max(self._committed[0], 0) + 1)
        else:
            active = self._segments[-1]
            self._write_fd = os.open(active.path, os.O_WRONLY | os.O_APPEND)
            if self._is_committed_through(active) and active.size > 0:
                self._rotate()

    def _recover(
        self, seg: _Segment, *, verify_crc: bool, last: bool
    ) -> tuple[int, list[tuple[int, int]]]:
        """Validate ``seg``: skip damaged records, cut a torn tail (last segment only);
        return (valid size, [(record offset, lines)])."""
        size = seg.path.stat().st_size
        records: list[tuple[int, int]] = []
        with open(seg.path, "rb") as f:
            off = 0
            while off < size:
                f.seek(off)
                rec = self._parse_record_at(f, off, size, verify_crc)
                if rec is None:
                    if self._skip_damage(seg, f, off, size, torn_ok=last):
                        continue  # now a skip record at ``off``
                    break
                next_off, n = rec
                records.append((off, n))
                off = next_off
        return off, records

    def _skip_damage(self, seg: _Segment, f: object, off: int, end: int, *, torn_ok: bool) -> bool:
        """The record at ``off`` is bad.  If a valid record follows before ``end``, report the
        damaged bytes lost and overwrite them with a skip record (True).  Otherwise the
        rest is a torn tail (``torn_ok``: cut with a warning) or, in a segment that was
        complete, a truncation (reported lost, then cut); returns False."""
        assert hasattr(f, "read") and hasattr(f, "seek")
        f.seek(off)
        rest: bytes = f.read(end - off)
        nxt = _next_valid_record(rest)
        if nxt is not None and _skip_record(nxt) is not None:
            self._report_lost(seg, off, rest[:nxt], "damaged record (CRC or header mismatch)")
            _overwrite(seg.path, off, _skip_record(nxt) or b"")
            return True
        if torn_ok and nxt is None:
            log.warning(
                "spool %s: cut a torn tail of %d bytes at byte %d of %s (an append that never "
                "completed, e.g. after a crash)",
                self.name,
                len(rest),
                off,
                seg.path.name,
            )
            self.truncated_bytes += len(rest)
        else:
            self._report_lost(
                seg, off, rest, "segment truncated or damaged to its end (not a torn tail)"
            )
        fd = os.open(seg.path, os.O_WRONLY)
        try:
            os.ftruncate(fd, off)
            os.fsync(fd)
        finally:
            os.close(fd)
        return False

    def _report_lost(self, seg: _Segment, off: int, data: bytes, reason: str) -> None:
        """Keep the damaged bytes and say exactly what they held, as far as can be told."""
        info = describe_damage(data)
        self.lost_records += 1
        self.lost_lines += info["lines"] or 0
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        dest = self.quarantine_dir / f"{self.name}-lost-{seg.path.stem}-{off}.bin"
        write_file_durably(dest, data)
        meta = {
            "stream": self.name,
            "segment": seg.path.name,
            "offset": off,
            "reason": reason,
            "created_s": time.time(),
            **info,
        }
        write_file_durably(dest.with_suffix(".json"), (json.dumps(meta, indent=1) + "\n").encode())
        log.error(
            "spool %s: %s at byte %d of %s: %d bytes lost (%s lines%s); kept in %s",
            self.name,
            reason,
            off,
            seg.path.name,
            len(data),
            "?" if info["lines"] is None else info["lines"],
            "".join(f", {k} {v}" for k, v in sorted(info["measurements"].items())),
            dest,
        )

    def _parse_record_at(
        self, f: object, off: int, size: int, verify_crc: bool
    ) -> tuple[int, int] | None:
        """Parse the record at ``off``: (next offset, lines), or None if invalid/incomplete."""
        assert hasattr(f, "read") and hasattr(f, "seek")
        head: bytes = f.read(_HEADER_MAX)
        nl = head.find(b"\n")
        if nl < 0:
            return None
        m = _HEADER_RE.fullmatch(head[: nl + 1])
        if m is None:
            return None
        length, n_lines = int(m.group(1)), int(m.group(2))
        body_off = off + nl + 1
        if body_off + length > size:
            return None
        if verify_crc:
            f.seek(body_off)
            payload: bytes = f.read(length)
            if zlib.crc32(payload) != int(m.group(3), 16) or (length and payload[-1:] != b"\n"):
                return None
        return body_off + length, n_lines

    def _is_committed_through(self, seg: _Segment) -> bool:
        cseq, coff = self._committed
        return cseq > seg.seq or (cseq == seg.seq and coff >= seg.size)

    def _new_segment(self, seq: int) -> None:
        path = self.directory / _seg_name(seq)
        self._write_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        _fsync_dir(self.directory)
        self._segments.append(_Segment(seq, path, 0))

    def _rotate(self) -> None:
        if self._write_fd is not None:
            os.fsync(self._write_fd)
            os.close(self._write_fd)
            self._write_fd = None
        self._dirty = False
        self._new_segment(self._segments[-1].seq + 1)
        self._delete_sent_segments()

    def _delete_sent_segments(self) -> None:
        while len(self._segments) > 1 and self._is_committed_through(self._segments[0]):
            seg = self._segments.pop(0)
            if self._read_fd is not None and self._read_fd[0] == seg.seq:
                os.close(self._read_fd[1])
                self._read_fd = None
            seg.path.unlink()
            if self._committed[0] == seg.seq:
                self._committed = (self._segments[0].seq, 0)
            if self._reader[0] == seg.seq:
                self._reader = (self._segments[0].seq, 0)

    # ------------------------------------------------------------------------- writing
    def append(self, payload: bytes, n_lines: int) -> None:
        """Append one record of ``n_lines`` newline-terminated lines; durable per the policy.

        Raises StorageError if the disk refuses the write (the partial record is removed).
        """
        if n_lines <= 0 or not payload:
            return
        if not payload.endswith(b"\n"):
            raise StorageError("spool: payload must end with a newline")
        header = encode_record(payload, n_lines)
        with self._lock:
            if self._closed:
                raise StorageError(f"spool {self.name} is closed")
            active = self._segments[-1]
            rec_len = len(header) + len(payload)
            if active.size > 0 and active.size + rec_len > self.options.segment_max_bytes:
                self._rotate()
                active = self._segments[-1]
            assert self._write_fd is not None
            try:
                written = os.writev(self._write_fd, [header, payload])
                if written != rec_len:  # short write (disk full): finish it or fail
                    rest = (header + payload)[written:]
                    while rest:
                        rest = rest[os.write(self._write_fd, rest) :]
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._write_fd, active.size)
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise DiskFullError(
                        f"spool {self.name}: cannot append: no space left on the disk of "
                        f"{self.directory}"
                    ) from exc
                raise StorageError(f"spool {self.name}: cannot append ({exc})") from exc
            active.size += rec_len
            self.pending_lines += n_lines
            self._dirty = True
            now = time.monotonic()
            if self.options.fsync_interval_s == 0 or (
                now - self._last_sync >= self.options.fsync_interval_s
            ):
                self._sync_locked(now)
            self._appended.notify_all()

    def append_lines(self, lines: Sequence[str]) -> None:
        """Append lines (without newlines), in records of at most ``max_record_lines``."""
        step = self.options.max_record_lines
        for i in range(0, len(lines), step):
            chunk = lines[i : i + step]
            self.append(("\n".join(chunk) + "\n").encode(), len(chunk))

    def _sync_locked(self, now: float) -> None:
        if self._dirty and self._write_fd is not None:
            os.fsync(self._write_fd)
        self._dirty = False
        self._last_sync = now

    def sync(self) -> None:
        """fsync whatever was appended."""
        with self._lock:
            self._sync_locked(time.monotonic())

    def sync_if_due(self) -> None:
        """fsync if data is waiting and the last fsync is ``fsync_interval_s`` old."""
        with self._lock:
            now = time.monotonic()
            if self._dirty and now - self._last_sync >= self.options.fsync_interval_s:
                self._sync_locked(now)

    # ------------------------------------------------------------------------- reading
    def wait_for_data(self, timeout_s: float) -> bool:
        """Block until unread data exists or ``timeout_s`` passes; True if data is there."""
        with self._lock:
            if self._unread_locked():
                return True
            self._appended.wait(timeout_s)
            return self._unread_locked()

    def wait_for_lines(self, min_lines: int, timeout_s: float) -> None:
        """Block until ``min_lines`` lines are pending or ``timeout_s`` passes (linger)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self.pending_lines < min_lines and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._appended.wait(left)

    def _unread_locked(self) -> bool:
        seq, off = self._reader
        return any(s.seq > seq or (s.seq == seq and s.size > off) for s in self._segments)

    def wake(self) -> None:
        """Wake threads in :meth:`wait_for_data` (e.g. at shutdown)."""
        with self._lock:
            self._appended.notify_all()

    def read_batch(self, max_lines: int, max_bytes: int) -> Batch | None:
        """Read whole records after the read position, up to the limits (at least one record).

        Advances the read position; :meth:`rewind` goes back to the committed offset.
        A record that fails its checksum here (corruption after open) is quarantined with the
        rest of its segment.
        """
        with self._lock:
            seg = next((s for s in self._segments if s.seq >= self._reader[0]), None)
            if seg is None:
                return None
            off = self._reader[1] if seg.seq == self._reader[0] else 0
            if off >= seg.size:
                if seg is self._segments[-1]:
                    return None
                nxt = self._segments[self._segments.index(seg) + 1]
                self._reader = (nxt.seq, 0)
                return self.read_batch(max_lines, max_bytes)
            end_limit = seg.size
            fd = self._reader_fd(seg)
            return self._read_records(seg, fd, off, end_limit, max_lines, max_bytes)

    def _read_records(
        self, seg: _Segment, fd: int, off: int, end_limit: int, max_lines: int, max_bytes: int
    ) -> Batch | None:
        # Under the lock: give_up_oldest() may delete an unsent segment (and close its fd).
        parts: list[bytes] = []
        lines = 0
        size = 0
        pos = off
        while pos < end_limit:
            head = os.pread(fd, min(_HEADER_MAX, end_limit - pos), pos)
            nl = head.find(b"\n")
            m = _HEADER_RE.fullmatch(head[: nl + 1]) if nl >= 0 else None
            if m is None:
                if self._corrupt_at(seg, pos, end_limit):
                    continue
                break
            length, n = int(m.group(1)), int(m.group(2))
            if parts and (lines + n > max_lines or size + length > max_bytes):
                break
            payload = os.pread(fd, length, pos + nl + 1)
            if len(payload) != length or zlib.crc32(payload) != int(m.group(3), 16):
                if self._corrupt_at(seg, pos, end_limit):
                    continue
                break
            if n:  # a skip record (n == 0) holds only padding
                parts.append(payload)
            lines += n
            size += length
            pos += nl + 1 + length
        if not parts:
            if pos == off:
                return None
            self._reader = (seg.seq, pos)
            return self.read_batch(max_lines, max_bytes)
        self._reader = (seg.seq, pos)
        return Batch(self.name, seg.seq, off, pos, b"".join(parts), lines)

    def _reader_fd(self, seg: _Segment) -> int:
        if self._read_fd is not None and self._read_fd[0] == seg.seq:
            return self._read_fd[1]
        if self._read_fd is not None:
            os.close(self._read_fd[1])
        fd = os.open(seg.path, os.O_RDONLY)
        self._read_fd = (seg.seq, fd)
        return fd

    def _corrupt_at(self, seg: _Segment, off: int, end: int) -> bool:
        """A record the writer acknowledged fails its check (damage after open): report it
        lost and skip it (True), or, with nothing valid after it before ``end``, report the
        rest lost and turn it into one skip record (False: nothing more to read)."""
        with self._lock, open(seg.path, "rb") as f:
            f.seek(off)
            rest = f.read(end - off)
            nxt = _next_valid_record(rest)
            span = nxt if nxt is not None else len(rest)
            skip = _skip_record(span)
            self._report_lost(seg, off, rest[:span], "damaged record found while sending")
            if skip is None:
                return False
            _overwrite(seg.path, off, skip)
            self.pending_lines = self._count_pending_locked()
            return True

    def _count_pending_locked(self) -> int:
        """Lines of the records after the committed position (headers only)."""
        cseq, coff = self._committed
        total = 0
        for seg in self._segments:
            if seg.seq < cseq:
                continue
            pos = coff if seg.seq == cseq else 0
            fd = os.open(seg.path, os.O_RDONLY)
            try:
                while pos < seg.size:
                    head = os.pread(fd, _HEADER_MAX, pos)
                    nl = head.find(b"\n")
                    m = _HEADER_RE.fullmatch(head[: nl + 1]) if nl >= 0 else None
                    if m is None:
                        break
                    total += int(m.group(2))
                    pos += nl + 1 + int(m.group(1))
            finally:
                os.close(fd)
        return total

    def give_up_oldest(self) -> GivenUp | None:
        """Delete the oldest segment holding unsent data (the one being written is first
        closed and a new one started), to free disk space for what matters more.  Returns
        what was given up, or None when there is nothing left to give up."""
        with self._lock:
            if self._closed or not self._segments:
                return None
            if len(self._segments) == 1:
                if self._is_committed_through(self._segments[0]) or self._write_fd is None:
                    return None
                self._rotate()
                if len(self._segments) == 1:
                    return None
            seg = self._segments[0]
            start = self._committed[1] if self._committed[0] == seg.seq else 0
            with open(seg.path, "rb") as f:
                f.seek(start)
                data = f.read(seg.size - start)
            records, _damaged = valid_records(data)
            ends = [
                (p[: p.find(b"\n")], p[p.rfind(b"\n", 0, len(p) - 1) + 1 : -1], n)
                for p, n in records
            ]
            if self._read_fd is not None and self._read_fd[0] == seg.seq:
                os.close(self._read_fd[1])
                self._read_fd = None
            self._segments.pop(0)
            seg.path.unlink()
            nxt = self._segments[0].seq
            if self._committed[0] <= seg.seq:
                self._committed = (nxt, 0)
                write_file_durably(self.directory / "committed", b"%d 0\n" % nxt)
            if self._reader[0] <= seg.seq:
                self._reader = (nxt, 0)
            self.pending_lines = self._count_pending_locked()
            self.given_up_bytes += len(data)
            lines = sum(n for _, n in records)
            self.given_up_lines += lines
            return GivenUp(seg.path.name, len(data), lines, tuple(ends))

    def rewind(self) -> None:
        """Move the read position back to the committed offset (after a failed send)."""
        with self._lock:
            self._reader = self._committed

    def commit(self, batch: Batch) -> None:
        """Record durably that ``batch`` reached its destination; delete sent segments."""
        with self._lock:
            write_file_durably(self.directory / "committed", b"%d %d\n" % (batch.seq, batch.end))
            self._committed = (batch.seq, batch.end)
            self.pending_lines = max(0, self.pending_lines - batch.n_lines)
            self._delete_sent_segments()

    # ------------------------------------------------------------------------- status
    def pending_bytes(self) -> int:
        """Bytes (headers included) appended but not yet committed."""
        with self._lock:
            cseq, coff = self._committed
            return sum(
                s.size - (coff if s.seq == cseq else 0) for s in self._segments if s.seq >= cseq
            )

    def disk_bytes(self) -> int:
        """Bytes the stream's segments occupy."""
        with self._lock:
            return sum(s.size for s in self._segments)

    def is_drained(self) -> bool:
        with self._lock:
            return self.pending_bytes() == 0

    def close(self) -> None:
        """fsync and release the stream (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._write_fd is not None:
                os.fsync(self._write_fd)
                os.close(self._write_fd)
                self._write_fd = None
            if self._read_fd is not None:
                os.close(self._read_fd[1])
                self._read_fd = None
            self._appended.notify_all()
            os.close(self._lock_fd)
