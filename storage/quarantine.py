"""Batches InfluxDB refused for good, kept on disk with the server's message.

Each quarantined batch is two files in ``<data_dir>/quarantine/``::

    20261123T201500Z-events-000001.lp     the refused lines (line protocol)
    20261123T201500Z-events-000001.json   stream, destination, HTTP status(es), message(s)

Nothing here is retried automatically; ``jerkmon flush --retry-quarantine`` re-sends the files
after the cause (field type, token, database) was fixed, and deletes a file only once every
line in it was accepted.

``*.bin`` files are spool bytes that were damaged on disk (see :mod:`storage.spool`), with a
``.json`` report of what they held: they are what was *lost*.  Files written by earlier
versions hold the damaged record *and everything after it* in its segment; ``--retry-quarantine``
salvages every intact record in any ``.bin`` (into ``.lp`` entries that are then sent) and
keeps only the damaged bytes.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .spool import describe_damage, valid_records, write_file_durably

__all__ = ["LossEntry", "Quarantine", "QuarantineEntry", "Rejection"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Lines refused by the server: newline-terminated ``payload`` of ``n_lines`` lines."""

    payload: bytes
    n_lines: int
    status: int
    message: str


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """One quarantined batch: its line file, metadata and what the server said."""

    path: Path
    stream: str
    n_lines: int
    statuses: tuple[int, ...]
    messages: tuple[str, ...]
    destination: str
    created_s: float

    @property
    def meta_path(self) -> Path:
        return self.path.with_suffix(".json")


@dataclass(frozen=True, slots=True)
class LossEntry:
    """Damaged spool bytes given up: ``lines`` is None when the record header was damaged
    too; ``measurements`` counts lines by measurement as far as the damaged text reads."""

    path: Path
    stream: str
    n_bytes: int
    lines: int | None
    measurements: dict[str, int]
    reason: str

    def describe(self) -> str:
        what = "an unknown number of" if self.lines is None else str(self.lines)
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.measurements.items()))
        return (
            f"{self.path.name}: {self.stream}: {what} lines lost in {self.n_bytes} damaged "
            f"bytes ({self.reason})" + (f"; readable: {kinds}" if kinds else "")
        )


