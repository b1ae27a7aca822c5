"""``jerkmon detect INPUT.csv --out EVENTS.csv``: offline detection of one recording."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from collector.csvio import SampleReader, write_events_csv
from detector import DetectorConfig
from detector.errors import ConfigError
from jerkmon.offline import detect_csv


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "detect",
        help="detect jerks in a recording (CSV t,ax,ay,az)",
        description="Detect myoclonic jerks in a CSV recording with header t,ax,ay,az "
        "(t in s, acceleration in g; gaps allowed) and print the night summary.",
    )
    p.add_argument("input", type=Path, help="CSV file with header t,ax,ay,az[,sensor]")
    p.add_argument("--out", type=Path, required=True, help="events CSV to write")
    p.add_argument("--rate", type=float, default=None, help="sample rate in Hz (default: inferred)")
    p.add_argument("--sensor", default=None, help="sensor to use when the file holds several")
    p.add_argument("--config", type=Path, default=None, help="JSON file of DetectorConfig fields")
    p.add_argument("--summary-json", type=Path, default=None, help="also write the summary here")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None)
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=run)


def load_config(path: Path | None) -> DetectorConfig:
    """A DetectorConfig from a JSON object of field overrides (None: defaults)."""
    if path is None:
        return DetectorConfig()
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read detector config: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: detector config must be a JSON object")
    known = set(DetectorConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown detector config field(s): {', '.join(unknown)}")
    return DetectorConfig(**data)


def run(args: argparse.Namespace) -> int:
    if args.rate is not None and not args.rate > 0:
        raise ConfigError(f"--rate must be positive, got {args.rate}")
    reader = SampleReader(args.input, sensor=args.sensor)
    result = detect_csv(reader, args.rate, load_config(args.config), args.progress)
    write_events_csv(args.out, result.events)
    print(f"{args.input}: {result.samples} samples at {result.rate_hz:g} Hz")
    for line in result.summary.lines():
        print("  " + line)
    print(f"events written to {args.out}")
    if args.summary_json is not None:
        args.summary_json.write_text(json.dumps(result.summary.as_dict(), indent=2) + "\n")
    return 0
