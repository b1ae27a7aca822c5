"""What a live run is asked to do: the source, the sensors, the night, where data goes.

:class:`LiveSettings` is built by ``jerkmon run`` from its flags (or by a test or benchmark
directly) and validated here, so the run itself never looks at command-line arguments.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from detector.errors import ConfigError
from storage import InfluxConfig, StorageOptions
from storage.ids import check_id

__all__ = [
    "Device",
    "LiveSettings",
    "SourceKind",
    "allowed_devices",
    "parse_devices",
    "parse_speed",
    "parse_start",
]

#: ``sim``: a simulated night straight into the pipeline; ``sim-ble``: emulated BLE sensors
#: on an in-process radio; ``ble``: real sensors.
SourceKind = Literal["sim", "sim-ble", "ble"]


@dataclass(frozen=True, slots=True)
class Device:
    """A sensor to record: BLE address (upper case) and wrist."""

    address: str
    side: str


def _address(text: str, flag: str) -> str:
    parts = text.strip().split(":")
    try:
        ok = len(parts) == 6 and all(len(p) == 2 and int(p, 16) >= 0 for p in parts)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"{flag} takes a BLE address like A0:9E:1A:12:34:56, got {text!r}")
    return ":".join(parts).upper()


def parse_devices(addresses: Sequence[str], sides: Sequence[str]) -> list[Device]:
    """``--device``/``--side`` pairs, by order."""
    if len(sides) != len(addresses):
        raise ConfigError(
            f"give one --side per --device, in the same order ({len(addresses)} --device, "
            f"{len(sides)} --side)"
        )
    devices = [Device(_address(a, "--device"), s) for a, s in zip(addresses, sides, strict=True)]
    seen = [d.address for d in devices]
    if len(set(seen)) != len(seen):
        raise ConfigError(f"the same --device twice: {', '.join(seen)}")
    worn = [d.side for d in devices]
    if len(set(worn)) != len(worn):
        raise ConfigError(f"two sensors on one wrist: --side {' --side '.join(worn)}")
    return devices


def allowed_devices(devices: Sequence[Device], allow: Sequence[str]) -> frozenset[str]:
    """The allow-list (``--allow``, comma-separated or repeated; default: the devices);
    a device not on it is refused, so a neighbour's sensor is never recorded."""
    if allow:
        allowed = frozenset(
            _address(a, "--allow") for item in allow for a in item.split(",") if a.strip()
        )
    else:
        allowed = frozenset(d.address for d in devices)
    refused = [d.address for d in devices if d.address not in allowed]
    if refused:
        raise ConfigError(
            f"sensor {', '.join(refused)} is not on the allow-list ({', '.join(sorted(allowed))}"
            "): jerkmon never connects to a sensor that is not allowed; check the address "
            "with `jerkmon scan` or add it with --allow"
        )
    return allowed


def parse_speed(text: str) -> float:
    """``--speed``: a factor over real time (1 = real time) or ``max`` (as fast as possible,
    returned as ``inf``)."""
    if text.strip().lower() == "max":
        return math.inf
    try:
        value = float(text)
    except ValueError as exc:
        raise ConfigError(f"--speed must be a number or 'max', got {text!r}") from exc
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"--speed must be a positive number or 'max', got {text!r}")
    return value


def parse_start(text: str) -> float:
    """``--start``: unix seconds (``1718400000``) or ISO 8601 (``2024-06-14T22:30``, local time
    unless it carries an offset); returns s since the epoch."""
    s = text.strip()
    try:
        value = float(s)
    except ValueError:
        try:
            stamp = dt.datetime.fromisoformat(s)
        except ValueError:
            raise ConfigError(
                f"--start must be unix seconds or an ISO time like 2024-06-14T22:30, got {text!r}"
            ) from None
        value = stamp.timestamp()  # naive = local time, as a bedside user means it
    if not (math.isfinite(value) and 0 < value < 1e11):
        raise ConfigError(f"--start must be a time after 1970, got {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """One live run.

    Attributes:
        source: see :data:`SourceKind`.
        subject: pseudonymous subject id.
        data_dir / influx / options: where the data goes (spool and SQLite store in
            ``data_dir``; InfluxDB when ``influx`` is set).
        store_raw: also store raw acceleration.
        speed: simulated sample time over wall time (``inf``: as fast as possible).
        start_s: a simulated night's first sample, s since the epoch (None: now).
        hours: simulated night length, or how long to record real sensors (None: 8 h
            simulated, until stopped for real sensors).
        rate_hz: sample rate, Hz.
        sensors / seed: simulated wrists (1 or 2) and simulator seed.
        resume: continue the simulated night ``start_s`` where its stored record stops.
        replace: delete stored data of these sensors that a different run wrote over this
            run's span (otherwise that is a conflict: see :mod:`jerkmon.live.claims`).
        devices / allow: real sensors and the allow-list (``--allow`` items; empty: the
            devices).
        faults: ``--sim-ble`` fault spec (``sim.ble_sensor.FaultPlan.parse``).
        drain_timeout_s: how long to wait at the end for InfluxDB to take the spool, s.
        report: report file (None: ``reports/`` in the data directory).
        quiet: no status line, no link messages.
        pseudonymise_sensors: tag BLE sensors by a keyed hash of their address
            (:func:`storage.ids.sensor_pseudonym`) instead of the address.
    """

    source: SourceKind
    subject: str
    data_dir: Path
    influx: InfluxConfig | None
    options: StorageOptions
    store_raw: bool
    speed: float = 1.0
    start_s: float | None = None
    hours: float | None = None
    rate_hz: float = 100.0
    sensors: int = 1
    seed: int = 1
    resume: bool = False
    replace: bool = False
    devices: tuple[Device, ...] = ()
    allow: tuple[str, ...] = ()
    faults: str | None = None
    drain_timeout_s: float = 60.0
    report: Path | None = None
    quiet: bool = False
    pseudonymise_sensors: bool = False

    def __post_init__(self) -> None:
        check_id("subject id", self.subject)
        if self.source not in ("sim", "sim-ble", "ble"):
            raise ConfigError(f"unknown source {self.source!r}")
        if not self.speed > 0:
            raise ConfigError(f"speed must be > 0, got {self.speed}")
        if not (math.isfinite(self.drain_timeout_s) and self.drain_timeout_s >= 0):
            raise ConfigError(f"--drain-timeout must be >= 0 s, got {self.drain_timeout_s}")
        if self.hours is not None and not (math.isfinite(self.hours) and self.hours > 0):
            raise ConfigError(f"--hours must be > 0, got {self.hours}")
        if self.sensors not in (1, 2):
            raise ConfigError(f"1 or 2 simulated sensors, got {self.sensors}")
        if self.resume and (self.source == "ble" or self.start_s is None):
            raise ConfigError("resume is for a simulated night with a known start")

    @property
    def night_hours(self) -> float:
        """Length of a simulated night, h."""
        return float(self.hours) if self.hours is not None else 8.0
