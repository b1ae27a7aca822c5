"""``jerkmon report``: a self-contained HTML report of one night or a range of nights.

Reads the local store in ``--data-dir`` by default, or InfluxDB 1.x (InfluxQL over the v1
API) with ``--influx-url`` and ``--influx-db``; the password of ``--influx-user`` comes from
``$JERKMON_INFLUX_PASSWORD``.  A night is named by the date of its evening.  Over several
nights the report adds a trend chart and, around each dose change (stored annotations, or
``--change``), the jerk rate per hour of sleep before and after with a rate ratio and its
95% confidence interval.
"""

from __future__ import annotations

import argparse
import os
import re
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from detector.errors import ConfigError, InputError
from jerkmon.storage_args import subject_arg

if TYPE_CHECKING:
    from reports.nightdata import NightSource
    from storage.local import Annotation

__all__ = [
    "add_date_range_arguments",
    "add_source_arguments",
    "open_source",
    "parse_date",
    "parse_date_range",
    "parse_tz",
    "register",
    "run",
]

_CHANGE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{1,2}):(\d{2}))?(?:=(.*))?", re.S)


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """``--data-dir`` or ``--influx-url/--influx-db/--influx-rp/--influx-user``, ``--tz``."""
    g = p.add_argument_group("data source (default: the local store)")
    g.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data directory holding events.sqlite3 (default: $JERKMON_DATA_DIR or "
        "~/.local/share/jerkmon)",
    )
    g.add_argument("--influx-url", default=None, help="read InfluxDB 1.x at this URL instead")
    g.add_argument("--influx-db", default=None, help="InfluxDB database (v1 API)")
    g.add_argument("--influx-rp", default=None, help="retention policy of the events")
    g.add_argument(
        "--influx-user",
        default=None,
        help="InfluxDB user; the password comes from $JERKMON_INFLUX_PASSWORD",
    )
    p.add_argument(
        "--tz",
        default=None,
        help="time zone for dates and clock times, e.g. Europe/Paris (default: the system's)",
    )


def parse_tz(name: str | None) -> tzinfo | None:
    """A time zone by IANA name (None: the system's local time)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"unknown time zone {name!r} (use an IANA name like Europe/Paris)"
        ) from exc


def parse_date(text: str, what: str = "date") -> date:
    """``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{what} {text!r} must be a date like 2026-11-02") from exc


def add_date_range_arguments(p: argparse.ArgumentParser) -> None:
    """``--from`` / ``--to`` (evening dates of the first / last night)."""
    p.add_argument("--from", dest="date_from", default=None, metavar="DATE", help="first night")
    p.add_argument("--to", dest="date_to", default=None, metavar="DATE", help="last night")


def _check_order(first: date | None, last: date | None) -> None:
    if first is not None and last is not None and last < first:
        raise ConfigError(f"--to {last} is before --from {first}")


def parse_date_range(args: argparse.Namespace) -> tuple[date | None, date | None]:
    """``--from`` / ``--to`` as dates (None when not given); ``--to`` before ``--from`` is an
    error."""
    first = parse_date(args.date_from, "--from") if args.date_from else None
    last = parse_date(args.date_to, "--to") if args.date_to else None
    _check_order(first, last)
    return first, last


def parse_change(text: str, subject: str, tz: tzinfo | None) -> Annotation:
    """``DATE[THH:MM][=TEXT]`` (default time: 12:00 local, between two nights)."""
    from storage.local import Annotation

    m = _CHANGE_RE.fullmatch(text.strip())
    if m is None:
        raise ConfigError(
            f"--change {text!r} must look like 2026-11-02 or 2026-11-02T08:00=clonazepam 1 mg"
        )
    day = parse_date(m.group(1), "--change date")
    hh, mm = (int(m.group(2)), int(m.group(3))) if m.group(2) else (12, 0)
    if not (0 <= hh <= 23 and 0 <= mm <= 59):
        raise ConfigError(f"--change {text!r}: bad time of day")
    when = datetime(day.year, day.month, day.day, hh, mm, tzinfo=tz)
    return Annotation(subject, when.timestamp(), (m.group(4) or "").strip())


def data_dir_of(args: argparse.Namespace) -> Path:
    """``--data-dir`` or the default data directory (where outputs go by default)."""
    from storage.config import default_data_dir

    return Path(args.data_dir) if args.data_dir is not None else default_data_dir()


