"""An emulated Polar PMD accelerometer: a real GATT peripheral on a bumble virtual link.

:class:`EmulatedPmdSensor` is a bumble ``Device`` with the PMD service (control point:
read/write/indicate, data: notify), the battery service (0x180F) and a GAP name such as
``"Polar Sense EMU1"``.  After a valid start command it streams the sample arrays it was
given, ``t (n,) s`` and ``acc (n, 3) g``, as real PMD frames (raw int8/16/24 or
delta-compressed), each frame stamped with the sensor clock (``offset + t * (1 + drift)``,
ns since 2000-01-01) of its last sample.  Frames are paced by a :class:`SimClock`, which
runs ``speed`` times faster than the event loop's clock; under
:func:`run_virtual` (an event loop whose clock jumps ahead whenever it is idle) a night
streams as fast as the CPU allows while every timer - bleak's, bumble's, the session's
watchdog - still sees consistent time.  A small link model delays each notification to the
next BLE connection event (plus occasional retransmissions), so host receive times carry
the one-sided jitter real links have.

Faults (:class:`SensorFaults`, times on the sample time base): peripheral-side
disconnects, notification stalls (connected but silent until the stall ends or the link
drops), dropped frames, and sensor clock resets (power loss: the link drops, the clock
restarts at a default date).  :attr:`EmulatedPmdSensor.log` records every frame with its
sample index range and whether it was notified while connected - the ground truth the
end-to-end tests compare the collector's output against.

Sample times must be on the :class:`SimClock` time base (``SimClock.now_s()``); the
collector session should use the same clock as its host clock so that "host time" and
sample time agree, which is what makes timestamp errors measurable.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import selectors
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
from bumble import hci
from bumble.core import AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from numpy.typing import NDArray

from collector.protocols.base import BATTERY_LEVEL_UUID, BATTERY_SERVICE_UUID
from collector.protocols.pmd import (
    PMD_CONTROL_UUID,
    PMD_DATA_UUID,
    PMD_EPOCH_UNIX_S,
    PMD_SERVICE_UUID,
    ControlOp,
    MeasurementType,
    ResponseStatus,
    SettingType,
    encode_acc_frame,
    encode_control_response,
    encode_features,
    encode_settings,
    max_samples_per_frame,
    parse_control_request,
)
from detector.errors import ConfigError, ControlPointError
from sim.ble_backend import SimRadio, default_radio

if TYPE_CHECKING:
    from collector.ble.scan import FoundSensor

T = TypeVar("T")

POLAR_COMPANY_ID = 0x006B


# --------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------


class SimClock:
    """Simulated time: ``now_s() = origin_s + speed * (loop.time() - loop_t0)``.

    ``loop_t0`` is taken at the first call inside a running loop.  Implements the host-clock
    protocol (``now_ns``) so a collector session can stamp notifications with it.
    """

    def __init__(self, origin_s: float = 0.0, speed: float = 1.0) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ConfigError(f"speed must be a finite factor > 0, got {speed}")
        if not math.isfinite(origin_s):
            raise ConfigError("origin_s must be finite")
        self.origin_s = origin_s
        self.speed = speed
        self._loop_t0: float | None = None

    def _t0(self) -> float:
        if self._loop_t0 is None:
            self._loop_t0 = asyncio.get_running_loop().time()
        return self._loop_t0

    def now_s(self) -> float:
        """Simulated time, s."""
        t0 = self._t0()
        return self.origin_s + self.speed * (asyncio.get_running_loop().time() - t0)

    def now_ns(self) -> int:
        return round(self.now_s() * 1e9)

    async def sleep_until(self, t_s: float) -> None:
        """Sleep until simulated time ``t_s`` (returns at once if it has passed)."""
        while True:
            remaining = (t_s - self.now_s()) / self.speed
            if remaining <= 0:
                return
            await asyncio.sleep(remaining)

    async def sleep(self, dt_s: float) -> None:
        await self.sleep_until(self.now_s() + dt_s)


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose clock jumps to the next timer whenever nothing is ready.

    Callbacks, I/O readiness and ``call_soon`` chains run exactly as in a normal loop (so
    the BLE stack's message passing takes zero simulated time); only idle waiting is
    skipped.  If the loop is idle with no timer scheduled and nothing arrives for
    ``idle_real_timeout_s`` of real time, it raises ``RuntimeError`` (a deadlock).
    """

    def __init__(self, idle_real_timeout_s: float = 10.0) -> None:
        self._virtual_now = 0.0
        loop = self

        class _Selector(selectors.DefaultSelector):
            def select(self, timeout: float | None = None) -> Any:
                events = super().select(0)
                if events or timeout == 0:
                    return events
                if timeout is None:
                    events = super().select(idle_real_timeout_s)
                    if not events:
                        raise RuntimeError("virtual-time loop idle with no timer: deadlock")
                    return events
                loop._virtual_now += timeout
                return []

        super().__init__(_Selector())

    def time(self) -> float:
        return self._virtual_now

    def stall(self, dt_s: float) -> None:
        """The host stops for ``dt_s`` (SIGSTOP, a suspended laptop): called from a callback,
        the clock moves on while nothing runs, so every timer due meanwhile fires late, at
        once, when the loop continues."""
        self._virtual_now += dt_s


