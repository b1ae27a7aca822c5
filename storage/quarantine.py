"""Batches InfluxDB refused for good, kept on disk with the server's message.

Each quarantined batch is two files in ``<data_dir>/quarantine/``::

    20261123T201500Z-events-000001.lp     the refused lines (line protocol)
    20261123T201500Z-events-000001.json   stream, destination, HTTP status(es), message(s)

Nothing here is retried automatically; ``jerkmon flush --retry-quarantine`` re-sends the files
after the cause (field type, token, database) was fixed, and deletes a file only once every
line in it was accepted.  ``*.bin`` files are corrupt spool bytes (see the spool) kept for
inspection.
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

from .spool import write_file_durably

__all__ = ["Quarantine", "QuarantineEntry", "Rejection"]


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
