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
import asyncio
import contextlib
import logging
import math
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from collector.sources import (
    LinkReport,
    Samples,
    item_kind,
    parse_speed,
    parse_start,
    session_source,
    sim_source,
)
from dashboards.nights import publish_nights
from detector import DetectorConfig, NightSummary
from detector.errors import ConfigError
from jerkmon.pipeline import (
    NightPipeline,
    ResumePoint,
    SensorSpec,
    consume,
    resume_points,
    stopped_night_ends,
    warmup_s,
)
from jerkmon.storage_args import add_storage_arguments, storage_settings_from_args
from reports.html import write_night_report
from storage import InfluxConfig, Storage, StorageOptions
from storage.forwarder import message_summary

if TYPE_CHECKING:
    from collector.ble.clock import HostClock
    from collector.ble.session import BleSession, SessionConfig
    from sim import SimulatedNight
    from sim.ble_sensor import EmulatedPmdSensor, FaultPlan

__all__ = ["BleRun", "Device", "allowed_devices", "parse_devices", "prepare", "register", "run"]

#: --sim-ble: the emulated sensors are on the wrists this long before the night's first
#: sample, so scanning and connecting do not eat into it, s.
SIM_LEAD_S = 3.0

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
  the summary printed at the end covers the resumed part.  (--resume is for --sim; a BLE
  run after a crash simply starts recording again.)

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
    p.add_argument("--subject", required=True, help="pseudonymous subject id")
    add_storage_arguments(p)
    raw = p.add_mutually_exclusive_group()
    raw.add_argument(
        "--raw",
        dest="raw",
        action="store_true",
        default=None,
        help="store raw acceleration (default: only when InfluxDB is configured); the "
        "activity summary is stored either way",
    )
    raw.add_argument("--no-raw", dest="raw", action="store_false")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="s to wait at the end for InfluxDB to take the rest of the spool (default 60)",
    )
    p.add_argument("--report", type=Path, default=None, help="report file (default in data dir)")
    p.add_argument("--quiet", action="store_true", help="no live status line, no link messages")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``jerkmon run``; return the exit status."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="jerkmon: %(levelname)s: %(message)s")
    return prepare(args).execute()


# ------------------------------------------------------------------------------ settings
@dataclass(frozen=True, slots=True)
class Device:
    """A sensor to record: BLE address (upper case) and wrist."""

    address: str
    side: str


def _address(text: str, flag: str) -> str:
    parts = text.strip().split(":")
    try:
        ok = len(parts) == 6 and all(len(p) == 2 and int(p, 16) >= 0 for p in parts)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"{flag} takes a BLE address like A0:9E:1A:12:34:56, got {text!r}")
    return ":".join(parts).upper()


def parse_devices(addresses: Sequence[str], sides: Sequence[str]) -> list[Device]:
    """``--device``/``--side`` pairs, by order."""
    if len(sides) != len(addresses):
        raise ConfigError(
            f"give one --side per --device, in the same order ({len(addresses)} --device, "
            f"{len(sides)} --side)"
        )
    devices = [Device(_address(a, "--device"), s) for a, s in zip(addresses, sides, strict=True)]
    seen = [d.address for d in devices]
    if len(set(seen)) != len(seen):
        raise ConfigError(f"the same --device twice: {', '.join(seen)}")
    worn = [d.side for d in devices]
    if len(set(worn)) != len(worn):
        raise ConfigError(f"two sensors on one wrist: --side {' --side '.join(worn)}")
    return devices


def allowed_devices(devices: Sequence[Device], allow: Sequence[str]) -> frozenset[str]:
    """The allow-list (``--allow``, comma-separated or repeated; default: the devices);
    a device not on it is refused, so a neighbour's sensor is never recorded."""
    if allow:
        allowed = frozenset(
            _address(a, "--allow") for item in allow for a in item.split(",") if a.strip()
        )
    else:
        allowed = frozenset(d.address for d in devices)
    refused = [d.address for d in devices if d.address not in allowed]
    if refused:
        raise ConfigError(
            f"sensor {', '.join(refused)} is not on the allow-list ({', '.join(sorted(allowed))}"
            "): jerkmon never connects to a sensor that is not allowed; check the address "
            "with `jerkmon scan` or add it with --allow"
        )
    return allowed


