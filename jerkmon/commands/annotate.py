"""``jerkmon annotate``: put a note on a subject's timeline, e.g. a medication or dose change.

The note goes through :meth:`storage.Storage.add_annotation`: into the local store
and the spool, and from there to InfluxDB (measurement ``annotation``, tag ``subject``, field
``text``) like every other point; the Trends and Night dashboards show it as an annotation.
Without InfluxDB (or when it is unreachable) the note waits in the spool for ``jerkmon run``
or ``jerkmon flush``.

``--at`` takes ISO 8601 (``2025-03-14T21:30``, ``2025-03-14 21:30+01:00``, ``2025-03-14`` =
local midnight; without an offset: local time), ``now``, or seconds since the Unix epoch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import time
from typing import Any

from detector.errors import ConfigError
from jerkmon.storage_args import add_storage_arguments, storage_settings_from_args, subject_arg

__all__ = ["parse_time", "register", "run"]


def parse_time(text: str, now_s: float | None = None) -> float:
    """``--at`` as seconds since the Unix epoch (see the module docstring)."""
    s = text.strip()
    if s.lower() == "now":
        return time.time() if now_s is None else now_s
    try:
        value = float(s)
    except ValueError:
        pass
    else:
        if not math.isfinite(value) or not 0 <= value < 4e9:
            raise ConfigError(f"--at {text!r}: epoch seconds must be within 0..4e9")
        return value
    try:
        stamp = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--at {text!r}: use ISO 8601 (2025-03-14T21:30, 2025-03-14 21:30+01:00), "
            "'now' or epoch seconds"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.astimezone()  # local time
    return stamp.timestamp()


def register(sub: Any) -> None:
    """Add the ``annotate`` subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "annotate",
        help="note a medication/dose change (or anything) on a subject's timeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--subject", required=True, type=subject_arg, help="pseudonymous subject id")
    p.add_argument("--at", required=True, help="when it applies: ISO 8601, 'now' or epoch s")
    p.add_argument("--text", required=True, help='e.g. "clonazepam 0.5 mg -> 1 mg"')
    p.add_argument(
        "--timeout", type=float, default=10.0, help="s to wait for InfluxDB (default 10)"
    )
    add_storage_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Store the annotation; exit 0 when it reached InfluxDB (or none is configured)."""
    from storage import Annotation, Storage

    subject = args.subject.strip()
    text = " ".join(args.text.split())
    if not subject:
        raise ConfigError("--subject must not be empty")
    if not text:
        raise ConfigError("--text must not be empty")
    if len(text) > 1000:
        raise ConfigError(f"--text is {len(text)} characters; keep it under 1000")
    at_s = parse_time(args.at)
    data_dir, influx, options = storage_settings_from_args(args)
    with Storage(data_dir, influx, options) as storage:
        storage.add_annotation(Annotation(subject, at_s, text))
        sent = storage.flush(timeout_s=args.timeout)
    when = dt.datetime.fromtimestamp(at_s).astimezone().isoformat(timespec="seconds")
    if influx is None:
        print(f"annotation for {subject} at {when} stored in {data_dir} (no InfluxDB configured)")
        return 0
    if not sent:
        print(
            f"annotation for {subject} at {when} stored; InfluxDB did not take it yet, it "
            "stays in the spool (`jerkmon flush` sends it)"
        )
        return 1
    print(f"annotation for {subject} at {when} written to InfluxDB at {influx.url}")
    return 0
