"""``jerkmon run``: the live pipeline (sensors -> detector -> spool -> InfluxDB).

Sources (one of):
  --device ADDR --side left [--device ADDR --side right]
        Bluetooth LE sensors (``jerkmon scan`` lists them); the first --side goes with the
        first --device.  Only addresses on the allow-list (--allow; default: exactly the
        --device ones) are ever connected.  Each sensor is scanned for, connected, started
        and reconnected forever (with back-off) after drops or stalls; every gap and link
        change goes to ``sensor_status``, the battery is read every 5 min.  Runs until
        SIGINT/SIGTERM (or --hours).
  --sim-ble
        the same BLE code path against emulated Polar sensors on an in-process virtual
        radio (bumble), streaming a simulated night; --faults injects link drops, stalls,
        lost frames and sensor power losses.  No hardware needed.
  --sim
        a simulated night fed straight into the pipeline (no BLE).

Every result is appended to the fsync'd spool in the data directory before anything else
happens to it; forwarder threads ship the spool to InfluxDB when one is configured, and the
local SQLite store keeps events, counts and status for the summary and the report.  Two
wrists: each sensor's clock is mapped to host time, and jerks within 0.1 s on both are
flagged ``bilateral``.

Ending: with the night done (or on SIGINT/SIGTERM: the source stops at once; BLE sensors
are told to stop streaming and disconnected), the detectors are flushed, the spool is
fsync'd and the forwarders get up to ``--drain-timeout`` s to deliver what is left; whatever
they could not send stays in the spool for ``jerkmon flush`` or the next run.  A second
signal skips that wait.

Exit status: 0 when everything reached InfluxDB (or none is configured); 1 when something is
still in the spool or was quarantined (the message says which and what to do); 130/143 after
SIGINT/SIGTERM; 2 on a configuration error.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from detector.errors import ConfigError

if TYPE_CHECKING:
    from jerkmon.live import BleRun, LiveSettings, SimRun
from jerkmon.storage_args import (
    add_create_argument,
    add_storage_arguments,
    storage_settings_from_args,
    subject_arg,
)

__all__ = ["prepare", "register", "run", "settings_from_args"]


_RESTART_HELP = """\
restart after a crash or a reboot:
  Everything appended to the spool before the crash survives (at most the packet being
  processed, 0.25 s of samples, is lost) and is forwarded by the next run on the same
  --data-dir.  The detector's state does not survive: a new run starts a new detector.
  For a simulated night, --start T fixes the night (same --seed/--hours/--rate/--sensors
  give the same samples, and every point's time is its sample time, so anything sent twice
  is stored once).  --resume continues that night where its stored record stops: the end
  of the last minute counted for the subject in the local store.  The new detector is fed
  the preceding ~14 min of the night first (unpaced, nothing of it stored again) so that its
  noise floor and sleep estimate have settled; minutes, events, raw samples and status before
  the resume point are not written again.  Limits: events the old detector still held are
  re-detected by the new one (rarely, one near the resume point may differ in kind), and
  the summary printed at the end covers the resumed part.  --resume works for --sim and
  --sim-ble (the emulated sensors stream the night again from the warm-up; their faults
  planned before it are skipped); a run of real sensors after a crash simply starts
  recording again.

one night, one record:
  A night is (subject, night date), the date of its evening: noon to noon local time
  ($JERKMON_NIGHT_BOUNDARY=HH:MM moves the cut).  Every run of the subject in that night
  (a restart, --resume, a second sensor started later) is part of the same night.  Before
  storing anything a run claims its sensors over its span: running the same simulated
  night again (same --start, --seed, --hours, --rate, --sensors, detector) replaces what it
  stored; data of a different run over the same span is a conflict reported at start,
  which --replace resolves by deleting that data first.