def prepare(args: argparse.Namespace) -> _SimRun | BleRun:
    """Check the flags and build the run (``.execute()`` runs it)."""
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
    if args.sim and (args.allow or args.faults is not None):
        raise ConfigError("--allow and --faults are for BLE sensors (--device, --sim-ble)")
    if args.sim_ble and args.resume:
        raise ConfigError(
            "--resume is for --sim; a --sim-ble or --device run after a crash simply starts "
            "recording again (what was spooled is kept and sent)"
        )
    speed = parse_speed(args.speed if args.speed is not None else "1")
    if not (math.isfinite(args.drain_timeout) and args.drain_timeout >= 0):
        raise ConfigError(f"--drain-timeout must be >= 0 s, got {args.drain_timeout}")
    if args.hours is not None and not (math.isfinite(args.hours) and args.hours > 0):
        raise ConfigError(f"--hours must be > 0, got {args.hours}")
    start = parse_start(args.start) if args.start is not None else None
    if args.resume and start is None:
        raise ConfigError(
            "--resume needs the night's --start (printed when the night began), so the same "
            "night is simulated again"
        )
    data_dir, influx, options = storage_settings_from_args(args)
    store_raw = args.raw if args.raw is not None else influx is not None
    common = _Common(args, speed, start, data_dir, influx, options, store_raw)
    if args.sim:
        return _SimRun(common)
    return BleRun(common)


@dataclass(frozen=True, slots=True)
class _Common:
    args: argparse.Namespace
    speed: float
    start: float | None
    data_dir: Path
    influx: InfluxConfig | None
    options: StorageOptions
    store_raw: bool

    @property
    def hours(self) -> float:
        return float(self.args.hours) if self.args.hours is not None else 8.0

    @property
    def sensors(self) -> int:
        return int(self.args.sensors) if self.args.sensors is not None else 1

    @property
    def seed(self) -> int:
        return int(self.args.seed) if self.args.seed is not None else 1


def _clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _night_t0(start: float | None, speed: float, hours: float, lead_s: float = 0.0) -> float:
    """Time of a simulated night's first sample: ``--start`` if given; at full speed the
    night ends now; in (scaled) real time it starts now (``lead_s`` from now: host time is
    wall time at --speed 1)."""
    if start is not None:
        return start
    now = math.floor(time.time())
    return now - round(hours * 3600.0) if math.isinf(speed) else now + lead_s


async def _wall_sleep(seconds: float) -> None:
    """Sleep in wall-clock time, also on the virtual-time loop of ``--sim-ble --speed max``
    (where ``asyncio.sleep`` returns as soon as nothing else is ready)."""
    await asyncio.to_thread(time.sleep, seconds)


