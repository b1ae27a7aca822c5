"""Sample sources for the live pipeline, and the seam between sources and the pipeline.

A *source* is any async iterator of the items below; :func:`jerkmon.live.pipeline.consume`
feeds one into a :class:`~jerkmon.live.pipeline.NightPipeline` and does not care where the items
come from.  The items are recognised by their attributes (the :class:`Samples`,
:class:`GapReport`, :class:`BatteryReport` and :class:`LinkReport` protocols), not by their
class, so a source needs no import from here::

    Samples        .sensor_address  .side  .t_host_s (n,) s since the epoch  .acc_g (n, 3) g
    GapReport      .sensor  .start_s  .end_s  .reason      (samples are missing in between)
    BatteryReport  .sensor  .t_host_s  .percent
    LinkReport     .sensor  .t_s  .connected  .detail       (link up/down)

The BLE collector's session (``collector.ble.session``: ``SampleBatch``, ``GapRecord``,
``BatteryReading``, ``LinkEvent``) yields this module's dataclasses under those names, so
``consume(pipeline, session_source([left, right], stop))`` takes the sessions of both wrists
as they are (:func:`merge` interleaves async iterators; :func:`session_source` adds the
stopping); the simulator source (``jerkmon.live.sources.sim_source``) yields the same
dataclasses.  The sensor id used by the pipeline is ``sensor_address`` / ``sensor``.

Rules for a source: per sensor, batches come in time order; a source that knows why samples
are missing says so with a gap report (the pipeline also notices unexplained jumps); the
source stops by ending the iteration (it should watch a stop event of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    pass

FloatArray = npt.NDArray[np.float64]
T = TypeVar("T")

__all__ = [
    "BatteryNotice",
    "BatteryReport",
    "GapNotice",
    "GapReport",
    "ItemKind",
    "LinkNotice",
    "LinkReport",
    "SampleBatch",
    "Samples",
    "Session",
    "item_kind",
    "merge",
    "session_source",
]


# ---------------------------------------------------------------------------------- protocols
@runtime_checkable
class Samples(Protocol):
    """Contiguous samples of one sensor."""

    @property
    def sensor_address(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def t_host_s(self) -> FloatArray: ...
    @property
    def acc_g(self) -> FloatArray: ...


@runtime_checkable
class GapReport(Protocol):
    """Samples of ``sensor`` are missing between ``start_s`` and ``end_s`` (s since the epoch)."""

    @property
    def sensor(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...
    @property
    def reason(self) -> str: ...


@runtime_checkable
class BatteryReport(Protocol):
    """Battery level of ``sensor`` at ``t_host_s``."""

    @property
    def sensor(self) -> str: ...
    @property
    def t_host_s(self) -> float: ...
    @property
    def percent(self) -> int: ...


@runtime_checkable
class LinkReport(Protocol):
    """The link to ``sensor`` came up (``connected``) or went down at ``t_s``."""

    @property
    def sensor(self) -> str: ...
    @property
    def t_s(self) -> float: ...
    @property
    def connected(self) -> bool: ...
    @property
    def detail(self) -> str: ...


ItemKind = Literal["samples", "gap", "battery", "link", "unknown"]

_KINDS: dict[type, ItemKind] = {}


def item_kind(item: object) -> ItemKind:
    """Which of the protocols above ``item`` matches (tried in the order :class:`Samples`,
    :class:`GapReport`, :class:`BatteryReport`, :class:`LinkReport`), or ``unknown``.

    The protocol checks are slow (tens of us each), so they run once per class and the
    answer is remembered: the items of one class must all be of one kind, as dataclasses
    are (not e.g. ``SimpleNamespace`` objects with different attributes)."""
    cls = type(item)
    kind = _KINDS.get(cls)
    if kind is None:
        if isinstance(item, Samples):
            kind = "samples"
        elif isinstance(item, GapReport):
            kind = "gap"
        elif isinstance(item, BatteryReport):
            kind = "battery"
        elif isinstance(item, LinkReport):
            kind = "link"
        else:
            kind = "unknown"
        _KINDS[cls] = kind
    return kind


# ------------------------------------------------------------------------ concrete items
# The simulator source and the BLE session (``collector.ble.session``, which names them
# SampleBatch, GapRecord, BatteryReading and LinkEvent) both yield these.
@dataclass(frozen=True, slots=True)
class SampleBatch:
    """Contiguous samples of one sensor, no gap inside (a :class:`Samples`).

    Attributes:
        sensor_address: the sensor's id (BLE address).
        side: wearing side from the configuration (e.g. ``"left"``).
        t_host_s: (n,) host time of each sample, s (Unix epoch with the default clock).
        acc_g: (n, 3) acceleration x, y, z, g.
    """

    sensor_address: str
    side: str
    t_host_s: FloatArray
    acc_g: FloatArray


@dataclass(frozen=True, slots=True)
class GapNotice:
    """A gap the source knows the reason of (a :class:`GapReport`): samples are missing
    between ``start_s`` (last sample before) and ``end_s`` (first sample after), host time,
    s.  The BLE session's reasons: ``disconnect`` (link dropped), ``stall`` (watchdog forced
    a reconnect), ``frame_drop`` (frames lost on a live link), ``clock_reset`` (the sensor
    clock restarted), ``decode_error`` (bad frames discarded), ``error`` (a failed GATT
    operation made the session reconnect)."""

    sensor: str
    start_s: float
    end_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class BatteryNotice:
    """Battery level of a sensor (a :class:`BatteryReport`; a BLE session reads it at every
    connection and every ``battery_interval_s``)."""

    sensor: str
    t_host_s: float
    percent: int


@dataclass(frozen=True, slots=True)
class LinkNotice:
    """The stream of ``sensor`` started (``connected``) or the link went down, at host time
    ``t_s`` (a :class:`LinkReport`); ``detail`` says why (e.g. ``"stream started"``, a gap
    reason, ``"stopped"``).  A BLE session yields it only with
    ``SessionConfig(link_events=True)``."""

    sensor: str
    t_s: float
    connected: bool
    detail: str = ""


# ------------------------------------------------------------------------------- merging
async def merge(*sources: AsyncIterator[T]) -> AsyncIterator[T]:
    """One async iterator over several (e.g. one BLE session per wrist), items in arrival
    order; ends when all have ended.  An error in one source cancels the others and is
    raised here.  Each source's own order is kept, which is all the pipeline needs."""
    queue: asyncio.Queue[tuple[int, T | None, BaseException | None]] = asyncio.Queue(256)

    async def pump(i: int, source: AsyncIterator[T]) -> None:
        try:
            async for item in source:
                await queue.put((i, item, None))
        except Exception as exc:  # handed to the consumer, which raises it
            await queue.put((i, None, exc))
            return
        await queue.put((i, None, None))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(sources)]
    running = len(tasks)
    try:
        while running:
            _, item, error = await queue.get()
            if error is not None:
                raise error
            if item is None:
                running -= 1
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Session(Protocol):
    """What :func:`session_source` needs of a sensor session (``collector.ble.session.
    BleSession``): async iteration that ends after :meth:`stop`."""

    def __aiter__(self) -> AsyncIterator[object]: ...
    async def stop(self) -> None: ...


async def session_source(sessions: Sequence[Session], stop: asyncio.Event) -> AsyncIterator[object]:
    """The items of several sensor sessions (one per wrist), merged, until ``stop`` is set.

    Then every session is stopped - it stops the stream, disconnects and yields what it
    still holds (samples waiting for the clock mapping to settle) - and the source ends
    once all have ended.  A fatal error of one session (e.g. a sensor that cannot stream
    at the configured rate) stops the others and is raised here."""

    async def stopper() -> None:
        await stop.wait()
        await asyncio.gather(*(s.stop() for s in sessions))

    task = asyncio.create_task(stopper())
    try:
        async for item in merge(*(aiter(s) for s in sessions)):
            yield item
    finally:
        if not stop.is_set():
            task.cancel()  # ended early (an error): merge() has stopped the sessions
        with contextlib.suppress(asyncio.CancelledError):
            await task  # a stop in progress is left to finish
