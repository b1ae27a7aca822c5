"""One sensor's BLE session: scan, connect, stream, decode, map clocks, reconnect forever.

This is the thin async adapter between bleak and the pure parts (device profiles in
``collector.protocols``, clock mapping in ``collector.ble.clock``).  It uses bleak's public
API only - ``BleakScanner``, ``BleakClient`` and bleak-retry-connector's
``establish_connection`` (which forwards ``backend=`` to ``BleakClient``) - so the backend
is injectable: the platform backend by default, ``sim.ble_backend`` in tests.

Usage::

    session = BleSession(SessionConfig(address="A0:9E:1A:00:00:01", side="left"))
    async with session:
        async for event in session:          # SampleBatch | GapRecord | BatteryReading
            ...                              # (+ LinkEvent with link_events=True)
    # or from another task: await session.stop()  (the iteration then ends cleanly)

Rules kept here: the notification callbacks only timestamp the bytes and queue them; all
decoding happens in the consumer (the async iterator); one BLE operation at a time per
adapter (an ``asyncio.Lock`` per adapter name); a fresh ``BleakClient`` per connection;
re-scan before every reconnect and restart the stream after it; a watchdog forces a
reconnect when no notification arrived for ``stall_timeout_s``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
import weakref
from collections import Counter, deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection
from numpy.typing import NDArray

from collector.ble.clock import (
    ClockMapConfig,
    ClockMapping,
    HostClock,
    SensorClockMapper,
    SystemHostClock,
)
from collector.protocols.base import (
    BATTERY_LEVEL_UUID,
    ControlStep,
    DecodedFrame,
    DeviceProfile,
    StreamDecoder,
)
from collector.protocols.pmd import PolarPmdProfile
from collector.sources import BatteryNotice, GapNotice, LinkNotice
from collector.sources import SampleBatch as SampleBatch
from detector.errors import (
    ConfigError,
    ControlPointError,
    DeviceCapabilityError,
    FrameDecodeError,
    JerkmonError,
    ProtocolError,
    SensorNotFoundError,
    TransportError,
)

logger = logging.getLogger(__name__)

GapReason = Literal[
    "disconnect", "stall", "host_stall", "frame_drop", "clock_reset", "decode_error", "error"
]


# --------------------------------------------------------------------------------------
# What the session yields
# --------------------------------------------------------------------------------------


# The items are collector.sources' dataclasses (what the pipeline takes), here under the
# session's names.  A GapRecord's reason is a GapReason; a LinkEvent's detail is "stream
# started", a GapReason or "stopped" (only with SessionConfig(link_events=True)).
GapRecord = GapNotice
BatteryReading = BatteryNotice
LinkEvent = LinkNotice

CollectorEvent = SampleBatch | GapRecord | BatteryReading | LinkEvent


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """One sensor's session.

    Attributes:
        address: BLE address to use (the allow-list: nothing else is connected).
        side: wearing side, copied into every batch (``left``, ``right``, ...).
        adapter: adapter name; sessions on one adapter do one BLE operation at a time.
        scan_timeout_s: how long one scan looks for the sensor, s.
        connect_attempts: attempts per ``establish_connection`` call.
        response_timeout_s: wait for a control-point answer, s.
        stall_timeout_s: no notification for this long while streaming forces a
            reconnect, s.
        watchdog_interval_s: how often the watchdog looks, s.
        backoff_initial_s, backoff_max_s: reconnect back-off after failed attempts
            (doubling); the first attempt after a working stream is immediate, s.
        battery_interval_s: battery read period while connected, s.
        max_queued_frames: notifications buffered for the consumer; beyond, frames are
            dropped (and show as a gap).
        clock: clock-mapping tuning.
        link_events: also yield a :class:`LinkEvent` when a stream starts and when its
            link goes down (for live status; a gap is reported either way).
        reorder_frames: notifications held back to put frames that arrive out of order
            back in sensor-time order (0: none); duplicates are dropped either way.
        reorder_window_s: a frame stamped up to this much before the last one passed on
            is late (dropped: its samples become a gap); further back, right after a link
            loss, the sensor clock was reset (without one, late however far back), s.
        host_stall_s: the watchdog waking this much later than asked means the host
            itself stalled (suspended, overloaded): not a sensor stall, and a gap that
            follows is a ``host_stall``, s.
    """

    address: str
    side: str = "unknown"
    adapter: str = "default"
    scan_timeout_s: float = 10.0
    connect_attempts: int = 3
    response_timeout_s: float = 5.0
    stall_timeout_s: float = 10.0
    watchdog_interval_s: float = 0.5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    battery_interval_s: float = 300.0
    max_queued_frames: int = 100_000
    clock: ClockMapConfig = field(default_factory=ClockMapConfig)
    link_events: bool = False
    reorder_frames: int = 4
    reorder_window_s: float = 2.0
    host_stall_s: float = 1.0

    def __post_init__(self) -> None:
        parts = self.address.split(":")
        if len(parts) != 6 or not all(len(p) == 2 for p in parts):
            raise ConfigError(f"address must look like AA:BB:CC:DD:EE:FF, got {self.address!r}")
        try:
            [int(p, 16) for p in parts]
        except ValueError as exc:
            raise ConfigError(f"address must be hexadecimal: {self.address!r}") from exc
        object.__setattr__(self, "address", self.address.upper())
        if not self.side.strip():
            raise ConfigError("side must not be empty")
        for name in (
            "scan_timeout_s",
            "response_timeout_s",
            "stall_timeout_s",
            "watchdog_interval_s",
            "backoff_max_s",
            "battery_interval_s",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"SessionConfig.{name} must be > 0 s, got {value}")
        if not (math.isfinite(self.backoff_initial_s) and self.backoff_initial_s >= 0):
            raise ConfigError("SessionConfig.backoff_initial_s must be >= 0")
        if self.backoff_initial_s > self.backoff_max_s:
            raise ConfigError("backoff_initial_s must not exceed backoff_max_s")
        if self.watchdog_interval_s > self.stall_timeout_s:
            raise ConfigError("watchdog_interval_s must not exceed stall_timeout_s")
        if not 0 <= self.reorder_frames <= 1000:
            raise ConfigError("SessionConfig.reorder_frames must be within 0..1000")
        for name in ("reorder_window_s", "host_stall_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"SessionConfig.{name} must be > 0 s, got {value}")
        if self.connect_attempts < 1 or self.max_queued_frames < 1:
            raise ConfigError("connect_attempts and max_queued_frames must be >= 1")


@dataclass(slots=True)
class SessionStats:
    """Counters of a session (times on the event loop clock, s)."""

    connections: int = 0
    link_losses: Counter[str] = field(default_factory=Counter)
    failed_attempts: int = 0
    frames: int = 0
    samples: int = 0
    dropped_notifications: int = 0
    gaps: Counter[str] = field(default_factory=Counter)
    recovery_s: list[float] = field(default_factory=list)
    last_battery_percent: int | None = None
    duplicate_frames: int = 0
    late_frames: int = 0
    reordered_frames: int = 0
    host_stalls: int = 0
    time_corrections: int = 0  # frames moved forward so that times keep increasing


# --------------------------------------------------------------------------------------
# Adapter locks
# --------------------------------------------------------------------------------------

_ADAPTER_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def adapter_lock(adapter: str) -> asyncio.Lock:
    """The lock serialising BLE operations on ``adapter`` (per event loop)."""
    loop = asyncio.get_running_loop()
    locks = _ADAPTER_LOCKS.setdefault(loop, {})
    if adapter not in locks:
        locks[adapter] = asyncio.Lock()
    return locks[adapter]


# --------------------------------------------------------------------------------------
# Internal queue items (callbacks and the connection manager -> the consumer)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rx:
    host_ns: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class _LinkDown:
    reason: GapReason
    loop_s: float


@dataclass(frozen=True, slots=True)
class _Configure:
    answers: Mapping[str, bytes]


@dataclass(frozen=True, slots=True)
class _Battery:
    host_ns: int
    percent: int


@dataclass(frozen=True, slots=True)
class _Link:
    host_ns: int
    connected: bool
    detail: str


@dataclass(frozen=True, slots=True)
class _HostStall:
    start_ns: int
    end_ns: int


@dataclass(frozen=True, slots=True)
class _End:
    error: BaseException | None = None


_Item = _Rx | _LinkDown | _Configure | _Battery | _Link | _HostStall | _End


@dataclass(slots=True)
class _Pending:
    frame: DecodedFrame
    gap_reason: GapReason | None
    suspect: bool


class _Lost(Exception):
    """Internal: the link is gone (reason in args[0])."""


# --------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------


class BleSession:
    """Streams one sensor as an async iterator of :data:`CollectorEvent`.

    Args:
        config: session settings (address, side, timeouts).
        profile: the sensor's device profile (default: Polar PMD accelerometer).
        client_backend: bleak client backend class (``None``: bleak's platform backend).
        scanner_backend: bleak scanner backend class (``None``: the platform backend).
        backend_kwargs: extra keyword arguments for ``BleakScanner``/``BleakClient``
            (passed on to the backends, e.g. ``radio=`` for the simulation backend).
        host_clock: source of host timestamps (default: :class:`SystemHostClock`).
    """

    def __init__(
        self,
        config: SessionConfig,
        profile: DeviceProfile | None = None,
        *,
        client_backend: type[BaseBleakClient] | None = None,
        scanner_backend: type[BaseBleakScanner] | None = None,
        backend_kwargs: Mapping[str, Any] | None = None,
        host_clock: HostClock | None = None,
    ) -> None:
        self.config = config
        self.profile = profile or PolarPmdProfile()
        self.host_clock: HostClock = host_clock or SystemHostClock()
        self.stats = SessionStats()
        self.decoder: StreamDecoder = self.profile.new_decoder()
        self.mapper = SensorClockMapper(config.clock)
        self._client_kwargs: dict[str, Any] = dict(backend_kwargs or {})
        self._scanner_kwargs: dict[str, Any] = dict(backend_kwargs or {})
        if client_backend is not None:
            self._client_kwargs["backend"] = client_backend
        if scanner_backend is not None:
            self._scanner_kwargs["backend"] = scanner_backend
        self._inbox: asyncio.Queue[_Item] = asyncio.Queue()
        self._responses: asyncio.Queue[bytes] = asyncio.Queue()
        self._manager: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._link_lost = asyncio.Event()
        self._client: BleakClient | None = None
        self._last_rx_loop_s = 0.0
        self._down_since_loop_s: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._link_up = False  # a stream started on the current connection

    # -- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> BleSession:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start(self) -> None:
        """Start the connection manager (idempotent)."""
        if self._manager is None:
            self._loop = asyncio.get_running_loop()
            self._manager = self._loop.create_task(self._run(), name=f"ble-{self.config.address}")

    async def stop(self) -> None:
        """Stop streaming, disconnect, and end the event iteration (idempotent)."""
        self._stop.set()
        if self._manager is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._manager

    def __aiter__(self) -> AsyncIterator[CollectorEvent]:
        return self.events()

    # -- callbacks: timestamp and queue, nothing else ---------------------------------

    def _on_data(self, _sender: Any, data: bytearray) -> None:
        host_ns = self.host_clock.now_ns()
        assert self._loop is not None
        self._last_rx_loop_s = self._loop.time()
        if self._inbox.qsize() >= self.config.max_queued_frames:
            self.stats.dropped_notifications += 1
            return
        self._inbox.put_nowait(_Rx(host_ns, bytes(data)))

    def _on_control(self, _sender: Any, data: bytearray) -> None:
        self._responses.put_nowait(bytes(data))

    def _on_disconnected(self, client: BleakClient) -> None:
        if client is self._client:
            self._link_lost.set()

    # -- connection manager -------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        error: BaseException | None = None
        try:
            while not self._stop.is_set():
                streamed = False
                reason: GapReason = "error"
                try:
                    device = await self._scan()
                    client = await self._connect(device)
                    try:
                        streamed, reason = await self._stream(client)
                    finally:
                        await self._disconnect(client)
                except (DeviceCapabilityError, ConfigError):
                    raise
                except (BleakError, TransportError, ProtocolError, TimeoutError, OSError) as exc:
                    logger.warning("%s: %s: %s", self.config.address, type(exc).__name__, exc)
                    reason = "error"
                except _Lost as lost:
                    streamed = True
                    reason = lost.args[0]
                if self._stop.is_set():
                    break
                self._link_state(False, reason)
                if streamed:
                    failures = 0
                    self.stats.link_losses[reason] += 1
                    assert self._loop is not None
                    self._down_since_loop_s = self._loop.time()
                    self._inbox.put_nowait(_LinkDown(reason, self._loop.time()))
                    continue  # reconnect at once after a working stream
                failures += 1
                self.stats.failed_attempts += 1
                delay = min(
                    self.config.backoff_max_s,
                    self.config.backoff_initial_s * 2 ** min(failures - 1, 30),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
        except BaseException as exc:
            error = exc
            if not isinstance(exc, JerkmonError):
                raise
        finally:
            self._link_state(False, "stopped" if error is None else "error")
            self._inbox.put_nowait(_End(error))

    def _link_state(self, connected: bool, detail: str) -> None:
        # Only the changes: a failed attempt after a drop is not a second "down".  Queued
        # only when LinkEvents are wanted (the consumer would drop them otherwise).
        if connected != self._link_up:
            self._link_up = connected
            if self.config.link_events:
                self._inbox.put_nowait(_Link(self.host_clock.now_ns(), connected, detail))

    async def _scan(self) -> BLEDevice:
        address = self.config.address
        async with adapter_lock(self.config.adapter):
            device = await BleakScanner.find_device_by_address(
                address, timeout=self.config.scan_timeout_s, **self._scanner_kwargs
            )
        if device is None:
            raise SensorNotFoundError(
                f"sensor {address} not seen within {self.config.scan_timeout_s:g} s"
            )
        return device

    async def _connect(self, device: BLEDevice) -> BleakClient:
        self._link_lost = asyncio.Event()
        async with adapter_lock(self.config.adapter):
            client = await establish_connection(
                BleakClient,
                device,
                device.name or device.address,
                disconnected_callback=self._on_disconnected,
                max_attempts=self.config.connect_attempts,
                **self._client_kwargs,
            )
        self._client = client
        self.stats.connections += 1
        return client

    async def _disconnect(self, client: BleakClient) -> None:
        self._client = None
        if client.is_connected:
            async with adapter_lock(self.config.adapter):
                with contextlib.suppress(BleakError, TimeoutError, OSError):
                    await asyncio.wait_for(client.disconnect(), self.config.response_timeout_s)

    async def _op(self, coro: Any) -> Any:
        """Run one GATT operation under the adapter lock, failing fast if the link drops."""
        if self._link_lost.is_set():
            coro.close()
            raise _Lost("disconnect")
        async with adapter_lock(self.config.adapter):
            return await asyncio.wait_for(coro, self.config.response_timeout_s)

    async def _read_battery(self, client: BleakClient) -> None:
        if client.services.get_characteristic(BATTERY_LEVEL_UUID) is None:
            return
        value = await self._op(client.read_gatt_char(BATTERY_LEVEL_UUID))
        if value:
            percent = int(value[0])
            self.stats.last_battery_percent = percent
            self._inbox.put_nowait(_Battery(self.host_clock.now_ns(), percent))

    async def _run_step(self, client: BleakClient, step: ControlStep) -> bytes:
        while not self._responses.empty():
            self._responses.get_nowait()
        await self._op(client.write_gatt_char(step.char_uuid, step.data, response=True))
        if not step.expects_response:
            return b""
        parts: list[bytes] = []
        while True:
            try:
                part = await asyncio.wait_for(self._responses.get(), self.config.response_timeout_s)
            except TimeoutError as exc:
                raise TransportError(
                    f"{self.config.address}: no answer to {step.name} within "
                    f"{self.config.response_timeout_s:g} s"
                ) from exc
            parts.append(part)
            full = self.profile.collect_response(parts)
            if full is not None:
                break
        try:
            self.profile.check_response(step, full)
        except ControlPointError as exc:
            if not step.tolerate_error:
                raise
            logger.debug("%s: %s answered %s (ignored)", self.config.address, step.name, exc)
        return full

    async def _stream(self, client: BleakClient) -> tuple[bool, GapReason]:
        """Configure and start streaming, then watch the link.  Returns ``(streamed,
        reason)`` when the stream ends; raises on setup errors."""
        profile = self.profile
        await self._read_battery(client)
        if profile.feature_uuid is not None:
            profile.check_features(
                bytes(await self._op(client.read_gatt_char(profile.feature_uuid)))
            )
        if profile.control_uuid is not None:
            await self._op(client.start_notify(profile.control_uuid, self._on_control))
        await self._op(client.start_notify(profile.data_uuid, self._on_data))
        answers = {step.name: await self._run_step(client, step) for step in profile.query_steps()}
        start_answers: dict[str, bytes] = {}
        for step in profile.start_steps(answers):
            start_answers[step.name] = await self._run_step(client, step)
            start_answers[f"{step.name}_request"] = step.data
        self._inbox.put_nowait(_Configure(start_answers))
        self._link_state(True, "stream started")
        assert self._loop is not None
        loop = self._loop
        self._last_rx_loop_s = loop.time()
        next_battery = loop.time() + self.config.battery_interval_s
        while True:
            stop_wait = asyncio.ensure_future(self._stop.wait())
            lost_wait = asyncio.ensure_future(self._link_lost.wait())
            asked = loop.time()
            try:
                await asyncio.wait(
                    (stop_wait, lost_wait),
                    timeout=self.config.watchdog_interval_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                stop_wait.cancel()
                lost_wait.cancel()
            late_s = loop.time() - asked - self.config.watchdog_interval_s
            if late_s > self.config.host_stall_s:
                # This process did not run (suspend, SIGSTOP, overload): the silence was
                # ours, not the sensor's, so the sensor gets a fresh stall timeout.
                self.stats.host_stalls += 1
                self._last_rx_loop_s = max(self._last_rx_loop_s, loop.time())
                end_ns = self.host_clock.now_ns()
                stalled_ns = round((late_s + self.config.watchdog_interval_s) * 1e9)
                self._inbox.put_nowait(_HostStall(end_ns - stalled_ns, end_ns))
                logger.warning(
                    "%s: the host stalled for %.1f s (not the sensor)", self.config.address, late_s
                )
            if self._stop.is_set():
                await self._stop_stream(client)
                return True, "disconnect"
            if self._link_lost.is_set():
                return True, "disconnect"
            if loop.time() - self._last_rx_loop_s > self.config.stall_timeout_s:
                logger.warning(
                    "%s: no notification for %.1f s, reconnecting",
                    self.config.address,
                    loop.time() - self._last_rx_loop_s,
                )
                return True, "stall"
            if loop.time() >= next_battery:
                next_battery = loop.time() + self.config.battery_interval_s
                try:
                    await self._read_battery(client)
                except (BleakError, TimeoutError) as exc:
                    logger.warning("%s: battery read failed: %s", self.config.address, exc)

    async def _stop_stream(self, client: BleakClient) -> None:
        """Best-effort clean stop: stop command(s), unsubscribe."""
        with contextlib.suppress(JerkmonError, BleakError, TimeoutError, _Lost):
            for step in self.profile.stop_steps():
                await self._run_step(client, step)
            await self._op(client.stop_notify(self.profile.data_uuid))
            if self.profile.control_uuid is not None:
                await self._op(client.stop_notify(self.profile.control_uuid))

    # -- consumer ---------------------------------------------------------------------

    async def events(self) -> AsyncIterator[CollectorEvent]:
        """Decode, timestamp and map queued notifications; yield batches, gaps, battery
        readings until :meth:`stop` (or a fatal error, which is raised)."""
        self.start()
        emitter = _Emitter(self)
        try:
            while True:
                item = await self._inbox.get()
                items = [item]
                while not self._inbox.empty() and not isinstance(items[-1], _End):
                    items.append(self._inbox.get_nowait())
                for it in items:
                    if isinstance(it, _End):
                        emitter.flush(final=True)
                        for ev in emitter.take():
                            yield ev
                        if it.error is not None:
                            raise it.error
                        return
                    emitter.handle(it)
                for ev in emitter.take():
                    yield ev
        finally:
            if self._manager is not None and not self._manager.done():
                self._stop.set()
                with contextlib.suppress(asyncio.CancelledError, JerkmonError):
                    await self._manager


class _Emitter:
    """Consumer-side state: decoding, clock mapping, hold-back until the mapping settles,
    gap bookkeeping and batching."""

    def __init__(self, session: BleSession) -> None:
        self.s = session
        self.address = session.config.address
        self.side = session.config.side
        self.pending: list[_Pending] = []
        self.out: list[CollectorEvent] = []
        self.batch_t: list[NDArray[np.float64]] = []
        self.batch_a: list[NDArray[np.float64]] = []
        self.last_host_s: float | None = None
        self.last_sensor_s: float | None = None
        self.correction_s = 0.0  # added to mapped times (decays), keeps them increasing
        self.link_reason: GapReason | None = None
        self.error_reason: GapReason | None = None
        self.seen_frame = False
        self.host_stall_until_ns = -1  # frames received before this follow a host stall
        # reorder buffer: (frame time ns, rx) sorted by frame time; recent frame times
        self.held: list[tuple[int, _Rx]] = []
        self.released_ns: int | None = None
        self.recent_ns: deque[int] = deque(maxlen=256)
        self.link_lost = False  # the link went down since the last frame was passed on

    def handle(self, item: _Item) -> None:
        s = self.s
        if isinstance(item, _Configure):
            s.decoder.configure(item.answers)
        elif isinstance(item, _Battery):
            self.out.append(BatteryReading(self.address, item.host_ns / 1e9, item.percent))
        elif isinstance(item, _LinkDown):
            self.release(0)
            self.link_lost = True
            if self.link_reason is None or self.link_reason == "error":
                self.link_reason = item.reason
        elif isinstance(item, _Link):
            self.out.append(
                LinkEvent(self.address, item.host_ns / 1e9, item.connected, item.detail)
            )
        elif isinstance(item, _HostStall):
            # a gap among the frames delivered after it is the stall's (the backlog takes
            # about as long as the stall to drain)
            stalled = item.end_ns - item.start_ns
            self.host_stall_until_ns = max(self.host_stall_until_ns, item.end_ns + stalled)
        elif isinstance(item, _Rx):
            self.receive(item)

    def receive(self, rx: _Rx) -> None:
        """Drop duplicate and hopelessly late frames, put small reorderings right, and pass
        frames on in sensor-time order (holding back ``reorder_frames``)."""
        s = self.s
        ts = s.decoder.frame_time_ns(rx.payload)
        if ts is None:
            self.release(0)
            self.frame(rx)
            return
        held = [h for h, _ in self.held]
        if ts in held or ts in self.recent_ns:
            s.stats.duplicate_frames += 1
            return
        ref = max([*held, *([] if self.released_ns is None else [self.released_ns])], default=None)
        window_ns = round(s.config.reorder_window_s * 1e9)
        if ref is not None and ts < ref - window_ns and self.link_lost:
            # far behind everything seen after a link loss: the sensor clock restarted (a
            # power loss); keep arrival order
            self.release(0)
            self.recent_ns.clear()
            self.pass_on(ts, rx)
            return
        # Without a link loss in between it cannot be a restart (power loss takes the link
        # down): however far behind, the frame was delayed - a backlog overtaken by a frame
        # that went on early - so it is reordered or, behind what went on, late.
        if self.released_ns is not None and ts < self.released_ns:
            s.stats.late_frames += 1  # its neighbours went on already: its samples are a gap
            return
        if held and ts < held[-1]:
            s.stats.reordered_frames += 1
        bisect.insort(self.held, (ts, rx), key=lambda h: h[0])
        self.release(s.config.reorder_frames)

    def release(self, keep: int) -> None:
        while len(self.held) > keep:
            ts, rx = self.held.pop(0)
            self.pass_on(ts, rx)

    def pass_on(self, ts: int, rx: _Rx) -> None:
        self.link_lost = False
        self.released_ns = ts
        self.recent_ns.append(ts)
        self.frame(rx)

    def frame(self, rx: _Rx) -> None:
        s = self.s
        try:
            frame = s.decoder.decode(rx.payload)
        except FrameDecodeError as exc:
            logger.debug("%s: bad frame (%s): %s", self.address, exc.kind, exc)
            self.error_reason = self.error_reason or "decode_error"
            return
        s.stats.frames += 1
        s.stats.samples += frame.n_samples
        if s._down_since_loop_s is not None and s._loop is not None:
            s.stats.recovery_s.append(s._loop.time() - s._down_since_loop_s)
            s._down_since_loop_s = None
        reason: GapReason | None = None
        after_host_stall = rx.host_ns <= self.host_stall_until_ns and not frame.clock_reset
        if self.seen_frame and (frame.gap_before is not None or frame.clock_reset):
            reason = self.link_reason or self.error_reason
            if reason is None and after_host_stall:
                reason = "host_stall"
            if reason is None:
                reason = "clock_reset" if frame.clock_reset else "frame_drop"
        self.seen_frame = True
        self.link_reason = None
        self.error_reason = None
        mapper = s.mapper
        before: ClockMapping | None = mapper.snapshot() if mapper.anchored else None
        if frame.clock_reset:
            mapper.reset()
        result = mapper.observe(frame.frame_t_sensor_s, rx.host_ns / 1e9)
        if result == "reanchored" or (frame.clock_reset and before is not None):
            # frames still held back belong to the old clock, except suspects (which
            # confirmed the jump): map the former with the old mapping now
            old = [p for p in self.pending if not p.suspect]
            self.pending = [p for p in self.pending if p.suspect]
            if before is not None:
                for p in old:
                    self.emit(p, before)
            if reason is None:
                reason = "host_stall" if after_host_stall else "clock_reset"
        self.pending.append(_Pending(frame, reason, suspect=result == "suspect"))
        if mapper.ready:
            mapping = mapper.snapshot()
            for p in self.pending:
                self.emit(p, mapping)
            self.pending.clear()

    def emit(self, p: _Pending, mapping: ClockMapping) -> None:
        t_sensor = p.frame.t_sensor_s
        t_host = mapping.to_host(t_sensor)
        last = self.last_host_s
        if p.gap_reason is not None and last is not None and float(t_host[0]) > last:
            self.correction_s = 0.0  # a fresh segment: no continuity to keep
        t_host = t_host + self.correction_s
        if last is not None and float(t_host[0]) <= last:
            # The mapping moved back (a refit, a re-anchor) or the frame overlaps: keep
            # times strictly increasing by moving it forward, and let the shift decay.
            step = 1e-3
            if p.gap_reason is None and self.last_sensor_s is not None:
                step = min(1.0, max(1e-6, float(t_sensor[0]) - self.last_sensor_s))
            shift = last + step - float(t_host[0])
            self.correction_s += shift
            t_host = t_host + shift
            self.s.stats.time_corrections += 1
        if self.correction_s:
            # slew back to the mapping at 2 % of the frame's duration
            span = float(t_sensor[-1] - t_sensor[0]) + 1e-2
            self.correction_s -= math.copysign(
                min(abs(self.correction_s), 0.02 * span), self.correction_s
            )
        self.last_sensor_s = float(t_sensor[-1])
        if p.gap_reason is not None and self.last_host_s is not None:
            self.close_batch()
            self.out.append(
                GapRecord(self.address, self.last_host_s, float(t_host[0]), p.gap_reason)
            )
            self.s.stats.gaps[p.gap_reason] += 1
        self.batch_t.append(t_host)
        self.batch_a.append(p.frame.acc_g)
        self.last_host_s = float(t_host[-1])

    def close_batch(self) -> None:
        if not self.batch_t:
            return
        t = np.concatenate(self.batch_t)
        a = np.concatenate(self.batch_a, axis=0)
        t.setflags(write=False)
        a.setflags(write=False)
        self.out.append(SampleBatch(self.address, self.side, t, a))
        self.batch_t.clear()
        self.batch_a.clear()

    def flush(self, final: bool) -> None:
        if final:
            self.release(0)
        if final and self.pending and self.s.mapper.anchored:
            mapping = self.s.mapper.snapshot()
            for p in self.pending:
                self.emit(p, mapping)
            self.pending.clear()

    def take(self) -> list[CollectorEvent]:
        self.close_batch()
        out, self.out = self.out, []
        return out
