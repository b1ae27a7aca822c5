"""Ingest benchmark: raw IMU lines and live jerk events into a real InfluxDB.

Starts a private influxd 1.x on loopback (like the test fixture) unless ``--url`` is given.

Throughput (``--mode throughput``): from one process, writes ``sensors`` x ``rate`` Hz x
``minutes`` of raw samples through ``Storage.add_imu`` (1 s chunks per sensor, as the
collector does), in three phases:

1. spool append alone (forwarder off, as while InfluxDB is down): encode + frame + write;
2. the forwarder drains that backlog: points/s until InfluxDB acknowledged the last batch;
3. appending and forwarding at once: points/s from the first append to the last
   acknowledgement.

At the end it checks InfluxDB's ``count(ax)`` in the ``raw`` retention policy.

Live delay (``--mode live``): the real pipeline (simulated night -> detector -> spool ->
forwarder -> InfluxDB, raw samples included) paced at ``--live-speed`` x real time for
``--live-minutes`` of wall time, while a second thread polls InfluxQL every 20 ms.  For each
jerk it reports

* provisional publish (what the Live dashboard and the cluster alert see): delivery delay,
  wall time from the moment the pipeline published the jerk provisionally (the packet that
  let the detector decide it had just been fed) until its ``jerk_event`` point answered a
  query; the detector's decision lag, sample time from the jerk's last sample (onset +
  duration) to that packet (the live detectors preview each burst 0.5 s after its last
  supra-threshold sample, again at 1 s; the final verdict, 6 s later, withdraws the
  candidates it rejects: counted and printed); and their sum, from the jerk's last sample
  to the point in InfluxDB as it is at speed 1 (goal p99 <= 2 s);
* settled point: delivery delay from the final emission, and the detector hold (onset to
  final emission, sample time): a few s while a series may continue (series gap 10 s), up
  to minutes while a sleep onset could still make it hypnic.

Usage::

    .venv/bin/python benchmarks/ingest.py --minutes 30
    .venv/bin/python benchmarks/ingest.py --mode live --live-minutes 3 --live-speed 30
    .venv/bin/python benchmarks/ingest.py --url http://127.0.0.1:8086 --db bench
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

# Run as a script, Python puts benchmarks/ first on sys.path, where a sibling benchmark
# (detector.py) would shadow the detector package: put the repository root there instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np

from detector import JerkEvent
from jerkmon.live.pipeline import NightPipeline, SensorSpec, consume
from jerkmon.live.sources import sim_source
from storage import InfluxConfig, Storage, StorageOptions, seconds_to_ns
from storage.influxd import LocalInfluxd


def _count(url: str, db: str) -> int:
    form = urllib.parse.urlencode({"q": 'SELECT count(ax) FROM "raw"."imu"', "db": db}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{url}/query", data=form), timeout=60) as r:
        doc = json.loads(r.read())
    series = doc["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def _append_all(
    storage: Storage, args: argparse.Namespace, t_start: float, subject: str
) -> tuple[int, float]:
    """Append every sample in 1 s chunks per sensor; return (points, s spent appending)."""
    n_per_sensor = int(args.rate * args.minutes * 60)
    chunk = max(1, int(args.rate))  # 1 s of samples per append, as from a live sensor
    rng = np.random.default_rng(0)
    acc = rng.normal(0.0, 0.05, (n_per_sensor, 3)) + np.array([0.0, 0.0, 1.0])
    t = t_start + np.arange(n_per_sensor) / args.rate
    total = 0
    busy = 0.0
    for i in range(0, n_per_sensor, chunk):
        for s in range(args.sensors):
            side = "left" if s % 2 == 0 else "right"
            a = time.perf_counter()
            total += storage.add_imu(
                subject, f"sensor{s}", side, t[i : i + chunk], acc[i : i + chunk]
            )
            busy += time.perf_counter() - a
    return total, busy


class _Poller(threading.Thread):
    """Polls ``jerk_event`` every ``interval_s``; records when each point was first seen,
    and first seen settled."""

    def __init__(self, url: str, db: str, subject: str, interval_s: float = 0.02) -> None:
        super().__init__(daemon=True)
        parts = urllib.parse.urlsplit(url)
        self._conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        q = f"SELECT peak_acc_g, sensor, provisional FROM jerk_event WHERE subject = '{subject}'"
        self._body = urllib.parse.urlencode({"q": q, "db": db, "epoch": "ns"}).encode()
        self.interval_s = interval_s
        self.seen: dict[tuple[str, int], float] = {}
        self.settled: dict[tuple[str, int], float] = {}  # first seen with provisional=false
        self.stop = threading.Event()

    def run(self) -> None:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        while not self.stop.is_set():
            try:
                self._conn.request("POST", "/query", self._body, headers)
                doc = json.loads(self._conn.getresponse().read())
            except (OSError, http.client.HTTPException, ValueError):
                self._conn.close()  # e.g. the database does not exist yet
                time.sleep(self.interval_s)
                continue
            now = time.monotonic()
            for series in doc.get("results", [{}])[0].get("series", []):
                for t_ns, _peak, sensor, provisional in series["values"]:
                    self.seen.setdefault((sensor, int(t_ns)), now)
                    if not provisional:
                        self.settled.setdefault((sensor, int(t_ns)), now)
            time.sleep(self.interval_s)
        self._conn.close()


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


async def _live(url: str, db: str, work: Path, args: argparse.Namespace) -> int:
    from sim import NightConfig, NightStream

    subject = "live"
    hours = min(24.0, max(0.1, args.live_minutes * args.live_speed / 60.0 + 0.1))
    t0 = float(int(time.time() - 3600))  # recent: the raw RP keeps 7 days
    cfg = NightConfig(
        hours=hours, rate_hz=args.rate, seed=7, sensors=2, t0=t0, jerk_rate_per_h=120.0
    )
    night = NightStream(cfg)
    specs = [SensorSpec(f"sim-{side}", side, cfg.rate_hz) for side in night.sides]
    storage = Storage(work / "live", InfluxConfig(url=url, db=db, create=True))
    emitted: dict[tuple[str, int], tuple[float, float]] = {}  # key -> (wall, hold in sample s)

    published: dict[tuple[str, int], tuple[float, float]] = {}  # key -> (wall, lag sample s)
    withdrawn: set[tuple[str, int]] = set()  # candidates the final verdict rejected

    def on_event(sensor: str, ev: JerkEvent, bilateral: bool) -> None:
        now_sample = pipeline.span()[1]
        emitted[(sensor, seconds_to_ns(ev.onset))] = (time.monotonic(), now_sample - ev.onset)

    def on_provisional(sensor: str, ev: JerkEvent) -> None:
        # The first publication counts (a later one updates the same point's values).
        now_sample = pipeline.span()[1]
        lag = now_sample - (ev.onset + ev.duration)
        published.setdefault((sensor, seconds_to_ns(ev.onset)), (time.monotonic(), lag))

    def on_withdrawn(sensor: str, ev: JerkEvent) -> None:
        withdrawn.add((sensor, seconds_to_ns(ev.onset)))

    pipeline = NightPipeline(
        subject,
        specs,
        storage,
        on_event=on_event,
        on_provisional=on_provisional,
        on_withdrawn=on_withdrawn,
    )
    poller = _Poller(url, db, subject)
    poller.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(args.live_minutes * 60.0, stop.set)
    print(
        f"live: 2 sensors x {cfg.rate_hz:g} Hz at {args.live_speed:g}x real time for "
        f"{args.live_minutes:g} min (raw stored too), InfluxDB polled every 20 ms ..."
    )
    try:
        source = sim_source(night, [s.sensor for s in specs], args.live_speed, stop=stop)
        await consume(pipeline, source)
        pipeline.finish()  # emits what the detectors still held
        storage.flush(timeout_s=120.0)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and not set(emitted) <= set(poller.settled):
            await asyncio.sleep(0.05)
    finally:
        poller.stop.set()
        poller.join()
        status = storage.status()
        storage.close()
    # First seen = the provisional point (it is written first; the settled one replaces it).
    jerks = {k: v for k, v in published.items() if k in emitted}  # candidates that count
    pub_ms = [1000.0 * (poller.seen[k] - w) for k, (w, _) in jerks.items() if k in poller.seen]
    lags = [lag for _, lag in jerks.values()]
    total = [lag + (poller.seen[k] - w) for k, (w, lag) in jerks.items() if k in poller.seen]
    delays = [poller.settled[k] - w for k, (w, _) in emitted.items() if k in poller.settled]
    holds = [h for _, h in emitted.values()]
    missing = len(emitted) - len(delays)
    unsettled = len((set(published) - withdrawn) ^ set(emitted))
    ms = [1000.0 * d for d in delays]
    print(
        f"   {len(emitted)} jerks emitted, {len(published)} published provisionally, "
        f"{len(withdrawn)} of them withdrawn ({unsettled} in one list only; "
        f"{pipeline.samples:,} samples, "
        f"{pipeline.samples / (args.live_minutes * 60):,.0f}/s), {missing} never queryable"
    )
    print(
        f"   provisional delivery, publish -> queryable via InfluxQL: p50 {_pct(pub_ms, 50):.0f} "
        f"ms, p90 {_pct(pub_ms, 90):.0f} ms, p99 {_pct(pub_ms, 99):.0f} ms, "
        f"max {max(pub_ms, default=0):.0f} ms (goal p99 <= 2000 ms)"
    )
    print(
        f"   detector decision lag, jerk's last sample -> publish (sample time): "
        f"p50 {_pct(lags, 50):.1f} s, p90 {_pct(lags, 90):.1f} s, p99 {_pct(lags, 99):.1f} s, "
        f"max {max(lags, default=0):.1f} s"
    )
    print(
        f"   jerk's last sample -> point in InfluxDB (lag + delivery, as at speed 1): "
        f"p50 {_pct(total, 50):.1f} s, p90 {_pct(total, 90):.1f} s, p99 {_pct(total, 99):.1f} s"
    )
    print(
        f"   settled delivery, final emission -> queryable with provisional=false: "
        f"p50 {_pct(ms, 50):.0f} ms, p99 {_pct(ms, 99):.0f} ms"
    )
    print(
        f"   detector hold, onset -> final emission (sample time = wall time at speed 1): "
        f"p50 {_pct(holds, 50):.1f} s, p90 {_pct(holds, 90):.1f} s, p99 {_pct(holds, 99):.1f} s, "
        f"max {max(holds, default=0):.1f} s"
    )
    print(f"   storage: {status.summary()}")
    return 0 if missing == 0 and delays and unsettled == 0 else 1


def _throughput(url: str, work: Path, args: argparse.Namespace) -> int:
    influx = InfluxConfig(url=url, db=args.db, create=True)
    options = StorageOptions(batch_max_lines=args.batch_lines)
    t_start = float(int(time.time()) - 3 * 3600)
    print(
        f"{args.sensors} sensors x {args.rate:g} Hz x {args.minutes:g} min per phase, "
        f"batches of {args.batch_lines} lines, InfluxDB at {url}"
    )

    # Phase 1+2: the forwarder is off while the spool fills (InfluxDB down), then catches up.
    storage = Storage(work / "a", influx, options, start_forwarder=False)
    total, busy = _append_all(storage, args, t_start, "backlog")
    spool_bytes = storage.spools["raw"].disk_bytes()
    print(
        f"1. spool append (encode + frame + write, fsync <= 0.5 s): "
        f"{total / busy:,.0f} points/s, {spool_bytes / busy / 1e6:.1f} MB/s, "
        f"{spool_bytes / total:.0f} B/point"
    )
    a = time.perf_counter()
    for fwd in storage.forwarders.values():
        fwd.start()
    ok = storage.flush(timeout_s=3600.0)
    dt = time.perf_counter() - a
    storage.close()
    print(f"2. backlog drain to InfluxDB (acknowledged): {total / dt:,.0f} points/s, done={ok}")

    # Phase 3: appending and forwarding at the same time, from one process.
    storage = Storage(work / "b", influx, options)
    a = time.perf_counter()
    total3, _ = _append_all(storage, args, t_start, "live")
    ok = storage.flush(timeout_s=3600.0)
    dt = time.perf_counter() - a
    status = storage.status()
    storage.close()
    print(
        f"3. append + forward concurrently, first append to last acknowledgement: "
        f"{total3 / dt:,.0f} points/s, done={ok}"
    )
    stored = _count(url, args.db)
    print(f"InfluxDB count(ax) in RP raw: {stored} (expected {total + total3})")
    print(f"storage: {status.summary()}")
    return 0 if stored == total + total3 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--url", help="existing InfluxDB 1.x (default: start a private influxd)")
    ap.add_argument("--db", default="jerkmon_bench")
    ap.add_argument("--mode", choices=("throughput", "live", "both"), default="both")
    ap.add_argument("--sensors", type=int, default=2)
    ap.add_argument("--rate", type=float, default=100.0, help="sample rate, Hz")
    ap.add_argument("--minutes", type=float, default=30.0, help="throughput: data per phase")
    ap.add_argument("--batch-lines", type=int, default=10_000)
    ap.add_argument("--live-minutes", type=float, default=3.0, help="live: wall minutes")
    ap.add_argument("--live-speed", type=float, default=30.0, help="live: x real time")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="jerkmon-bench-"))
    server: LocalInfluxd | None = None
    try:
        url = args.url
        if url is None:
            server = LocalInfluxd(work / "influxd")
            server.start()
            url = server.url
        code = 0
        if args.mode in ("throughput", "both"):
            code |= _throughput(url, work, args)
        if args.mode in ("live", "both"):
            code |= asyncio.run(_live(url, f"{args.db}_live", work, args))
        return code
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
