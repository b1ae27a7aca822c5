"""Decoder throughput and reconnect latency.

    .venv/bin/python -m benchmarks.decode [--frames N] [--reconnects N]

1. PMD ACC frames decoded per second on one core (pure decode, and decode + per-sample
   timestamps as the session does it), for raw int16 frames (36 samples, H10-like) and
   delta-compressed frames (Verity-Sense-like, ~70 samples of 100 Hz data).
2. Time from a peripheral-side disconnect to samples flowing again, measured in real time
   (speed 1, normal event loop) through the emulated sensor, the bumble-backed bleak backend
   and the real collector session: "frame" = first notification decoded after the drop,
   "batch" = first SampleBatch yielded.  The sensor re-advertises at once; the first frame
   after a restart needs one frame period of samples (0.36 s at 100 Hz x 36 samples).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

# As a script, this folder would come first on sys.path and benchmarks/detector.py would
# shadow the detector package: use the repository root instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np

from collector.ble.clock import ClockMapConfig
from collector.ble.session import BleSession, SampleBatch, SessionConfig
from collector.protocols.pmd import (
    PmdStreamDecoder,
    decode_acc_frame,
    encode_acc_frame,
    encode_control_response,
    encode_settings,
)
from sim.ble_backend import BumbleClientBackend, BumbleScannerBackend
from sim.ble_sensor import EmulatedPmdSensor, EmulatedSensorConfig, SensorFaults, SimClock


def make_frames(n: int, compressed: bool, rng: np.random.Generator) -> list[bytes]:
    """``n`` consecutive frames of gravity + noise + motion, 100 Hz."""
    per = 70 if compressed else 36
    total = n * per
    acc = np.cumsum(rng.normal(0, 0.003, size=(total, 3)), axis=0) * 0.2 + [0.0, 0.0, 1.0]
    acc += rng.normal(0, 0.004, size=acc.shape)
    frames = []
    t0 = 790_000_000_000_000_000
    for i in range(n):
        ts = t0 + (i + 1) * per * 10_000_000
        frames.append(encode_acc_frame(acc[i * per : (i + 1) * per], ts, 1, compressed, factor=1.0))
    return frames


def bench_decode(n_frames: int) -> None:
    rng = np.random.default_rng(0)
    for compressed in (False, True):
        frames = make_frames(n_frames, compressed, rng)
        size = statistics.mean(len(f) for f in frames)
        samples = decode_acc_frame(frames[0], 1.0).n_samples
        t0 = time.perf_counter()
        for f in frames:
            decode_acc_frame(f, 1.0)
        pure = n_frames / (time.perf_counter() - t0)
        dec = PmdStreamDecoder(100.0)
        dec.configure({"start": encode_control_response(2, 2, 0, encode_settings({5: (1.0,)}))})
        t0 = time.perf_counter()
        for f in frames:
            dec.decode(f)
        stamped = n_frames / (time.perf_counter() - t0)
        kind = "compressed" if compressed else "raw int16"
        print(
            f"decode {kind:<10} ({samples} samples, {size:.0f} B/frame): "
            f"{pure:,.0f} frames/s pure, {stamped:,.0f} frames/s with timestamps "
            f"= {stamped * samples:,.0f} samples/s"
        )


async def bench_reconnect(n_drops: int) -> None:
    period = 12.0
    duration = 6.0 + period * (n_drops + 1)
    t = np.arange(0.0, duration, 0.01)
    acc = np.zeros((t.size, 3))
    acc[:, 2] = 1.0
    drops = tuple(6.0 + period * (k + 1) for k in range(n_drops))
    clock = SimClock(origin_s=0.0, speed=1.0)
    sensor = EmulatedPmdSensor(
        t,
        acc,
        EmulatedSensorConfig(faults=SensorFaults(disconnect_at_s=drops, readvertise_delay_s=0.0)),
        clock=clock,
    )
    await sensor.start()
    session = BleSession(
        SessionConfig(
            address=sensor.address,
            side="left",
            clock=ClockMapConfig(settle_frames=5, settle_s=1.0, wait_for_drift=False),
        ),
        client_backend=BumbleClientBackend,
        scanner_backend=BumbleScannerBackend,
        host_clock=clock,
    )
    batch_times: list[float] = []

    async def stopper() -> None:
        await sensor.finished.wait()
        await session.stop()

    task = asyncio.ensure_future(stopper())
    async for event in session:
        if isinstance(event, SampleBatch):
            batch_times.append(clock.now_s())
    await task
    await sensor.stop()
    to_batch = []
    for d in drops:
        after = [b for b in batch_times if b > d]
        if after:
            to_batch.append(after[0] - d)
    to_frame = session.stats.recovery_s
    print(
        f"reconnect ({len(drops)} peripheral drops, real time): link-down -> first frame "
        f"median {statistics.median(to_frame) * 1e3:.0f} ms (max {max(to_frame) * 1e3:.0f}); "
        f"drop -> first SampleBatch median {statistics.median(to_batch) * 1e3:.0f} ms "
        f"(max {max(to_batch) * 1e3:.0f})"
    )
    print(
        "  (includes re-scan, connect, MTU exchange, service discovery, battery and feature "
        "reads, stop/start commands, and one 0.36 s frame period of samples)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--reconnects", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    bench_decode(args.frames)
    asyncio.run(bench_reconnect(args.reconnects))


if __name__ == "__main__":
    main()