# ------------------------------------------------------------------------------- runs
class _LiveRun:
    """What every source shares: signals, draining the spool, the summary and report."""

    def __init__(self, common: _Common) -> None:
        self.common = common
        self.args = common.args
        self.speed = common.speed
        self.start = common.start
        self.data_dir = common.data_dir
        self.influx = common.influx
        self.options = common.options
        self.store_raw = common.store_raw
        self.signals: list[int] = []
        self.stop = asyncio.Event()

    def execute(self) -> int:
        return asyncio.run(self.main())

    async def main(self) -> int:
        raise NotImplementedError

    def _on_signal(self, signum: int) -> None:
        self.signals.append(signum)
        self.stop.set()
        if len(self.signals) == 1:
            print(
                f"\njerkmon: {signal.Signals(signum).name}: stopping; flushing the detectors and "
                "the spool (signal again to skip waiting for InfluxDB)",
                file=sys.stderr,
                flush=True,
            )

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)

    def _summary(
        self,
        pipeline: NightPipeline,
        summaries: dict[str, NightSummary],
        t0: float,
        since: str = "",
        extra: Callable[[SensorSpec], list[str]] | None = None,
    ) -> None:
        args = self.args
        specs = pipeline.sensors
        if self.signals:
            print("jerkmon: interrupted: everything so far is stored", file=sys.stderr)
        print(
            f"subject {args.subject}: {pipeline.samples} samples, {pipeline.jerks} jerks{since}"
            + (f", {pipeline.bilateral_count} bilateral" if len(specs) > 1 else "")
        )
        for spec in specs:
            print(f"sensor {spec.sensor} ({spec.side})")
            for line in summaries[spec.sensor].lines() + (extra(spec) if extra else []):
                print("  " + line)
        day = time.strftime("%Y%m%d", time.localtime(t0))
        report = args.report or self.data_dir / "reports" / f"{args.subject}-{day}.html"
        write_night_report(report, args.subject, pipeline, summaries)
        print(f"report written to {report}")

    async def _finish_storage(
        self, storage: Storage, status: _StatusLine, ticker: asyncio.Task[None] | None
    ) -> int:
        """Drain (up to --drain-timeout), stop the status line, say where the data is."""
        # Give up early when InfluxDB refuses us or on a second signal.
        drained = await asyncio.to_thread(
            storage.flush,
            self.args.drain_timeout,
            give_up=lambda: len(self.signals) > 1 or storage.refused(),
        )
        if ticker is not None:
            ticker.cancel()
        status.close()
        st = storage.status()
        if self.influx is None:
            print(
                f"jerkmon: no InfluxDB configured: the data is in {self.data_dir} "
                "(events.sqlite3, spool); `jerkmon flush` sends the spool once one is",
                file=sys.stderr,
            )
            return 0
        quarantined = sum(
            s.forwarder.quarantined_lines for s in st.streams.values() if s.forwarder is not None
        )
        ok = True
        if quarantined:
            ok = False
            messages = [m for e in storage.quarantine.entries() for m in e.messages]
            print(
                f"jerkmon: error: InfluxDB at {self.influx.url} refused {quarantined} lines "
                f"({message_summary(messages)[:400] or st.last_error}); they are quarantined "
                f"in {storage.quarantine.directory}: fix the cause, then run "
                "'jerkmon flush --retry-quarantine'",
                file=sys.stderr,
            )
        if not drained:
            ok = False
            print(
                f"jerkmon: {st.backlog_lines} lines not sent yet (InfluxDB {st.influx_state}"
                + (f": {st.last_error}" if st.last_error else "")
                + f"); they stay in {self.data_dir / 'spool'}: `jerkmon flush` or the next run "
                "sends them",
                file=sys.stderr,
            )
        if ok:
            print(f"jerkmon: InfluxDB at {self.influx.url} has everything", file=sys.stderr)
        return 0 if ok else 1

    def _exit_code(self, code: int) -> int:
        return 128 + self.signals[0] if self.signals else code


class _SimRun(_LiveRun):
    """``--sim``: a simulated night straight into the pipeline."""

    async def main(self) -> int:
        from sim import NightConfig, NightStream

        args = self.args
        hours = self.common.hours
        t0 = _night_t0(self.start, self.speed, hours)
        cfg = NightConfig(
            hours=hours,
            rate_hz=args.rate,
            seed=self.common.seed,
            sensors=self.common.sensors,
            t0=t0,
        )
        night = NightStream(cfg)
        t_end = t0 + cfg.duration_s
        specs = [SensorSpec(f"sim-{side}", side, cfg.rate_hz) for side in night.sides]
        speed_text = "max speed" if math.isinf(self.speed) else f"{self.speed:g}x real time"
        print(
            f"jerkmon: simulated night {_clock(t0)} - {_clock(t_end)} (--start {t0:.0f}): "
            f"{hours:g} h at {cfg.rate_hz:g} Hz, {cfg.sensors} sensor(s), seed {cfg.seed}, "
            f"{speed_text}",
            file=sys.stderr,
            flush=True,
        )
        self._install_signals()

        storage = Storage(self.data_dir, self.influx, self.options)
        status = _StatusLine(not args.quiet and sys.stderr.isatty(), args.quiet)
        ticker: asyncio.Task[None] | None = None
        try:
            points: dict[str, ResumePoint] | None = None
            stream_from = live_from = None
            if args.resume:
                ended = stopped_night_ends(storage.store, args.subject, t0)
                points = resume_points(
                    storage.store, args.subject, [s.sensor for s in specs], t0, t_end, stopped=ended
                )
                live_from = min(p.outputs_from_s for p in points.values())
                if live_from >= t_end or max(ended, default=t0) >= t_end - 2.0 / cfg.rate_hz:
                    print(
                        "jerkmon: this night is stored completely: nothing to resume",
                        file=sys.stderr,
                    )
                    return await self._finish_storage(storage, status, None)
                stream_from = max(t0, live_from - warmup_s(DetectorConfig()))
                print(
                    f"jerkmon: resuming at {_clock(live_from)}, where the stored record of the "
                    f"night stops; detector warm-up from {_clock(stream_from)}",
                    file=sys.stderr,
                    flush=True,
                )
            pipeline = NightPipeline(
                args.subject,
                specs,
                storage,
                store_raw=self.store_raw,
                resume=points,
                night_start_s=t0,
            )

            def on_live(t: float) -> None:
                print(f"jerkmon: live from t={t:.3f} ({_clock(t)})", file=sys.stderr, flush=True)

            ticker = asyncio.create_task(status.run(pipeline, storage))
            source = sim_source(
                night,
                [s.sensor for s in specs],
                self.speed,
                start_s=stream_from,
                live_from_s=live_from,
                stop=self.stop,
                on_live=on_live,
            )
            await consume(pipeline, source)
            summaries = pipeline.finish()
            # Per-wrist night summaries for the Night/Trends/Cohort dashboards (idempotent).
            publish_nights(storage, [pipeline.subject])
            code = await self._finish_storage(storage, status, ticker)
            ticker = None
        finally:
            if ticker is not None:
                ticker.cancel()
            status.close()
            storage.close()

        since = f" since {_clock(live_from)}" if live_from is not None else ""
        self._summary(pipeline, summaries, t0, since)
        return self._exit_code(code)


