"""``jerkmon flush``: send what a data directory's spool still holds to InfluxDB.

Reports per stream what was sent, what InfluxDB refused (quarantined, with its message) and
what is left; ``--retry-quarantine`` first re-sends quarantined batches (after the cause, e.g.
a wrong token or a field type conflict, was fixed) and recovers every intact record from
damaged spool bytes (``quarantine/*.bin``).  Damaged records that could not be recovered are
listed with what they held: that data is lost.  Exit status 0 when the spool is empty, nothing
is in quarantine and nothing was lost; 1 otherwise (remove a ``.bin`` file and its ``.json``
once its loss is noted); 2 on a configuration error.  ``flush`` reads the spool only, never
the SQLite store, so it works when ``events.sqlite3`` is damaged.

The InfluxDB settings come from the environment / ``--config`` file (see
:mod:`storage.config`); flags override the non-secret ones.  Tokens and passwords
are never accepted on the command line.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from detector.errors import ConfigError, InfluxUnavailableError
from jerkmon.storage_args import add_storage_arguments, storage_settings_from_args

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``flush`` subcommand to the CLI's subparsers."""
    p: argparse.ArgumentParser = sub.add_parser(
        "flush",
        help="send the spooled data to InfluxDB and report what was sent or quarantined",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_storage_arguments(p)
    p.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="give up after this many s if InfluxDB stays unavailable (default: 300)",
    )
    p.add_argument(
        "--retry-quarantine",
        action="store_true",
        help="re-send quarantined batches first (after fixing what InfluxDB complained about)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``jerkmon flush``; return the exit status."""
    from storage import Storage
    from storage.forwarder import message_summary

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="jerkmon: %(levelname)s: %(message)s")
    if not args.timeout > 0:
        raise ConfigError(f"--timeout must be > 0 s, got {args.timeout}")
    data_dir, influx, options = storage_settings_from_args(args)
    if influx is None:
        raise ConfigError(
            "no InfluxDB configured: set JERKMON_INFLUX_URL (and JERKMON_INFLUX_DB, or "
            "JERKMON_INFLUX_ORG/BUCKET/TOKEN) or pass --url/--db"
        )
    if not data_dir.is_dir():
        raise ConfigError(f"data directory {data_dir} does not exist")
    # The spool alone: a damaged events.sqlite3 must not keep its data from InfluxDB.
    storage = Storage(data_dir, influx, options, start_forwarder=False, local_store=False)
    try:
        # A missing database is an error, never created here: the spool keeps the data.
        storage.check_influx_target(raw=storage.spools["raw"].pending_lines > 0)
        if args.retry_quarantine:
            try:
                rep = storage.retry_quarantine()
                if rep.salvaged_lines:
                    print(f"damaged spool bytes: recovered {rep.salvaged_lines} intact lines")
                print(
                    f"quarantine: re-sent {rep.resent_lines} lines "
                    f"({rep.resent_batches} batches accepted); still refused "
                    f"{rep.still_refused_lines} lines in {rep.still_refused_batches} batches"
                )
                if rep.messages:
                    print(f"  server says: {message_summary(rep.messages)}")
            except InfluxUnavailableError as exc:
                print(f"quarantine: not re-sent, InfluxDB unavailable: {exc}")
        before = storage.status()
        drained = storage.drain(args.timeout)
        after = storage.status()
        print(f"InfluxDB {after.influx_version or '?'} at {influx.url}, {after.influx_api} API")
        for name, stream in after.streams.items():
            stats = stream.forwarder
            assert stats is not None
            print(
                f"{name}: sent {stats.sent_lines} lines in {stats.sent_batches} batches, "
                f"quarantined {stats.quarantined_lines}, expired {stats.expired_lines}, "
                f"left {stream.backlog_lines} of {before.streams[name].backlog_lines} lines"
                + ("" if drained[name] else f" (not finished: {stats.last_error})")
            )
        if after.quarantined_batches:
            print(
                f"quarantine: {after.quarantined_lines} lines in {after.quarantined_batches} "
                f"batches in {storage.quarantine.directory}"
            )
            for entry in storage.quarantine.entries()[:10]:
                print(
                    f"  {entry.path.name}: {entry.n_lines} lines, HTTP "
                    f"{','.join(map(str, dict.fromkeys(entry.statuses)))}: "
                    f"{message_summary(entry.messages)[:300]}"
                )
            print("  fix the cause, then run 'jerkmon flush --retry-quarantine'")
        losses = storage.quarantine.losses()
        if losses:
            known = sum(loss.lines or 0 for loss in losses)
            unknown = sum(loss.lines is None for loss in losses)
            print(
                f"LOST: {len(losses)} damaged spool record(s), {known} lines"
                + (f" (+ {unknown} record(s) of unknown size)" if unknown else "")
                + f", kept in {storage.quarantine.directory}:"
            )
            for loss in losses[:20]:
                print(f"  {loss.describe()}")
            if not args.retry_quarantine:
                print("  'jerkmon flush --retry-quarantine' recovers intact records among them")
        ok = all(drained.values()) and after.quarantined_batches == 0 and not losses
        return 0 if ok else 1
    finally:
        storage.close()
