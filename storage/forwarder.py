"""Ships spool batches to InfluxDB: retry with back-off, quarantine refusals, commit durably.

One :class:`Forwarder` per spool stream (events, raw), each with its own thread and HTTP
connection, so events never wait behind raw data.  For each batch:

* accepted (2xx) → the committed offset is advanced (fsync'd), sent segments deleted;
* 429, 5xx, connection errors, a request past its deadline or an oversized answer → the same
  batch is retried after an exponential back-off (``retry_initial_s`` doubling up to
  ``retry_max_s``, ±20 % jitter; the exponent is capped, so it never overflows), never sooner
  than the server's Retry-After nor than ``retry_initial_s`` (a ``Retry-After: 0`` does not
  make a busy loop), with no deadline: the spool holds the data meanwhile;
* 413 (request too large) → the batch is halved until the server takes it, and the size it
  took is remembered as the limit for later batches; only a single line too large is
  quarantined;
* 400/422 (bad data) → the batch is bisected to isolate the refused lines (at most
  ``_BISECT_BUDGET`` extra requests; InfluxDB rewrites the accepted lines identically, so
  resending them is harmless), and only those lines are quarantined with the server's message;
* other 4xx (401/403 credentials, 404 database/bucket) → on a 404 the database set-up is
  redone once; then the whole batch is quarantined, logged as an error, and the forwarder
  pauses before the next batch (doubling up to 5 min) so a bad token does not spin.

One refusal is not quarantined: InfluxDB 1.x's "points beyond retention policy" (raw samples
older than the ``raw`` RP's duration, e.g. a spool flushed a week late).  Those points would
have been deleted by the retention policy anyway; they are counted (``expired_lines``) and
logged as a warning.

A point is identified by measurement, tags and time, and times come from sample time, so a
batch sent twice (the answer was lost in a crash) leaves exactly one copy of every point.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from detector.errors import InfluxRejectedError, InfluxUnavailableError

from .config import StorageOptions
from .influx import InfluxLink, Stream, Writer
from .quarantine import Quarantine, Rejection
from .spool import Batch, SpoolStream

__all__ = ["Forwarder", "ForwarderStats", "deliver"]

log = logging.getLogger(__name__)

_BISECT_BUDGET = 64
_DATA_ERRORS = (400, 413, 422)
_MAX_PAUSE_S = 300.0
_MAX_RETRY_AFTER_S = 600.0
_MAX_EXPONENT = 40  # 2**40 s is far beyond any cap: the cap applies, no overflow
_MIN_BATCH_BYTES = 1024
_EXPIRED = "points beyond retention policy"


def split_expired(rejections: list[Rejection]) -> tuple[list[Rejection], int]:
    """(rejections to quarantine, lines refused only for being older than the retention)."""
    keep = [r for r in rejections if _EXPIRED not in r.message]
    return keep, sum(r.n_lines for r in rejections if _EXPIRED in r.message)


def message_summary(messages: tuple[str, ...] | list[str]) -> str:
    """Distinct server messages, with InfluxDB's varying ``dropped=N`` removed."""
    return " | ".join(dict.fromkeys(re.sub(r" dropped=\d+", "", m) for m in messages))