class BleRun(_LiveRun):
    """``--device ...`` / ``--sim-ble``: one BLE session per sensor -> pipeline -> storage.

    For tests and benchmarks: ``on_item`` (if set) sees every item the sessions yield
    before the pipeline takes it; after :meth:`execute`, ``sessions`` (their ``stats``),
    ``pipeline``, and with ``--sim-ble`` ``night`` (the simulated night and its truth),
    ``emulated`` (side -> sensor, whose ``log`` says what it sent while connected) and
    ``clock`` (the simulated host clock) are there to look at.
    """

    def __init__(self, common: _Common) -> None:
        super().__init__(common)
        args = self.args
        rate = float(args.rate)
        if not (rate == round(rate) and 1 <= rate <= 10_000):
            raise ConfigError(f"--rate must be a whole number of Hz for BLE sensors, got {rate:g}")
        self.rate = int(rate)
        self.sim = bool(args.sim_ble)
        self.faults: FaultPlan | None = None
        if self.sim:
            from sim import NightConfig
            from sim.ble_sensor import EMULATED_SENSORS, FaultPlan

            self.faults = FaultPlan.parse(args.faults or "")
            # Check the night and its faults now, before anything is started.
            cfg = NightConfig(
                hours=self.common.hours,
                rate_hz=self.rate,
                seed=self.common.seed,
                sensors=self.common.sensors,
            )
            self.faults.schedule(0.0, cfg.duration_s, seed=0)
            sides = ("left", "right")[: self.common.sensors]
            self.devices = [Device(EMULATED_SENSORS[s][0], s) for s in sides]
        else:
            self.devices = parse_devices(args.device, args.side)
        self.allowed = allowed_devices(self.devices, args.allow)
        self.on_item: Callable[[object], None] | None = None
        self.sessions: list[BleSession] = []
        self.pipeline: NightPipeline | None = None
        self.night: SimulatedNight | None = None
        self.emulated: dict[str, EmulatedPmdSensor] = {}
        self.clock: HostClock | None = None
        self.delivered: Counter[str] = Counter()
        self._t_end: float | None = None
        self._emulated_down = False

    def execute(self) -> int:
        if self.sim and math.isinf(self.speed):
            from sim.ble_sensor import run_virtual

            return run_virtual(self.main())
        return super().execute()

    def session_config(self, device: Device) -> SessionConfig:
        """The production session settings; for --sim-ble at a finite speed, the timers
        are scaled so that they mean seconds of the simulated night."""
        from collector.ble.session import SessionConfig

        k = 1.0 / self.speed if self.sim and math.isfinite(self.speed) else 1.0
        defaults = SessionConfig(address=device.address)
        return SessionConfig(
            address=device.address,
            side=device.side,
            link_events=True,
            stall_timeout_s=defaults.stall_timeout_s * k,
            watchdog_interval_s=defaults.watchdog_interval_s * k,
            battery_interval_s=defaults.battery_interval_s * k,
            backoff_initial_s=defaults.backoff_initial_s * k,
            backoff_max_s=defaults.backoff_max_s * k,
        )

    async def main(self) -> int:
        from collector.ble.clock import SystemHostClock
        from collector.ble.session import BleSession
        from collector.protocols.pmd import PmdAccSettings, PolarPmdProfile

        args = self.args
        self._install_signals()
        storage = Storage(self.data_dir, self.influx, self.options)
        status = _StatusLine(not args.quiet and sys.stderr.isatty(), args.quiet)
        ticker: asyncio.Task[None] | None = None
        ender: asyncio.Task[None] | None = None
        try:
            backends: dict[str, Any] = {}
            t0: float | None = None
            if self.sim:
                from sim.ble_backend import BumbleClientBackend, BumbleScannerBackend

                t0 = await self._start_emulated()
                backends = {
                    "client_backend": BumbleClientBackend,
                    "scanner_backend": BumbleScannerBackend,
                }
            else:
                from collector.ble.scan import check_adapter

                await check_adapter()
                self.clock = SystemHostClock()
                until = (
                    f"for {self.common.hours:g} h" if args.hours is not None else "until stopped"
                )
                print(
                    "jerkmon: recording "
                    + ", ".join(f"{d.address} ({d.side})" for d in self.devices)
                    + f" at {self.rate} Hz {until} (SIGINT/SIGTERM stops); allow-list: "
                    + ", ".join(sorted(self.allowed)),
                    file=sys.stderr,
                    flush=True,
                )
            specs = [SensorSpec(d.address, d.side, float(self.rate)) for d in self.devices]
            pipeline = NightPipeline(
                args.subject, specs, storage, store_raw=self.store_raw, night_start_s=t0
            )
            self.pipeline = pipeline
            self.sessions = [
                BleSession(
                    self.session_config(d),
                    PolarPmdProfile(PmdAccSettings(sample_rate_hz=self.rate)),
                    host_clock=self.clock,
                    **backends,
                )
                for d in self.devices
            ]
            ender = asyncio.create_task(self._end_of_recording())
            ticker = asyncio.create_task(status.run(pipeline, storage))
            source = session_source(self.sessions, self.stop)
            await consume(pipeline, source, on_item=self._observer(status))
            summaries = pipeline.finish()
            # Per-wrist night summaries for the Night/Trends/Cohort dashboards (idempotent).
            publish_nights(storage, [pipeline.subject])
            await self._stop_emulated()
            code = await self._finish_storage(storage, status, ticker)
            ticker = None
        finally:
            for task in (ender, ticker):
                if task is not None:
                    task.cancel()
            status.close()
            await self._stop_emulated()
            storage.close()

        start = t0 if t0 is not None else (pipeline.span()[0] or time.time())
        self._summary(pipeline, summaries, start, extra=self._link_lines)
        return self._exit_code(code)

    async def _start_emulated(self) -> float:
        """Simulate the night, start its emulated sensors; returns the night's start."""
        from sim import NightConfig, simulate_night
        from sim.ble_sensor import SimClock, start_night_sensors

        assert self.faults is not None
        hours = self.common.hours
        t0 = _night_t0(self.start, self.speed, hours, lead_s=SIM_LEAD_S)
        cfg = NightConfig(
            hours=hours,
            rate_hz=self.rate,
            seed=self.common.seed,
            sensors=len(self.devices),
            t0=t0,
            gaps=False,  # the emulated link makes the gaps
        )
        self.night = night = simulate_night(cfg)
        self._t_end = t_end = t0 + cfg.duration_s
        # The emulated sensors are on the wrists SIM_LEAD_S before the first sample.
        clock = SimClock(
            origin_s=t0 - SIM_LEAD_S, speed=1.0 if math.isinf(self.speed) else self.speed
        )
        self.clock = clock
        faults = {
            rec.side: self.faults.schedule(t0, t_end, seed=cfg.seed * 16 + i)
            for i, rec in enumerate(night.sensors)
        }
        speed_text = (
            "max speed (virtual clock)" if math.isinf(self.speed) else f"{self.speed:g}x real time"
        )
        print(
            f"jerkmon: emulated BLE sensors, simulated night {_clock(t0)} - {_clock(t_end)} "
            f"(--start {t0:.0f}): {hours:g} h at {self.rate} Hz, seed {cfg.seed}, {speed_text}; "
            + ", ".join(f"{d.address} ({d.side})" for d in self.devices)
            + f"; faults per sensor: {self.faults.describe()}",
            file=sys.stderr,
            flush=True,
        )
        self.emulated = await start_night_sensors(
            {rec.side: (rec.t, rec.acc) for rec in night.sensors},
            clock,
            sample_rate_hz=self.rate,
            faults=faults,
            seed=cfg.seed,
        )
        return t0

    async def _stop_emulated(self) -> None:
        if self._emulated_down:
            return
        self._emulated_down = True
        for sensor in self.emulated.values():
            await sensor.stop()

    async def _end_of_recording(self) -> None:
        """Set ``stop`` at the end of the simulated night or after --hours."""
        if self.emulated:
            from sim.ble_sensor import SimClock

            clock = self.clock
            assert isinstance(clock, SimClock) and self._t_end is not None

            async def all_finished() -> None:
                for sensor in self.emulated.values():
                    await sensor.finished.wait()

            waits = [
                asyncio.ensure_future(all_finished()),
                # A sensor that is disconnected at the very end never finishes streaming.
                asyncio.ensure_future(clock.sleep_until(self._t_end + 10.0)),
            ]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            await clock.sleep(1.0)  # the last notifications in flight
            if not self.stop.is_set():
                print("jerkmon: end of the simulated night", file=sys.stderr, flush=True)
        elif self.args.hours is not None:
            await asyncio.sleep(self.common.hours * 3600.0)
            print(f"jerkmon: {self.common.hours:g} h recorded", file=sys.stderr, flush=True)
        else:
            return
        self.stop.set()

    def _observer(self, status: _StatusLine) -> Callable[[object], None]:
        """What sees every item before the pipeline takes it: tells the user about the
        links, counts what was delivered, then calls ``on_item``."""
        sides = {d.address: d.side for d in self.devices}
        streaming: set[str] = set()

        def observe(item: object) -> None:
            kind = item_kind(item)
            if kind == "samples":
                samples = cast(Samples, item)
                self.delivered[samples.sensor_address] += len(samples.t_host_s)
            elif kind == "link":
                link = cast(LinkReport, item)
                name = f"{link.sensor} ({sides.get(link.sensor, '?')})"
                if link.connected and link.sensor not in streaming:
                    streaming.add(link.sensor)
                    status.note(
                        f"jerkmon: {name}: streaming; samples are stored once its clock "
                        "mapping has settled (~2 min)"
                    )
                elif link.connected:
                    status.note(f"jerkmon: {name}: streaming again")
                elif link.detail != "stopped":
                    status.note(f"jerkmon: {name}: link lost ({link.detail}); reconnecting")
            if self.on_item is not None:
                self.on_item(item)

        return observe

    def _link_lines(self, spec: SensorSpec) -> list[str]:
        session = next((s for s in self.sessions if s.config.address == spec.sensor), None)
        if session is None:
            return []
        st = session.stats
        losses = ", ".join(f"{k} {v}" for k, v in sorted(st.link_losses.items())) or "none"
        gaps = ", ".join(f"{k} {v}" for k, v in sorted(st.gaps.items())) or "none"
        battery = f"{st.last_battery_percent} %" if st.last_battery_percent is not None else "?"
        lines = [
            f"BLE: {st.connections} connections, link losses: {losses}; gaps: {gaps}; "
            f"battery {battery}"
        ]
        sensor = self.emulated.get(spec.side)
        if sensor is not None and sensor.address == spec.sensor:
            sent = len(sensor.log.sent_indices())
            lines.append(
                f"emulated sensor sent {sent} samples while connected; "
                f"{self.delivered[spec.sensor]} delivered"
            )
        return lines


