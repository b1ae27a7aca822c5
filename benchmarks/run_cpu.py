"""CPU use of ``jerkmon run`` with two sensors at 200 Hz, and time from a disconnect to
samples flowing again.

    .venv/bin/python benchmarks/run_cpu.py [--window 60] [--disconnects 4] [--no-influx]

1. BLE: the production run (``jerkmon run --sim-ble --sensors 2 --rate 200 --speed 1
   --raw``, :class:`jerkmon.commands.run.BleRun`) in real time: emulated sensors on the
   in-process bumble radio, two BLE sessions, decoding, clock mapping, detectors, bilateral
   pairing, the fsync'd spool with raw samples, the local store and - unless
   ``--no-influx`` - the forwarder shipping everything to a private influxd (a separate
   process, not counted).  CPU = process CPU s (all threads, user + system) / wall s over
   ``--window`` s that start once samples flow (for the first ~2 min the clock mapping
   holds them back).  The emulated sensors and the peripheral half of bumble's stack run
   in this process too; with real sensors that work is done by the sensors and by BlueZ, so
   this figure is an upper bound.
2. Direct: the same pipeline fed by ``jerkmon run --sim`` (no BLE) in real time, same
   window: the share of detector + storage.
3. Reconnects: after the window of run 1, each sensor's link is dropped ``--disconnects``
   times by the peripheral (which re-advertises at once), 6 s apart; reported: the
   session's link-down -> first frame decoded, and the drop -> first samples handed to the
   pipeline (rescan, connect, MTU exchange, discovery, battery and feature reads, stream
   restart, one 0.18 s frame of samples at 200 Hz).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import cast

# As a script, this folder would come first on sys.path and benchmarks/detector.py would
# shadow the detector package: use the repository root instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from collector.sources import Samples, item_kind
from jerkmon.cli import build_parser
from jerkmon.commands.run import prepare
from jerkmon.live import BleRun
from sim.ble_sensor import SimClock
from storage.influxd import LocalInfluxd

WARMUP_S = 5.0  # after samples start flowing, before the window opens


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Window:
    """Process CPU and wall time between two marks."""

    def __init__(self) -> None:
        self.start: tuple[float, float] | None = None
        self.end: tuple[float, float] | None = None

    def mark(self) -> None:
        point = (time.monotonic(), cpu_s())
        if self.start is None:
            self.start = point
        elif self.end is None:
            self.end = point

    def share(self) -> float:
        assert self.start is not None and self.end is not None, "the window never closed"
        return (self.end[1] - self.start[1]) / (self.end[0] - self.start[0])


def storage_flags(data: Path, url: str | None) -> list[str]:
    flags = ["--data-dir", str(data), "--raw", "--quiet", "--subject", "bench"]
    return flags + (["--url", url, "--db", "bench", "--create-db"] if url else [])


def bench_ble(window_s: float, disconnects: int, data: Path, url: str | None) -> None:
    hours = max(0.1, (3.0 + 125.0 + WARMUP_S + window_s + 15.0 * disconnects) / 3600.0)
    argv = ["run", "--sim-ble", "--sensors", "2", "--rate", "200", "--speed", "1"]
    argv += ["--hours", f"{hours:.5f}", "--faults", "readvertise_s=0"]
    run = prepare(build_parser().parse_args([*argv, *storage_flags(data, url)]))
    assert isinstance(run, BleRun)
    win = Window()
    first: list[float] = []
    arrivals: dict[str, list[float]] = defaultdict(list)  # sensor -> sample time of arrival
    drops: list[tuple[str, float]] = []  # sensor, sample time of the drop
    tasks: list[asyncio.Task[None]] = []

    async def drop_links() -> None:
        """After the CPU window: drop each link in turn, 6 s apart, then stop the run."""
        assert isinstance(run.clock, SimClock)
        for _ in range(disconnects):
            for sensor in run.emulated.values():
                await asyncio.sleep(6.0)
                drops.append((sensor.address, run.clock.now_s()))
                await sensor.drop_link()
        await asyncio.sleep(6.0)
        run.stop.set()  # as SIGINT would, without the exit status

    def on_item(item: object) -> None:
        if item_kind(item) != "samples":
            return
        now = time.monotonic()
        assert isinstance(run.clock, SimClock)
        arrivals[cast(Samples, item).sensor_address].append(run.clock.now_s())
        if not first:
            first.append(now)
        elif win.start is None and now >= first[0] + WARMUP_S:
            win.mark()
        elif win.start is not None and win.end is None and now >= win.start[0] + window_s:
            win.mark()
            tasks.append(asyncio.get_running_loop().create_task(drop_links()))

    run.on_item = on_item
    with contextlib.redirect_stdout(io.StringIO()):
        run.execute()
    print(
        f"BLE run (2 emulated sensors x 200 Hz, --raw, InfluxDB {'on' if url else 'off'}): "
        f"{100 * win.share():.1f} % of one core over {window_s:g} s"
    )
    to_frame = [s for session in run.sessions for s in session.stats.recovery_s]
    to_batch = []
    for address, t_drop in drops:
        after = [t for t in arrivals[address] if t > t_drop]
        if after:
            to_batch.append(after[0] - t_drop)
    if to_frame and to_batch:
        print(
            f"reconnect ({len(to_batch)} peripheral drops, real time, sensor re-advertising at "
            f"once): link-down -> first frame decoded median "
            f"{1e3 * statistics.median(to_frame):.0f} ms (max {1e3 * max(to_frame):.0f}); "
            f"drop -> first samples in the pipeline median "
            f"{1e3 * statistics.median(to_batch):.0f} ms (max {1e3 * max(to_batch):.0f})"
        )


def bench_direct(window_s: float, data: Path, url: str | None) -> None:
    hours = max(0.1, (WARMUP_S + window_s + 5.0) / 3600.0)  # stopped early
    argv = ["run", "--sim", "--sensors", "2", "--rate", "200", "--speed", "1"]
    argv += ["--hours", f"{hours:.5f}", *storage_flags(data, url)]
    run = prepare(build_parser().parse_args(argv))
    win = Window()
    done = threading.Event()

    def sampler() -> None:
        if not done.wait(WARMUP_S):
            win.mark()
        if not done.wait(window_s):
            win.mark()
            os.kill(os.getpid(), signal.SIGINT)  # stop the run as a user would

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    with contextlib.redirect_stdout(io.StringIO()):
        run.execute()
    done.set()
    thread.join()
    print(
        f"direct run (--sim, 2 sensors x 200 Hz, no BLE, same storage): "
        f"{100 * win.share():.1f} % of one core over {window_s:g} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=60.0, help="measured wall s")
    parser.add_argument("--disconnects", type=int, default=5, help="link drops per sensor")
    parser.add_argument("--no-influx", action="store_true", help="spool and local store only")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jerkmon-run-cpu-"))
    influxd: LocalInfluxd | None = None
    try:
        if not args.no_influx:
            influxd = LocalInfluxd(tmp / "influxd")
            influxd.start()
        url = influxd.url if influxd is not None else None
        bench_ble(args.window, args.disconnects, tmp / "ble", url)
        bench_direct(args.window, tmp / "direct", url)
    finally:
        if influxd is not None:
            influxd.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
