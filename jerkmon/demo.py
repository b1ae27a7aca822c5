"""Simulated nights written through the real pipeline into InfluxDB, for previews and tests.

Each night is simulated (:func:`sim.simulate_night`), fed in 30 s chunks through
:class:`jerkmon.live.pipeline.NightPipeline` into a :class:`storage.Storage` (spool ->
forwarder -> InfluxDB), with the status heartbeats a real collector sends (link up, battery,
achieved rate every 5 min); then the ``night`` points are published from the local store.
What the pipeline itself detected is returned, so callers can compare dashboards with it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dashboards.nights import publish_nights
from detector.errors import ConfigError, StorageError
from detector.events import JerkEvent
from jerkmon.live.pipeline import NightPipeline, SensorSpec
from storage import InfluxConfig, Night, SensorStatus, Storage

__all__ = ["DEFAULT_PLAN", "DemoNight", "NightSpec", "write_demo_nights"]

_CHUNK_S = 30.0
_HEARTBEAT_S = 300.0


@dataclass(frozen=True)
class NightSpec:
    """One simulated night: subject, nights before the last one (0 = last night), length
    (h), sample rate (Hz), simulator seed, number of wrists, and whether raw samples (and the
    activity summary) are stored."""

    subject: str
    nights_ago: int
    hours: float = 1.5
    rate_hz: float = 25.0
    seed: int = 5
    sensors: int = 1
    raw: bool = False

    def __post_init__(self) -> None:
        if self.nights_ago < 0 or self.nights_ago > 6:
            raise ConfigError(
                f"nights_ago must be 0..6 (raw data is kept 7 d), got {self.nights_ago}"
            )


#: Two subjects: s1 with four nights (the last one on both wrists, with raw data), s2 with two.
DEFAULT_PLAN: tuple[NightSpec, ...] = (
    NightSpec("s1", 3, seed=11),
    NightSpec("s1", 2, seed=12),
    NightSpec("s1", 1, seed=13),
    NightSpec("s1", 0, seed=5, sensors=2, raw=True),
    NightSpec("s2", 1, seed=21),
    NightSpec("s2", 0, seed=22),
)


@dataclass(frozen=True)
class DemoNight:
    """A night as written: its spec, the night record, the pipeline's own events per
    sensor, and how many live candidates were withdrawn (written, then overwritten as no
    jerk)."""

    spec: NightSpec
    night: Night
    sensors: tuple[SensorSpec, ...]
    events: dict[str, list[JerkEvent]]
    withdrawn: int = 0

    @property
    def all_events(self) -> list[JerkEvent]:
        """The jerks of every sensor, in onset order (negative myoclonus: not jerks)."""
        return sorted(
            (e for evs in self.events.values() for e in evs if e.kind != "negative"),
            key=lambda e: e.onset,
        )

    @property
    def negative_events(self) -> list[JerkEvent]:
        """Negative myoclonus (lapses of tone) of every sensor, in onset order."""
        return sorted(
            (e for evs in self.events.values() for e in evs if e.kind == "negative"),
            key=lambda e: e.onset,
        )


def _night_start(nights_ago: int, hours: float, now_s: float) -> float:
    """Start so that the last night ends 10 min before ``now_s``, nights a day apart,
    aligned to the second."""
    return float(int(now_s - 600.0 - hours * 3600.0 - nights_ago * 86400.0))


def write_demo_nights(
    data_dir: Path,
    influx: InfluxConfig | None,
    plan: Sequence[NightSpec] = DEFAULT_PLAN,
    *,
    now_s: float | None = None,
    flush_timeout_s: float = 120.0,
) -> list[DemoNight]:
    """Simulate and store every night of ``plan``; returns what the pipeline detected.

    Raises StorageError if InfluxDB did not take everything within ``flush_timeout_s``.
    """
    from sim import NightConfig, simulate_night

    now = time.time() if now_s is None else now_s
    out: list[DemoNight] = []
    storage = Storage(data_dir, influx)
    try:
        for spec in plan:
            t0 = _night_start(spec.nights_ago, spec.hours, now)
            cfg = NightConfig(
                hours=spec.hours, rate_hz=spec.rate_hz, seed=spec.seed, sensors=spec.sensors, t0=t0
            )
            sim_night = simulate_night(cfg)
            specs = tuple(SensorSpec(f"sim-{r.side}", r.side, r.rate_hz) for r in sim_night.sensors)
            pipeline = NightPipeline(spec.subject, specs, storage, store_raw=spec.raw)
            for sp, rec in zip(specs, sim_night.sensors, strict=True):
                pipeline.status(sp.sensor, SensorStatus(t0, "connected", battery_pct=100.0))
                n_chunk = max(1, int(_CHUNK_S * rec.rate_hz))
                next_beat = t0 + _HEARTBEAT_S
                for i in range(0, len(rec.t), n_chunk):
                    t, acc = rec.t[i : i + n_chunk], rec.acc[i : i + n_chunk]
                    pipeline.feed(sp.sensor, t, acc)
                    while len(t) and t[-1] >= next_beat:
                        used_h = (next_beat - t0) / 3600.0
                        pipeline.status(
                            sp.sensor,
                            SensorStatus(
                                next_beat,
                                "streaming",
                                battery_pct=round(100.0 - 4.0 * used_h, 1),
                                rate_hz=rec.rate_hz,
                            ),
                        )
                        next_beat += _HEARTBEAT_S
                pipeline.finish_sensor(sp.sensor)
                end = float(rec.t[-1]) if len(rec.t) else t0
                pipeline.status(sp.sensor, SensorStatus(end, "disconnected", detail="end of night"))
            pipeline.finish()
            record = storage.store.nights(spec.subject)
            night = next(n for n in record if abs(n.start_s - pipeline.span()[0]) < 1e-3)
            out.append(
                DemoNight(
                    spec,
                    night,
                    specs,
                    {s.sensor: pipeline.events(s.sensor) for s in specs},
                    pipeline.withdrawn_count,
                )
            )
        publish_nights(storage, sorted({s.subject for s in plan}))
        if influx is not None and not storage.flush(timeout_s=flush_timeout_s):
            raise StorageError(f"InfluxDB did not take the demo data: {storage.status().summary()}")
        status = storage.status()
        if influx is not None and status.quarantined_lines:
            raise StorageError(f"InfluxDB refused demo data: {status.summary()}")
    finally:
        storage.close()
    return out