class _StatusLine:
    """One line on stderr (a TTY), rewritten once a second (of wall-clock time)."""

    def __init__(self, enabled: bool, quiet: bool = False) -> None:
        self.enabled = enabled
        self.quiet = quiet  # no notes either
        self._width = 0

    async def run(self, pipeline: NightPipeline, storage: Storage) -> None:
        if not self.enabled:
            return
        while True:
            self.show(pipeline, storage)
            for _ in range(5):  # short sleeps: a cancelled ticker must not delay the exit
                await _wall_sleep(0.2)

    def show(self, pipeline: NightPipeline, storage: Storage) -> None:
        last = pipeline.span()[1]
        clock = time.strftime("%H:%M:%S", time.localtime(last)) if last else "--:--:--"
        text = (
            f"{clock}  samples {pipeline.samples:,}  jerks {pipeline.jerks}  "
            f"{storage.status().summary()}"
        )
        self._width = max(self._width, len(text))
        sys.stderr.write("\r" + text.ljust(self._width))
        sys.stderr.flush()

    def note(self, text: str) -> None:
        """A message line above the status line (none when quiet)."""
        if self.quiet:
            return
        if self.enabled and self._width:
            sys.stderr.write("\r" + " " * self._width + "\r")
        print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self._width:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._width = 0
