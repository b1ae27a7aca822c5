"""``jerkmon evaluate EVENTS.csv TRUTH.json``: accuracy against simulator ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score detected jerks against ground truth",
        description="Sensitivity, PPV, F1, false jerks per hour, median onset error and "
        "hypnic/myoclonic label accuracy; a detection matches a true jerk when their onsets "
        "are within the tolerance, one to one.",
    )
    p.add_argument("events", type=Path, help="events CSV from jerkmon detect")
    p.add_argument("truth", type=Path, help="PREFIX.truth.json from jerkmon simulate")
    p.add_argument("--sensor", default=None, help="sensor side in the truth (default: first)")
    p.add_argument("--tolerance", type=float, default=0.25, help="match window, s (default 0.25)")
    p.add_argument("--json", type=Path, default=None, help="also write the scores as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jerkmon.offline import evaluate_files

    s = evaluate_files(args.events, args.truth, sensor=args.sensor, tolerance_s=args.tolerance)
    for line in s.lines():
        print(line)
    if args.json is not None:
        args.json.write_text(json.dumps(s.as_dict(), indent=2) + "\n")
    return 0