def run_virtual(main: Coroutine[Any, Any, T], idle_real_timeout_s: float = 10.0) -> T:
    """``asyncio.run`` on a :class:`VirtualTimeEventLoop`."""
    loop = VirtualTimeEventLoop(idle_real_timeout_s)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkLatencyModel:
    """Delay from "frame ready" to "notification received" on a BLE link.

    Notifications leave at connection events every ``connection_interval_s`` of the
    *link's* clock, which runs ``link_clock_ppm`` off the sample clock (BLE sleep clocks are
    specified to 20-500 ppm), with a random phase per connection: successive frames wait a
    sawtooth of 0..interval whose phase walks slowly.  On top: up to ``max_retransmits``
    extra intervals with probability ``retransmit_probability`` each, and an exponential
    host-side jitter of mean ``jitter_s``.  ``connection_interval_s = 0`` sends at once."""

    connection_interval_s: float = 0.01125
    link_clock_ppm: float = 250.0
    retransmit_probability: float = 0.02
    max_retransmits: int = 3
    jitter_s: float = 0.0002

    def __post_init__(self) -> None:
        if not (math.isfinite(self.connection_interval_s) and self.connection_interval_s >= 0):
            raise ConfigError("connection_interval_s must be >= 0")
        if not (math.isfinite(self.link_clock_ppm) and abs(self.link_clock_ppm) < 1e4):
            raise ConfigError("link_clock_ppm must be finite and < 10000")
        if not 0 <= self.retransmit_probability < 1:
            raise ConfigError("retransmit_probability must be in [0, 1)")
        if self.max_retransmits < 0:
            raise ConfigError("max_retransmits must be >= 0")
        if not (math.isfinite(self.jitter_s) and self.jitter_s >= 0):
            raise ConfigError("jitter_s must be >= 0")

    def delay_s(self, ready_s: float, phase_s: float, rng: np.random.Generator) -> float:
        """Seconds from ``ready_s`` to the notification reaching the host (>= 0)."""
        ci = self.connection_interval_s * (1.0 + self.link_clock_ppm * 1e-6)
        jitter = float(rng.exponential(self.jitter_s)) if self.jitter_s > 0 else 0.0
        if ci == 0:
            return jitter
        wait = (phase_s - ready_s) % ci
        retries = 0
        while retries < self.max_retransmits and rng.random() < self.retransmit_probability:
            retries += 1
        return float(wait + retries * ci + jitter)