def open_source(args: argparse.Namespace) -> tuple[NightSource, str]:
    """The source the flags name, and a label for it."""
    from storage.influxread import InfluxReader
    from storage.local import LocalStore

    url, db = args.influx_url, args.influx_db
    if url is None and db is None:
        if args.influx_user or args.influx_rp:
            raise ConfigError("--influx-user/--influx-rp need --influx-url and --influx-db")
        data_dir = data_dir_of(args)
        path = data_dir / "events.sqlite3"
        if not path.is_file():
            raise ConfigError(
                f"no local store in {data_dir} (events.sqlite3 missing): record a night with "
                "`jerkmon run` or pass --data-dir / --influx-url"
            )
        return LocalStore(path), f"local store {path}"
    if url is None or db is None:
        raise ConfigError("reading InfluxDB needs both --influx-url and --influx-db")
    password = None
    if args.influx_user is not None:
        password = os.environ.get("JERKMON_INFLUX_PASSWORD")
        if password is None:
            raise ConfigError("--influx-user needs the password in $JERKMON_INFLUX_PASSWORD")
    reader = InfluxReader(url, db, rp=args.influx_rp, user=args.influx_user, password=password)
    return reader, f"InfluxDB {url} database {db}"


def resolve_dates(
    args: argparse.Namespace, source: NightSource, subject: str, tz: tzinfo | None
) -> tuple[date, date]:
    """(first, last) night from ``--night`` or ``--from/--to``; default: the latest night."""
    from reports.nightdata import night_date
    from storage.nights import NightRule, subject_nights

    if args.night is not None and (args.date_from is not None or args.date_to is not None):
        raise ConfigError("give either --night or --from/--to, not both")
    if args.night is not None:
        d = parse_date(args.night, "--night")
        return d, d
    first, last = parse_date_range(args)
    if first is None or last is None:
        nights = subject_nights(source, subject, rule=NightRule.from_env(tz=tz))
        if not nights:
            raise InputError(f"subject {subject!r} has no recorded night")
        latest = night_date(nights[-1].start_s, tz)
        if first is None and last is None:
            first = last = latest
        else:
            first = first or night_date(nights[0].start_s, tz)
            last = last or latest
        _check_order(first, last)
    return first, last


def register(sub: Any) -> None:
    """Add the ``report`` subcommand to the CLI's subparsers."""
    p: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="write an HTML report of a night or a range of nights (with treatment response)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--subject", required=True, type=subject_arg, help="pseudonymous subject id")
    p.add_argument("--night", default=None, metavar="DATE", help="the night of DATE (evening)")
    add_date_range_arguments(p)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="HTML file to write (default: reports/jerkmon-SUBJECT-DATE[_DATE].html in the "
        "data directory)",
    )
    add_source_arguments(p)
    t = p.add_argument_group("treatment response")
    t.add_argument(
        "--change",
        action="append",
        default=[],
        metavar="DATE[THH:MM][=TEXT]",
        help="a dose change to compare around (repeatable; replaces the stored annotations), "
        "e.g. '2026-11-02=clonazepam 0.5 mg -> 1 mg'",
    )
    t.add_argument(
        "--before-days",
        type=float,
        default=None,
        help="days before the change compared (default: back to the previous "
        "change or the first night)",
    )
    t.add_argument(
        "--after-days",
        type=float,
        default=None,
        help="days after the washout compared (default: up to the next change or the last night)",
    )
    t.add_argument(
        "--washout-days",
        type=float,
        default=0.0,
        help="days right after the change left out (default 0)",
    )
    t.add_argument(
        "--min-nights", type=int, default=3, help="nights needed on each side (default 3)"
    )
    t.add_argument(
        "--min-jerks", type=int, default=10, help="jerks needed on both sides together (default 10)"
    )
    t.add_argument(
        "--min-sleep-h",
        type=float,
        default=0.5,
        help="nights with less sleep (h) are left out (default 0.5)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``jerkmon report``; return the exit status."""
    from reports.html import ReportOptions, write_report
    from reports.stats import ResponseOptions

    tz = parse_tz(args.tz)
    options = ReportOptions(
        response=ResponseOptions(
            before_days=args.before_days,
            after_days=args.after_days,
            washout_days=args.washout_days,
            min_nights=args.min_nights,
            min_jerks=args.min_jerks,
            min_sleep_h=args.min_sleep_h,
        )
    )
    changes = [parse_change(c, args.subject, tz) for c in args.change] or None
    source, label = open_source(args)
    try:
        first, last = resolve_dates(args, source, args.subject, tz)
        span = first.isoformat() if first == last else f"{first.isoformat()}_{last.isoformat()}"
        name = f"jerkmon-{args.subject}-{span}.html"
        out = args.out if args.out is not None else data_dir_of(args) / "reports" / name
        written = write_report(
            out,
            source,
            args.subject,
            first,
            last,
            changes=changes,
            tz=tz,
            options=options,
            source_label=label,
        )
    finally:
        source.close()
    n = len(written.nights)
    print(f"report of {n} night{'s' if n != 1 else ''} written to {written.path}")
    for resp in written.responses:
        print(resp.sentence)
    return 0
