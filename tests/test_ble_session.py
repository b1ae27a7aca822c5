"""End to end: emulated PMD sensor (bumble GATT server) -> bumble-backed bleak backend ->
the real collector session (scan, bleak-retry-connector, start, decode, clock mapping,
watchdog, reconnects) -> SampleBatch / GapRecord, checked against the sensor's ground
truth of what it sent while connected."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray

from collector.ble.clock import ClockMapConfig
from collector.ble.session import (
    BatteryReading,
    BleSession,
    GapRecord,
    SampleBatch,
    SessionConfig,
)
from collector.protocols.pmd import PmdAccSettings, PolarPmdProfile, quantize_acc
from detector.errors import ConfigError, DeviceCapabilityError
from sim import NightConfig, simulate_night
from sim.ble_backend import BumbleClientBackend, BumbleScannerBackend
from sim.ble_sensor import (
    EmulatedPmdSensor,
    EmulatedSensorConfig,
    SensorFaults,
    SimClock,
    run_virtual,
    start_emulated_sensors,
)

TOL_S = 0.005


@dataclass
class Outcome:
    t: NDArray[np.float64]
    acc: NDArray[np.float64]
    t_host: NDArray[np.float64]
    acc_host: NDArray[np.float64]
    gaps: list[GapRecord]
    batteries: list[BatteryReading]
    sensor: EmulatedPmdSensor
    session: BleSession
    real_s: float


def synthetic(
    duration_s: float, rate_hz: float = 100.0, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gravity + noise + a few 150 ms transients (g)."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, duration_s, 1.0 / rate_hz)
    acc = rng.normal(0.0, 0.004, size=(t.size, 3)) + np.array([0.05, -0.2, 0.97])
    for onset in rng.uniform(5, duration_s - 5, size=max(1, int(duration_s // 20))):
        m = (t >= onset) & (t < onset + 0.15)
        acc[m] += rng.normal(0, 0.8, size=3) * np.hanning(m.sum())[:, None]
    return t, acc


async def stream_through_collector(
    t: NDArray[np.float64],
    acc: NDArray[np.float64],
    sensor_config: EmulatedSensorConfig,
    session_config: SessionConfig,
    clock: SimClock,
) -> Outcome:
    started = time.perf_counter()
    sensor = EmulatedPmdSensor(t, acc, sensor_config, clock=clock)
    await sensor.start()
    session = BleSession(
        session_config,
        client_backend=BumbleClientBackend,
        scanner_backend=BumbleScannerBackend,
        host_clock=clock,
    )
    batches: list[SampleBatch] = []
    gaps: list[GapRecord] = []
    batteries: list[BatteryReading] = []

    async def stop_when_done() -> None:
        await sensor.finished.wait()
        await clock.sleep(2.0)
        await session.stop()

    stopper = asyncio.ensure_future(stop_when_done())
    async for event in session:
        if isinstance(event, SampleBatch):
            assert event.side == session_config.side
            assert event.sensor_address == sensor.address
            batches.append(event)
        elif isinstance(event, GapRecord):
            gaps.append(event)
        else:
            batteries.append(event)
    await stopper
    await sensor.stop()
    t_host = np.concatenate([b.t_host_s for b in batches])
    acc_host = np.concatenate([b.acc_g for b in batches], axis=0)
    return Outcome(
        t, acc, t_host, acc_host, gaps, batteries, sensor, session, time.perf_counter() - started
    )


def truth_runs(sent: NDArray[np.int64]) -> list[tuple[int, int]]:
    """(last index before, first index after) of every run of samples not sent, between
    the first and the last sent sample."""
    s = np.sort(sent)
    jumps = np.nonzero(np.diff(s) > 1)[0]
    return [(int(s[j]), int(s[j + 1])) for j in jumps]


def check_delivery(
    out: Outcome, sensor_config: EmulatedSensorConfig, tol_s: float = TOL_S
) -> NDArray[np.int64]:
    """Every sample sent while connected is delivered exactly once, within 5 ms, with its
    exact (quantized) value; returns the matched truth indices."""
    sent = out.sensor.log.sent_indices()
    assert len(sent) == len(np.unique(sent)), "the sensor sent a sample twice"
    assert np.all(np.diff(out.t_host) > 0), "host timestamps must increase"
    idx = np.clip(np.searchsorted(out.t, out.t_host), 1, len(out.t) - 1)
    idx = np.where(out.t_host - out.t[idx - 1] < out.t[idx] - out.t_host, idx - 1, idx)
    err = out.t_host - out.t[idx]
    assert np.max(np.abs(err)) < tol_s, f"max timestamp error {np.max(np.abs(err)) * 1e3:.2f} ms"
    assert len(idx) == len(np.unique(idx)), "a sample was delivered twice"
    assert np.array_equal(np.sort(idx), np.sort(sent)), "delivered != sent while connected"
    range_g = max(sensor_config.ranges_g)
    expected = quantize_acc(
        np.clip(out.acc[idx], -range_g, range_g), sensor_config.frame_type, False
    ).astype(np.float64)
    if not sensor_config.compressed:
        np.testing.assert_array_equal(np.rint(out.acc_host * 1000), expected)
    else:
        np.testing.assert_allclose(
            out.acc_host, np.clip(out.acc[idx], -range_g, range_g), atol=1e-3
        )
    return idx


def check_gaps(out: Outcome, tol_s: float = TOL_S) -> None:
    runs = truth_runs(out.sensor.log.sent_indices())
    assert len(out.gaps) == len(runs), f"{len(out.gaps)} gap records for {len(runs)} gaps"
    for gap, (before, after) in zip(sorted(out.gaps, key=lambda g: g.start_s), runs, strict=True):
        assert abs(gap.start_s - out.t[before]) < tol_s
        assert abs(gap.end_s - out.t[after]) < tol_s
        assert gap.sensor == out.sensor.address


def test_night_with_20_disconnects_stall_drops_and_clock_reset() -> None:
    """30 simulated minutes in virtual time: 19 peripheral drops + 1 power loss (clock
    reset), a 60 s notification stall, 3 dropped frames."""
    night = simulate_night(NightConfig(hours=0.5, rate_hz=100, seed=11, sensors=1, gaps=False))
    t, acc = night.sensors[0].t, night.sensors[0].acc
    disconnects = tuple(60.0 + 85.0 * k for k in range(19) if k != 14)  # 18 drops
    faults = SensorFaults(
        disconnect_at_s=(*disconnects, 1700.0),
        stalls=((930.0, 60.0),),
        drop_frames_at_s=(100.0, 500.0, 1400.0),
        clock_reset_at_s=(1270.0,),
        readvertise_delay_s=1.0,
    )
    sensor_config = EmulatedSensorConfig(clock_drift_ppm=20.0, faults=faults, seed=5)
    session_config = SessionConfig(address=sensor_config.address, side="left", stall_timeout_s=10)

    out = run_virtual(
        stream_through_collector(t, acc, sensor_config, session_config, SimClock(origin_s=0.0))
    )

    causes = [cause for _, cause in out.sensor.log.disconnects]
    assert causes.count("disconnect") == 19 and causes.count("power_loss") == 1
    check_delivery(out, sensor_config)
    check_gaps(out)
    reasons = sorted(g.reason for g in out.gaps)
    assert reasons.count("stall") == 1
    assert reasons.count("frame_drop") == 3
    assert reasons.count("disconnect") == 20
    stats = out.session.stats
    assert stats.link_losses == {"disconnect": 20, "stall": 1}
    assert stats.failed_attempts == 0
    assert out.session.mapper.anchors == 2
    assert out.session.decoder.stats.frames_bad_total == 0
    assert len(out.batteries) == stats.connections == 22
    # the stall ended by the watchdog: gap of stall_timeout + reconnect, not 60 s
    stall = next(g for g in out.gaps if g.reason == "stall")
    assert 10.0 < stall.end_s - stall.start_s < 15.0
    assert out.real_s < 60.0


def test_compressed_frames_with_disconnects() -> None:
    t, acc = synthetic(300.0, rate_hz=52.0, seed=3)
    faults = SensorFaults(disconnect_at_s=(70.0, 150.0, 230.0), drop_frames_at_s=(200.0,))
    sensor_config = EmulatedSensorConfig(
        sample_rate_hz=52, compressed=True, frame_type=1, clock_drift_ppm=-15.0, faults=faults
    )
    session_config = SessionConfig(address=sensor_config.address, side="right")
    out = run_virtual(
        stream_through_collector(t, acc, sensor_config, session_config, SimClock(origin_s=0.0))
    )
    check_delivery(out, sensor_config)
    check_gaps(out)
    assert out.session.stats.link_losses == {"disconnect": 3}


def test_real_time_accelerated_clock() -> None:
    """The same path on a normal event loop, simulated time running 5x real time.

    Here the host's real processing delay (~1 ms from notify to callback) is stretched 5x
    in simulated time and, being a floor under every frame, cannot be told apart from the
    clock offset; so timestamps are checked to 5 ms + 5 x 1.5 ms, on 25 Hz data."""
    t, acc = synthetic(40.0, rate_hz=25.0, seed=1)
    faults = SensorFaults(
        disconnect_at_s=(24.0,), drop_frames_at_s=(30.0,), readvertise_delay_s=0.5
    )
    sensor_config = EmulatedSensorConfig(sample_rate_hz=25, samples_per_frame=10, faults=faults)
    session_config = SessionConfig(
        address=sensor_config.address,
        side="left",
        backoff_initial_s=0.1,
        clock=ClockMapConfig(settle_frames=10, settle_s=8.0, wait_for_drift=False),
    )
    speed = 5.0
    clock = SimClock(origin_s=0.0, speed=speed)
    out = asyncio.run(stream_through_collector(t, acc, sensor_config, session_config, clock))
    check_delivery(out, sensor_config, tol_s=0.005 + speed * 0.0015)
    check_gaps(out, tol_s=0.005 + speed * 0.0015)
    assert [g.reason for g in out.gaps] == ["disconnect", "frame_drop"]
    assert out.real_s < 20.0


def test_two_sensors_share_one_adapter() -> None:
    """Left and right sensors on one virtual radio, one adapter lock, both dropping."""

    async def main() -> dict[str, tuple[EmulatedPmdSensor, list[SampleBatch], list[GapRecord]]]:
        clock = SimClock(origin_s=0.0)
        t, acc = synthetic(200.0, seed=4)
        faults = {
            "left": SensorFaults(disconnect_at_s=(50.0, 130.0)),
            "right": SensorFaults(disconnect_at_s=(50.5, 90.0)),
        }
        sensors = await start_emulated_sensors(
            {"left": (t, acc), "right": (t, acc * 0.5)}, clock, faults=faults
        )
        results: dict[str, tuple[EmulatedPmdSensor, list[SampleBatch], list[GapRecord]]] = {}

        async def collect(side: str) -> None:
            sensor = sensors[side]
            session = BleSession(
                SessionConfig(address=sensor.address, side=side),
                client_backend=BumbleClientBackend,
                scanner_backend=BumbleScannerBackend,
                host_clock=clock,
            )
            batches: list[SampleBatch] = []
            gaps: list[GapRecord] = []
            stopper = asyncio.ensure_future(sensor.finished.wait())
            stopper.add_done_callback(lambda _f: asyncio.ensure_future(session.stop()))
            async for ev in session:
                if isinstance(ev, SampleBatch):
                    batches.append(ev)
                elif isinstance(ev, GapRecord):
                    gaps.append(ev)
            results[side] = (sensor, batches, gaps)

        await asyncio.gather(collect("left"), collect("right"))
        for sensor in sensors.values():
            await sensor.stop()
        return results

    results = run_virtual(main())
    t, _ = synthetic(200.0, seed=4)
    for side, (sensor, batches, gaps) in results.items():
        assert {b.side for b in batches} == {side}
        t_host = np.concatenate([b.t_host_s for b in batches])
        sent = np.sort(sensor.log.sent_indices())
        assert len(t_host) == len(sent)
        assert np.max(np.abs(t_host - t[sent])) < TOL_S
        assert [g.reason for g in gaps] == ["disconnect", "disconnect"]


def test_unsupported_rate_is_fatal() -> None:
    async def main() -> None:
        t, acc = synthetic(30.0)
        sensor = EmulatedPmdSensor(t, acc, EmulatedSensorConfig(), clock=SimClock())
        await sensor.start()
        session = BleSession(
            SessionConfig(address=sensor.address, side="left"),
            PolarPmdProfile(PmdAccSettings(sample_rate_hz=200)),
            client_backend=BumbleClientBackend,
            scanner_backend=BumbleScannerBackend,
        )
        with pytest.raises(DeviceCapabilityError, match="200"):
            async for _ in session:
                pass
        await sensor.stop()

    run_virtual(main())


def test_session_config_validation() -> None:
    with pytest.raises(ConfigError):
        SessionConfig(address="not-an-address")
    with pytest.raises(ConfigError):
        SessionConfig(address="AA:BB:CC:DD:EE:FF", stall_timeout_s=0)
    with pytest.raises(ConfigError):
        SessionConfig(address="AA:BB:CC:DD:EE:FF", backoff_initial_s=100, backoff_max_s=10)
    assert SessionConfig(address="aa:bb:cc:dd:ee:ff").address == "AA:BB:CC:DD:EE:FF"


def test_cli_scan_lists_emulated_sensors(capsys: pytest.CaptureFixture[str]) -> None:
    from jerkmon.cli import main

    assert main(["scan", "--sim-ble", "--timeout", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ADDRESS", "RSSI", "KIND", "NAME"]
    assert [ln.split()[0] for ln in lines[1:]] == ["F1:5E:25:00:00:01", "F1:5E:25:00:00:02"]
    assert all("polar-pmd" in ln and "Polar Sense EMU" in ln for ln in lines[1:])
