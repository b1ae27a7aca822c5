"""Find nearby supported sensors (``jerkmon scan``), through bleak's public API."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bleak import BleakScanner
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from collector.protocols.base import DeviceProfile
from collector.protocols.pmd import PolarPmdProfile
from detector.errors import ConfigError, TransportError


@dataclass(frozen=True, slots=True)
class FoundSensor:
    """A supported sensor heard while scanning.

    Attributes:
        address: BLE address (what ``jerkmon run --device`` takes).
        name: advertised local name (may be empty).
        rssi: received signal strength, dBm.
        kind: the matching profile's ``kind`` (e.g. ``"polar-pmd"``).
    """

    address: str
    name: str
    rssi: int
    kind: str


def known_profiles() -> tuple[DeviceProfile, ...]:
    """Profiles ``jerkmon scan`` looks for."""
    return (PolarPmdProfile(),)


async def scan_sensors(
    timeout_s: float = 5.0,
    profiles: Sequence[DeviceProfile] | None = None,
    *,
    scanner_backend: type[BaseBleakScanner] | None = None,
    backend_kwargs: Mapping[str, Any] | None = None,
    allow: Collection[str] | None = None,
) -> list[FoundSensor]:
    """Scan for ``timeout_s`` seconds; return supported sensors, strongest first.

    ``allow``: if given, only these addresses are reported (case-insensitive)."""
    if not (timeout_s > 0):
        raise ConfigError(f"scan timeout must be > 0 s, got {timeout_s}")
    kwargs: dict[str, Any] = dict(backend_kwargs or {})
    if scanner_backend is not None:
        kwargs["backend"] = scanner_backend
    seen = await BleakScanner.discover(timeout=timeout_s, return_adv=True, **kwargs)
    allowed = {a.upper() for a in allow} if allow is not None else None
    found: list[FoundSensor] = []
    for device, adv in seen.values():
        if allowed is not None and device.address.upper() not in allowed:
            continue
        for profile in profiles or known_profiles():
            if profile.scan_filter.matches(adv.local_name, adv.service_uuids):
                name = adv.local_name or device.name or ""
                found.append(FoundSensor(device.address.upper(), name, adv.rssi, profile.kind))
                break
    return sorted(found, key=lambda f: (-f.rssi, f.address))


async def check_adapter() -> None:
    """Start and stop a scan once, so that a missing adapter or BlueZ is one clear error at
    start-up (a session retries such errors forever, as an adapter can come back)."""
    try:
        scanner = BleakScanner()
        await scanner.start()
        await scanner.stop()
    except (BleakError, OSError) as exc:
        raise TransportError(
            f"cannot use Bluetooth ({type(exc).__name__}: {exc}); is a Bluetooth adapter with "
            "BlueZ available? ('--sim-ble' runs emulated sensors on a virtual radio)"
        ) from exc
