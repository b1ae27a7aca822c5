"""Device-profile interface: what the BLE session needs to know about one kind of sensor.

A profile is pure: it names GATT UUIDs, builds the bytes to write, checks the bytes the
sensor answers and decodes notifications.  The session (``collector.ble.session``) does all
the I/O, so adding a sensor means adding a profile, nothing else.

Conventions: UUIDs are lower-case 128-bit strings (``normalize_uuid`` expands 16-bit ones);
sample times are seconds on the *sensor* clock; accelerations are in g.
"""

from __future__ import annotations

import abc
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from detector.errors import ConfigError, FrameDecodeError

BLUETOOTH_BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"
BATTERY_SERVICE_UUID = "0000180f" + BLUETOOTH_BASE_UUID_SUFFIX
BATTERY_LEVEL_UUID = "00002a19" + BLUETOOTH_BASE_UUID_SUFFIX

_UUID128 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_UUID16_32 = re.compile(r"^(0x)?([0-9a-f]{4}|[0-9a-f]{8})$")


def normalize_uuid(uuid: str) -> str:
    """Return ``uuid`` as a lower-case 128-bit string; 16/32-bit short forms are expanded
    with the Bluetooth base UUID.  Raises :class:`ConfigError` for anything else."""
    text = uuid.strip().lower()
    if _UUID128.match(text):
        return text
    short = _UUID16_32.match(text)
    if short:
        return short.group(2).rjust(8, "0") + BLUETOOTH_BASE_UUID_SUFFIX
    raise ConfigError(f"not a Bluetooth UUID: {uuid!r}")


@dataclass(frozen=True, slots=True)
class ScanFilter:
    """Which advertisements belong to a supported sensor.

    An advertisement matches when it lists one of ``service_uuids`` *or* its local name
    matches one of the regular expressions ``name_patterns`` (``re.search``).
    """

    service_uuids: tuple[str, ...] = ()
    name_patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.service_uuids and not self.name_patterns:
            raise ConfigError("a scan filter needs at least one service UUID or name pattern")
        object.__setattr__(
            self, "service_uuids", tuple(normalize_uuid(u) for u in self.service_uuids)
        )
        for pattern in self.name_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"bad name pattern {pattern!r}: {exc}") from exc

    def matches(self, local_name: str | None, service_uuids: Iterable[str]) -> bool:
        """True if an advertisement with this name and service list is a supported sensor."""
        advertised = set()
        for u in service_uuids:
            try:
                advertised.add(normalize_uuid(u))
            except ConfigError:
                continue
        if advertised.intersection(self.service_uuids):
            return True
        if local_name:
            return any(re.search(p, local_name) for p in self.name_patterns)
        return False


@dataclass(frozen=True, slots=True)
class ControlStep:
    """One GATT write (with response) that configures the sensor.

    Attributes:
        name: short id of the step (``"get_settings"``, ``"start"``, ``"stop"``); the
            answers of a start sequence are handed to the decoder keyed by it.
        char_uuid: characteristic written to.
        data: bytes written.
        expects_response: the sensor answers by an indication/notification on
            ``char_uuid``; the session waits for it and passes it to
            :meth:`DeviceProfile.check_response`.
        tolerate_error: an error answer is logged and ignored (e.g. "stop" before "start").
    """

    name: str
    char_uuid: str
    data: bytes
    expects_response: bool = True
    tolerate_error: bool = False


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """The samples of one notification.

    Attributes:
        t_sensor_s: (n,) sample times on the sensor clock, s, increasing.
        acc_g: (n, 3) acceleration x, y, z in g.
        frame_t_sensor_s: sensor time of the frame (the last sample), s.
        gap_before: ``(t_last_before_s, t_first_s)`` sensor times bracketing samples that
            are missing between the previous frame and this one (dropped frames, a
            reconnect), or ``None`` if the frame continues the previous one.
        clock_reset: the sensor clock went backwards since the previous frame (power loss);
            earlier sensor times are not comparable with these.
        frame_type: protocol frame type (low 7 bits of the PMD frame byte).
        compressed: the frame was delta-compressed.
    """

    t_sensor_s: NDArray[np.float64]
    acc_g: NDArray[np.float64]
    frame_t_sensor_s: float
    gap_before: tuple[float, float] | None = None
    clock_reset: bool = False
    frame_type: int = 0
    compressed: bool = False

    @property
    def n_samples(self) -> int:
        return int(self.t_sensor_s.shape[0])


