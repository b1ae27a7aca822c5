"""``jerkmon run``: the live pipeline (sensors -> detector -> spool -> InfluxDB).

Source: ``--sim``, a simulated night streamed at ``--speed``.  Every result is appended to
the fsync'd spool in the data directory before anything else happens to it; forwarder
threads ship the spool to InfluxDB when one is configured, and the local SQLite store keeps
events, counts and status for the summary and the report.

Ending: with the night done (or on SIGINT/SIGTERM: the source stops at once), the detectors
are flushed, the spool is fsync'd and the forwarders get up to ``--drain-timeout`` s to
deliver what is left; whatever they could not send stays in the spool for ``jerkmon flush``
or the next run.  A second signal skips that wait.

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
from collections.abc import Callable
from pathlib import Path

from collector.pipeline import (
    NightPipeline,
    ResumePoint,
    SensorSpec,
    consume,
    resume_points,
    warmup_s,
)
from collector.report import write_night_report
from collector.sources import parse_speed, parse_start, sim_source
from collector.storage import InfluxConfig, Storage, StorageOptions
from collector.storage.cliargs import add_storage_arguments, storage_settings_from_args
from collector.storage.forwarder import message_summary
from detector import DetectorConfig
from detector.errors import ConfigError

__all__ = ["register", "run"]

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
  the summary printed at the end covers the resumed part.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run the live pipeline (simulated sensors)",
        description=__doc__,
        epilog=_RESTART_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("source")
    src.add_argument("--sim", action="store_true", help="simulated wrist sensors")
    src.add_argument("--sensors", type=int, default=1, choices=(1, 2), help="simulated wrists")
    src.add_argument("--hours", type=float, default=8.0, help="simulated night length, h")
    src.add_argument("--seed", type=int, default=1, help="simulator seed")
    src.add_argument("--rate", type=float, default=100.0, help="simulated sample rate, Hz")
    src.add_argument(
        "--speed",
        default="1",
        help="sample time over wall time (1 = real time) or 'max' (default 1)",
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
    p.add_argument("--quiet", action="store_true", help="no live status line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``jerkmon run``; return the exit status."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="jerkmon: %(levelname)s: %(message)s")
    if not args.sim:
        raise ConfigError("choose a source: --sim (simulated sensors)")
    speed = parse_speed(args.speed)
    if not (math.isfinite(args.drain_timeout) and args.drain_timeout >= 0):
        raise ConfigError(f"--drain-timeout must be >= 0 s, got {args.drain_timeout}")
    start = parse_start(args.start) if args.start is not None else None
    if args.resume and start is None:
        raise ConfigError(
            "--resume needs the night's --start (printed when the night began), so the same "
            "night is simulated again"
        )
    data_dir, influx, options = storage_settings_from_args(args)
    store_raw = args.raw if args.raw is not None else influx is not None
    return asyncio.run(_SimRun(args, speed, start, data_dir, influx, options, store_raw).main())


def _clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


class _SimRun:
    def __init__(
        self,
        args: argparse.Namespace,
        speed: float,
        start: float | None,
        data_dir: Path,
        influx: InfluxConfig | None,
        options: StorageOptions,
        store_raw: bool,
    ) -> None:
        self.args = args
        self.speed = speed
        self.start = start
        self.data_dir = data_dir
        self.influx = influx
        self.options = options
        self.store_raw = store_raw
        self.signals: list[int] = []
        self.stop = asyncio.Event()

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

    async def main(self) -> int:
        from sim import NightConfig, NightStream

        args = self.args
        hours = float(args.hours)
        now = math.floor(time.time())
        if self.start is not None:
            t0 = self.start
        else:
            # At full speed the simulated night ends now; in (scaled) real time it starts now.
            t0 = now - round(hours * 3600.0) if math.isinf(self.speed) else now
        cfg = NightConfig(
            hours=hours, rate_hz=args.rate, seed=args.seed, sensors=args.sensors, t0=t0
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
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)

        storage = Storage(self.data_dir, self.influx, self.options)
        status = _StatusLine(not args.quiet and sys.stderr.isatty())
        ticker: asyncio.Task[None] | None = None
        try:
            points: dict[str, ResumePoint] | None = None
            stream_from = live_from = None
            if args.resume:
                points = resume_points(
                    storage.store, args.subject, [s.sensor for s in specs], t0, t_end
                )
                live_from = min(p.outputs_from_s for p in points.values())
                nights = storage.store.nights(args.subject)
                ended = [n.end_s for n in nights if abs(n.start_s - t0) < 1e-3]
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
            code = await self._finish_storage(storage, status, ticker)
            ticker = None
        finally:
            if ticker is not None:
                ticker.cancel()
            status.close()
            storage.close()

        interrupted = bool(self.signals)
        if interrupted:
            print("jerkmon: interrupted: everything so far is stored", file=sys.stderr)
        resumed = f" since {_clock(live_from)}" if live_from is not None else ""
        print(
            f"subject {args.subject}: {pipeline.samples} samples, {pipeline.jerks} jerks{resumed}"
            + (f", {pipeline.bilateral_count} bilateral" if len(specs) > 1 else "")
        )
        for spec in specs:
            print(f"sensor {spec.sensor} ({spec.side})")
            for line in summaries[spec.sensor].lines():
                print("  " + line)
        day = time.strftime("%Y%m%d", time.localtime(t0))
        report = args.report or self.data_dir / "reports" / f"{args.subject}-{day}.html"
        write_night_report(report, args.subject, pipeline, summaries)
        print(f"report written to {report}")
        if interrupted:
            return 128 + self.signals[0]
        return code

    async def _finish_storage(
        self, storage: Storage, status: _StatusLine, ticker: asyncio.Task[None] | None
    ) -> int:
        """Drain (up to --drain-timeout), stop the status line, say where the data is."""
        drained = await _drain(
            storage, self.args.drain_timeout, abort=lambda: len(self.signals) > 1
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


async def _drain(storage: Storage, timeout_s: float, abort: Callable[[], bool]) -> bool:
    """fsync the spool, then wait up to ``timeout_s`` for the forwarders to empty it; give up
    early when InfluxDB refuses us (credentials, missing database) or on ``abort()``."""
    if storage.flush(timeout_s=0.0):
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not abort():
        if all(spool.is_drained() for spool in storage.spools.values()):
            return True
        if any(f.stats().state == "paused" for f in storage.forwarders.values()):
            return False  # waiting would only move the rest into quarantine
        await asyncio.sleep(0.05)
    return all(spool.is_drained() for spool in storage.spools.values())


class _StatusLine:
    """One line on stderr (a TTY), rewritten once a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._width = 0

    async def run(self, pipeline: NightPipeline, storage: Storage) -> None:
        if not self.enabled:
            return
        while True:
            self.show(pipeline, storage)
            await asyncio.sleep(1.0)

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

    def close(self) -> None:
        if self.enabled and self._width:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._width = 0
