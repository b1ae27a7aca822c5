"""``jerkmon batch INPUT_DIR|MANIFEST.csv --out DIR``: a cohort through ``detect``.

Every recording (CSV or device file; one or two wrists per subject-night as the manifest
``subject,night,path[,side]`` says) runs through the same detection as ``jerkmon detect``.
Writes per-night events (``recordings/<subject>_<night>/``), ``cohort.parquet`` and
``cohort.csv`` (rate per hour of sleep with its 95 % CI) and ``batch-errors.csv`` for files
that failed.  Resumable: nights whose inputs, detector version and configuration are
unchanged are skipped.  Runs on a local process pool sized to the cores, or on a Dask
cluster with ``--scheduler tcp://host:8786`` (or ``JERKMON_DASK_SCHEDULER``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from jerkmon.commands.detect import load_config

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``batch`` subcommand to the CLI's subparsers."""
    p: argparse.ArgumentParser = sub.add_parser(
        "batch",
        help="detect jerks in a whole cohort (directory or manifest), locally or on Dask",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", type=Path, help="directory of recordings, or a manifest CSV")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--workers", type=int, default=None, help="local processes (default: cores)")
    p.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler address, e.g. tcp://host:8786 (default: $JERKMON_DASK_SCHEDULER)",
    )
    p.add_argument(
        "--format",
        default="csv",
        help="per-night event formats, comma-separated: csv,parquet,edf,bids (default csv)",
    )
    p.add_argument("--rate", type=float, default=None, help="sample rate in Hz (default: stated)")
    p.add_argument(
        "--time-unit",
        choices=("s", "ms", "us", "ns", "iso"),
        default=None,
        help="CSV time column unit (default: detected)",
    )
    p.add_argument("--units", default=None, help="acceleration unit g, mg or m/s2")
    p.add_argument("--config", type=Path, default=None, help="JSON file of DetectorConfig fields")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="show a progress bar on stderr (default: on a terminal)",
    )
    bar.add_argument(
        "--no-progress", dest="progress", action="store_false", help="never show a progress bar"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``jerkmon batch``; exit 0 when every night ran, 1 when some failed."""
    from jerkmon.batch import run_batch

    res = run_batch(
        args.input,
        args.out,
        config=load_config(args.config),
        workers=args.workers,
        scheduler=args.scheduler,
        formats=[f.strip() for f in args.format.split(",") if f.strip()],
        rate_hz=args.rate,
        time_unit=args.time_unit,
        units=args.units,
        progress=args.progress,
    )
    print(
        f"{len(res.rows)} nights ({res.skipped} unchanged, skipped), {res.hours:.1f} h of "
        f"recording in {res.seconds:.1f} s; cohort: {res.cohort_parquet}, {res.cohort_csv}"
    )
    if res.errors:
        print(f"{len(res.errors)} recordings failed: see {res.errors_csv}")
        return 1
    return 0