@dataclass(slots=True)
class DecodeStats:
    """Counts kept by a :class:`StreamDecoder`: good frames and bad ones by error kind."""

    frames_ok: int = 0
    samples_ok: int = 0
    frames_bad: Counter[str] = field(default_factory=Counter)

    @property
    def frames_bad_total(self) -> int:
        return sum(self.frames_bad.values())


class StreamDecoder(abc.ABC):
    """Stateful decoder of one sensor's notification stream.

    It lives as long as the session, across reconnects, so that sample timestamps and gaps
    can be derived from the previous frame.  Bad frames raise a
    :class:`~detector.errors.FrameDecodeError` and are counted in :attr:`stats`.
    """

    def __init__(self) -> None:
        self.stats = DecodeStats()

    def decode(self, payload: bytes) -> DecodedFrame:
        """Decode one notification payload; raises ``FrameDecodeError`` (counted)."""
        try:
            frame = self._decode(payload)
        except FrameDecodeError as exc:
            self.stats.frames_bad[exc.kind] += 1
            raise
        self.stats.frames_ok += 1
        self.stats.samples_ok += frame.n_samples
        return frame

    def frame_time_ns(self, payload: bytes) -> int | None:
        """The sensor time stamped on a notification, read without decoding it (ns), or
        ``None`` when unknown (the session then cannot repair reordering or drop
        duplicates of this sensor's frames)."""
        return None

    @abc.abstractmethod
    def configure(self, responses: Mapping[str, bytes]) -> None:
        """Take the sensor's answers to a successful start sequence, keyed by step name,
        plus the bytes written for each step under ``"<name>_request"`` (e.g. to learn the
        sample rate and a scale factor).  Called after every (re)start."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget timestamp continuity (the next frame is treated as a first frame)."""

    @abc.abstractmethod
    def _decode(self, payload: bytes) -> DecodedFrame: ...


class DeviceProfile(abc.ABC):
    """Everything sensor-specific the BLE session needs (pure: no I/O)."""

    #: Short id shown by ``jerkmon scan`` (e.g. ``"polar-pmd"``).
    kind: str = ""

    @property
    @abc.abstractmethod
    def scan_filter(self) -> ScanFilter:
        """Which advertisements are this kind of sensor."""

    @property
    @abc.abstractmethod
    def data_uuid(self) -> str:
        """Characteristic that notifies the sample frames."""

    @property
    def control_uuid(self) -> str | None:
        """Characteristic that answers control writes by indication (``None``: no answers)."""
        return None

    @property
    def feature_uuid(self) -> str | None:
        """Characteristic read once per connection to check capabilities (or ``None``)."""
        return None

    @property
    @abc.abstractmethod
    def nominal_rate_hz(self) -> float:
        """Sample rate requested from the sensor, Hz."""

    def check_features(self, payload: bytes) -> None:  # noqa: B027 - optional hook
        """Check the value read from :attr:`feature_uuid`; raise
        :class:`~detector.errors.DeviceCapabilityError` if the sensor cannot do the job."""

    def query_steps(self) -> tuple[ControlStep, ...]:
        """Writes run before planning the start (e.g. ask which settings are offered)."""
        return ()

    @abc.abstractmethod
    def start_steps(self, answers: Mapping[str, bytes]) -> tuple[ControlStep, ...]:
        """Writes that (re)start streaming, in order (run after subscribing to data).

        ``answers`` holds the sensor's answers to :meth:`query_steps`, keyed by step name.
        """

    @abc.abstractmethod
    def stop_steps(self) -> tuple[ControlStep, ...]:
        """Writes that stop streaming."""

    def collect_response(self, parts: Sequence[bytes]) -> bytes | None:
        """Join an answer that arrives in several indications; ``None`` while incomplete.
        The default takes the first indication as the whole answer."""
        return bytes(parts[0]) if parts else None

    def check_response(self, step: ControlStep, payload: bytes) -> None:  # noqa: B027
        """Check the sensor's answer to ``step``; raise
        :class:`~detector.errors.ControlPointError` on an error status or garbled bytes."""

    @abc.abstractmethod
    def new_decoder(self) -> StreamDecoder:
        """A fresh stream decoder (one per session)."""

    def describe(self, payload_features: bytes | None = None) -> str:
        """One-line human description of the profile."""
        return f"{self.kind} at {self.nominal_rate_hz:g} Hz"
