"""Polar Measurement Data (PMD): pure codecs and the Polar accelerometer profile.

Wire format (polar-ble-sdk; see shared/NOTES.md section 2):

* Control point ``FB005C81-…`` (read, write, indicate).  Reading it returns
  ``[0x0F, bitmask…]`` where bit *k* (little-endian over the bytes) says measurement type *k*
  is supported.  Requests are ``[op, type, params…]``; ops 1 get settings, 2 start, 3 stop.
  Start params are ``(setting_id, count=1, value LE)…``.  Answers arrive by indication:
  ``[0xF0, op, type, status, more, params…]`` (status 0 = success); settings in params use
  the same TLV layout ``(setting_id, count, value…)``, the scale factor (id 5) as float32.
* Data ``FB005C82-…`` (notify): ``[type u8][timestamp u64 LE, ns since 2000-01-01 on the
  sensor clock][frame byte][payload]``.  Frame-byte bit 7 = delta-compressed, low 7 bits =
  frame type.  The timestamp is that of the LAST sample of the frame.
* ACC raw frames: type 0/1/2 = int8/int16/int24 LE ``x, y, z`` in milli-g.
* ACC compressed frames: a reference sample (3 × 16-bit LE signed) then blocks
  ``[bit width u8][sample count u8][count × 3 signed deltas packed LSB-first]``, added
  cumulatively per channel.  Type 0 values × factor are g; type 1 values × factor are
  milli-g (factor 1.0 when absent).

Decoding is pure (:func:`decode_acc_frame`); per-sample timestamps need the previous frame,
so they live in the small stateful :class:`PmdTimestamper`.  :func:`encode_acc_frame` is the
exact inverse used by the emulated sensor and the round-trip tests.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from collector.protocols.base import (
    ControlStep,
    DecodedFrame,
    DeviceProfile,
    ScanFilter,
    StreamDecoder,
)
from detector.errors import (
    ConfigError,
    ControlPointError,
    DeviceCapabilityError,
    FrameDecodeError,
)

PMD_SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

#: The PMD clock counts ns from 2000-01-01T00:00:00Z; this is that instant in Unix seconds.
PMD_EPOCH_UNIX_S = 946_684_800

FEATURES_CODE = 0x0F
CONTROL_RESPONSE_CODE = 0xF0
HEADER_SIZE = 10
ACC_CHANNELS = 3
COMPRESSED_FLAG = 0x80
FRAME_TYPE_MASK = 0x7F
DELTA_REFERENCE_BITS = 16
MAX_DELTA_WIDTH = 32
NS_PER_S = 1_000_000_000
#: Timestamps at or above 2**63 ns (year 2292) cannot be real and would overflow int64.
MAX_TIMESTAMP_NS = 1 << 63


class MeasurementType(IntEnum):
    """PMD measurement types (bit k of the feature bitmask = type k)."""

    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAGNETOMETER = 6
    SDK_MODE = 9
    LOCATION = 10
    PRESSURE = 11
    TEMPERATURE = 12


class ControlOp(IntEnum):
    """Control-point request op codes."""

    GET_SETTINGS = 1
    START = 2
    STOP = 3
    GET_SDK_MODE_SETTINGS = 4
    GET_STATUS = 5


class ResponseStatus(IntEnum):
    """Control-point response status codes."""

    SUCCESS = 0
    INVALID_OP_CODE = 1
    INVALID_MEASUREMENT_TYPE = 2
    NOT_SUPPORTED = 3
    INVALID_LENGTH = 4
    INVALID_PARAMETER = 5
    ALREADY_IN_STATE = 6
    INVALID_RESOLUTION = 7
    INVALID_SAMPLE_RATE = 8
    INVALID_RANGE = 9
    INVALID_MTU = 10
    INVALID_NUMBER_OF_CHANNELS = 11
    INVALID_STATE = 12
    DEVICE_IN_CHARGER = 13
    DISK_FULL = 14


class SettingType(IntEnum):
    """Setting ids in start requests and settings answers."""

    SAMPLE_RATE = 0
    RESOLUTION = 1
    RANGE = 2
    RANGE_MILLIUNIT = 3
    CHANNELS = 4
    FACTOR = 5


#: Bytes per value of each setting type.
SETTING_FIELD_SIZE: dict[int, int] = {0: 2, 1: 2, 2: 2, 3: 4, 4: 1, 5: 4}

#: Raw ACC frame type -> bytes per channel value (values in milli-g).
RAW_ACC_BYTES: dict[int, int] = {0: 1, 1: 2, 2: 3}
#: Resolution setting (bits) -> raw frame type.
RAW_FRAME_TYPE_FOR_RESOLUTION: dict[int, int] = {8: 0, 16: 1, 24: 2}
#: Compressed ACC frame types this decoder knows.
COMPRESSED_ACC_TYPES = frozenset({0, 1})

SettingValue = int | float
Settings = dict[int, tuple[SettingValue, ...]]


def status_name(status: int) -> str:
    """Protocol name of a control-point status code (``"STATUS_<n>"`` if unknown)."""
    try:
        return ResponseStatus(status).name
    except ValueError:
        return f"STATUS_{status}"


# --------------------------------------------------------------------------------------
# Control point: features, requests, responses, settings
# --------------------------------------------------------------------------------------


def encode_features(types: Iterable[int]) -> bytes:
    """Control-point read value ``[0x0F, bitmask…]`` for the given measurement types."""
    mask = 0
    for t in types:
        if not 0 <= t < 64:
            raise ConfigError(f"measurement type out of range: {t}")
        mask |= 1 << t
    n_bytes = max(2, (mask.bit_length() + 7) // 8)
    return bytes([FEATURES_CODE]) + mask.to_bytes(n_bytes, "little")


def parse_features(payload: bytes) -> frozenset[int]:
    """Measurement types a sensor supports, from the control-point read value."""
    if len(payload) < 2 or payload[0] != FEATURES_CODE:
        raise ControlPointError(
            f"PMD feature read must start with 0x0F and hold a bitmask, got {payload.hex()!r}"
        )
    mask = int.from_bytes(payload[1:], "little")
    return frozenset(k for k in range(mask.bit_length()) if mask >> k & 1)


def encode_settings(settings: Mapping[int, Sequence[SettingValue]]) -> bytes:
    """TLV bytes ``(id, count, values…)`` in ascending id order; FACTOR as float32 LE."""
    out = bytearray()
    for sid in sorted(settings):
        values = settings[sid]
        if sid not in SETTING_FIELD_SIZE:
            raise ConfigError(f"unknown PMD setting id {sid}")
        if not 0 < len(values) < 256:
            raise ConfigError(f"PMD setting {sid} needs 1..255 values, got {len(values)}")
        out += bytes([sid, len(values)])
        size = SETTING_FIELD_SIZE[sid]
        for v in values:
            if sid == SettingType.FACTOR:
                out += struct.pack("<f", float(v))
            else:
                iv = int(v)
                if iv != v or not 0 <= iv < 1 << (8 * size):
                    raise ConfigError(f"PMD setting {sid} value {v} does not fit {size} bytes")
                out += iv.to_bytes(size, "little")
    return bytes(out)


def parse_settings(params: bytes) -> Settings:
    """Parse TLV settings; raises :class:`ControlPointError` on unknown ids or truncation."""
    settings: Settings = {}
    offset = 0
    while offset < len(params):
        if offset + 2 > len(params):
            raise ControlPointError(f"PMD settings truncated at byte {offset}: {params.hex()}")
        sid, count = params[offset], params[offset + 1]
        offset += 2
        size = SETTING_FIELD_SIZE.get(sid)
        if size is None:
            raise ControlPointError(f"unknown PMD setting id {sid} in {params.hex()}")
        end = offset + size * count
        if end > len(params):
            raise ControlPointError(f"PMD setting {sid} truncated: {params.hex()}")
        values: list[SettingValue] = []
        for i in range(count):
            chunk = params[offset + i * size : offset + (i + 1) * size]
            if sid == SettingType.FACTOR:
                values.append(struct.unpack("<f", chunk)[0])
            else:
                values.append(int.from_bytes(chunk, "little"))
        settings[sid] = tuple(values)
        offset = end
    return settings


def encode_get_settings(measurement_type: int = MeasurementType.ACC) -> bytes:
    """Request the settings a measurement type offers."""
    return bytes([ControlOp.GET_SETTINGS, measurement_type])


def encode_start(measurement_type: int, settings: Mapping[int, int]) -> bytes:
    """Start request ``[0x02, type, (id, 1, value LE)…]`` (ids ascending; no FACTOR).

    Example: ACC at 200 Hz, 16 bit, 8 g -> ``02 02 00 01 C8 00 01 01 10 00 02 01 08 00``.
    """
    if SettingType.FACTOR in settings:
        raise ConfigError("the scale factor is chosen by the sensor, not requested")
    body = encode_settings({k: (v,) for k, v in settings.items()})
    return bytes([ControlOp.START, measurement_type]) + body


def encode_stop(measurement_type: int = MeasurementType.ACC) -> bytes:
    """Stop request ``[0x03, type]``."""
    return bytes([ControlOp.STOP, measurement_type])


@dataclass(frozen=True, slots=True)
class ControlRequest:
    """A control-point request as the sensor sees it."""

    op: int
    measurement_type: int
    settings: Settings


def parse_control_request(payload: bytes) -> ControlRequest:
    """Parse a control-point write (sensor side; used by the emulator)."""
    if len(payload) < 2:
        raise ControlPointError(
            f"PMD request too short: {payload.hex()!r}",
            ResponseStatus.INVALID_LENGTH,
            ResponseStatus.INVALID_LENGTH.name,
        )
    settings: Settings = {}
    if payload[0] == ControlOp.START:
        try:
            settings = parse_settings(payload[2:])
        except ControlPointError as exc:
            raise ControlPointError(
                str(exc), ResponseStatus.INVALID_PARAMETER, ResponseStatus.INVALID_PARAMETER.name
            ) from exc
    return ControlRequest(op=payload[0], measurement_type=payload[1], settings=settings)


@dataclass(frozen=True, slots=True)
class ControlResponse:
    """A control-point answer ``[0xF0, op, type, status, more, params…]``."""

    op: int
    measurement_type: int
    status: int
    more: bool
    params: bytes

    @property
    def ok(self) -> bool:
        return self.status == ResponseStatus.SUCCESS

    @property
    def status_name(self) -> str:
        return status_name(self.status)

    def raise_for_status(self) -> None:
        """Raise :class:`ControlPointError` naming the status if it is not SUCCESS."""
        if not self.ok:
            raise ControlPointError(
                f"PMD {_op_name(self.op)} of measurement type {self.measurement_type} failed: "
                f"{self.status_name} ({self.status})",
                self.status,
                self.status_name,
            )


def _op_name(op: int) -> str:
    try:
        return ControlOp(op).name
    except ValueError:
        return f"op {op}"


def parse_control_response(payload: bytes) -> ControlResponse:
    """Parse a control-point indication; raises :class:`ControlPointError` if garbled.

    As in the Polar SDK, ``more`` and ``params`` are only read on success.
    """
    if len(payload) < 4 or payload[0] != CONTROL_RESPONSE_CODE:
        raise ControlPointError(f"not a PMD control-point response: {payload.hex()!r}")
    status = payload[3]
    more = False
    params = b""
    if status == ResponseStatus.SUCCESS:
        more = len(payload) > 4 and payload[4] != 0
        params = bytes(payload[5:])
    return ControlResponse(payload[1], payload[2], status, more, params)


def encode_control_response(
    op: int, measurement_type: int, status: int, params: bytes = b"", more: bool = False
) -> bytes:
    """Build a control-point indication (sensor side)."""
    return bytes([CONTROL_RESPONSE_CODE, op, measurement_type, status, int(more)]) + params


def merge_response_parts(parts: Sequence[bytes]) -> bytes | None:
    """Join a response split over indications (``more`` set): continuation packets are
    ``[more, params…]`` as in the Polar SDK.  Returns ``None`` while parts are missing."""
    if not parts:
        return None
    first = parse_control_response(parts[0])
    if not first.more:
        return bytes(parts[0])
    params = bytearray(first.params)
    more = True
    for part in parts[1:]:
        if not part:
            raise ControlPointError("empty PMD response continuation")
        more = part[0] != 0
        params += part[1:]
        if not more:
            break
    if more:
        return None
    return encode_control_response(first.op, first.measurement_type, first.status, bytes(params))


# --------------------------------------------------------------------------------------
# Data frames
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PmdFrame:
    """One decoded ACC data frame.

    Attributes:
        timestamp_ns: sensor-clock time of the LAST sample, ns since 2000-01-01.
        frame_type: low 7 bits of the frame byte.
        compressed: bit 7 of the frame byte.
        counts: (n, 3) integer sample values as sent (before scaling).
        acc_g: (n, 3) acceleration in g.
    """

    timestamp_ns: int
    frame_type: int
    compressed: bool
    counts: NDArray[np.int64]
    acc_g: NDArray[np.float64]

    @property
    def n_samples(self) -> int:
        return int(self.counts.shape[0])


def g_per_count(frame_type: int, compressed: bool, factor: float | None) -> float:
    """Scale from sent integers to g for an ACC frame format.

    Raw frames are milli-g.  Compressed type 0 values × ``factor`` are g; compressed type 1
    values × ``factor`` are milli-g (``None`` = the sensor sent no factor: 1.0 for type 1;
    type 0 then needs one).
    """
    if not compressed:
        return 1e-3
    if frame_type == 0:
        if factor is None:
            raise FrameDecodeError("compressed ACC type 0 needs a scale factor", "missing_factor")
        return float(factor)
    return 1e-3 * (1.0 if factor is None else float(factor))


def _read_signed(buf: bytes, offset: int, size: int) -> int:
    return int.from_bytes(buf[offset : offset + size], "little", signed=True)


_SIGNED_DTYPES: dict[int, np.dtype[np.signedinteger[Any]]] = {
    1: np.dtype("<i1"),
    2: np.dtype("<i2"),
    4: np.dtype("<i4"),
}


def unpack_signed(data: bytes, width: int, n_values: int) -> NDArray[np.int64]:
    """Unpack ``n_values`` signed integers of ``width`` bits packed LSB-first.

    Value *i* occupies bits ``[i*width, (i+1)*width)`` of ``data`` read as one little-endian
    bit string (bit 0 = lowest bit of byte 0); two's complement within ``width`` bits.
    """
    if width % 8 == 0 and width // 8 in _SIGNED_DTYPES:
        dt = _SIGNED_DTYPES[width // 8]
        return np.frombuffer(data, dtype=dt, count=n_values).astype(np.int64)
    raw_bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    bits = raw_bits[: width * n_values].reshape(n_values, width).astype(np.int64)
    values = bits @ (np.int64(1) << np.arange(width, dtype=np.int64))
    sign = np.int64(1) << (width - 1)
    result: NDArray[np.int64] = values - ((values & sign) << 1)
    return result


def pack_signed(values: NDArray[np.int64], width: int) -> bytes:
    """Inverse of :func:`unpack_signed` (values must fit ``width`` signed bits)."""
    v = np.asarray(values, dtype=np.int64).ravel()
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if v.size and (v.min() < lo or v.max() > hi):
        raise ConfigError(f"value out of range for {width}-bit signed packing")
    unsigned = v & ((np.int64(1) << width) - 1)
    bits = ((unsigned[:, None] >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8)
    return np.packbits(bits.ravel(), bitorder="little").tobytes()


def signed_width(values: NDArray[np.int64]) -> int:
    """Smallest signed bit width (>= 1) that holds every value."""
    v = np.asarray(values, dtype=np.int64)
    if v.size == 0:
        return 1
    hi = int(v.max())
    lo = int(v.min())
    need = max(hi.bit_length(), (-lo - 1).bit_length() if lo < 0 else 0)
    return need + 1


def decode_delta_payload(
    content: bytes, channels: int = ACC_CHANNELS, reference_bits: int = DELTA_REFERENCE_BITS
) -> NDArray[np.int64]:
    """Decode a delta-compressed payload into (n, channels) integers.

    Raises :class:`FrameDecodeError` (kinds ``truncated_reference``,
    ``truncated_block_header``, ``bad_delta_width``, ``truncated_block``).
    """
    ref_size = (reference_bits + 7) // 8
    offset = channels * ref_size
    if len(content) < offset:
        raise FrameDecodeError(
            f"compressed frame too short for its reference sample ({len(content)} bytes)",
            "truncated_reference",
        )
    reference = [_read_signed(content, i * ref_size, ref_size) for i in range(channels)]
    blocks: list[NDArray[np.int64]] = []
    while offset < len(content):
        if offset + 2 > len(content):
            raise FrameDecodeError(
                f"delta block header truncated at byte {offset}", "truncated_block_header"
            )
        width, count = content[offset], content[offset + 1]
        offset += 2
        if count == 0:
            continue
        if not 1 <= width <= MAX_DELTA_WIDTH:
            raise FrameDecodeError(f"delta bit width {width} out of 1..32", "bad_delta_width")
        n_bytes = (width * count * channels + 7) // 8
        if offset + n_bytes > len(content):
            raise FrameDecodeError(
                f"delta block of {count} samples x {width} bit needs {n_bytes} bytes, "
                f"{len(content) - offset} left",
                "truncated_block",
            )
        deltas = unpack_signed(content[offset : offset + n_bytes], width, count * channels)
        blocks.append(deltas.reshape(count, channels))
        offset += n_bytes
    ref = np.asarray(reference, dtype=np.int64).reshape(1, channels)
    if not blocks:
        return ref
    cum: NDArray[np.int64] = np.cumsum(np.concatenate(blocks, axis=0), axis=0) + ref
    return np.concatenate([ref, cum], axis=0)


def encode_delta_payload(
    counts: NDArray[np.int64],
    reference_bits: int = DELTA_REFERENCE_BITS,
    block_samples: int = 255,
) -> bytes:
    """Delta-compress (n, channels) integers: reference sample, then blocks of at most
    ``block_samples`` deltas, each packed at the smallest signed width that fits it."""
    c = np.asarray(counts, dtype=np.int64)
    if c.ndim != 2 or c.shape[0] < 1:
        raise ConfigError(f"need (n >= 1, channels) integers, got shape {c.shape}")
    if not 1 <= block_samples <= 255:
        raise ConfigError(f"block_samples must be 1..255, got {block_samples}")
    ref_size = (reference_bits + 7) // 8
    lim = 1 << (reference_bits - 1)
    if int(c[0].min()) < -lim or int(c[0].max()) >= lim:
        raise ConfigError(f"reference sample does not fit {reference_bits} bits")
    out = bytearray()
    for v in c[0]:
        out += int(v).to_bytes(ref_size, "little", signed=True)
    deltas = np.diff(c, axis=0)
    for start in range(0, deltas.shape[0], block_samples):
        block = deltas[start : start + block_samples]
        width = signed_width(block)
        if width > MAX_DELTA_WIDTH:
            raise ConfigError("delta does not fit 32 bits")
        out += bytes([width, block.shape[0]])
        out += pack_signed(block.ravel(), width)
    return bytes(out)


def decode_acc_frame(payload: bytes, factor: float | None = None) -> PmdFrame:
    """Decode one PMD ACC notification (pure).

    Args:
        payload: the notification bytes.
        factor: scale factor from the start response (``None`` if the sensor sent none).

    Raises:
        FrameDecodeError: kinds ``truncated_header``, ``wrong_measurement_type``,
            ``bad_timestamp``, ``unsupported_frame_type``, ``truncated_sample``, ``empty``
            and those of
            :func:`decode_delta_payload`.
    """
    if len(payload) < HEADER_SIZE:
        raise FrameDecodeError(
            f"PMD frame shorter than its 10-byte header ({len(payload)} bytes)",
            "truncated_header",
        )
    if payload[0] != MeasurementType.ACC:
        raise FrameDecodeError(
            f"PMD frame of measurement type {payload[0]}, expected ACC (2)",
            "wrong_measurement_type",
        )
    timestamp_ns = int.from_bytes(payload[1:9], "little")
    if timestamp_ns >= MAX_TIMESTAMP_NS:
        raise FrameDecodeError(
            f"PMD timestamp {timestamp_ns} ns is beyond year 2292", "bad_timestamp"
        )
    frame_byte = payload[9]
    compressed = bool(frame_byte & COMPRESSED_FLAG)
    frame_type = frame_byte & FRAME_TYPE_MASK
    content = bytes(payload[HEADER_SIZE:])
    if compressed:
        if frame_type not in COMPRESSED_ACC_TYPES:
            raise FrameDecodeError(
                f"compressed ACC frame type {frame_type} is not supported",
                "unsupported_frame_type",
            )
        counts = decode_delta_payload(content, ACC_CHANNELS, DELTA_REFERENCE_BITS)
    else:
        size = RAW_ACC_BYTES.get(frame_type)
        if size is None:
            raise FrameDecodeError(
                f"raw ACC frame type {frame_type} is not supported", "unsupported_frame_type"
            )
        step = size * ACC_CHANNELS
        if len(content) % step:
            raise FrameDecodeError(
                f"raw ACC payload of {len(content)} bytes is not a whole number of "
                f"{step}-byte samples",
                "truncated_sample",
            )
        if not content:
            raise FrameDecodeError("ACC frame holds no samples", "empty")
        counts = _decode_raw(content, size)
    scale = g_per_count(frame_type, compressed, factor)
    acc_g = counts.astype(np.float64) * scale
    return PmdFrame(timestamp_ns, frame_type, compressed, counts, acc_g)


def _decode_raw(content: bytes, size: int) -> NDArray[np.int64]:
    if size in (1, 2):
        arr: NDArray[np.int64] = np.frombuffer(content, dtype=_SIGNED_DTYPES[size]).astype(np.int64)
        return arr.reshape(-1, ACC_CHANNELS)
    b = np.frombuffer(content, dtype=np.uint8).reshape(-1, 3).astype(np.int64)
    v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
    v = v - ((v & 0x800000) << 1)
    return v.reshape(-1, ACC_CHANNELS)


def quantize_acc(
    acc_g: NDArray[np.float64], frame_type: int, compressed: bool, factor: float | None = None
) -> NDArray[np.int64]:
    """Integers a sensor would send for ``acc_g`` (n, 3) g in a frame format: rounded to the
    format's unit and clipped to what its fields hold (the sensor saturates)."""
    a = np.asarray(acc_g, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != ACC_CHANNELS:
        raise ConfigError(f"acc_g must be (n, 3), got {a.shape}")
    scale = g_per_count(frame_type, compressed, factor)
    bits = 8 * RAW_ACC_BYTES[frame_type] if not compressed else DELTA_REFERENCE_BITS
    lim = (1 << (bits - 1)) - 1
    return np.clip(np.rint(a / scale), -lim - 1, lim).astype(np.int64)


def encode_acc_counts(
    counts: NDArray[np.int64],
    timestamp_ns: int,
    frame_type: int,
    compressed: bool,
    block_samples: int = 255,
) -> bytes:
    """Build an ACC frame from (n, 3) integers (inverse of :func:`decode_acc_frame`)."""
    c = np.asarray(counts, dtype=np.int64)
    if c.ndim != 2 or c.shape[1] != ACC_CHANNELS or c.shape[0] < 1:
        raise ConfigError(f"counts must be (n >= 1, 3), got {c.shape}")
    if not 0 <= timestamp_ns < MAX_TIMESTAMP_NS:
        raise ConfigError(f"timestamp {timestamp_ns} ns is out of range 0..2**63")
    header = bytes([MeasurementType.ACC]) + int(timestamp_ns).to_bytes(8, "little")
    if compressed:
        if frame_type not in COMPRESSED_ACC_TYPES:
            raise ConfigError(f"no compressed ACC frame type {frame_type}")
        body = encode_delta_payload(c, DELTA_REFERENCE_BITS, block_samples)
        return header + bytes([COMPRESSED_FLAG | frame_type]) + body
    size = RAW_ACC_BYTES.get(frame_type)
    if size is None:
        raise ConfigError(f"no raw ACC frame type {frame_type}")
    lim = 1 << (8 * size - 1)
    if int(c.min()) < -lim or int(c.max()) >= lim:
        raise ConfigError(f"sample value does not fit {8 * size} bits")
    if size in (1, 2):
        body = c.astype(_SIGNED_DTYPES[size]).tobytes()
    else:
        u = (c.ravel() & 0xFFFFFF).astype(np.uint32)
        packed = np.stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF], axis=1)
        body = packed.astype(np.uint8).tobytes()
    return header + bytes([frame_type]) + body