BLE notes:
  Samples appear in storage once each sensor's clock mapping has settled: ~2 min after the
  first connection (the sensor clock's drift is estimated first), then with ~1 s delay.
  --faults (with --sim-ble) takes KEY=VALUE,...: disconnects=N, stalls=N, stall_s=S,
  drops=N (lost frames), resets=N (power losses), readvertise_s=S - per sensor, spread
  over the night.  --speed max runs --sim-ble on a virtual clock as fast as the CPU allows;
  finite speeds above ~10 stretch the host's processing delays into timestamp errors.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run the live pipeline (BLE sensors, emulated or simulated sensors)",
        description=__doc__,
        epilog=_RESTART_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("source")
    src.add_argument(
        "--device",
        action="append",
        default=[],
        metavar="ADDR",
        help="BLE address of a sensor (repeatable, one per wrist; see `jerkmon scan`)",
    )
    src.add_argument(
        "--side",
        action="append",
        default=[],
        choices=("left", "right"),
        help="wrist of the --device at the same position (repeatable)",
    )
    src.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="ADDR[,ADDR]",
        help="allow-list of sensor addresses (repeatable; default: exactly the --device "
        "ones); a sensor not on it is never connected",
    )
    src.add_argument("--sim", action="store_true", help="simulated samples, no BLE")
    src.add_argument(
        "--sim-ble",
        action="store_true",
        help="emulated BLE sensors on an in-process virtual radio (the real BLE code path)",
    )
    src.add_argument(
        "--faults",
        default=None,
        metavar="SPEC",
        help="--sim-ble faults per sensor, e.g. disconnects=20,stalls=1 (see below)",
    )
    src.add_argument(
        "--sensors", type=int, default=None, choices=(1, 2), help="simulated wrists (default 1)"
    )
    src.add_argument(
        "--hours",
        type=float,
        default=None,
        help="simulated night length, h (default 8); with --device: stop after this long "
        "(default: run until SIGINT/SIGTERM)",
    )
    src.add_argument("--seed", type=int, default=None, help="simulator seed (default 1)")
    src.add_argument(
        "--rate",
        type=float,
        default=100.0,
        help="sample rate, Hz (default 100; BLE sensors: one they offer, e.g. 25/50/100/200)",
    )
    src.add_argument(
        "--speed",
        default=None,
        help="simulated: sample time over wall time (1 = real time) or 'max' (default 1)",
    )
    src.add_argument(
        "--start",
        default=None,
        metavar="TIME",
        help="time of the night's first sample: unix s or ISO 8601 (local time unless an "
        "offset is given); default: now, or with --speed max, 'now' minus --hours",
    )
    src.add_argument(
        "--resume",
        action="store_true",
        help="continue the night given by --start where its stored record stops (see below)",
    )
    src.add_argument(
        "--replace",
        action="store_true",
        help="the subject's sensors already have data from a different run over this run's "
        "span: delete it and record this run instead (without --replace that is an error)",
    )
    p.add_argument("--subject", required=True, type=subject_arg, help="pseudonymous subject id")
    add_storage_arguments(p)
    add_create_argument(p)
    raw = p.add_mutually_exclusive_group()
    raw.add_argument(
        "--raw",
        dest="raw",
        action="store_true",
        default=None,
        help="store raw acceleration (default: only when InfluxDB is configured); the "
        "activity summary is stored either way",
    )
    raw.add_argument(
        "--no-raw", dest="raw", action="store_false", help="never store raw acceleration"
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="s to wait at the end for InfluxDB to take the rest of the spool (default 60)",
    )
    p.add_argument("--report", type=Path, default=None, help="report file (default in data dir)")
    p.add_argument("--quiet", action="store_true", help="no live status line, no link messages")
    p.add_argument(
        "--pseudonymise-sensors",
        action="store_true",
        help="tag BLE sensors by a pseudonym (sensor-<16 hex>: a keyed hash of the address "
        "with a secret kept in the data directory, the same every night) instead of their "
        "address, a persistent device identifier",
    )
    p.add_argument(
        "--not-worn-warn-min",
        type=float,
        default=30.0,
        metavar="MIN",
        help="warn (status line, sensor_status not_worn) when a sensor has looked unworn "
        "this long (default 30)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``jerkmon run``; return the exit status."""
    from jerkmon.live import run_live

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="jerkmon: %(levelname)s: %(message)s")
    return run_live(settings_from_args(args))


def prepare(args: argparse.Namespace) -> SimRun | BleRun:
    """Check the flags and build the run (``.execute()`` runs it): for tests and benchmarks
    that look at the run afterwards."""
    from jerkmon.live import build_run

    return build_run(settings_from_args(args))


def settings_from_args(args: argparse.Namespace) -> LiveSettings:
    """Check the flags and turn them into :class:`LiveSettings`."""
    from jerkmon.live import LiveSettings, parse_devices
    from jerkmon.live.settings import parse_speed, parse_start

    chosen = [
        flag
        for flag, on in (
            ("--sim", args.sim),
            ("--sim-ble", args.sim_ble),
            ("--device", args.device),
        )
        if on
    ]
    if len(chosen) != 1:
        raise ConfigError(
            f"choose one source, not {' and '.join(chosen)}"
            if chosen
            else "choose a source: --device ADDR --side left|right (BLE sensors; `jerkmon "
            "scan` lists them), --sim-ble (emulated BLE sensors) or --sim (simulated samples)"
        )
    if args.device:
        for flag, value in (
            ("--sensors", args.sensors),
            ("--seed", args.seed),
            ("--speed", args.speed),
            ("--start", args.start),
            ("--faults", args.faults),
            ("--resume", args.resume or None),
        ):
            if value is not None:
                raise ConfigError(f"{flag} is for simulated sensors (--sim, --sim-ble)")
    elif args.side:
        raise ConfigError("--side goes with --device (simulated sensors are left, then right)")
    if args.sim and (args.allow or args.faults is not None or args.pseudonymise_sensors):
        raise ConfigError(
            "--allow, --faults and --pseudonymise-sensors are for BLE sensors (--device, --sim-ble)"
        )
    if args.replace and args.resume:
        raise ConfigError("--replace starts the night over, --resume continues it: not both")
    speed = parse_speed(args.speed if args.speed is not None else "1")
    start = parse_start(args.start) if args.start is not None else None
    if args.resume and start is None:
        raise ConfigError(
            "--resume needs the night's --start (printed when the night began), so the same "
            "night is simulated again"
        )
    data_dir, influx, options = storage_settings_from_args(args)
    store_raw = args.raw if args.raw is not None else influx is not None
    return LiveSettings(
        source="sim" if args.sim else "sim-ble" if args.sim_ble else "ble",
        subject=args.subject,
        data_dir=data_dir,
        influx=influx,
        options=options,
        store_raw=store_raw,
        speed=speed,
        start_s=start,
        hours=args.hours,
        rate_hz=float(args.rate),
        sensors=args.sensors if args.sensors is not None else 1,
        seed=args.seed if args.seed is not None else 1,
        resume=bool(args.resume),
        replace=bool(args.replace),
        devices=tuple(parse_devices(args.device, args.side)) if args.device else (),
        allow=tuple(args.allow),
        faults=args.faults,
        drain_timeout_s=float(args.drain_timeout),
        report=args.report,
        quiet=bool(args.quiet),
        pseudonymise_sensors=bool(args.pseudonymise_sensors),
    )
