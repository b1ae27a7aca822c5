"""The pipeline loop and its sources, on the embedded default (spool + local SQLite store)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from collector.sources import (
    BatteryNotice,
    LinkNotice,
    SampleBatch,
    merge,
)
from detector import DetectorConfig, JerkEvent
from detector.errors import ConfigError, InputError
from jerkmon.live.pipeline import (
    NightPipeline,
    ResumePoint,
    SensorSpec,
    consume,
    resume_points,
    warmup_s,
)
from jerkmon.live.settings import parse_speed, parse_start
from jerkmon.live.sources import sim_source
from sim import NightConfig, NightStream, simulate_night
from storage import Night, Storage, StoredCount, seconds_to_ns

T0 = 1_750_000_020.0  # a whole minute
NIGHT = NightConfig(hours=0.4, rate_hz=50, seed=3, sensors=2, t0=T0)
SPECS = [SensorSpec("sim-left", "left", 50.0), SensorSpec("sim-right", "right", 50.0)]
IDS = [s.sensor for s in SPECS]


# Look-alikes of what the BLE session yields (collector.ble.session), field for field.
@dataclass(frozen=True)
class BleSampleBatch:
    sensor_address: str
    side: str
    t_host_s: np.ndarray
    acc_g: np.ndarray


@dataclass(frozen=True)
class BleGapRecord:
    sensor: str
    start_s: float
    end_s: float
    reason: str


@dataclass(frozen=True)
class BleBatteryReading:
    sensor: str
    t_host_s: float
    percent: int


def _run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def test_any_source_with_the_item_shapes_drives_the_pipeline(tmp_path: Path) -> None:
    rec = simulate_night(NightConfig(hours=0.1, rate_hz=50, seed=5, sensors=1, t0=T0)).sensors[0]
    spec = SensorSpec("A0:9E:1A:00:00:01", "left", 50.0)

    async def ble_like() -> AsyncIterator[object]:
        yield BleBatteryReading(spec.sensor, T0, 80)
        half = len(rec.t) // 2
        for part in (slice(0, half), slice(half + 100, None)):  # 2 s lost in between
            for i in range(part.start, part.stop or len(rec.t), 50):
                j = min(i + 50, part.stop or len(rec.t))
                yield BleSampleBatch(spec.sensor, "left", rec.t[i:j], rec.acc[i:j])
            if part.start == 0:
                yield BleGapRecord(spec.sensor, rec.t[half - 1], rec.t[half + 100], "stall")
        yield BleBatteryReading(spec.sensor, float(rec.t[-1]), 9)

    with Storage(tmp_path, None) as storage:
        pipeline = NightPipeline("s1", [spec], storage)
        _run(consume(pipeline, ble_like()))
        pipeline.finish()
        store = storage.store
        statuses = store.statuses("s1", 0, 2e9)
        gaps = store.gaps("s1", 0, 2e9)
        counts = store.minute_counts("s1", 0, 2e9)
    battery = {s.status.state: s.status.battery_pct for s in statuses if s.status.battery_pct}
    assert battery == {"streaming": 80, "low_battery": 9}
    # The source's gap, with its reason, and the one the pipeline sees in the timestamps.
    lost = [g for g in gaps if g.start_s == rec.t[len(rec.t) // 2 - 1]]
    assert len(lost) == 1 and lost[0].duration_s == pytest.approx(101 / 50)
    assert "stall" in {s.status.detail for s in statuses}
    assert len(counts) == 6  # 0.1 h from a whole minute
    assert pipeline.samples == len(rec.t) - 100


def test_the_pipeline_refuses_what_it_cannot_place(tmp_path: Path) -> None:
    with Storage(tmp_path, None) as storage:
        pipeline = NightPipeline("s1", SPECS, storage)
        with pytest.raises(InputError, match="unknown sensor 'nope'"):
            pipeline.handle(SampleBatch("nope", "left", np.zeros(1), np.zeros((1, 3))))
        with pytest.raises(InputError, match="cannot use"):
            pipeline.handle("a string")
        with pytest.raises(ConfigError, match="unknown sensors"):
            NightPipeline("s1", SPECS, storage, resume={"x": ResumePoint(T0)})


def test_sim_source_skips_paces_and_stops() -> None:
    night = simulate_night(NightConfig(hours=0.1, rate_hz=50, seed=2, sensors=2, t0=T0))
    cfg = NightConfig(hours=0.1, rate_hz=50, seed=2, sensors=2, t0=T0)

    async def collect(start: float, live_from: float) -> tuple[list[object], float, list[float]]:
        live: list[float] = []
        items: list[object] = []
        begin = time.monotonic()
        source = sim_source(
            NightStream(cfg), IDS, 600.0, start_s=start, live_from_s=live_from, on_live=live.append
        )
        async for item in source:
            items.append(item)
        return items, time.monotonic() - begin, live

    # From start_s on, unpaced up to live_from_s, then 120 s of samples at 600x: ~0.2 s.
    start, live_from = T0 + 100.0, T0 + 240.0
    items, took, live = asyncio.run(collect(start, live_from))
    batches = [i for i in items if isinstance(i, SampleBatch)]
    for sensor, rec in zip(IDS, night.sensors, strict=True):
        t = np.concatenate([b.t_host_s for b in batches if b.sensor_address == sensor])
        acc = np.concatenate([b.acc_g for b in batches if b.sensor_address == sensor])
        keep = rec.t >= start
        assert np.array_equal(t, rec.t[keep]) and np.array_equal(acc, rec.acc[keep])
    assert live == [live_from]
    assert 0.15 < took < 1.5
    assert max(b.t_host_s.size for b in batches) <= 13  # 0.25 s packets
    links = [i for i in items if isinstance(i, LinkNotice)]
    assert {x.sensor for x in links} == set(IDS) and all(x.t_s >= live_from for x in links)
    assert all(
        isinstance(i, BatteryNotice) for i in items if not isinstance(i, SampleBatch | LinkNotice)
    )

    # A stop event ends a real-time stream at once.
    async def stopped() -> float:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, stop.set)
        a = time.monotonic()
        async for _ in sim_source(NightStream(cfg), IDS, 1.0, stop=stop):
            pass
        return time.monotonic() - a

    assert asyncio.run(stopped()) < 1.0


def _pipeline_night(
    data: Path, *, crash_at: float | None = None, stopped: bool = False, resume: bool = False
) -> NightPipeline:
    """Run NIGHT through a pipeline at full speed; stop feeding at ``crash_at``, without
    finishing (the process died) or, if ``stopped``, finishing (SIGINT); or resume from the
    local store."""
    with Storage(data, None) as storage:
        points = None
        start = live = None
        if resume:
            points = resume_points(storage.store, "s1", IDS, T0, T0 + NIGHT.duration_s)
            live = min(p.outputs_from_s for p in points.values())
            start = max(T0, live - warmup_s(DetectorConfig()))
        pipeline = NightPipeline("s1", SPECS, storage, resume=points, night_start_s=T0)

        async def feed() -> None:
            source = sim_source(NightStream(NIGHT), IDS, math.inf, start_s=start, live_from_s=live)
            async for item in source:
                late = isinstance(item, SampleBatch) and item.t_host_s[0] >= (crash_at or math.inf)
                if late:  # the process died here
                    return
                pipeline.handle(item)

        _run(feed())
        if crash_at is None or stopped:
            pipeline.finish()
    return pipeline


@pytest.mark.parametrize("stopped", [False, True], ids=["killed", "stopped"])
def test_resume_stores_every_minute_once_and_the_same_events(tmp_path: Path, stopped: bool) -> None:
    _pipeline_night(tmp_path / "ref")
    crash = T0 + 21 * 60.0 + 17.3
    _pipeline_night(tmp_path / "crash", crash_at=crash, stopped=stopped)
    with Storage(tmp_path / "crash", None) as storage:
        before = storage.store.minute_counts("s1", 0, 2e9)
        points = resume_points(storage.store, "s1", IDS, T0, T0 + NIGHT.duration_s)
    # The stored record stops a little before the crash: there the warm-up has to help.
    # After a clean stop the last minute was counted in part: it is counted again.
    resumed_from = min(p.outputs_from_s for p in points.values())
    assert T0 + warmup_s(DetectorConfig()) < resumed_from < crash
    if stopped:
        assert resumed_from == T0 + 21 * 60 and before[-1].count.covered_s <= 20
    assert all(p.outputs_from_s % 60 == 0 for p in points.values())
    second = _pipeline_night(tmp_path / "crash", resume=True)
    assert second.suppressed_events > 0 or second.jerks > 0

    def stored(
        path: Path,
    ) -> tuple[list[StoredCount], list[tuple[str, float, str, bool]], list[Night]]:
        with Storage(path, None) as storage:
            counts = storage.store.minute_counts("s1", 0, 2e9)
            events = storage.store.events("s1", 0, 2e9)
            nights = storage.store.nights("s1")
        ev: list[tuple[str, float, str, bool]] = [
            (e.sensor, e.event.onset, e.event.kind, e.bilateral) for e in events
        ]
        return counts, ev, nights

    ref_counts, ref_events, _ = stored(tmp_path / "ref")
    got_counts, got_events, nights = stored(tmp_path / "crash")
    assert len(before) < len(got_counts) == len(ref_counts) == 2 * 24
    assert got_counts == ref_counts
    assert got_events == ref_events
    assert [n.start_s for n in nights] == [T0]


def test_resume_point_of_an_empty_store_is_the_night_start(tmp_path: Path) -> None:
    with Storage(tmp_path, None) as storage:
        points = resume_points(storage.store, "s1", IDS, T0, T0 + 3600)
    assert points == {s: ResumePoint(T0, None, 0) for s in IDS}


def test_parse_start_and_speed() -> None:
    assert parse_start("1718400000") == 1718400000.0
    assert parse_start("2024-06-14T22:30:00+00:00") == 1718404200.0
    naive = parse_start("2024-06-14T22:30")
    assert abs(naive - 1718404200.0) <= 14 * 3600  # local time
    for bad in ("yesterday", "-5", "nan"):
        with pytest.raises(ConfigError, match="--start"):
            parse_start(bad)
    assert parse_speed("max") == math.inf and parse_speed("2.5") == 2.5
    for bad in ("0", "fast", "inf", "-1"):
        with pytest.raises(ConfigError, match="--speed"):
            parse_speed(bad)


def test_a_resume_point_suppresses_what_was_stored_and_renumbers_series(
    tmp_path: Path,
) -> None:
    night = simulate_night(NightConfig(hours=0.4, rate_hz=50, seed=6, sensors=1, t0=T0))
    rec = night.sensors[0]
    spec = [SPECS[0]]

    published: dict[Path, list[float]] = {}
    gone: dict[Path, list[float]] = {}

    def run(data: Path, resume: dict[str, ResumePoint] | None) -> list[JerkEvent]:
        onsets = published.setdefault(data, [])
        withdrawn = gone.setdefault(data, [])
        with Storage(data, None) as storage:
            pipeline = NightPipeline(
                "s1",
                spec,
                storage,
                resume=resume,
                on_provisional=lambda _, e: onsets.append(e.onset),
                on_withdrawn=lambda _, e: withdrawn.append(e.onset),
            )
            for i in range(0, len(rec.t), 500):
                pipeline.feed("sim-left", rec.t[i : i + 500], rec.acc[i : i + 500])
            pipeline.finish()
            assert pipeline.provisional_count == len(onsets)
            assert pipeline.withdrawn_count == len(withdrawn)
            return [e.event for e in storage.store.events("s1", 0, 2e9)]

    ref = run(tmp_path / "a", None)
    assert len(ref) >= 4 and any(e.series for e in ref)
    # An earlier run stored everything up to the third jerk, and series up to 10.
    point = ResumePoint(outputs_from_s=T0, last_event_s=ref[2].onset, series_offset=10)
    got = run(tmp_path / "b", {"sim-left": point})
    assert [e.onset for e in got] == [e.onset for e in ref[3:]]
    assert [e.series for e in got] == [e.series and e.series + 10 for e in ref[3:]]
    # Every stored jerk was published provisionally before; what else was published (a
    # candidate the final verdict rejected) was withdrawn; the resumed run publishes none
    # of what the earlier run stored.
    for path, events in ((tmp_path / "a", ref), (tmp_path / "b", got)):
        standing = set(published[path])
        assert set(gone[path]) <= standing
        # (the store keeps times in whole µs, as InfluxDB does)
        assert sorted(map(seconds_to_ns, standing - set(gone[path]))) == [
            seconds_to_ns(e.onset) for e in events
        ]
    assert min(published[tmp_path / "b"]) > ref[2].onset  # nothing the earlier run stored


def test_merge_interleaves_sources_and_passes_errors_on() -> None:
    async def wrist(name: str, n: int, pause: float, fail: bool = False) -> AsyncIterator[str]:
        for i in range(n):
            await asyncio.sleep(pause)
            yield f"{name}{i}"
        if fail:
            raise InputError(f"{name} broke")

    async def collect(*sources: AsyncIterator[str]) -> list[str]:
        return [item async for item in merge(*sources)]

    got = asyncio.run(collect(wrist("L", 5, 0.03), wrist("R", 3, 0.01)))
    assert sorted(got) == ["L0", "L1", "L2", "L3", "L4", "R0", "R1", "R2"]
    assert [x for x in got if x[0] == "L"] == ["L0", "L1", "L2", "L3", "L4"]
    assert got.index("R2") < got.index("L4")  # by arrival, not one source after the other
    with pytest.raises(InputError, match="R broke"):
        asyncio.run(collect(wrist("L", 50, 0.01), wrist("R", 2, 0.01, fail=True)))


def test_a_bad_chunk_is_logged_and_recorded_and_the_night_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Times that go backwards, repeat or are not finite, and a chunk the detector refuses
    (wrong shape): each is dropped with a log line and a gap record; every good sample
    before and after reaches the detector and the store once."""
    rec = simulate_night(NightConfig(hours=0.1, rate_hz=50, seed=5, sensors=1, t0=T0)).sensors[0]
    spec = SensorSpec("A0:9E:1A:00:00:01", "left", 50.0)
    third = len(rec.t) // 3
    with Storage(tmp_path, None) as storage:
        pipeline = NightPipeline("s1", [spec], storage)
        pipeline.feed(spec.sensor, rec.t[:third], rec.acc[:third])
        # a clock glitch: 1 s of samples replayed, one NaN time, then the stream goes on
        back = slice(third - 50, third + 10)
        t_bad = rec.t[back].copy()
        t_bad[-5] = math.nan
        pipeline.feed(spec.sensor, t_bad, rec.acc[back])
        pipeline.feed(spec.sensor, rec.t[third + 10 : 2 * third], rec.acc[third + 10 : 2 * third])
        pipeline.feed(spec.sensor, rec.t[2 * third : 2 * third + 5], np.zeros((5, 2)))  # shape
        pipeline.feed(spec.sensor, rec.t[2 * third + 5 :], rec.acc[2 * third + 5 :])
        pipeline.finish()
        details = [s.status.detail or "" for s in storage.store.statuses("s1", 0, 2e9)]
    # lost: the NaN-stamped sample and the wrongly shaped chunk; the 9 new good samples kept
    assert pipeline.samples == len(rec.t) - 1 - 5
    assert any("non-increasing times" in d for d in details)
    assert any(d.startswith("bad input:") for d in details)
    assert "do not increase" in caplog.text and "refused" in caplog.text
