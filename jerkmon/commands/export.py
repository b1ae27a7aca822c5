"""``jerkmon export``: events and per-night summaries of a cohort, for research.

Writes ``nights.csv`` and ``events.csv`` (or ``.parquet``) and ``metadata.json`` into
``--out``.  One row per subject-night (subject, night, sleep onset, hours of sleep, jerks,
hypnic jerks, series, rate per hour of sleep, ...) and one row per detected event (per
sensor; ``jerk_id`` ties together the two wrists' events of a bilateral jerk).  Every
night row carries the detector version and configuration (JSON) that produced it;
``metadata.json`` (and the Parquet files' key-value metadata under ``jerkmon``) lists them
with column descriptions and units.  Times are UTC; the night date is the evening's date in
``--tz`` (default: the system's time zone).  Source: the local store, or InfluxDB with
``--influx-url``/``--influx-db``.

``--format edf`` adds one EDF+ file per night (``edf/<subject>_<night>.edf``) whose
annotations are the jerks (``jerk myoclonic|hypnic [bilateral]``), series, sleep onsets,
wakes and signal gaps, with a jerks-per-minute signal, for PSG software; ``--format bids``
adds a BIDS ``events.tsv`` (onset, duration, trial_type and our columns) with its
``events.json`` sidecar per night.  Both name the detector version and configuration.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``export`` subcommand to the CLI's subparsers."""
    from jerkmon.commands.report import add_date_range_arguments, add_source_arguments
    from jerkmon.storage_args import subject_arg

    p: argparse.ArgumentParser = sub.add_parser(
        "export",
        help="export events and per-night summaries (CSV or Parquet) for research",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--format",
        choices=("csv", "parquet", "edf", "bids"),
        default="csv",
        help="csv or parquet tables; edf: plus an EDF+ annotation file per night; bids: plus "
        "BIDS events.tsv + events.json per night (default csv)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default: export/ in the data directory)",
    )
    p.add_argument(
        "--subject",
        action="append",
        default=[],
        type=subject_arg,
        help="subject to export (repeatable; default: every subject)",
    )
    add_date_range_arguments(p)
    add_source_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``jerkmon export``; return the exit status."""
    from jerkmon.commands.report import data_dir_of, open_source, parse_date_range, parse_tz
    from reports.export import export_cohort

    tz = parse_tz(args.tz)
    first, last = parse_date_range(args)
    out = args.out if args.out is not None else data_dir_of(args) / "export"
    source, label = open_source(args)
    try:
        res = export_cohort(
            source, out, args.format, args.subject, first, last, tz, source_label=label
        )
    finally:
        source.close()
    print(
        f"exported {res.nights} nights to {res.nights_path} and {res.events} events to "
        f"{res.events_path} (metadata: {res.metadata_path})"
    )
    return 0
