"""Command-line flags for storage, shared by ``jerkmon flush`` and ``jerkmon run``.

Only non-secret settings have flags; the token and password come from the environment
(``JERKMON_INFLUX_TOKEN``, ``JERKMON_INFLUX_PASSWORD``) or the ``--config`` TOML file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from detector.errors import ConfigError
from storage.config import (
    InfluxConfig,
    StorageOptions,
    default_data_dir,
    load_influx_config,
    load_storage_options,
)

__all__ = [
    "add_create_argument",
    "add_storage_arguments",
    "storage_settings_from_args",
    "subject_arg",
]

_INFLUX_FLAGS = ("url", "db", "rp", "org", "bucket", "user", "api")


def add_storage_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-dir``, ``--config`` and the non-secret InfluxDB flags to ``parser``."""
    g = parser.add_argument_group("storage")
    g.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data directory: spool, quarantine, events.sqlite3 "
        "(default: $JERKMON_DATA_DIR or ~/.local/share/jerkmon)",
    )
    g.add_argument("--config", type=Path, default=None, help="TOML file with [influx]/[storage]")
    g.add_argument("--url", help="InfluxDB URL (default: $JERKMON_INFLUX_URL; none = local only)")
    g.add_argument("--db", help="database, v1 API (default: $JERKMON_INFLUX_DB)")
    g.add_argument("--rp", help="retention policy for events on 1.x (default: the DB's default)")
    g.add_argument("--org", help="organisation, v2 API (default: $JERKMON_INFLUX_ORG)")
    g.add_argument("--bucket", help="bucket, v2 API (default: $JERKMON_INFLUX_BUCKET)")
    g.add_argument("--user", help="1.x user; the password comes from $JERKMON_INFLUX_PASSWORD")
    g.add_argument("--api", choices=("auto", "v1", "v2"), help="InfluxDB API (default: auto)")


def subject_arg(text: str) -> str:
    """argparse ``type=`` for ``--subject``: a valid id (:func:`storage.ids.check_id`), so
    a bad one ends the command before anything is written, with the reason."""
    from storage.ids import check_id

    try:
        return check_id("subject id", text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_create_argument(parser: argparse.ArgumentParser) -> None:
    """``--create-db``: the explicit first setup (``jerkmon run``)."""
    parser.add_argument(
        "--create-db",
        action="store_true",
        help="first setup: create the InfluxDB database and raw retention policy (1.x) or "
        "buckets (2.x) when missing; without it a missing one is an error (see `jerkmon init`)",
    )


def storage_settings_from_args(
    args: argparse.Namespace,
) -> tuple[Path, InfluxConfig | None, StorageOptions]:
    """(data directory, InfluxDB configuration or None, options) from parsed flags,
    the environment and the config file."""
    overrides: dict[str, object] = {key: getattr(args, key, None) for key in _INFLUX_FLAGS}
    if getattr(args, "create_db", False):
        overrides["create"] = True
    config_file: Path | None = getattr(args, "config", None)
    influx = load_influx_config(config_file, overrides=overrides)
    data_dir: Path = getattr(args, "data_dir", None) or default_data_dir()
    return data_dir, influx, load_storage_options(config_file)
