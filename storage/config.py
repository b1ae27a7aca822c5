"""Storage configuration: where InfluxDB is and how to talk to it, plus spool tuning.

Sources, highest precedence first: explicit overrides (CLI flags, non-secret values only),
environment variables, a TOML file's ``[influx]`` / ``[storage]`` tables.

Environment: ``JERKMON_INFLUX_URL``; ``JERKMON_INFLUX_DB`` (and optional ``JERKMON_INFLUX_RP``)
for the v1 API; ``JERKMON_INFLUX_TOKEN``, ``JERKMON_INFLUX_ORG``, ``JERKMON_INFLUX_BUCKET`` for
the v2 API; ``JERKMON_INFLUX_USER`` / ``JERKMON_INFLUX_PASSWORD`` for 1.x authentication;
``JERKMON_INFLUX_API`` (auto/v1/v2); ``JERKMON_DATA_DIR`` for the data directory.

Secrets (token, password) are read from the environment or the file only — never from the
command line — and are masked in ``repr``.
"""

from __future__ import annotations

import logging
import math
import os
import re
import stat
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from detector.errors import ConfigError

from .spool import SpoolOptions

__all__ = [
    "ApiChoice",
    "InfluxConfig",
    "StorageOptions",
    "default_data_dir",
    "load_influx_config",
    "load_storage_options",
]

log = logging.getLogger(__name__)

