"""``jerkmon init``: first setup of the InfluxDB target.

Creates the database and the raw retention policy (InfluxDB 1.x) or the bucket and
``<bucket>_raw`` (v2 API) when missing, and checks they are there.  This (or ``jerkmon run
--create-db``) is the only place jerkmon creates them: otherwise a missing database is an
error and the data stays in the spool, so a typo in --db never becomes a new database.
The settings come from the environment / --config file like those of ``jerkmon run``.
"""

from __future__ import annotations

import argparse
from typing import Any

from detector.errors import ConfigError
from jerkmon.storage_args import add_storage_arguments, storage_settings_from_args
from storage.setup import init_influx

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``init`` subcommand to the CLI's subparsers."""
    p: argparse.ArgumentParser = sub.add_parser(
        "init",
        help="first setup: create the InfluxDB database / buckets",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_storage_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``jerkmon init``; return the exit status."""
    _, influx, _ = storage_settings_from_args(args)
    if influx is None:
        raise ConfigError(
            "no InfluxDB configured: set JERKMON_INFLUX_URL and JERKMON_INFLUX_DB (or "
            "JERKMON_INFLUX_ORG/BUCKET/TOKEN), or pass --url/--db"
        )
    print(init_influx(influx))
    return 0
