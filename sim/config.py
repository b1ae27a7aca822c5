"""Configuration of a simulated night (:class:`NightConfig`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TypeGuard

from detector.errors import ConfigError

#: Sensor sides in the order they are simulated: sensor 0 is always the left wrist.
SIDES: tuple[str, ...] = ("left", "right")

#: Accelerometer full-scale ranges (± g) that real wrist sensors offer (Polar H10: 2/4/8 g).
RANGES_G: tuple[float, ...] = (2.0, 4.0, 8.0)
#: ADC resolutions (bits over the full ± range).
BITS: tuple[int, ...] = (12, 16)

#: Event types and signal components that can be switched off (``--no NAME``).
SWITCHES: tuple[str, ...] = (
    "hypnic",
    "series",
    "turns",
    "scratch",
    "tremor",
    "fidgets",
    "rem_twitches",
    "gaps",
    "breathing",
    "heartbeat",
    "bias",
)

#: Confounders of real nights that are off by default (so that existing simulated nights
#: stay exactly as they were) and switched on with ``--with NAME``: walking to the bathroom
#: and getting up in the morning (walking + activity), reading in bed (activity), the
#: sensor taken off for about an hour (off_wrist), the device's idle mode while off the
#: wrist (idle), clonic seizures (clonic).
EXTRAS: tuple[str, ...] = ("walking", "activity", "off_wrist", "idle", "clonic")


@dataclass(frozen=True)
class NightConfig:
    """Everything that shapes one simulated night; the same config always gives the same night.

    Attributes:
        hours: Recording length in hours (0.1–24).
        rate_hz: Output sample rate in Hz (25–200; need not be an integer, e.g. 52).
        seed: Seed of the ``numpy.random.Generator(PCG64(seed))`` behind every random choice.
        sensors: 1 (left wrist) or 2 (left and right wrists).
        range_g: Full-scale range ± g (2, 4 or 8); larger accelerations clip.
        bits: ADC resolution over the full ± range (12 or 16).
        noise_mg: White sensor noise, RMS per axis in milli-g; ``None`` draws 2–10 mg per sensor.
        jerk_rate_per_h: Mean rate of sporadic myoclonic jerks per hour of sleep (series and
            hypnic jerks come on top); ``None`` draws 3–15 per hour.
        series_count: Number of jerk series (clusters) in the night; ``None`` draws 0–4.
        hypnic, series, turns, scratch, tremor, fidgets, rem_twitches, gaps, breathing,
            heartbeat, bias: Switch one event type or signal component on (default) or off.
        walking, activity, off_wrist, idle, clonic: confounders of real nights, off by
            default (see :data:`EXTRAS`).
        t0: Time of the first sample in seconds (0.0, or a unix time for live pipelines).
        jitter_ms: Uniform timestamp jitter ± this many milliseconds (0 = exact sample grid);
            at most a quarter of the sample period so that time stays strictly increasing.
        randomised: The randomised night model of issue 16 (wide jerk amplitudes, shapes,
            trains and clusters, jerks on voluntary movement and in tremor, fragmented sleep
            onsets, negative myoclonus, PLM, RBD, knocks; see :mod:`sim.randomised`) instead
            of the standard one.
        rate_error_ppm: The sensor's true rate is ``rate_hz * (1 + rate_error_ppm / 1e6)``
            (crystal error and drift, ±10000 ppm); ``rate_hz`` stays the stated rate.
        ble_interval_ms: 0: sample times on the sensor's own grid.  Otherwise host timestamps:
            samples arrive in packets of ``packet_samples`` at connection events every this
            many ms (7.5-4000), with ``ble_jitter_ms`` (RMS) of host jitter; the host dates
            a packet on arrival and its samples backwards at the stated rate.
        ble_jitter_ms: RMS host timestamp jitter per packet in ms (with ``ble_interval_ms``).
        packet_samples: Samples per BLE packet (1-1000).
        packet_loss_pct: Mean share of packets lost (0-50 %), in bursts of 1-4 packets.
    """

    hours: float = 8.0
    rate_hz: float = 100.0
    seed: int = 0
    sensors: int = 1
    range_g: float = 8.0
    bits: int = 16
    noise_mg: float | None = None
    jerk_rate_per_h: float | None = None
    series_count: int | None = None
    hypnic: bool = True
    series: bool = True
    turns: bool = True
    scratch: bool = True
    tremor: bool = True
    fidgets: bool = True
    rem_twitches: bool = True
    gaps: bool = True
    breathing: bool = True
    heartbeat: bool = True
    bias: bool = True
    walking: bool = False
    activity: bool = False
    off_wrist: bool = False
    idle: bool = False
    clonic: bool = False
    t0: float = 0.0
    jitter_ms: float = 0.0
    randomised: bool = False
    rate_error_ppm: float = 0.0
    ble_interval_ms: float = 0.0
    ble_jitter_ms: float = 1.0
    packet_samples: int = 36
    packet_loss_pct: float = 0.0

    def __post_init__(self) -> None:
        _check_number("hours", self.hours, 0.1, 24.0)
        _check_number("rate_hz", self.rate_hz, 25.0, 200.0)
        if not _is_int(self.seed) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not _is_int(self.sensors) or self.sensors not in (1, 2):
            raise ConfigError(f"sensors must be 1 or 2, got {self.sensors!r}")
        if not _is_number(self.range_g) or float(self.range_g) not in RANGES_G:
            raise ConfigError(f"range_g must be one of 2, 4, 8 (g), got {self.range_g!r}")
        if not _is_int(self.bits) or self.bits not in BITS:
            raise ConfigError(f"bits must be 12 or 16, got {self.bits!r}")
        if self.noise_mg is not None:
            _check_number("noise_mg", self.noise_mg, 0.0, 100.0)
        if self.jerk_rate_per_h is not None:
            _check_number("jerk_rate_per_h", self.jerk_rate_per_h, 0.0, 600.0)
        if self.series_count is not None and (
            not _is_int(self.series_count) or not 0 <= self.series_count <= 50
        ):
            raise ConfigError(
                f"series_count must be an integer 0–50 or None, got {self.series_count!r}"
            )
        for name in SWITCHES + EXTRAS:
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not _is_number(self.t0) or not math.isfinite(self.t0):
            raise ConfigError(f"t0 must be a finite number of seconds, got {self.t0!r}")
        if _is_number(self.t0) and abs(self.t0) > 1e11:
            raise ConfigError(f"t0 must be within ±1e11 s (a unix time), got {self.t0!r}")
        max_jitter_ms = 250.0 / float(self.rate_hz)
        _check_number("jitter_ms", self.jitter_ms, 0.0, max_jitter_ms)
        if not isinstance(self.randomised, bool):
            raise ConfigError(f"randomised must be True or False, got {self.randomised!r}")
        _check_number("rate_error_ppm", self.rate_error_ppm, -10000.0, 10000.0)
        _check_number("ble_interval_ms", self.ble_interval_ms, 0.0, 4000.0)
        if 0.0 < float(self.ble_interval_ms) < 7.5:
            raise ConfigError(
                f"ble_interval_ms must be 0 or 7.5-4000 (BLE), got {self.ble_interval_ms!r}"
            )
        _check_number("ble_jitter_ms", self.ble_jitter_ms, 0.0, 50.0)
        if not _is_int(self.packet_samples) or not 1 <= self.packet_samples <= 1000:
            raise ConfigError(f"packet_samples must be 1-1000, got {self.packet_samples!r}")
        _check_number("packet_loss_pct", self.packet_loss_pct, 0.0, 50.0)

    @property
    def sample_rate_hz(self) -> float:
        """The rate the sensor really samples at (``rate_hz`` corrected by its clock error)."""
        if self.rate_error_ppm == 0.0:
            return float(self.rate_hz)  # exactly, so that standard nights stay bit for bit
        return float(self.rate_hz) * (1.0 + float(self.rate_error_ppm) / 1e6)

    @property
    def n_samples(self) -> int:
        """Number of sample slots in the night (before BLE gaps remove rows)."""
        return round(self.hours * 3600.0 * self.sample_rate_hz)

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return self.n_samples / self.sample_rate_hz

    @property
    def sides(self) -> tuple[str, ...]:
        """Sides of the simulated sensors, e.g. ``("left",)`` or ``("left", "right")``."""
        return SIDES[: self.sensors]

    def as_dict(self) -> dict[str, object]:
        """The config as a JSON-ready dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_number(name: str, value: object, lo: float, hi: float) -> None:
    if not _is_number(value) or not math.isfinite(float(value)):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if not lo <= float(value) <= hi:
        raise ConfigError(f"{name} must be between {lo:g} and {hi:g}, got {value!r}")
