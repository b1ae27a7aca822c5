"""NightConfig validation."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from detector.errors import ConfigError, JerkmonError
from sim import NightConfig


def test_defaults_are_valid() -> None:
    cfg = NightConfig()
    assert (cfg.hours, cfg.rate_hz, cfg.sensors, cfg.range_g, cfg.bits) == (8.0, 100.0, 1, 8.0, 16)
    assert cfg.n_samples == 8 * 3600 * 100
    assert cfg.sides == ("left",)
    assert NightConfig(sensors=2).sides == ("left", "right")
    assert cfg.t0 == 0.0 and cfg.jitter_ms == 0.0


def test_config_is_frozen() -> None:
    cfg = NightConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.hours = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hours", 0.0),
        ("hours", 25.0),
        ("hours", math.nan),
        ("hours", "8"),
        ("rate_hz", 10.0),
        ("rate_hz", 400.0),
        ("seed", -1),
        ("seed", 1.5),
        ("seed", True),
        ("sensors", 3),
        ("sensors", 0),
        ("range_g", 3.0),
        ("range_g", 16.0),
        ("bits", 10),
        ("bits", 16.0),
        ("noise_mg", -1.0),
        ("noise_mg", math.inf),
        ("jerk_rate_per_h", -0.5),
        ("series_count", -1),
        ("series_count", 2.5),
        ("tremor", "yes"),
        ("gaps", 1),
        ("t0", math.nan),
        ("t0", 1e12),
        ("jitter_ms", -0.1),
        ("jitter_ms", 3.0),  # > a quarter of the 10 ms period at 100 Hz
    ],
)
def test_invalid_values_raise_config_error_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=field) as info:
        NightConfig(**{field: value})
    assert isinstance(info.value, JerkmonError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_hz": 25},
        {"rate_hz": 52.0},
        {"rate_hz": 200.0, "jitter_ms": 1.0},
        {"range_g": 2, "bits": 12},
        {"noise_mg": 0.0},
        {"jerk_rate_per_h": 0.0, "series_count": 0},
        {"t0": 1.7e9},
        {"hours": 0.1},
    ],
)
def test_valid_edge_values(kwargs: dict[str, Any]) -> None:
    NightConfig(**kwargs)
