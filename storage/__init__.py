"""Durable storage of jerkmon's output: local spool, InfluxDB (v1 and v2 APIs), SQLite.

Public API (see each module for details)::

    from storage import Storage, SensorStatus, load_influx_config, default_data_dir

    storage = Storage(default_data_dir(), load_influx_config())   # None → spool + SQLite only
    storage.add_events(subject, sensor, side, events, bilateral)
    storage.add_counts(subject, sensor, side, minute_counts)
    storage.add_status(subject, sensor, side, SensorStatus(time_s, "gap", gap_s=2.5))
    storage.add_imu(subject, sensor, side, t_s, acc_g)
    storage.flush(timeout_s=5.0); storage.status(); storage.close()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import (
        InfluxConfig,
        StorageOptions,
        default_data_dir,
        load_influx_config,
        load_storage_options,
    )
    from .lineproto import Point, encode_line, seconds_to_ns
    from .local import Annotation, Gap, LocalStore, Night, StoredCount, StoredEvent, StoredStatus
    from .schema import (
        ACTIVITY,
        ANNOTATION,
        IMU,
        JERK_COUNT,
        JERK_EVENT,
        SENSOR_STATUS,
        STANDARD_STATES,
        ActivityAggregator,
        ActivityEpoch,
        SensorStatus,
    )
    from .spool import SpoolOptions
    from .storage import QuarantineReport, Storage, StorageStatus, StreamStatus

# Names are imported on first use (PEP 562), so that importing one light module of this
# package (e.g. for the command line's parser) does not load NumPy, SciPy or pandas.
_LAZY: dict[str, str] = {
    "InfluxConfig": "storage.config",
    "StorageOptions": "storage.config",
    "default_data_dir": "storage.config",
    "load_influx_config": "storage.config",
    "load_storage_options": "storage.config",
    "Point": "storage.lineproto",
    "encode_line": "storage.lineproto",
    "seconds_to_ns": "storage.lineproto",
    "Annotation": "storage.local",
    "Gap": "storage.local",
    "LocalStore": "storage.local",
    "Night": "storage.local",
    "StoredCount": "storage.local",
    "StoredEvent": "storage.local",
    "StoredStatus": "storage.local",
    "ACTIVITY": "storage.schema",
    "ANNOTATION": "storage.schema",
    "IMU": "storage.schema",
    "JERK_COUNT": "storage.schema",
    "JERK_EVENT": "storage.schema",
    "SENSOR_STATUS": "storage.schema",
    "STANDARD_STATES": "storage.schema",
    "ActivityAggregator": "storage.schema",
    "ActivityEpoch": "storage.schema",
    "SensorStatus": "storage.schema",
    "SpoolOptions": "storage.spool",
    "QuarantineReport": "storage.storage",
    "Storage": "storage.storage",
    "StorageStatus": "storage.storage",
    "StreamStatus": "storage.storage",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ACTIVITY",
    "ANNOTATION",
    "IMU",
    "JERK_COUNT",
    "JERK_EVENT",
    "SENSOR_STATUS",
    "STANDARD_STATES",
    "ActivityAggregator",
    "ActivityEpoch",
    "Annotation",
    "Gap",
    "InfluxConfig",
    "LocalStore",
    "Night",
    "Point",
    "QuarantineReport",
    "SensorStatus",
    "SpoolOptions",
    "Storage",
    "StorageOptions",
    "StorageStatus",
    "StoredCount",
    "StoredEvent",
    "StoredStatus",
    "StreamStatus",
    "default_data_dir",
    "encode_line",
    "load_influx_config",
    "load_storage_options",
    "seconds_to_ns",
]
