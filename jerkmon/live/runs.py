"""The live run: a source -> :class:`~jerkmon.live.pipeline.NightPipeline` -> storage.

:class:`SimRun` (``--sim``) feeds a simulated night straight in; :class:`BleRun` (``--device``,
``--sim-ble``) runs one BLE session per sensor.  Both share :class:`LiveRun`: signals,
draining the spool, the night summary and the report.  :func:`build_run` picks one from
:class:`~jerkmon.live.settings.LiveSettings`; :func:`run_live` runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from collector.sources import LinkReport, Samples, item_kind, session_source
from dashboards.nights import publish_nights
from detector import DetectorConfig, NightSummary
from detector.errors import ConfigError
from reports.html import write_night_report
from storage import Storage
from storage.forwarder import message_summary
from storage.ids import sensor_pseudonym
from storage.nights import NightRule

from .claims import claim_span, sim_run_key
from .pipeline import (
    NightPipeline,
    ResumePoint,
    SensorSpec,
    consume,
    resume_points,
    stopped_night_ends,
    warmup_s,
)
from .settings import Device, LiveSettings, allowed_devices
from .sources import sim_source
from .status import StatusLine

if TYPE_CHECKING:
    from collector.ble.clock import HostClock
    from collector.ble.session import BleSession, SessionConfig
    from sim import SimulatedNight
    from sim.ble_sensor import EmulatedPmdSensor, FaultPlan, SensorFaults

__all__ = ["SIM_LEAD_S", "BleRun", "LiveRun", "SimRun", "build_run", "run_live"]

#: --sim-ble: the emulated sensors are on the wrists this long before the night's first
#: sample, so scanning and connecting do not eat into it, s.
SIM_LEAD_S = 3.0


def build_run(settings: LiveSettings) -> SimRun | BleRun:
    """The run for ``settings`` (``.execute()`` runs it; checks what can be checked first)."""
    return SimRun(settings) if settings.source == "sim" else BleRun(settings)


def run_live(settings: LiveSettings) -> int:
    """Run a live night; return the exit status (see ``jerkmon run --help``)."""
    return build_run(settings).execute()


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


# ------------------------------------------------------------------------------- runs
class LiveRun:
    """What every source shares: signals, draining the spool, the summary and report."""

    def __init__(self, settings: LiveSettings) -> None:
        self.settings = settings
        self.speed = settings.speed
        self.start = settings.start_s
        self.data_dir = settings.data_dir
        self.influx = settings.influx
        self.options = settings.options
        self.store_raw = settings.store_raw
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
        args = self.settings
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
        day = NightRule.from_env().date_of(t0).strftime("%Y%m%d")
        report = args.report or self.data_dir / "reports" / f"{args.subject}-{day}.html"
        start, end = pipeline.span()
        span = None if end <= start and pipeline.samples == 0 else (start, end)
        write_night_report(report, args.subject, pipeline.storage.store.path, span, summaries)
        print(f"report written to {report}")

    async def _finish_storage(
        self, storage: Storage, status: StatusLine, ticker: asyncio.Task[None] | None
    ) -> int:
        """Drain (up to --drain-timeout), stop the status line, say where the data is."""
        # Give up early when InfluxDB refuses us or on a second signal.
        drained = await asyncio.to_thread(
            storage.flush,
            self.settings.drain_timeout_s,
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

    def _claim(
        self, storage: Storage, sensors: list[str], start_s: float, end_s: float, key: str
    ) -> None:
        """Claim the span for this run before anything is stored (see
        :mod:`jerkmon.live.claims`): a conflict with a different run ends the run here."""
        claim = claim_span(
            storage,
            self.settings.subject,
            sensors,
            start_s,
            end_s,
            key,
            replace=self.settings.replace,
            resume=self.settings.resume,
        )
        if claim.note:
            print(claim.note, file=sys.stderr, flush=True)

    def _exit_code(self, code: int) -> int:
        return 128 + self.signals[0] if self.signals else code


class SimRun(LiveRun):
    """``--sim``: a simulated night straight into the pipeline."""

    async def main(self) -> int:
        from sim import NightConfig, NightStream

        args = self.settings
        hours = self.settings.night_hours
        t0 = _night_t0(self.start, self.speed, hours)
        cfg = NightConfig(
            hours=hours,
            rate_hz=args.rate_hz,
            seed=self.settings.seed,
            sensors=self.settings.sensors,
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

        # Forwarders start once the InfluxDB target is known to exist (never created here).
        storage = Storage(self.data_dir, self.influx, self.options, start_forwarder=False)
        status = StatusLine(not args.quiet and sys.stderr.isatty(), args.quiet)
        ticker: asyncio.Task[None] | None = None
        try:
            storage.check_influx_target(raw=self.store_raw)
            key = sim_run_key(
                "sim",
                seed=cfg.seed,
                rate_hz=cfg.rate_hz,
                hours=hours,
                sensors=cfg.sensors,
                config=DetectorConfig(),
            )
            self._claim(storage, [s.sensor for s in specs], t0, t_end, key)
            storage.start_forwarders()
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
                not_worn_warn_s=60.0 * float(getattr(args, "not_worn_warn_min", 30.0)),
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


def _faults_after(faults: SensorFaults, start_s: float) -> SensorFaults:
    """The faults planned after ``start_s`` (a resumed night streams from there)."""
    return dataclasses.replace(
        faults,
        disconnect_at_s=tuple(t for t in faults.disconnect_at_s if t > start_s),
        stalls=tuple(s for s in faults.stalls if s[0] > start_s),
        drop_frames_at_s=tuple(t for t in faults.drop_frames_at_s if t > start_s),
        clock_reset_at_s=tuple(t for t in faults.clock_reset_at_s if t > start_s),
    )


class BleRun(LiveRun):
    """``--device ...`` / ``--sim-ble``: one BLE session per sensor -> pipeline -> storage.

    For tests and benchmarks: ``on_item`` (if set) sees every item the sessions yield
    before the pipeline takes it; after :meth:`execute`, ``sessions`` (their ``stats``),
    ``pipeline``, and with ``--sim-ble`` ``night`` (the simulated night and its truth),
    ``emulated`` (side -> sensor, whose ``log`` says what it sent while connected) and
    ``clock`` (the simulated host clock) are there to look at.
    """

    def __init__(self, settings: LiveSettings) -> None:
        super().__init__(settings)
        args = settings
        rate = float(args.rate_hz)
        if not (rate == round(rate) and 1 <= rate <= 10_000):
            raise ConfigError(f"--rate must be a whole number of Hz for BLE sensors, got {rate:g}")
        self.rate = int(rate)
        self.sim = args.source == "sim-ble"
        self.faults: FaultPlan | None = None
        if self.sim:
            from sim import NightConfig
            from sim.ble_sensor import EMULATED_SENSORS, FaultPlan

            self.faults = FaultPlan.parse(args.faults or "")
            # Check the night and its faults now, before anything is started.
            cfg = NightConfig(
                hours=self.settings.night_hours,
                rate_hz=self.rate,
                seed=self.settings.seed,
                sensors=self.settings.sensors,
            )
            self.faults.schedule(0.0, cfg.duration_s, seed=0)
            sides = ("left", "right")[: self.settings.sensors]
            self.devices = [Device(EMULATED_SENSORS[s][0], s) for s in sides]
        else:
            self.devices = list(args.devices)
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
        self.sensor_ids: dict[str, str] = {}  # BLE address -> the sensor tag it is stored under
        self.resume: dict[str, ResumePoint] | None = None  # --sim-ble --resume
        self._host_stalls: tuple[float, ...] = ()  # --faults host_stalls=N: when

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
            host_stall_s=defaults.host_stall_s * k,
        )

    async def main(self) -> int:
        from collector.ble.clock import SystemHostClock
        from collector.ble.session import BleSession
        from collector.protocols.pmd import PmdAccSettings, PolarPmdProfile

        args = self.settings
        self._install_signals()
        # Forwarders start once the InfluxDB target is known to exist (never created here).
        storage = Storage(self.data_dir, self.influx, self.options, start_forwarder=False)
        status = StatusLine(not args.quiet and sys.stderr.isatty(), args.quiet)
        ticker: asyncio.Task[None] | None = None
        ender: asyncio.Task[None] | None = None
        staller: asyncio.Task[None] | None = None
        try:
            storage.check_influx_target(raw=self.store_raw)
            self.sensor_ids = {
                d.address: sensor_pseudonym(self.data_dir, d.address)
                if self.settings.pseudonymise_sensors
                else d.address
                for d in self.devices
            }
            ids = self.sensor_ids
            backends: dict[str, Any] = {}
            t0: float | None = None
            if self.sim:
                from sim.ble_backend import BumbleClientBackend, BumbleScannerBackend

                t0 = await self._start_emulated(storage if args.resume else None)
                if t0 is None:  # --resume, and nothing left to resume
                    return await self._finish_storage(storage, status, None)
                assert self._t_end is not None and self.faults is not None
                key = sim_run_key(
                    "sim-ble",
                    seed=self.settings.seed,
                    rate_hz=self.rate,
                    hours=self.settings.night_hours,
                    sensors=len(self.devices),
                    config=DetectorConfig(),
                    extra=f"faults={self.faults.describe()}",
                )
                self._claim(storage, [ids[d.address] for d in self.devices], t0, self._t_end, key)
                backends = {
                    "client_backend": BumbleClientBackend,
                    "scanner_backend": BumbleScannerBackend,
                }
            else:
                from collector.ble.scan import check_adapter

                await check_adapter()
                self.clock = SystemHostClock()
                until = (
                    f"for {self.settings.night_hours:g} h"
                    if args.hours is not None
                    else "until stopped"
                )
                print(
                    "jerkmon: recording "
                    + ", ".join(f"{d.address} ({d.side})" for d in self.devices)
                    + f" at {self.rate} Hz {until} (SIGINT/SIGTERM stops); allow-list: "
                    + ", ".join(sorted(self.allowed)),
                    file=sys.stderr,
                    flush=True,
                )
            storage.start_forwarders()
            specs = [SensorSpec(ids[d.address], d.side, float(self.rate)) for d in self.devices]
            pipeline = NightPipeline(
                args.subject,
                specs,
                storage,
                store_raw=self.store_raw,
                night_start_s=t0,
                not_worn_warn_s=60.0 * float(getattr(args, "not_worn_warn_min", 30.0)),
                aliases={a: s for a, s in ids.items() if a != s},
                resume=self.resume,
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
            staller = asyncio.create_task(self._stall_host()) if self._host_stalls else None
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
            for task in (ender, ticker, staller):
                if task is not None:
                    task.cancel()
            status.close()
            await self._stop_emulated()
            storage.close()

        start = t0 if t0 is not None else (pipeline.span()[0] or time.time())
        self._summary(pipeline, summaries, start, extra=self._link_lines)
        return self._exit_code(code)

    async def _start_emulated(self, resume_from: Storage | None = None) -> float | None:
        """Simulate the night, start its emulated sensors; returns the night's start.  With
        ``resume_from`` (``--resume``), the sensors stream from the detector warm-up before
        where the stored record stops (None: it is complete)."""
        from sim import NightConfig, simulate_night
        from sim.ble_sensor import SimClock, start_night_sensors

        assert self.faults is not None
        hours = self.settings.night_hours
        t0 = _night_t0(self.start, self.speed, hours, lead_s=SIM_LEAD_S)
        cfg = NightConfig(
            hours=hours,
            rate_hz=self.rate,
            seed=self.settings.seed,
            sensors=len(self.devices),
            t0=t0,
            gaps=False,  # the emulated link makes the gaps
        )
        self.night = night = simulate_night(cfg)
        self._t_end = t_end = t0 + cfg.duration_s
        stream_from = t0
        if resume_from is not None:
            ids = [self.sensor_ids.get(d.address, d.address) for d in self.devices]
            self.resume = resume_points(resume_from.store, self.settings.subject, ids, t0, t_end)
            live_from = min(p.outputs_from_s for p in self.resume.values())
            if live_from >= t_end - 1.0:
                print(
                    "jerkmon: this night is stored completely: nothing to resume", file=sys.stderr
                )
                return None
            stream_from = max(t0, live_from - warmup_s(DetectorConfig()))
            print(
                f"jerkmon: resuming at {_clock(live_from)}, where the stored record of the "
                f"night stops; the sensors stream from {_clock(stream_from)} (detector "
                "warm-up; samples are held back until the clock mapping has settled)",
                file=sys.stderr,
                flush=True,
            )
        # The emulated sensors are on the wrists SIM_LEAD_S before the first sample.
        clock = SimClock(
            origin_s=stream_from - SIM_LEAD_S, speed=1.0 if math.isinf(self.speed) else self.speed
        )
        self.clock = clock
        faults = {
            rec.side: _faults_after(
                self.faults.schedule(t0, t_end, seed=cfg.seed * 16 + i), stream_from
            )
            for i, rec in enumerate(night.sensors)
        }
        self._host_stalls = tuple(
            t
            for t in self.faults.host_stall_times(t0, t_end, seed=cfg.seed * 16 + 15)
            if t > stream_from
        )
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
        keep = {rec.side: rec.t >= stream_from for rec in night.sensors}
        self.emulated = await start_night_sensors(
            {rec.side: (rec.t[keep[rec.side]], rec.acc[keep[rec.side]]) for rec in night.sensors},
            clock,
            sample_rate_hz=self.rate,
            faults=faults,
            seed=cfg.seed,
        )
        return t0

    async def _stall_host(self) -> None:
        """The host stops at the planned times (``--faults host_stalls=N``), the whole
        process as SIGSTOP or a suspend stops it: on the virtual clock the time jumps while
        nothing runs; at a finite speed the loop is blocked for the scaled time."""
        from sim.ble_sensor import SimClock, VirtualTimeEventLoop

        clock = self.clock
        assert isinstance(clock, SimClock) and self.faults is not None
        for t in self._host_stalls:
            await clock.sleep_until(t)
            loop = asyncio.get_running_loop()
            if isinstance(loop, VirtualTimeEventLoop):
                loop.stall(self.faults.host_stall_s / clock.speed)
            else:
                time.sleep(self.faults.host_stall_s / clock.speed)

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
        elif self.settings.hours is not None:
            await asyncio.sleep(self.settings.night_hours * 3600.0)
            print(f"jerkmon: {self.settings.night_hours:g} h recorded", file=sys.stderr, flush=True)
        else:
            return
        self.stop.set()

    def _observer(self, status: StatusLine) -> Callable[[object], None]:
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
        ids = self.sensor_ids
        session = next((s for s in self.sessions if ids.get(s.config.address) == spec.sensor), None)
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
        if sensor is not None and ids.get(sensor.address) == spec.sensor:
            sent = len(sensor.log.sent_indices())
            lines.append(
                f"emulated sensor sent {sent} samples while connected; "
                f"{self.delivered[sensor.address]} delivered"
            )
        return lines
