"""Ingest benchmark: raw IMU lines through the spool and forwarder into InfluxDB.

Starts a private influxd 1.x on loopback (like the test fixture) unless ``--url`` is given,
then, from one process, writes ``sensors`` × ``rate`` Hz × ``minutes`` of raw samples through
``Storage.add_imu`` (1 s chunks per sensor, as the collector does), in three phases:

1. spool append alone (forwarder off, as while InfluxDB is down): encode + frame + write;
2. the forwarder drains that backlog: points/s until InfluxDB acknowledged the last batch;
3. appending and forwarding at once: points/s from the first append to the last
   acknowledgement.

At the end it checks InfluxDB's ``count(ax)`` in the ``raw`` retention policy.

Usage::

    .venv/bin/python benchmarks/ingest.py --minutes 30
    .venv/bin/python benchmarks/ingest.py --url http://127.0.0.1:8086 --db bench
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

# Run as a script, Python puts benchmarks/ first on sys.path, where a sibling benchmark
# (detector.py) would shadow the detector package: put the repository root there instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np

from collector.storage import InfluxConfig, Storage, StorageOptions
from collector.storage.influxd import LocalInfluxd


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


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--url", help="existing InfluxDB 1.x (default: start a private influxd)")
    ap.add_argument("--db", default="jerkmon_bench")
    ap.add_argument("--sensors", type=int, default=2)
    ap.add_argument("--rate", type=float, default=100.0, help="sample rate, Hz")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--batch-lines", type=int, default=10_000)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="jerkmon-bench-"))
    server: LocalInfluxd | None = None
    try:
        url = args.url
        if url is None:
            server = LocalInfluxd(work / "influxd")
            server.start()
            url = server.url
        influx = InfluxConfig(url=url, db=args.db)
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
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
