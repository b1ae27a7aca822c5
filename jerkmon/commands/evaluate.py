"""``jerkmon evaluate EVENTS.csv TRUTH.json``: accuracy against simulator ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from collector.csvio import read_event_onsets
from detector.errors import InputError
from reports.evaluation import score


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
    onsets, kinds = read_event_onsets(args.events)
    try:
        truth = json.loads(Path(args.truth).read_text())
    except FileNotFoundError as exc:
        raise InputError(f"{args.truth}: no such file") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{args.truth}, line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(truth, dict) or "jerks" not in truth:
        raise InputError(f"{args.truth}: not a jerkmon truth file (no 'jerks')")
    s = score(onsets, kinds, truth, sensor=args.sensor, tolerance_s=args.tolerance)
    for line in s.lines():
        print(line)
    if args.json is not None:
        args.json.write_text(json.dumps(s.as_dict(), indent=2) + "\n")
    return 0