def deliver(
    writer: Writer,
    payload: bytes,
    n_lines: int,
    stream: Stream,
    on_too_large: Callable[[int], None] | None = None,
    max_request_bytes: int | None = None,
) -> list[Rejection]:
    """Send ``payload``; return the refused parts (empty = all accepted).

    Requests larger than ``max_request_bytes`` (a limit learned earlier) are split into
    pieces of whole lines; a 413 halves that limit (``on_too_large`` is told the refused
    size) without using the bisection budget.  Raises InfluxUnavailableError when the
    server cannot take it now (nothing is decided).
    """
    budget = [_BISECT_BUDGET]
    # largest request not known to be too large (413)
    fits = [len(payload) if max_request_bytes is None else max_request_bytes]

    def attempt(part: bytes, n: int) -> list[Rejection]:
        if len(part) > fits[0] and n > 1:
            return split(part, fits[0])
        try:
            writer.write(part, stream)
            return []
        except InfluxRejectedError as exc:
            if exc.status == 413 and n > 1:
                fits[0] = min(fits[0], len(part) // 2)
                if on_too_large is not None:
                    on_too_large(len(part))
                return split(part, fits[0])
            if exc.status not in _DATA_ERRORS or n <= 1 or budget[0] < 2:
                return [Rejection(part, n, exc.status, exc.server_message)]
            budget[0] -= 2
        lines = part.split(b"\n")[:-1]
        half = len(lines) // 2
        first = b"\n".join(lines[:half]) + b"\n"
        second = b"\n".join(lines[half:]) + b"\n"
        return attempt(first, half) + attempt(second, len(lines) - half)

    def split(part: bytes, max_bytes: int) -> list[Rejection]:
        """Send ``part`` as consecutive pieces of whole lines of at most ``max_bytes``."""
        out: list[Rejection] = []
        chunk: list[bytes] = []
        size = 0
        for line in part.split(b"\n")[:-1]:
            if chunk and size + len(line) + 1 > max_bytes:
                out += attempt(b"\n".join(chunk) + b"\n", len(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line) + 1
        if chunk:
            out += attempt(b"\n".join(chunk) + b"\n", len(chunk))
        return out

    return attempt(payload, n_lines)


@dataclass(frozen=True, slots=True)
class ForwarderStats:
    """Counters and state of one forwarder.

    ``state``: ``idle`` (nothing to send), ``sending``, ``retrying`` (server unavailable),
    ``paused`` (after a credentials/database refusal), ``stopped``.
    """

    stream: str
    state: str
    sent_lines: int
    sent_batches: int
    quarantined_lines: int
    quarantined_batches: int
    expired_lines: int
    retries: int
    last_error: str | None
    last_success_s: float | None
    alive: bool = True  # the thread runs (or none was started)
    busy_s: float = 0.0  # how long the current request has been going on, s
    restarts: int = 0
    max_batch_bytes: int = 0  # the batch size in use (lower after a 413), bytes


class Forwarder:
    """Forwards one spool stream; use :meth:`start`/:meth:`stop` or :meth:`drain`."""

    def __init__(
        self,
        spool: SpoolStream,
        stream: Stream,
        link: InfluxLink,
        quarantine: Quarantine,
        options: StorageOptions,
    ) -> None:
        self.spool = spool
        self.stream: Stream = stream
        self.link = link
        self.quarantine = quarantine
        self.options = options
        self.linger_s = options.raw_linger_s if stream == "raw" else options.events_linger_s
        self._writer: Writer | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._state = "idle"
        self._sent_lines = 0
        self._sent_batches = 0
        self._q_lines = 0
        self._q_batches = 0
        self._retries = 0
        self._expired_lines = 0
        self._last_error: str | None = None
        self._last_success: float | None = None
        self._reject_streak = 0
        self._last_warn = 0.0
        self._busy_since: float | None = None
        self._restarts = 0
        self._wanted = False  # start() was called and stop() was not
        self.max_batch_bytes = options.batch_max_bytes
        self.max_batch_lines = options.batch_max_lines

    # ----------------------------------------------------------------- public control
    def start(self) -> None:
        if self._thread is not None:
            return
        self._wanted = True
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"jerkmon-forward-{self.stream}", daemon=True
        )
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def wanted(self) -> bool:
        """start() was called and stop() was not (running, or dead and to be restarted)."""
        return self._wanted

    @property
    def dead(self) -> bool:
        """Started, not stopped, and its thread is gone (it crashed)."""
        return self._wanted and self._thread is not None and not self._thread.is_alive()

    def restart_if_dead(self) -> bool:
        """Start a new thread if the old one died; True if it did."""
        if not self.dead:
            return False
        log.error("forwarder %s had stopped (%s); restarting it", self.stream, self._last_error)
        self._thread = None
        self._close_writer()
        self.spool.rewind()  # the batch it held was not committed: send it again
        with self._lock:
            self._restarts += 1
        self.start()
        return True

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread; an unsent batch stays in the spool."""
        self._wanted = False
        self._stop.set()
        self.spool.wake()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("forwarder %s did not stop within %.1f s", self.stream, timeout_s)
            self._thread = None
        self._close_writer()
        self._set_state("stopped")

    def stats(self) -> ForwarderStats:
        with self._lock:
            busy = self._busy_since
            return ForwarderStats(
                stream=self.stream,
                state=self._state,
                sent_lines=self._sent_lines,
                sent_batches=self._sent_batches,
                quarantined_lines=self._q_lines,
                quarantined_batches=self._q_batches,
                expired_lines=self._expired_lines,
                retries=self._retries,
                last_error=self._last_error,
                last_success_s=self._last_success,
                alive=not self.dead,
                busy_s=0.0 if busy is None else time.monotonic() - busy,
                restarts=self._restarts,
                max_batch_bytes=self.max_batch_bytes,
            )

    def _too_large(self, size: int) -> None:
        new = max(_MIN_BATCH_BYTES, min(self.max_batch_bytes, size // 2))
        if new < self.max_batch_bytes:
            log.warning(
                "InfluxDB refused %d bytes as too large (413): %s batches of at most %d bytes",
                size,
                self.stream,
                new,
            )
        self.max_batch_bytes = new

    def drain(self, timeout_s: float, *, stop_on_refusal: bool = True) -> bool:
        """Send everything in the spool now, in this thread; True when the spool is empty.

        Returns False at ``timeout_s`` (the server stayed unavailable) or, with
        ``stop_on_refusal``, after the first credentials/database refusal.
        """
        deadline = time.monotonic() + timeout_s
        self._stop.clear()
        timer = threading.Timer(max(0.0, timeout_s), self._stop.set)
        timer.daemon = True
        timer.start()
        try:
            while time.monotonic() < deadline:
                batch = self.spool.read_batch(self.max_batch_lines, self.max_batch_bytes)
                if batch is None:
                    return self.spool.is_drained()
                outcome = self._send_until_done(batch, pause_after_refusal=False)
                if outcome == "stopped":
                    return False
                if outcome == "refused" and stop_on_refusal:
                    self.spool.rewind()
                    return False
            self.spool.rewind()
            return self.spool.is_drained()
        finally:
            timer.cancel()
            self._close_writer()

    # ----------------------------------------------------------------- internals
    def _set_state(self, state: str, error: str | None = None) -> None:
        with self._lock:
            self._state = state
            if error is not None:
                self._last_error = error

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self.spool.wait_for_data(0.5):
                    self._set_state("idle")
                    continue
                if self.linger_s > 0:
                    # Let a batch fill up (or the linger time pass) before sending.
                    self.spool.wait_for_lines(self.options.batch_max_lines, self.linger_s)
                batch = self.spool.read_batch(self.max_batch_lines, self.max_batch_bytes)
                if batch is None:
                    continue
                self._send_until_done(batch, pause_after_refusal=True)
        except Exception as exc:  # a bug: keep it visible; the storage restarts us
            log.exception("forwarder %s crashed", self.stream)
            self._set_state("dead", f"forwarder crashed: {exc!r}")
            raise
        finally:
            self._close_writer()

    def _backoff_s(self, attempt: int, retry_after_s: float | None) -> float:
        """Delay before retry number ``attempt + 1``: capped exponential back-off with
        ±20 % jitter, never below ``retry_initial_s`` nor the server's Retry-After."""
        exponent = min(max(attempt, 0), _MAX_EXPONENT)
        base = min(self.options.retry_max_s, self.options.retry_initial_s * 2.0**exponent)
        delay = base * random.uniform(0.8, 1.2)
        floor = self.options.retry_initial_s
        if retry_after_s is not None and retry_after_s == retry_after_s:  # not NaN
            floor = max(floor, min(retry_after_s, _MAX_RETRY_AFTER_S))
        return max(delay, floor)

    def _send_until_done(self, batch: Batch, *, pause_after_refusal: bool) -> str:
        """Deliver ``batch`` (retrying); return ``sent``, ``refused`` or ``stopped``."""
        attempt = 0
        redid_setup = False
        while True:
            self._set_state("sending")
            try:
                if self._writer is None:
                    self._writer = self.link.new_writer()
                with self._lock:
                    self._busy_since = time.monotonic()
                try:
                    rejections = deliver(
                        self._writer,
                        batch.payload,
                        batch.n_lines,
                        self.stream,
                        self._too_large,
                        self.max_batch_bytes,
                    )
                finally:
                    with self._lock:
                        self._busy_since = None
                if (
                    rejections
                    and not redid_setup
                    and any(r.status == 404 for r in rejections)
                    and self._writer.api == "v1"
                ):
                    redid_setup = True  # database dropped? create it again and resend
                    self._close_writer()
                    self.link.reset()
                    continue
                return self._finish(batch, rejections, pause_after_refusal)
            except Exception as exc:
                # Unavailable (connection, 429, 5xx) — or an unexpected error in a client
                # library: either way nothing was decided, so keep the batch and retry.
                if not isinstance(exc, InfluxUnavailableError):
                    log.exception("unexpected error forwarding %s; will retry", self.stream)
                retry_after = exc.retry_after_s if isinstance(exc, InfluxUnavailableError) else None
                self._close_writer()
                with self._lock:
                    self._retries += 1
                delay = self._backoff_s(attempt, retry_after)
                self._set_state("retrying", str(exc))
                now = time.monotonic()
                if attempt == 0 or now - self._last_warn >= self.options.warn_interval_s:
                    self._last_warn = now
                    log.warning(
                        "InfluxDB unavailable for %s (%s); %d lines wait in the spool, "
                        "retrying in %.1f s",
                        self.stream,
                        exc,
                        self.spool.pending_lines,
                        delay,
                    )
                attempt += 1
                if self._stop.wait(delay):
                    self.spool.rewind()
                    return "stopped"

    def _finish(self, batch: Batch, rejections: list[Rejection], pause: bool) -> str:
        rejections, expired = split_expired(rejections)
        if expired:
            log.warning(
                "InfluxDB dropped %d lines of %s as older than the retention policy",
                expired,
                self.stream,
            )
        refused_lines = sum(r.n_lines for r in rejections) + expired
        config_refusal = any(r.status not in (400, 413, 422) for r in rejections)
        if rejections:
            assert self._writer is not None
            entry = self.quarantine.put(self.stream, rejections, self._writer.describe(self.stream))
            log.error(
                "InfluxDB refused %d of %d lines of %s (HTTP %s: %s); quarantined in %s — fix "
                "the cause, then run 'jerkmon flush --retry-quarantine'",
                refused_lines - expired,
                batch.n_lines,
                self.stream,
                ",".join(str(s) for s in dict.fromkeys(entry.statuses)),
                message_summary(entry.messages)[:500],
                entry.path,
            )
        self.spool.commit(batch)
        with self._lock:
            self._sent_lines += batch.n_lines - refused_lines
            self._sent_batches += 1
            self._q_lines += refused_lines - expired
            self._q_batches += 1 if rejections else 0
            self._expired_lines += expired
            if rejections:
                self._last_error = f"HTTP {rejections[0].status}: {rejections[0].message}"
            else:
                self._last_success = time.time()
        if config_refusal:
            self._reject_streak += 1
            if pause:
                exponent = min(self._reject_streak, _MAX_EXPONENT)
                delay = min(_MAX_PAUSE_S, self.options.retry_initial_s * 2.0**exponent)
                self._set_state("paused")
                self._stop.wait(delay)
            return "refused"
        self._reject_streak = 0
        return "sent"
