"""``jerkmon detect INPUT [RIGHT] --out EVENTS.csv``: offline detection of one night."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from detector import DetectorConfig
from detector.errors import ConfigError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "detect",
        help="detect jerks in a recording (CSV, .cwa, .bin, .gt3x, .npy, Parquet)",
        description="Detect myoclonic jerks in a recording and print the night summary. "
        "INPUT is a CSV (time and x, y, z columns; units and time base detected and stated), "
        "an Axivity .cwa, GENEActiv .bin or ActiGraph .gt3x file (recognised by content), "
        ".npy or Parquet. Two wrists: two inputs with --sides left,right, or one long file "
        "with a sensor column and --sensor all; bilateral jerks are flagged.",
    )
    p.add_argument("input", type=Path, nargs="+", help="recording(s): one, or one per wrist")
    p.add_argument("--out", type=Path, required=True, help="events CSV to write")
    p.add_argument("--rate", type=float, default=None, help="sample rate in Hz (default: inferred)")
    p.add_argument(
        "--sensor", default=None, help="sensor to use when the file holds several ('all': each)"
    )
    p.add_argument("--sides", default=None, help="names of the inputs' wrists, e.g. left,right")
    p.add_argument(
        "--time-unit",
        choices=("s", "ms", "us", "ns", "iso"),
        default=None,
        help="CSV time column unit (default: detected)",
    )
    p.add_argument(
        "--units", default=None, help="acceleration unit g, mg or m/s2 (default: detected)"
    )
    p.add_argument("--config", type=Path, default=None, help="JSON file of DetectorConfig fields")
    p.add_argument("--summary-json", type=Path, default=None, help="also write the summary here")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="show a progress bar on stderr (default: only for files over 20 MB)",
    )
    bar.add_argument(
        "--no-progress", dest="progress", action="store_false", help="never show a progress bar"
    )
    p.set_defaults(func=run)


def load_config(path: Path | None) -> DetectorConfig:
    """A DetectorConfig from a JSON object of field overrides (None: defaults)."""
    from detector import DetectorConfig

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
    from jerkmon.offline import run_detect

    if args.rate is not None and not args.rate > 0:
        raise ConfigError(f"--rate must be positive, got {args.rate}")
    sides = [s.strip() for s in args.sides.split(",")] if args.sides else None
    lines = run_detect(
        args.input,
        args.out,
        sides=sides,
        sensor=args.sensor,
        rate_hz=args.rate,
        config=load_config(args.config),
        time_unit=args.time_unit,
        units=args.units,
        progress=args.progress,
        summary_json=args.summary_json,
    )
    for line in lines:
        print(line)
    return 0
