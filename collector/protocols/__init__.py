"""Pure sensor protocol codecs and device profiles (no I/O).

A :class:`~collector.protocols.base.DeviceProfile` tells the BLE session what to scan for,
which GATT writes start and stop a stream, and how to decode notifications into samples.
"""

from __future__ import annotations

from collector.protocols.base import (
    BATTERY_LEVEL_UUID,
    BATTERY_SERVICE_UUID,
    ControlStep,
    DecodedFrame,
    DeviceProfile,
    ScanFilter,
    StreamDecoder,
)

__all__ = [
    "BATTERY_LEVEL_UUID",
    "BATTERY_SERVICE_UUID",
    "ControlStep",
    "DecodedFrame",
    "DeviceProfile",
    "ScanFilter",
    "StreamDecoder",
]
