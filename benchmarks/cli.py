"""Command-line start-up and end-to-end times (wall clock, best of several runs).

Prints the wall time of ``jerkmon --help``, ``jerkmon detect --help`` (targets <= 0.3 s) and
``jerkmon detect`` on a simulated 8 h, 100 Hz CSV (target <= 1.2 s), each a fresh process
as a user meets it, with the CPU time beside it (the machine may be shared).

    .venv/bin/python benchmarks/cli.py [--hours 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JERKMON = Path(sys.executable).with_name("jerkmon")


def _run(argv: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of one fresh ``jerkmon`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([str(JERKMON), *argv], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _best(argv: list[str], repeats: int) -> tuple[float, float]:
    runs = [_run(argv) for _ in range(repeats)]
    return min(w for w, _ in runs), min(c for _, c in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "night")
        subprocess.run(
            [str(JERKMON), "simulate", "--hours", str(args.hours), "--seed", "0", "--out", prefix],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        csv = f"{prefix}.csv"
        size_mb = Path(csv).stat().st_size / 1e6
        cases = {
            "jerkmon --help": (["--help"], 0.3),
            "jerkmon detect --help": (["detect", "--help"], 0.3),
            f"jerkmon detect ({args.hours:g} h CSV, {size_mb:.0f} MB)": (
                ["detect", csv, "--out", os.path.join(tmp, "events.csv"), "--no-progress"],
                1.2,
            ),
        }
        print(f"{'command':<40} {'wall s':>8} {'CPU s':>8} {'target':>8}")
        for name, (argv, target) in cases.items():
            wall, cpu = _best(argv, args.repeats)
            print(f"{name:<40} {wall:8.3f} {cpu:8.3f} {target:8.1f}", flush=True)


if __name__ == "__main__":
    main()
