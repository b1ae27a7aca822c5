"""First setup of an InfluxDB target (``jerkmon init``, ``jerkmon run --create-db``).

Nothing else in jerkmon creates a database, retention policy or bucket: a missing one is an
error (:meth:`storage.Storage.check_influx_target`) and the data waits in the spool.
"""

from __future__ import annotations

import dataclasses

from detector.errors import StorageError

from .config import InfluxConfig
from .influx import InfluxLink

__all__ = ["init_influx"]


def init_influx(config: InfluxConfig, raw: bool = True) -> str:
    """Create what ``config``'s writes need when missing (1.x: the database and the raw
    retention policy; 2.x/3.x: the bucket and ``<bucket>_raw``), then check it is there.
    Returns a one-line description; raises StorageError when something is still missing
    (for instance a token without the permission to create buckets), or
    InfluxUnavailableError when the server cannot be reached."""
    link = InfluxLink(dataclasses.replace(config, create=True))
    server, api = link.connect()
    missing = link.missing(raw)
    if missing:
        raise StorageError(
            f"InfluxDB at {config.url} still has no {' and no '.join(missing)} after set-up: "
            "does the user or token have the right to create it?"
        )
    target = (
        f"bucket {config.bucket!r} (+ {config.bucket}_raw)"
        if api == "v2"
        else f"database {config.db or config.bucket!r}"
        + (f" with retention policy {config.raw_rp!r}" if server.major in (1, None) else "")
    )
    return f"InfluxDB {server.version or '?'} at {config.url}: {target} ready ({api} API)"


def server_major(config: InfluxConfig) -> int | None:
    """The major version ``/ping`` reports (None: unknown, or the server cannot be reached)."""
    from .influx import HttpClient, ping

    client = HttpClient(config.url, config.timeout_s, config.verify_tls)
    try:
        return ping(client).major
    except StorageError:
        return None
    finally:
        client.close()


def raw_measurement(config: InfluxConfig | None, major: int | None, bucket: str) -> str:
    """The raw ``imu`` measurement, qualified as InfluxQL reads it from the datasource's
    database, where the writer (:class:`~storage.influx.V1Writer`/``V2Writer``) puts it:
    on 1.x the retention policy ``raw_rp`` of the database (``"raw"."imu"``); on 2.x/3.x
    the database/bucket ``<name>_raw`` (``"<name>_raw"."autogen"."imu"``), ``name`` being
    the configured database or bucket (``bucket`` when none is configured)."""
    if major == 1:
        return f'"{config.raw_rp if config is not None else "raw"}"."imu"'
    name = (config.db or config.bucket) if config is not None else None
    return f'"{(name or bucket).split("/")[0]}_raw"."autogen"."imu"'
