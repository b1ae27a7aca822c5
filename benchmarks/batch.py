"""Cohort throughput of ``jerkmon batch``: recording-hours per minute of wall time.

Simulates ``--nights`` nights of ``--hours`` h at ``--rate`` Hz (CSV, as a study's exports
would be; kept in ``--data`` and reused), then runs the whole batch, each time into a fresh
output directory (so nothing is skipped as already done):

* serially (``--workers 1``), the reference;
* on the local process pool with 2 workers;
* on a ``dask.distributed.LocalCluster`` of 2 worker processes (1 thread each).

For each: wall time, recording-hours per minute, speed-up against the serial run measured
in the same invocation, and CPU time (this process plus its finished children: the pool's
and the cluster's worker processes).  ``--repeats`` runs each several times and reports the
best and the median.  The nights' cohort rows are checked to be identical across runners.

    .venv/bin/python benchmarks/batch.py                       # 20 nights x 8 h at 50 Hz
    .venv/bin/python benchmarks/batch.py --nights 6 --hours 2  # a smaller check
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# As a script, this folder comes first on sys.path and benchmarks/detector.py would shadow
# the detector package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from jerkmon.batch import BatchResult, run_batch
from jerkmon.cli import main as cli


def _cpu_s() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def make_nights(data: Path, nights: int, hours: float, rate: float) -> list[Path]:
    data.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(nights):
        prefix = data / f"n{k:02d}_{hours:g}h_{rate:g}hz"
        csv = Path(f"{prefix}.csv")
        if not csv.is_file():
            sim = ["--hours", f"{hours:g}", "--rate", f"{rate:g}", "--seed", str(k + 1)]
            cli(["simulate", *sim, "--out", str(prefix)])
            Path(f"{prefix}.truth.json").unlink(missing_ok=True)
        paths.append(csv)
    return paths


def timed(
    run: Callable[[Path], BatchResult], scratch: Path, repeats: int
) -> tuple[list[float], list[float], BatchResult]:
    walls, cpus = [], []
    res = None
    for k in range(repeats):
        out = scratch / f"out{k}"
        shutil.rmtree(out, ignore_errors=True)
        c0, w0 = _cpu_s(), time.perf_counter()
        res = run(out)
        walls.append(time.perf_counter() - w0)
        cpus.append(_cpu_s() - c0)
        assert not res.errors and res.skipped == 0, (res.errors, res.skipped)
    assert res is not None
    return walls, cpus, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--nights", type=int, default=20)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument(
        "--data", type=Path, default=Path(tempfile.gettempdir()) / "jerkmon-batch-bench"
    )
    ap.add_argument("--workers", type=int, default=2, help="pool and cluster size")
    args = ap.parse_args()

    t0 = time.perf_counter()
    paths = make_nights(args.data / "nights", args.nights, args.hours, args.rate)
    inputs = args.data / f"in_{args.nights}x{args.hours:g}h_{args.rate:g}hz"
    if inputs.exists():
        shutil.rmtree(inputs)
    inputs.mkdir(parents=True)
    for p in paths:
        (inputs / p.name).symlink_to(p)
    size_mb = sum(p.stat().st_size for p in paths) / 1e6
    print(
        f"{args.nights} nights x {args.hours:g} h at {args.rate:g} Hz "
        f"({args.nights * args.hours:g} recording-hours, {size_mb:.0f} MB of CSV; "
        f"inputs ready in {time.perf_counter() - t0:.0f} s)"
    )
    scratch = args.data / "runs"
    hours = args.nights * args.hours
    n = args.workers

    def serial(out: Path) -> BatchResult:
        return run_batch(inputs, out, workers=1, progress=False)

    def pool(out: Path) -> BatchResult:
        return run_batch(inputs, out, workers=n, progress=False)

    def dask(out: Path) -> BatchResult:
        return run_batch(inputs, out, scheduler=f"local:{n}", progress=False)

    results = {}
    rows = {}
    for name, fn in (("serial (1 worker)", serial), (f"pool ({n} workers)", pool),
                     (f"Dask LocalCluster ({n} workers)", dask)):  # fmt: skip
        walls, cpus, res = timed(fn, scratch / name.split()[0], args.repeats)
        results[name] = (walls, cpus)
        rows[name] = res.rows
        print(
            f"  {name:32s} wall {min(walls):7.1f} s (median {statistics.median(walls):.1f}), "
            f"CPU {statistics.median(cpus):7.1f} s, "
            f"{hours / (min(walls) / 60):7.1f} recording-h/min"
        )
    ref = min(results["serial (1 worker)"][0])
    for name, (walls, _) in results.items():
        print(f"  speed-up {name:32s} {ref / min(walls):5.2f}x")
    first = next(iter(rows.values()))
    assert all(r == first for r in rows.values()), "cohort rows differ between runners"
    print("  cohort rows identical across runners")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