def encode_acc_frame(
    acc_g: NDArray[np.float64],
    timestamp_ns: int,
    frame_type: int = 1,
    compressed: bool = False,
    factor: float | None = None,
    block_samples: int = 255,
) -> bytes:
    """Quantize ``acc_g`` (n, 3) g and build an ACC frame whose last sample is at
    ``timestamp_ns`` (sensor clock, ns since 2000-01-01)."""
    counts = quantize_acc(acc_g, frame_type, compressed, factor)
    return encode_acc_counts(counts, timestamp_ns, frame_type, compressed, block_samples)


def max_samples_per_frame(
    payload_limit: int, frame_type: int, compressed: bool, delta_width: int = 16
) -> int:
    """How many samples fit a notification of ``payload_limit`` bytes (ATT MTU - 3).

    For compressed frames assumes one block at ``delta_width`` bits per delta."""
    room = payload_limit - HEADER_SIZE
    if not compressed:
        return max(0, room // (RAW_ACC_BYTES[frame_type] * ACC_CHANNELS))
    room -= ACC_CHANNELS * (DELTA_REFERENCE_BITS // 8) + 2
    return max(0, 1 + min(255, (room * 8) // (delta_width * ACC_CHANNELS)))


# --------------------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StampedTimes:
    """Per-sample sensor times of one frame.

    Attributes:
        t_ns: (n,) int64 sample times, ns on the sensor clock; the last equals the frame
            timestamp.
        gap_before_ns: ``(previous frame timestamp, first sample time)`` when samples are
            missing in between (a dropped frame, a reconnect), else ``None``.
        clock_reset: the sensor clock went backwards (or stood still) since the previous
            frame; the frame was spaced at the estimated rate and continuity restarts.
        anomaly: the frame was shorter in time than its samples need (spacing taken from
            the timestamps anyway, as the Polar SDK does).
    """

    t_ns: NDArray[np.int64]
    gap_before_ns: tuple[int, int] | None
    clock_reset: bool
    anomaly: bool = False


class PmdTimestamper:
    """Per-sample timestamps for PMD frames (stateful, no I/O).

    Rule (polar-ble-sdk): the frame timestamp is the last sample; earlier samples are spaced
    evenly back to the previous frame's timestamp, or by the sample period for the first
    frame.  Extensions: when the span since the previous frame exceeds the frame's samples
    by more than ``gap_tolerance_samples`` periods, samples are missing (dropped frame,
    reconnect): the frame is spaced by the period and the gap reported.  The period starts
    at ``1 / nominal_rate_hz`` and follows the measured one (within ±10 %).
    """

    def __init__(
        self,
        nominal_rate_hz: float,
        gap_tolerance_samples: float = 1.5,
        period_smoothing: float = 0.05,
    ) -> None:
        if not math.isfinite(nominal_rate_hz) or nominal_rate_hz <= 0:
            raise ConfigError(f"nominal_rate_hz must be > 0, got {nominal_rate_hz}")
        if gap_tolerance_samples <= 0:
            raise ConfigError("gap_tolerance_samples must be > 0")
        if not 0 < period_smoothing <= 1:
            raise ConfigError("period_smoothing must be in (0, 1]")
        self.nominal_period_ns = NS_PER_S / nominal_rate_hz
        self.period_ns = self.nominal_period_ns
        self.gap_tolerance_samples = gap_tolerance_samples
        self.period_smoothing = period_smoothing
        self.prev_ns: int | None = None

    def reset(self) -> None:
        """Forget the previous frame (the next frame is spaced by the period)."""
        self.prev_ns = None

    def set_nominal_rate(self, rate_hz: float) -> None:
        """Change the nominal rate (e.g. after a restart with other settings)."""
        if not math.isfinite(rate_hz) or rate_hz <= 0:
            raise ConfigError(f"rate must be > 0, got {rate_hz}")
        period = NS_PER_S / rate_hz
        if abs(period - self.nominal_period_ns) > 1e-9 * period:
            self.nominal_period_ns = period
            self.period_ns = period

    def _spaced_back(self, frame_ns: int, n: int) -> NDArray[np.int64]:
        back = np.rint(np.arange(n - 1, -1, -1, dtype=np.float64) * self.period_ns)
        return frame_ns - back.astype(np.int64)

    def stamp(self, frame_ns: int, n: int) -> StampedTimes:
        """Sample times for a frame of ``n`` samples whose last sample is at ``frame_ns``."""
        if n < 1:
            raise FrameDecodeError("frame holds no samples", "empty")
        prev = self.prev_ns
        self.prev_ns = frame_ns
        if prev is None:
            return StampedTimes(self._spaced_back(frame_ns, n), None, False)
        if frame_ns <= prev:
            return StampedTimes(self._spaced_back(frame_ns, n), None, True)
        span = frame_ns - prev
        excess = span - n * self.period_ns
        tol = self.gap_tolerance_samples * self.period_ns
        if excess > tol:
            t = self._spaced_back(frame_ns, n)
            return StampedTimes(t, (prev, int(t[0])), False)
        # prev + i * span / n rounded half to even (as the SDK's Kotlin round()), exactly.
        i = np.arange(1, n + 1, dtype=np.int64)
        q, r = np.divmod(i * span, n)
        base = prev + q
        up = (2 * r > n) | ((2 * r == n) & (base % 2 == 1))
        t = base + up.astype(np.int64)
        if excess < -tol:
            return StampedTimes(t, None, False, anomaly=True)
        measured = span / n
        lo, hi = 0.9 * self.nominal_period_ns, 1.1 * self.nominal_period_ns
        a = self.period_smoothing
        self.period_ns = min(hi, max(lo, (1 - a) * self.period_ns + a * measured))
        return StampedTimes(t, None, False)


# --------------------------------------------------------------------------------------
# Profile
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PmdAccSettings:
    """Accelerometer settings to request from a Polar sensor.

    ``None`` picks from what the sensor offers: the rate closest to ``preferred_rate_hz``,
    the range closest to ``preferred_range_g``, 16-bit resolution if offered (else the
    highest).  A value that is set must be offered by the sensor (else
    :class:`~detector.errors.DeviceCapabilityError`).

    Attributes:
        sample_rate_hz: Hz (H10: 25/50/100/200; Verity Sense: 52 and SDK-mode rates).
        resolution_bits: bits per sample (8, 16 or 24).
        range_g: full-scale range, ±g (H10: 2/4/8).
        preferred_rate_hz: Hz, used when ``sample_rate_hz`` is None.
        preferred_range_g: g, used when ``range_g`` is None.
    """

    sample_rate_hz: int | None = None
    resolution_bits: int | None = None
    range_g: int | None = None
    preferred_rate_hz: int = 100
    preferred_range_g: int = 8

    def __post_init__(self) -> None:
        if self.sample_rate_hz is not None and not 1 <= self.sample_rate_hz <= 10_000:
            raise ConfigError(f"sample_rate_hz must be 1..10000 Hz, got {self.sample_rate_hz}")
        if self.resolution_bits is not None and self.resolution_bits not in (8, 16, 24):
            raise ConfigError(f"resolution_bits must be 8, 16 or 24, got {self.resolution_bits}")
        if self.range_g is not None and not 1 <= self.range_g <= 64:
            raise ConfigError(f"range_g must be 1..64 g, got {self.range_g}")
        if not 1 <= self.preferred_rate_hz <= 10_000:
            raise ConfigError(f"preferred_rate_hz must be 1..10000, got {self.preferred_rate_hz}")
        if not 1 <= self.preferred_range_g <= 64:
            raise ConfigError(f"preferred_range_g must be 1..64, got {self.preferred_range_g}")

    def choose(self, offered: Settings) -> dict[int, int]:
        """Start settings from the sensor's offer (``GET_SETTINGS`` answer)."""
        chosen: dict[int, int] = {}
        rules: tuple[tuple[SettingType, int | None, int, str], ...] = (
            (SettingType.SAMPLE_RATE, self.sample_rate_hz, self.preferred_rate_hz, "Hz"),
            (SettingType.RESOLUTION, self.resolution_bits, 16, "bit"),
            (SettingType.RANGE, self.range_g, self.preferred_range_g, "g"),
        )
        for sid, wanted, preferred, unit in rules:
            values = sorted(int(v) for v in offered.get(sid, ()))
            if not values:
                if wanted is not None:
                    raise DeviceCapabilityError(
                        f"sensor offers no {sid.name.lower()} setting, {wanted} {unit} asked"
                    )
                continue
            if wanted is not None:
                if wanted not in values:
                    raise DeviceCapabilityError(
                        f"sensor offers {sid.name.lower()} {values} {unit}, not {wanted}"
                    )
                chosen[sid] = wanted
            else:
                chosen[sid] = min(values, key=lambda v: (abs(v - preferred), -v))
        return chosen


class PolarPmdProfile(DeviceProfile):
    """Polar H10 / Verity Sense / OH1 accelerometer over PMD."""

    kind = "polar-pmd"
    NAME_PATTERNS = (r"^Polar (H10|H9|OH1|Sense|Verity)\b",)

    def __init__(self, settings: PmdAccSettings | None = None) -> None:
        self.settings = settings or PmdAccSettings()
        self._scan_filter = ScanFilter((PMD_SERVICE_UUID,), self.NAME_PATTERNS)

    @property
    def scan_filter(self) -> ScanFilter:
        return self._scan_filter

    @property
    def data_uuid(self) -> str:
        return PMD_DATA_UUID

    @property
    def control_uuid(self) -> str:
        return PMD_CONTROL_UUID

    @property
    def feature_uuid(self) -> str:
        return PMD_CONTROL_UUID

    @property
    def nominal_rate_hz(self) -> float:
        return float(self.settings.sample_rate_hz or self.settings.preferred_rate_hz)

    def check_features(self, payload: bytes) -> None:
        types = parse_features(payload)
        if MeasurementType.ACC not in types:
            names = sorted(_type_name(t) for t in types)
            raise DeviceCapabilityError(f"sensor has no PMD accelerometer stream (offers {names})")

    def query_steps(self) -> tuple[ControlStep, ...]:
        return (ControlStep("get_settings", PMD_CONTROL_UUID, encode_get_settings()),)

    def start_steps(self, answers: Mapping[str, bytes]) -> tuple[ControlStep, ...]:
        offered: Settings = {}
        if "get_settings" in answers:
            offered = parse_settings(parse_control_response(answers["get_settings"]).params)
        chosen = self.settings.choose(offered)
        return (
            ControlStep("stop", PMD_CONTROL_UUID, encode_stop(), tolerate_error=True),
            ControlStep("start", PMD_CONTROL_UUID, encode_start(MeasurementType.ACC, chosen)),
        )

    def stop_steps(self) -> tuple[ControlStep, ...]:
        return (ControlStep("stop", PMD_CONTROL_UUID, encode_stop(), tolerate_error=True),)

    def collect_response(self, parts: Sequence[bytes]) -> bytes | None:
        return merge_response_parts(parts)

    def check_response(self, step: ControlStep, payload: bytes) -> None:
        response = parse_control_response(payload)
        if response.op != step.data[0]:
            raise ControlPointError(
                f"PMD answer to {_op_name(response.op)} while waiting for {step.name}"
            )
        response.raise_for_status()

    def new_decoder(self) -> PmdStreamDecoder:
        return PmdStreamDecoder(self.nominal_rate_hz)


def _type_name(t: int) -> str:
    try:
        return MeasurementType(t).name
    except ValueError:
        return f"type{t}"


class PmdStreamDecoder(StreamDecoder):
    """ACC frames -> :class:`DecodedFrame` with per-sample sensor times (s since 2000)."""

    def __init__(self, nominal_rate_hz: float) -> None:
        super().__init__()
        self.timestamper = PmdTimestamper(nominal_rate_hz)
        self.factor: float | None = None
        self.sample_rate_hz = nominal_rate_hz
        self.anomalies = 0

    def configure(self, responses: Mapping[str, bytes]) -> None:
        """Learn the sample rate from the start request and the factor from its answer.

        ``responses`` holds ``"start"`` (the answer) and ``"start_request"`` (the bytes
        written), as passed by the session."""
        request = responses.get("start_request")
        if request is not None:
            rates = parse_control_request(request).settings.get(SettingType.SAMPLE_RATE)
            if rates:
                self.sample_rate_hz = float(rates[0])
                self.timestamper.set_nominal_rate(self.sample_rate_hz)
        answer = responses.get("start")
        if answer is not None:
            params = parse_control_response(answer).params
            factors = parse_settings(params).get(SettingType.FACTOR) if params else None
            self.factor = float(factors[0]) if factors else None
            if self.factor is not None and not (math.isfinite(self.factor) and self.factor > 0):
                raise ControlPointError(f"sensor sent an unusable scale factor {self.factor}")

    def reset(self) -> None:
        self.timestamper.reset()

    def frame_time_ns(self, payload: bytes) -> int | None:
        if len(payload) < HEADER_SIZE or payload[0] != MeasurementType.ACC:
            return None
        ts = int.from_bytes(payload[1:9], "little")
        return ts if ts < MAX_TIMESTAMP_NS else None

    def _decode(self, payload: bytes) -> DecodedFrame:
        frame = decode_acc_frame(payload, self.factor)
        stamped = self.timestamper.stamp(frame.timestamp_ns, frame.n_samples)
        if stamped.anomaly:
            self.anomalies += 1
        gap = None
        if stamped.gap_before_ns is not None:
            gap = (stamped.gap_before_ns[0] / NS_PER_S, stamped.gap_before_ns[1] / NS_PER_S)
        return DecodedFrame(
            t_sensor_s=stamped.t_ns.astype(np.float64) / NS_PER_S,
            acc_g=frame.acc_g,
            frame_t_sensor_s=frame.timestamp_ns / NS_PER_S,
            gap_before=gap,
            clock_reset=stamped.clock_reset,
            frame_type=frame.frame_type,
            compressed=frame.compressed,
        )
