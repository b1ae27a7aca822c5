"""Read a recording's next chunks while the caller works on the current one.

Parsing a CSV block (pandas' C tokeniser and float conversion) and the numpy checks after
it release the GIL for most of their time, as do the detector's large array passes: with a
reader thread one chunk ahead, ``jerkmon detect`` reads and detects at once on two cores
(an 8 h, 100 Hz CSV: reading ~0.8 s and detection ~0.5 s overlap instead of adding up).

The chunks, their order and every error are those of the plain iteration: an error the
reader meets is raised by the consumer at the same place in the sequence, after the
chunks before it were handed out.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["read_ahead"]

T = TypeVar("T")

_POLL_S = 0.1  # how often a blocked reader looks whether the consumer has gone away


class _End:
    """The reader's last item: the iteration ended, with ``error`` if it raised."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def read_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield ``items`` in order, produced by a background thread up to ``depth`` ahead.

    Args:
        items: any iterable (a :class:`~collector.recording.Recording`); it is iterated in
            one other thread only.  depth: chunks held ready (>= 1); memory is about
            ``depth + 2`` chunks.

    A consumer that stops early (``break``, an exception, ``close()``) stops the reader at
    its next chunk; the thread never outlives the generator by more than one chunk's read.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth!r}")
    q: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: T | _End) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_End(exc))
            return
        put(_End(None))

    thread = threading.Thread(target=reader, name="jerkmon-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        thread.join()