class Quarantine:
    """The quarantine directory (thread-safe)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    def put(self, stream: str, rejections: list[Rejection], destination: str) -> QuarantineEntry:
        """Write the rejected lines and the server's messages durably; return the entry."""
        payload = b"".join(r.payload for r in rejections)
        n_lines = sum(r.n_lines for r in rejections)
        statuses = tuple(r.status for r in rejections)
        messages = tuple(dict.fromkeys(r.message for r in rejections))
        now = time.time()
        with self._lock:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
            while True:
                name = f"{stamp}-{stream}-{os.getpid()}-{next(self._counter):06d}.lp"
                path = self.directory / name
                if not path.exists():
                    break
            write_file_durably(path, payload)
            entry = QuarantineEntry(path, stream, n_lines, statuses, messages, destination, now)
            self._write_meta(entry)
        return entry

    def _write_meta(self, entry: QuarantineEntry) -> None:
        meta: dict[str, Any] = {
            "stream": entry.stream,
            "lines": entry.n_lines,
            "statuses": list(entry.statuses),
            "messages": list(entry.messages),
            "destination": entry.destination,
            "created_s": entry.created_s,
        }
        write_file_durably(entry.meta_path, (json.dumps(meta, indent=1) + "\n").encode())

    def entries(self) -> list[QuarantineEntry]:
        """All quarantined batches, oldest first."""
        out = []
        for path in sorted(self.directory.glob("*.lp")):
            meta: dict[str, Any] = {}
            # Lines written but no metadata (a crash in between): still listed.
            with contextlib.suppress(OSError, ValueError):
                meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            try:
                n_lines = int(meta.get("lines", path.read_bytes().count(b"\n")))
            except OSError:
                continue
            out.append(
                QuarantineEntry(
                    path=path,
                    stream=str(meta.get("stream", "raw" if "-raw-" in path.name else "events")),
                    n_lines=n_lines,
                    statuses=tuple(int(s) for s in meta.get("statuses", [])),
                    messages=tuple(str(m) for m in meta.get("messages", ["(unknown)"])),
                    destination=str(meta.get("destination", "")),
                    created_s=float(meta.get("created_s", path.stat().st_mtime)),
                )
            )
        return out

    def corrupt_files(self) -> list[Path]:
        return sorted(self.directory.glob("*.bin"))

    def losses(self) -> list[LossEntry]:
        """Damaged spool bytes kept here (what was lost), oldest first."""
        out = []
        for path in self.corrupt_files():
            try:
                data = path.read_bytes()
            except OSError:
                continue
            meta: dict[str, Any] = {}
            with contextlib.suppress(OSError, ValueError):
                meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            info = meta if meta else describe_damage(data)
            lines = info.get("lines")
            out.append(
                LossEntry(
                    path=path,
                    stream=str(
                        meta.get("stream", "raw" if path.name.startswith("raw") else "events")
                    ),
                    n_bytes=len(data),
                    lines=int(lines) if lines is not None else None,
                    measurements={str(k): int(v) for k, v in info.get("measurements", {}).items()},
                    reason=str(
                        meta.get("reason", "corrupt spool bytes (kept by an earlier version)")
                    ),
                )
            )
        return out

    def salvage(self) -> tuple[int, int]:
        """Move every intact record found in ``.bin`` files into ``.lp`` entries (to be
        re-sent) and keep only the damaged bytes; returns (records, lines) salvaged."""
        records_total = lines_total = 0
        for loss in self.losses():
            data = loss.path.read_bytes()
            records, damaged = valid_records(data)
            if not records:
                continue
            for payload, n in records:
                self.put(
                    loss.stream,
                    [
                        Rejection(
                            payload, n, 0, f"salvaged from damaged spool bytes {loss.path.name}"
                        )
                    ],
                    "",
                )
            records_total += len(records)
            lines_total += sum(n for _, n in records)
            rest = b"".join(data[o : o + n] for o, n in damaged)
            with self._lock:
                if rest:
                    info = describe_damage(rest)
                    meta = {
                        "stream": loss.stream,
                        "reason": loss.reason + "; intact records salvaged",
                        "created_s": time.time(),
                        **info,
                    }
                    write_file_durably(loss.path, rest)
                    write_file_durably(
                        loss.path.with_suffix(".json"), (json.dumps(meta, indent=1) + "\n").encode()
                    )
                else:
                    loss.path.unlink(missing_ok=True)
                    loss.path.with_suffix(".json").unlink(missing_ok=True)
        return records_total, lines_total

    def remove(self, entry: QuarantineEntry) -> None:
        with self._lock:
            entry.path.unlink(missing_ok=True)
            entry.meta_path.unlink(missing_ok=True)

    def replace(self, entry: QuarantineEntry, rejections: list[Rejection]) -> QuarantineEntry:
        """Keep only the lines still refused, with the newest messages."""
        new = QuarantineEntry(
            path=entry.path,
            stream=entry.stream,
            n_lines=sum(r.n_lines for r in rejections),
            statuses=tuple(r.status for r in rejections),
            messages=tuple(dict.fromkeys(r.message for r in rejections)),
            destination=entry.destination,
            created_s=entry.created_s,
        )
        with self._lock:
            write_file_durably(entry.path, b"".join(r.payload for r in rejections))
            self._write_meta(new)
        return new

    def totals(self) -> tuple[int, int]:
        """(batches, lines) in quarantine."""
        entries = self.entries()
        return len(entries), sum(e.n_lines for e in entries)

    def disk_bytes(self) -> int:
        total = 0
        for path in self.directory.iterdir():
            try:
                total += path.stat().st_size
            except OSError:
                continue
        return total