ApiChoice = Literal["auto", "v1", "v2"]
_DURATION_RE = re.compile(r"(INF|\d+[mhdw])")
_ENV = {
    "url": "JERKMON_INFLUX_URL",
    "db": "JERKMON_INFLUX_DB",
    "rp": "JERKMON_INFLUX_RP",
    "token": "JERKMON_INFLUX_TOKEN",
    "org": "JERKMON_INFLUX_ORG",
    "bucket": "JERKMON_INFLUX_BUCKET",
    "user": "JERKMON_INFLUX_USER",
    "password": "JERKMON_INFLUX_PASSWORD",
    "api": "JERKMON_INFLUX_API",
}
_SECRETS = ("token", "password")


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$JERKMON_DATA_DIR``, else ``$XDG_DATA_HOME/jerkmon``, else ``~/.local/share/jerkmon``."""
    env = os.environ if env is None else env
    if env.get("JERKMON_DATA_DIR"):
        return Path(env["JERKMON_DATA_DIR"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "jerkmon"


def _check_name(what: str, value: str | None) -> None:
    if value is None:
        return
    if not value or any(c in value for c in "\n\r\"'\\"):
        raise ConfigError(f"{what} {value!r} must be non-empty without quotes or backslashes")


def _check_secret(what: str, value: str | None, *, spaces: bool) -> None:
    """A token or password fit for an HTTP header; the message names the problem and where
    the value comes from, never the value (it would end up in logs)."""
    if value is None:
        return
    where = f"{_ENV[what]} (or {what} in the config file)"
    if not value:
        raise ConfigError(f"{where} is empty")
    bad = [c for c in value if ord(c) < 0x20 or ord(c) == 0x7F or (not spaces and c.isspace())]
    if bad:
        names = {"\r": "a carriage return", "\n": "a line feed", "\t": "a tab", " ": "a space"}
        what_bad = names.get(bad[0], f"the control character U+{ord(bad[0]):04X}")
        hint = " (a .env file saved with CRLF line ends?)" if "\r" in bad else ""
        raise ConfigError(
            f"{where} contains {what_bad}{hint}: remove it; the value itself is not shown"
        )
    if not spaces and not (value.isascii() and value.isprintable()):
        raise ConfigError(f"{where} has characters an HTTP header cannot carry (not shown)")


@dataclass(frozen=True)
class InfluxConfig:
    """Where and how to write to InfluxDB (validated at construction).

    Attributes:
        url: base URL, ``http(s)://host:port`` (a path prefix is kept).
        db: database for the v1 API (1.x, or 2.x/3.x through their v1 compatibility).
        rp: retention policy for events/counts/status/activity (1.x; None = the default RP).
        raw_rp: retention policy for raw ``imu`` points on 1.x (created with ``create``).
        raw_retention: its duration, InfluxQL syntax (``7d``, ``48h``, ``INF``).
        user, password: 1.x credentials (sent as HTTP basic auth).
        token: 2.x/3.x API token (``Authorization: Token ...``).
        org, bucket: v2 API target; raw points go to bucket ``<bucket>_raw``.
        api: ``auto`` picks from ``/ping``'s X-Influxdb-Version; ``v1``/``v2`` force one.
        timeout_s: s, per HTTP request.
        create: create the database / retention policy / buckets when missing: only on an
            explicit first setup (``jerkmon init``, ``jerkmon run --create-db``); otherwise
            a missing one is an error (:meth:`Storage.check_influx_target`), never a new
            database named after a typo.
        verify_tls: check the server certificate for https.
        gzip: gzip request bodies.
    """

    url: str
    db: str | None = None
    rp: str | None = None
    raw_rp: str = "raw"
    raw_retention: str = "7d"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    org: str | None = None
    bucket: str | None = None
    api: ApiChoice = "auto"
    timeout_s: float = 10.0
    create: bool = False
    verify_tls: bool = True
    gzip: bool = True

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"InfluxDB url {self.url!r} must look like http://host:8086")
        if parts.username or parts.password:
            raise ConfigError(
                "InfluxDB url must not carry credentials; use JERKMON_INFLUX_USER/PASSWORD "
                "or JERKMON_INFLUX_TOKEN"
            )
        for what in ("db", "rp", "raw_rp", "org", "bucket", "user"):
            _check_name(what, getattr(self, what))
        if not _DURATION_RE.fullmatch(self.raw_retention):
            raise ConfigError(
                f"raw_retention {self.raw_retention!r} must be an InfluxQL duration like 7d"
            )
        if self.api not in ("auto", "v1", "v2"):
            raise ConfigError(f"api must be auto, v1 or v2, got {self.api!r}")
        if not (math.isfinite(self.timeout_s) and 0 < self.timeout_s <= 600):
            raise ConfigError(f"timeout_s must be within (0, 600] s, got {self.timeout_s}")
        _check_secret("token", self.token, spaces=False)
        _check_secret("password", self.password, spaces=True)
        if (self.user is None) != (self.password is None):
            raise ConfigError("InfluxDB user and password must be given together")
        if self.token is not None and self.user is not None:
            raise ConfigError("give either an InfluxDB token or a user/password, not both")
        has_v2 = self.org is not None and self.bucket is not None and self.token is not None
        if self.db is None and self.bucket is None:
            raise ConfigError(
                "InfluxDB target missing: set JERKMON_INFLUX_DB (v1 API) or "
                "JERKMON_INFLUX_ORG + JERKMON_INFLUX_BUCKET + JERKMON_INFLUX_TOKEN (v2 API)"
            )
        if self.api == "v2" and not has_v2:
            raise ConfigError("api=v2 needs org, bucket and token")

    @property
    def has_v2_credentials(self) -> bool:
        return self.org is not None and self.bucket is not None and self.token is not None

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRETS:
                value = None if value is None else "***"
            shown.append(f"{f.name}={value!r}")
        return f"InfluxConfig({', '.join(shown)})"

    __str__ = __repr__


@dataclass(frozen=True)
class StorageOptions:
    """Spool, forwarder and local-store tuning (validated at construction).

    Attributes:
        disk_cap_bytes: spool + quarantine size above which a loud warning is logged and
            ``status().over_disk_cap`` is set (nothing unsent is ever deleted).
        batch_max_lines, batch_max_bytes: largest batch sent in one request (uncompressed).
        events_spool, raw_spool: segment size and fsync policy of the two streams.
        events_linger_s, raw_linger_s: s a forwarder waits for a batch to fill before sending.
        retry_initial_s, retry_max_s: exponential back-off between retries, s.
        spool_raw: keep raw IMU samples (the ``imu`` measurement) at all.
        activity_epoch_s: epoch of the ``activity`` summary computed from raw samples, s
            (0 = don't compute).
        warn_interval_s: s between repeated disk-cap / rejection warnings.
        free_warn_bytes: free space on the data directory's disk below which a warning is
            logged, shown on the status line and stored as a ``disk_low`` status point.
        free_reserve_bytes: free space kept for events, minute counts and status: below it
            the oldest raw segments not yet sent are given up (a ``raw_gap`` status point
            per sensor) and new raw samples are not stored until space is back.
    """

    disk_cap_bytes: int = 2 * 1024**3
    batch_max_lines: int = 10_000
    batch_max_bytes: int = 4 * 1024 * 1024
    events_spool: SpoolOptions = field(
        default_factory=lambda: SpoolOptions(segment_max_bytes=8 * 1024 * 1024)
    )
    raw_spool: SpoolOptions = field(default_factory=lambda: SpoolOptions(fsync_interval_s=0.5))
    events_linger_s: float = 0.2
    raw_linger_s: float = 1.0
    retry_initial_s: float = 1.0
    retry_max_s: float = 60.0
    spool_raw: bool = True
    activity_epoch_s: float = 5.0
    warn_interval_s: float = 300.0
    free_warn_bytes: int = 1024**3
    free_reserve_bytes: int = 256 * 1024**2

    def __post_init__(self) -> None:
        if not 0 <= self.free_reserve_bytes <= self.free_warn_bytes:
            raise ConfigError(
                "need 0 <= free_reserve_bytes <= free_warn_bytes, got "
                f"{self.free_reserve_bytes} and {self.free_warn_bytes}"
            )
        if self.disk_cap_bytes < 1024 * 1024:
            raise ConfigError(f"disk_cap_bytes must be >= 1 MiB, got {self.disk_cap_bytes}")
        if not 1 <= self.batch_max_lines <= 1_000_000:
            raise ConfigError(f"batch_max_lines must be 1..1e6, got {self.batch_max_lines}")
        if not 1024 <= self.batch_max_bytes <= 64 * 1024 * 1024:
            raise ConfigError(f"batch_max_bytes must be 1 KiB..64 MiB, got {self.batch_max_bytes}")
        for name in ("events_linger_s", "raw_linger_s"):
            value = getattr(self, name)
            if not 0 <= value <= 60:
                raise ConfigError(f"{name} must be within 0..60 s, got {value}")
        if not 0 < self.retry_initial_s <= self.retry_max_s <= 3600:
            raise ConfigError(
                "need 0 < retry_initial_s <= retry_max_s <= 3600 s, got "
                f"{self.retry_initial_s} and {self.retry_max_s}"
            )
        if not (self.activity_epoch_s == 0 or 0.1 <= self.activity_epoch_s <= 3600):
            raise ConfigError(
                f"activity_epoch_s must be 0 or within 0.1..3600 s, got {self.activity_epoch_s}"
            )
        if not 1 <= self.warn_interval_s <= 86400:
            raise ConfigError(f"warn_interval_s must be 1..86400 s, got {self.warn_interval_s}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    return data


def load_influx_config(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> InfluxConfig | None:
    """Build the InfluxDB configuration, or None when no URL is configured anywhere.

    ``overrides`` (from CLI flags) must not contain ``token`` or ``password``.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    if config_file is not None:
        table = _read_toml(config_file).get("influx", {})
        if not isinstance(table, dict):
            raise ConfigError(f"config file {config_file}: [influx] must be a table")
        known = {f.name for f in fields(InfluxConfig)}
        unknown = set(table) - known
        if unknown:
            raise ConfigError(f"config file {config_file}: unknown [influx] keys {sorted(unknown)}")
        if any(k in table for k in _SECRETS):
            mode = config_file.stat().st_mode
            if mode & (stat.S_IRGRP | stat.S_IROTH):
                log.warning(
                    "config file %s holds an InfluxDB secret and is readable by others; "
                    "chmod 600 it",
                    config_file,
                )
        values.update(table)
    for key, var in _ENV.items():
        if env.get(var):
            values[key] = env[var]
    for key, value in (overrides or {}).items():
        if key in _SECRETS:
            raise ConfigError(f"{key} must come from the environment or the config file")
        if value is not None:
            values[key] = value
    if not values.get("url"):
        if len(values) > 0 and any(k != "api" for k in values):
            raise ConfigError("InfluxDB settings given but no URL (JERKMON_INFLUX_URL or --url)")
        return None
    try:
        return InfluxConfig(**values)
    except TypeError as exc:
        raise ConfigError(f"InfluxDB configuration: {exc}") from None


def load_storage_options(config_file: Path | None = None) -> StorageOptions:
    """``[storage]`` table of the TOML file (keys as in :class:`StorageOptions`; sizes may
    also be given as ``disk_cap_gib``), or the defaults."""
    if config_file is None:
        return StorageOptions()
    table = dict(_read_toml(config_file).get("storage", {}))
    if "disk_cap_gib" in table:
        table["disk_cap_bytes"] = int(float(table.pop("disk_cap_gib")) * 1024**3)
    for key in ("events_spool", "raw_spool"):
        if key in table:
            raise ConfigError(f"config file {config_file}: [storage] {key} is not configurable")
    try:
        return StorageOptions(**table)
    except TypeError as exc:
        raise ConfigError(f"config file {config_file}: [storage]: {exc}") from None