@dataclass(frozen=True, slots=True)
class SensorFaults:
    """Faults to inject; times are on the sample time base, s.

    Attributes:
        disconnect_at_s: the peripheral drops the link at these times.
        stalls: ``(start_s, duration_s)``: from ``start_s`` the sensor stops notifying
            while connected, until ``duration_s`` has passed or the link drops.
        drop_frames_at_s: the frame holding the sample at each time is never sent.
        clock_reset_at_s: power loss: the link drops and the sensor clock restarts at
            ``EmulatedSensorConfig.reset_clock_to_s``.
        readvertise_delay_s: after a peripheral-side drop or a power loss the sensor is
            silent (not advertising) this long, s.
    """

    disconnect_at_s: tuple[float, ...] = ()
    stalls: tuple[tuple[float, float], ...] = ()
    drop_frames_at_s: tuple[float, ...] = ()
    clock_reset_at_s: tuple[float, ...] = ()
    readvertise_delay_s: float = 1.0

    def __post_init__(self) -> None:
        times = [*self.disconnect_at_s, *self.drop_frames_at_s, *self.clock_reset_at_s]
        times += [s for s, _ in self.stalls]
        if any(not math.isfinite(t) for t in times):
            raise ConfigError("fault times must be finite")
        if any(not (math.isfinite(d) and d > 0) for _, d in self.stalls):
            raise ConfigError("stall durations must be > 0")
        if not (math.isfinite(self.readvertise_delay_s) and self.readvertise_delay_s >= 0):
            raise ConfigError("readvertise_delay_s must be >= 0")


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """How many faults each emulated sensor of a night suffers (``jerkmon run --sim-ble
    --faults disconnects=20,stalls=1``); :meth:`schedule` places them at seeded times.

    Attributes:
        disconnects: peripheral-side link drops.
        stalls: notification stalls (connected but silent) of ``stall_s`` each.
        stall_s: length of a stall, s (the collector's watchdog ends it sooner).
        drops: single frames never sent.
        resets: power losses: the link drops and the sensor clock restarts.
        readvertise_s: silence after a drop or a power loss before advertising again, s.
        host_stalls: the whole host stops this many times (not per sensor: the collector's
            process, as SIGSTOP or a suspend does), ``host_stall_s`` each.
    """

    disconnects: int = 0
    stalls: int = 0
    stall_s: float = 60.0
    drops: int = 0
    resets: int = 0
    readvertise_s: float = 1.0
    host_stalls: int = 0
    host_stall_s: float = 3.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.host_stall_s) and self.host_stall_s > 0):
            raise ConfigError(f"faults: host_stall_s must be > 0 s, got {self.host_stall_s}")
        for name in ("disconnects", "stalls", "drops", "resets", "host_stalls"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10_000:
                raise ConfigError(f"faults: {name} must be a whole number 0..10000, got {value!r}")
        if not (math.isfinite(self.stall_s) and self.stall_s > 0):
            raise ConfigError(f"faults: stall_s must be > 0 s, got {self.stall_s}")
        if not (math.isfinite(self.readvertise_s) and self.readvertise_s >= 0):
            raise ConfigError(f"faults: readvertise_s must be >= 0 s, got {self.readvertise_s}")

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        """``"disconnects=20,stalls=1,stall_s=60"`` (any subset of the fields; ``""``: none)."""
        values: dict[str, Any] = {}
        names = {f.name: f.type for f in fields(cls)}  # "int" / "float" (postponed)
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            key, sep, raw = part.partition("=")
            key = key.strip()
            if not sep or key not in names:
                raise ConfigError(
                    f"--faults: expected KEY=VALUE with KEY one of {', '.join(names)}, got {part!r}"
                )
            try:
                values[key] = int(raw) if names[key] == "int" else float(raw)
            except ValueError:
                raise ConfigError(f"--faults: {key} must be a number, got {raw!r}") from None
        return cls(**values)

    @property
    def total(self) -> int:
        return self.disconnects + self.stalls + self.drops + self.resets

    def describe(self) -> str:
        parts = [
            f"{n} {name}"
            for n, name in (
                (self.disconnects, "disconnects"),
                (self.stalls, f"stalls of {self.stall_s:g} s"),
                (self.drops, "dropped frames"),
                (self.resets, "power losses"),
                (self.host_stalls, f"host stalls of {self.host_stall_s:g} s"),
            )
            if n
        ]
        return ", ".join(parts) or "none"

    def host_stall_times(self, start_s: float, end_s: float, seed: int) -> tuple[float, ...]:
        """When the host stalls within (``start_s``, ``end_s``): one per equal slot, at a
        random point of its middle."""
        n = self.host_stalls
        if n == 0:
            return ()
        slot = (end_s - start_s) / n
        rng = np.random.default_rng(seed)
        return tuple(float(t) for t in start_s + slot * (np.arange(n) + rng.uniform(0.3, 0.7, n)))

    def schedule(self, start_s: float, end_s: float, seed: int) -> SensorFaults:
        """Fault times within (``start_s``, ``end_s``): the span is cut into one slot per
        fault and each fault falls at a random point of the middle of its slot, so faults
        are spread over the night and never on top of each other."""
        n = self.total
        if n == 0:
            return SensorFaults(readvertise_delay_s=self.readvertise_s)
        slot = (end_s - start_s) / n
        if not slot >= 10.0:
            raise ConfigError(
                f"--faults: {n} faults do not fit a {end_s - start_s:g} s night "
                "(at most one per 10 s)"
            )
        rng = np.random.default_rng(seed)
        kinds = ["d"] * self.disconnects + ["s"] * self.stalls
        kinds += ["f"] * self.drops + ["r"] * self.resets
        order = rng.permutation(n)
        at = start_s + slot * (np.arange(n) + rng.uniform(0.2, 0.8, n))
        times: dict[str, list[float]] = {"d": [], "s": [], "f": [], "r": []}
        for k, i in enumerate(order.tolist()):
            times[kinds[i]].append(float(at[k]))
        return SensorFaults(
            disconnect_at_s=tuple(sorted(times["d"])),
            stalls=tuple((t, self.stall_s) for t in sorted(times["s"])),
            drop_frames_at_s=tuple(sorted(times["f"])),
            clock_reset_at_s=tuple(sorted(times["r"])),
            readvertise_delay_s=self.readvertise_s,
        )


@dataclass(frozen=True, slots=True)
class EmulatedSensorConfig:
    """The emulated sensor.

    Attributes:
        name: advertised name (the Polar profile matches ``"Polar Sense ..."``).
        address: static random address (first byte >= 0xC0).
        sample_rate_hz: rate of the given samples; the only rate offered, Hz.
        ranges_g: ranges offered, ±g (the requested one clips the samples).
        frame_type: PMD ACC frame type (raw: 0/1/2 = 8/16/24 bit; compressed: 0/1).
        compressed: send delta-compressed frames.
        factor: scale factor announced in the start answer (compressed frames); ``None``:
            ``range / 32768`` g for compressed type 0, 1.0 (milli-g) for type 1.
        samples_per_frame: samples per notification (``None``: as many as fit ``att_mtu``).
        att_mtu: largest ATT MTU the sensor accepts (Polar: 232).
        sensor_clock_offset_s: sensor clock (s since 2000-01-01) at sample time 0.
        clock_drift_ppm: the sensor clock runs this much fast, ppm.
        reset_clock_to_s: sensor clock value after a power loss (default ~2019-01-05).
        battery_percent: battery level reported, %.
        advertising_interval_ms: ms.
        latency: link latency model.
        pace: wait for each frame's sample time (``False``: send back to back, as fast as
            the link drains them - for throughput benchmarks).
        seed: random seed of the link model.
        faults: faults to inject.
    """

    name: str = "Polar Sense EMU1"
    address: str = "F1:5E:25:00:00:01"
    sample_rate_hz: int = 100
    ranges_g: tuple[int, ...] = (2, 4, 8, 16)
    frame_type: int = 1
    compressed: bool = False
    factor: float | None = None
    samples_per_frame: int | None = None
    att_mtu: int = 232
    sensor_clock_offset_s: float = 7.9e8
    clock_drift_ppm: float = 0.0
    reset_clock_to_s: float = 6.0e8
    battery_percent: int = 87
    advertising_interval_ms: float = 100.0
    latency: LinkLatencyModel = field(default_factory=LinkLatencyModel)
    pace: bool = True
    seed: int = 0
    faults: SensorFaults = field(default_factory=SensorFaults)

    def __post_init__(self) -> None:
        try:
            address = hci.Address(self.address)
        except Exception as exc:
            raise ConfigError(f"bad address {self.address!r}: {exc}") from exc
        if int(address.address_bytes[5]) < 0xC0:
            raise ConfigError("a static random address must start with a byte >= 0xC0")
        if not 1 <= self.sample_rate_hz <= 10_000:
            raise ConfigError(f"sample_rate_hz must be 1..10000, got {self.sample_rate_hz}")
        if not self.ranges_g or any(not 1 <= r <= 64 for r in self.ranges_g):
            raise ConfigError("ranges_g must list ranges of 1..64 g")
        valid = (0, 1) if self.compressed else (0, 1, 2)
        if self.frame_type not in valid:
            raise ConfigError(f"frame_type must be one of {valid}, got {self.frame_type}")
        if self.factor is not None and not (math.isfinite(self.factor) and self.factor > 0):
            raise ConfigError("factor must be > 0")
        if not 23 <= self.att_mtu <= 517:
            raise ConfigError("att_mtu must be 23..517")
        if self.samples_per_frame is not None and not 1 <= self.samples_per_frame <= 255:
            raise ConfigError("samples_per_frame must be 1..255")
        if not (0 <= self.battery_percent <= 100):
            raise ConfigError("battery_percent must be 0..100")
        if not (math.isfinite(self.clock_drift_ppm) and abs(self.clock_drift_ppm) < 1e4):
            raise ConfigError("clock_drift_ppm must be finite and < 10000")
        if self.advertising_interval_ms < 20:
            raise ConfigError("advertising_interval_ms must be >= 20")


# --------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------

FrameStatus = Literal["sent", "dropped", "stalled"]


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One frame the sensor built while streaming.

    Attributes:
        start, stop: sample index range ``[start, stop)`` of the given arrays.
        t_last_s: sample time of the last sample, s.
        timestamp_ns: sensor-clock timestamp in the frame.
        status: ``"sent"`` (notified while connected), ``"dropped"`` or ``"stalled"``.
        connection: sequence number of the connection it belongs to.
        sent_at_s: simulated time the notification left, s.
    """

    start: int
    stop: int
    t_last_s: float
    timestamp_ns: int
    status: FrameStatus
    connection: int
    sent_at_s: float


@dataclass(slots=True)
class SensorLog:
    """Everything the sensor did, for checking delivery."""

    frames: list[FrameRecord] = field(default_factory=list)
    connections: list[tuple[float, float | None]] = field(default_factory=list)
    disconnects: list[tuple[float, str]] = field(default_factory=list)
    starts: int = 0
    stops: int = 0
    rejected: list[tuple[float, str]] = field(default_factory=list)

    def sent_indices(self) -> NDArray[np.int64]:
        """Sample indices of every sent frame, in sending order (with repeats, if any)."""
        parts = [np.arange(f.start, f.stop) for f in self.frames if f.status == "sent"]
        if not parts:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate(parts).astype(np.int64)

    def frames_with(self, status: FrameStatus) -> list[FrameRecord]:
        return [f for f in self.frames if f.status == status]


# --------------------------------------------------------------------------------------
# The sensor
# --------------------------------------------------------------------------------------


class EmulatedPmdSensor:
    """A Polar-like PMD accelerometer on a :class:`~sim.ble_backend.SimRadio`.

    Args:
        t_s: (n,) sample times on the ``clock`` time base, s, increasing.
        acc_g: (n, 3) accelerations, g.
        config: the sensor's settings and faults.
        clock: pacing clock (default: ``SimClock(origin_s=t_s[0])``).
        radio: the virtual radio (default: the running loop's shared one).
    """

    def __init__(
        self,
        t_s: NDArray[np.float64],
        acc_g: NDArray[np.float64],
        config: EmulatedSensorConfig | None = None,
        clock: SimClock | None = None,
        radio: SimRadio | None = None,
    ) -> None:
        t = np.asarray(t_s, dtype=np.float64)
        a = np.asarray(acc_g, dtype=np.float64)
        if t.ndim != 1 or a.shape != (t.shape[0], 3) or t.shape[0] < 2:
            raise ConfigError(f"need t (n>=2,) and acc (n, 3); got {t.shape} and {a.shape}")
        if not np.all(np.diff(t) > 0) or not np.all(np.isfinite(a)):
            raise ConfigError("sample times must increase and accelerations be finite")
        self.t = t
        self.acc = a
        self.config = config or EmulatedSensorConfig()
        self.clock = clock or SimClock(origin_s=float(t[0]))
        self._radio = radio
        self.log = SensorLog()
        self.device: Device | None = None
        self.finished = asyncio.Event()
        self._connection: Connection | None = None
        self._conn_seq = 0
        self._conn_phase = 0.0
        self._streaming = False
        self._range_g = max(self.config.ranges_g)
        self._stream_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._commands: set[asyncio.Task[Any]] = set()
        self._stall: tuple[int, float] | None = None
        self._pending_drops = sorted(self.config.faults.drop_frames_at_s)
        self._clock_segments: list[tuple[float, float]] = [
            (-math.inf, self.config.sensor_clock_offset_s)
        ]
        self._rng = np.random.default_rng(self.config.seed)
        self._silent_until = -math.inf
        self._own_drop = False
        self._closing = False
        self._data_char: Characteristic[bytes] | None = None
        self._cp_char: Characteristic[bytes] | None = None

    # -- clock ----------------------------------------------------------------------

    def sensor_time_ns(self, t_s: float) -> int:
        """Sensor clock (ns since 2000-01-01) at sample time ``t_s``."""
        offset = self._clock_segments[0][1]
        start = self._clock_segments[0][0]
        for seg_start, seg_offset in self._clock_segments:
            if t_s >= seg_start:
                start, offset = seg_start, seg_offset
        base = 0.0 if start == -math.inf else start
        drift = 1.0 + self.config.clock_drift_ppm * 1e-6
        return round((offset + (t_s - base) * drift) * 1e9)

    # -- lifecycle ------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self.config.address.upper()

    @property
    def connected(self) -> bool:
        return self._connection is not None

    async def start(self) -> None:
        """Power on, register services, start advertising and the fault schedule."""
        radio = self._radio or default_radio()
        self._radio = radio
        cfg = self.config
        device = radio.new_device(cfg.name, cfg.address)
        device.gatt_server.max_mtu = cfg.att_mtu
        self._cp_char = Characteristic(
            PMD_CONTROL_UUID,
            Characteristic.Properties.READ
            | Characteristic.Properties.WRITE
            | Characteristic.Properties.INDICATE,
            Characteristic.READABLE | Characteristic.WRITEABLE,
            CharacteristicValue(read=self._cp_read, write=self._cp_write),
        )
        self._data_char = Characteristic(
            PMD_DATA_UUID, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b""
        )
        battery: Characteristic[bytes] = Characteristic(
            BATTERY_LEVEL_UUID,
            Characteristic.Properties.READ | Characteristic.Properties.NOTIFY,
            Characteristic.READABLE,
            CharacteristicValue(read=lambda _c: bytes([cfg.battery_percent])),
        )
        device.add_services(
            [
                Service(BATTERY_SERVICE_UUID, [battery]),
                Service(PMD_SERVICE_UUID, [self._cp_char, self._data_char]),
            ]
        )
        device.advertising_data = bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, cfg.name.encode()),
                    (
                        AdvertisingData.MANUFACTURER_SPECIFIC_DATA,
                        POLAR_COMPANY_ID.to_bytes(2, "little") + b"\x3f\x00",
                    ),
                ]
            )
        )
        device.on(Device.EVENT_CONNECTION, self._on_connection)
        await device.power_on()
        self.device = device
        await self._advertise()
        f = cfg.faults
        for t in f.disconnect_at_s:
            self._spawn(self._at(t, self._drop_link("disconnect")))
        for t in f.clock_reset_at_s:
            self._spawn(self._at(t, self._power_loss(t)))
        for start, dur in f.stalls:
            self._spawn(self._at(start, self._begin_stall(start + dur)))

    async def stop(self) -> None:
        """Stop everything and power off."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        if self._stream_task is not None:
            self._stream_task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*self._commands, return_exceptions=True)
        if self.device is not None:
            if self._connection is not None:
                with contextlib.suppress(Exception):  # best effort on shutdown
                    await self.device.disconnect(
                        self._connection, hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR
                    )
            await self.device.power_off()

    async def __aenter__(self) -> EmulatedPmdSensor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _command(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run an HCI command that cancelling the caller must not interrupt: bumble's host
        would get the answer on a cancelled future (``InvalidStateError``)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._commands.add(task)
        task.add_done_callback(self._commands.discard)
        await asyncio.shield(task)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _at(self, t_s: float, action: Coroutine[Any, Any, None]) -> None:
        try:
            await self.clock.sleep_until(t_s)
        except asyncio.CancelledError:
            action.close()
            raise
        await action

    async def _advertise(self) -> None:
        if self.device is None or self._closing or self._connection is not None:
            return
        if self.clock.now_s() < self._silent_until:
            return
        ms = self.config.advertising_interval_ms
        await self._command(
            self.device.start_advertising(advertising_interval_min=ms, advertising_interval_max=ms)
        )

    async def _advertise_at(self, t_s: float) -> None:
        await self.clock.sleep_until(t_s)
        await self._advertise()

    # -- connection events ------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        self._connection = connection
        self._conn_seq += 1
        self._conn_phase = float(self._rng.uniform(0, 1)) * max(
            self.config.latency.connection_interval_s, 1e-9
        )
        self._streaming = False
        self.log.connections.append((self.clock.now_s(), None))
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)

    def _on_disconnection(self, reason: int) -> None:
        now = self.clock.now_s()
        self._connection = None
        self._streaming = False
        self._stall = None
        if self._stream_task is not None:
            self._stream_task.cancel()
            self._stream_task = None
        start, _ = self.log.connections[-1]
        self.log.connections[-1] = (start, now)
        if not self._own_drop:
            self.log.disconnects.append((now, "central"))
        self._own_drop = False
        if not self._closing:
            self._spawn(self._advertise_at(max(now, self._silent_until)))

    async def drop_link(self) -> None:
        """Drop the link now from the sensor's side, as a ``disconnect`` fault does."""
        await self._drop_link("disconnect")

    async def _drop_link(self, cause: str) -> None:
        connection = self._connection
        if connection is None or self.device is None:
            return
        now = self.clock.now_s()
        self._silent_until = now + self.config.faults.readvertise_delay_s
        self.log.disconnects.append((now, cause))
        self._own_drop = True
        self._streaming = False
        await connection.drain()
        try:
            await self.device.disconnect(
                connection, hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR
            )
        except hci.HCI_Error:
            self._own_drop = False

    async def _power_loss(self, t_s: float) -> None:
        self._clock_segments.append((t_s, self.config.reset_clock_to_s))
        if self._connection is not None:
            await self._drop_link("power_loss")
        else:
            self._silent_until = self.clock.now_s() + self.config.faults.readvertise_delay_s
            if self.device is not None:
                await self._command(self.device.stop_advertising())
            self._spawn(self._advertise_at(self._silent_until))

    async def _begin_stall(self, until_s: float) -> None:
        if self._connection is not None:
            self._stall = (self._conn_seq, until_s)

    # -- GATT handlers ------------------------------------------------------------------

    def _cp_read(self, _connection: Connection) -> bytes:
        return encode_features([MeasurementType.ACC])

    async def _cp_write(self, connection: Connection, value: bytes) -> None:
        response = self._handle_request(connection, bytes(value))
        self._spawn(self._indicate(connection, response))

    async def _indicate(self, connection: Connection, response: bytes) -> None:
        if self.device is None or self._cp_char is None or connection is not self._connection:
            return
        try:
            await self.device.indicate_subscriber(connection, self._cp_char, response)
        except Exception:  # the link may drop meanwhile
            return

    def _reject(self, op: int, mtype: int, status: ResponseStatus) -> bytes:
        self.log.rejected.append((self.clock.now_s(), status.name))
        return encode_control_response(op, mtype, status)

    def _handle_request(self, connection: Connection, payload: bytes) -> bytes:
        cfg = self.config
        try:
            request = parse_control_request(payload)
        except ControlPointError as exc:
            op = payload[0] if payload else 0
            mtype = payload[1] if len(payload) > 1 else 0
            return self._reject(op, mtype, ResponseStatus(exc.status or 4))
        op, mtype = request.op, request.measurement_type
        if op not in (ControlOp.GET_SETTINGS, ControlOp.START, ControlOp.STOP):
            return self._reject(op, mtype, ResponseStatus.INVALID_OP_CODE)
        if mtype != MeasurementType.ACC:
            return self._reject(op, mtype, ResponseStatus.NOT_SUPPORTED)
        if op == ControlOp.GET_SETTINGS:
            bits = {0: 8, 1: 16, 2: 24}[cfg.frame_type] if not cfg.compressed else 16
            offer = encode_settings(
                {
                    SettingType.SAMPLE_RATE: (cfg.sample_rate_hz,),
                    SettingType.RESOLUTION: (bits,),
                    SettingType.RANGE: cfg.ranges_g,
                }
            )
            return encode_control_response(op, mtype, ResponseStatus.SUCCESS, offer)
        if op == ControlOp.STOP:
            if not self._streaming:
                return self._reject(op, mtype, ResponseStatus.ALREADY_IN_STATE)
            self._streaming = False
            self.log.stops += 1
            if self._stream_task is not None:
                self._stream_task.cancel()
                self._stream_task = None
            return encode_control_response(op, mtype, ResponseStatus.SUCCESS)
        # START
        if self._streaming:
            return self._reject(op, mtype, ResponseStatus.ALREADY_IN_STATE)
        s = request.settings
        rate = s.get(SettingType.SAMPLE_RATE, (cfg.sample_rate_hz,))[0]
        if rate != cfg.sample_rate_hz:
            return self._reject(op, mtype, ResponseStatus.INVALID_SAMPLE_RATE)
        rng = int(s.get(SettingType.RANGE, (max(cfg.ranges_g),))[0])
        if rng not in cfg.ranges_g:
            return self._reject(op, mtype, ResponseStatus.INVALID_RANGE)
        self._range_g = rng
        self._streaming = True
        self.log.starts += 1
        self._stream_task = asyncio.get_running_loop().create_task(
            self._stream(connection, self._conn_seq, self.clock.now_s())
        )
        params = b""
        factor = self._factor()
        if factor is not None:
            params = encode_settings({SettingType.FACTOR: (factor,)})
        return encode_control_response(op, mtype, ResponseStatus.SUCCESS, params)

    def _factor(self) -> float | None:
        cfg = self.config
        if not cfg.compressed:
            return None
        if cfg.factor is not None:
            return float(np.float32(cfg.factor))
        return float(np.float32(self._range_g / 32768)) if cfg.frame_type == 0 else 1.0

    # -- streaming ------------------------------------------------------------------------

    def _samples_per_frame(self) -> int:
        cfg = self.config
        if cfg.samples_per_frame is not None:
            return cfg.samples_per_frame
        return max(1, max_samples_per_frame(cfg.att_mtu - 3, cfg.frame_type, cfg.compressed, 12))

    def _build_frame(self, start: int) -> tuple[bytes, int]:
        cfg = self.config
        limit = cfg.att_mtu - 3
        n = min(self._samples_per_frame(), self.t.shape[0] - start)
        acc = np.clip(self.acc[start : start + n], -self._range_g, self._range_g)
        while True:
            stop = start + n
            ts = self.sensor_time_ns(float(self.t[stop - 1]))
            payload = encode_acc_frame(
                acc[:n], ts, cfg.frame_type, cfg.compressed, factor=self._factor()
            )
            if len(payload) <= limit or n == 1:
                return payload, stop
            n = max(1, min(n - 1, n * limit // len(payload)))

    def _frame_status(self, start: int, stop: int, conn_seq: int, now: float) -> FrameStatus:
        t0, t1 = float(self.t[start]), float(self.t[stop - 1])
        dropped = False
        while self._pending_drops and self._pending_drops[0] <= t1:
            if self._pending_drops.pop(0) >= t0:
                dropped = True
        if dropped:
            return "dropped"
        if self._stall is not None:
            seq, until = self._stall
            if seq == conn_seq and now < until:
                return "stalled"
            self._stall = None
        return "sent"

    async def _stream(self, connection: Connection, conn_seq: int, start_s: float) -> None:
        assert self.device is not None and self._data_char is not None
        idx = int(np.searchsorted(self.t, start_s, side="right"))
        n = self.t.shape[0]
        cfg = self.config
        while self._streaming and conn_seq == self._conn_seq:
            if idx >= n:
                self.finished.set()
                return
            payload, stop = self._build_frame(idx)
            t_last = float(self.t[stop - 1])
            if cfg.pace:
                await self.clock.sleep_until(t_last)
                delay = cfg.latency.delay_s(t_last, self._conn_phase, self._rng)
                if delay > 0:
                    await self.clock.sleep_until(t_last + delay)
            if not self._streaming or conn_seq != self._conn_seq or self._connection is None:
                return
            now = self.clock.now_s()
            status = self._frame_status(idx, stop, conn_seq, now)
            if status == "sent":
                await self.device.notify_subscriber(connection, self._data_char, payload)
                if not cfg.pace:
                    await connection.drain()
            self.log.frames.append(
                FrameRecord(idx, stop, t_last, self.sensor_time_ns(t_last), status, conn_seq, now)
            )
            idx = stop


# --------------------------------------------------------------------------------------
# Convenience for the CLI and the live pipeline
# --------------------------------------------------------------------------------------

#: Addresses and names of emulated sensors by wearing side.
EMULATED_SENSORS: dict[str, tuple[str, str]] = {
    "left": ("F1:5E:25:00:00:01", "Polar Sense EMU1"),
    "right": ("F1:5E:25:00:00:02", "Polar Sense EMU2"),
}


async def start_emulated_sensors(
    recordings: Mapping[str, tuple[NDArray[np.float64], NDArray[np.float64]]],
    clock: SimClock,
    *,
    sample_rate_hz: int = 100,
    faults: Mapping[str, SensorFaults] | None = None,
    radio: SimRadio | None = None,
    per_side: Mapping[str, Mapping[str, Any]] | None = None,
    **config: Any,
) -> dict[str, EmulatedPmdSensor]:
    """Start one emulated sensor per side (``"left"``/``"right"``) streaming ``(t, acc)``.

    Addresses/names come from :data:`EMULATED_SENSORS`; ``config`` overrides other
    :class:`EmulatedSensorConfig` fields, ``per_side[side]`` those of one side.  Stop them
    with ``await sensor.stop()``; if one fails to start, those made so far are stopped.
    """
    sensors: dict[str, EmulatedPmdSensor] = {}
    try:
        for side, (t, acc) in recordings.items():
            if side not in EMULATED_SENSORS:
                raise ConfigError(f"no emulated sensor for side {side!r}")
            address, name = EMULATED_SENSORS[side]
            cfg = EmulatedSensorConfig(
                name=name,
                address=address,
                sample_rate_hz=sample_rate_hz,
                faults=(faults or {}).get(side, SensorFaults()),
                **{**config, **(per_side or {}).get(side, {})},
            )
            sensor = EmulatedPmdSensor(t, acc, cfg, clock=clock, radio=radio)
            sensors[side] = sensor
            await sensor.start()
    except BaseException:
        for sensor in sensors.values():
            await sensor.stop()
        raise
    return sensors


#: Clock error of the emulated sensors of a night by side: (s off at the first sample, ppm
#: fast), a few seconds and ppm as real sensor clocks - and different per wrist, so that
#: the two are only aligned through the collector's clock mapping.
NIGHT_SENSOR_CLOCKS: dict[str, tuple[float, float]] = {
    "left": (2.5, 20.0),
    "right": (-1.25, -15.0),
}


async def start_night_sensors(
    recordings: Mapping[str, tuple[NDArray[np.float64], NDArray[np.float64]]],
    clock: SimClock,
    *,
    sample_rate_hz: int,
    faults: Mapping[str, SensorFaults] | None = None,
    seed: int = 0,
    radio: SimRadio | None = None,
) -> dict[str, EmulatedPmdSensor]:
    """Emulated sensors streaming a simulated night (``jerkmon run --sim-ble``).

    ``recordings`` maps a side to ``(t, acc)`` with ``t`` in Unix seconds on the ``clock``
    time base (the night must have no gaps of its own: the emulated link makes them).  Each
    sensor's clock reads the true date (PMD: ns since 2000) off by
    :data:`NIGHT_SENSOR_CLOCKS` and drifting, as a real one does.
    """
    per_side: dict[str, dict[str, Any]] = {}
    for i, (side, (t, _acc)) in enumerate(recordings.items()):
        if side not in NIGHT_SENSOR_CLOCKS:
            continue  # start_emulated_sensors refuses it
        error_s, ppm = NIGHT_SENSOR_CLOCKS[side]
        t_first = float(t[0])
        # sensor clock = offset + t * (1 + drift): the true date + error_s at t_first
        offset = (t_first - PMD_EPOCH_UNIX_S + error_s) - t_first * (1.0 + ppm * 1e-6)
        per_side[side] = {
            "sensor_clock_offset_s": offset,
            "clock_drift_ppm": ppm,
            "seed": seed * 16 + i,
        }
    return await start_emulated_sensors(
        recordings,
        clock,
        sample_rate_hz=sample_rate_hz,
        faults=faults,
        radio=radio,
        per_side=per_side,
    )


async def scan_emulated(timeout_s: float) -> list[FoundSensor]:
    """``jerkmon scan --sim-ble``: two emulated sensors on a virtual radio, then a real
    scan through the bumble-backed bleak backend."""
    from collector.ble.scan import scan_sensors
    from sim.ble_backend import BumbleScannerBackend

    t = np.arange(0.0, 60.0, 0.01)
    acc = np.zeros((t.size, 3))
    acc[:, 2] = 1.0
    clock = SimClock()
    sensors = await start_emulated_sensors({"left": (t, acc), "right": (t, acc)}, clock)
    try:
        return await scan_sensors(timeout_s, scanner_backend=BumbleScannerBackend)
    finally:
        for sensor in sensors.values():
            await sensor.stop()
