"""The live run: sensors (or a simulated night) -> detector -> storage, all night.

::

    collector.ble.BleSession ─┐  (one per wrist: scan, connect, reconnect, clock mapping)
      or sources.sim_source ──┤  SampleBatch / GapNotice / BatteryNotice / LinkNotice
                              ▼
              collector.sources.session_source / merge     (time-ordered per sensor)
                              ▼
      pipeline.consume ─► pipeline.NightPipeline ─ per sensor: detector.JerkDetector,
                              │                    minute counts, sleep, gaps, status;
                              │                    across wrists: bilateral jerks
                              ▼
      storage.Storage ─► spool (fsync'd) ─► forwarder threads ─► InfluxDB
                     └─► SQLite store (events, counts, status, nights)
                              ▼
      at the end: dashboards.nights.publish_nights, night summary, reports.html report

:class:`~jerkmon.live.settings.LiveSettings` says what to run (``jerkmon run`` builds it from
its flags); :func:`~jerkmon.live.runs.run_live` runs it (:class:`~jerkmon.live.runs.SimRun`
or :class:`~jerkmon.live.runs.BleRun`); :class:`~jerkmon.live.status.StatusLine` is the line
on stderr.
"""

from __future__ import annotations

from .runs import SIM_LEAD_S, BleRun, LiveRun, SimRun, build_run, run_live
from .settings import Device, LiveSettings, allowed_devices, parse_devices
from .status import StatusLine

__all__ = [
    "SIM_LEAD_S",
    "BleRun",
    "Device",
    "LiveRun",
    "LiveSettings",
    "SimRun",
    "StatusLine",
    "allowed_devices",
    "build_run",
    "parse_devices",
    "run_live",
]
