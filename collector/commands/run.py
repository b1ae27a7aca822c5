"""``jerkmon run``: the live pipeline (sensors -> detector -> spool -> InfluxDB).

Sources: ``--sim`` (a simulated night, replayed at ``--speed``).  Without InfluxDB
configured, the spool and the local event store in ``--data-dir`` are the embedded default:
the night summary and report come from them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

from collector.pipeline import NightPipeline, SensorSpec
from collector.report import write_night_report
from collector.sources import GapNotice, SampleBatch, parse_speed, replay
from collector.storage import Storage, default_data_dir, load_influx_config
from detector.errors import ConfigError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run the live pipeline (simulated or real sensors)",
        description="Stream sensors through the detector into the spool and InfluxDB, with a "
        "live status line.  InfluxDB comes from JERKMON_INFLUX_* (see the README) or "
        "--influx-config; without it everything stays in --data-dir.",
    )
    src = p.add_argument_group("source")
    src.add_argument("--sim", action="store_true", help="simulated wrist sensors")
    src.add_argument("--sensors", type=int, default=1, choices=(1, 2), help="simulated wrists")
    src.add_argument("--hours", type=float, default=8.0, help="simulated night length, h")
    src.add_argument("--seed", type=int, default=1, help="simulator seed")
    src.add_argument("--rate", type=float, default=100.0, help="simulated sample rate, Hz")
    src.add_argument(
        "--speed", default="1", help="simulation speed over real time, or 'max' (default 1)"
    )
    p.add_argument("--subject", required=True, help="pseudonymous subject id")
    p.add_argument("--data-dir", type=Path, default=None, help="spool and local store")
    p.add_argument("--influx-config", type=Path, default=None, help="TOML file ([influx])")
    p.add_argument("--influx-url", default=None, help="InfluxDB URL (overrides env)")
    p.add_argument("--influx-db", default=None, help="database (v1 API)")
    p.add_argument("--influx-org", default=None, help="organisation (v2 API)")
    p.add_argument("--influx-bucket", default=None, help="bucket (v2 API)")
    raw = p.add_mutually_exclusive_group()
    raw.add_argument(
        "--raw",
        dest="raw",
        action="store_true",
        default=None,
        help="store raw acceleration (default: only when InfluxDB is configured)",
    )
    raw.add_argument("--no-raw", dest="raw", action="store_false")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="s to wait for the spool to drain at the end (rest kept for next time)",
    )
    p.add_argument("--report", type=Path, default=None, help="report file (default in data dir)")
    p.add_argument("--quiet", action="store_true", help="no live status line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.sim:
        raise ConfigError("choose a source: --sim (simulated sensors)")
    speed = parse_speed(args.speed)
    data_dir = args.data_dir if args.data_dir is not None else default_data_dir()
    overrides = {
        k: v
        for k, v in {
            "url": args.influx_url,
            "db": args.influx_db,
            "org": args.influx_org,
            "bucket": args.influx_bucket,
        }.items()
        if v is not None
    }
    influx = load_influx_config(args.influx_config, overrides=overrides)
    store_raw = args.raw if args.raw is not None else influx is not None
    return asyncio.run(_run_sim(args, speed, Path(data_dir), influx, store_raw))


async def _run_sim(
    args: argparse.Namespace, speed: float, data_dir: Path, influx: object, store_raw: bool
) -> int:
    from sim import NightConfig, simulate_night

    hours = float(args.hours)
    now = time.time()
    # At full speed the simulated night ends now; in (scaled) real time it starts now.
    t0 = now - hours * 3600.0 if speed == float("inf") else now
    cfg = NightConfig(hours=hours, rate_hz=args.rate, seed=args.seed, sensors=args.sensors, t0=t0)
    print(
        f"simulating {hours:g} h at {args.rate:g} Hz, {args.sensors} sensor(s), seed {args.seed}",
        file=sys.stderr,
    )
    night = simulate_night(cfg)
    specs = [SensorSpec(f"sim-{r.side}", r.side, r.rate_hz) for r in night.sensors]
    storage = Storage(data_dir, influx)  # type: ignore[arg-type]
    pipeline = NightPipeline(args.subject, specs, storage, store_raw=store_raw)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    recs = [(s.sensor, r.t, r.acc) for s, r in zip(specs, night.sensors, strict=True)]
    status = _StatusLine(not args.quiet and sys.stderr.isatty())
    interrupted = False
    try:
        async for item in replay(recs, speed, stop=stop):
            if isinstance(item, SampleBatch):
                pipeline.feed(item.sensor, item.t, item.acc)
            elif isinstance(item, GapNotice):
                pipeline.mark_gap(item.sensor, item.start_s, item.end_s, item.reason)
            status.update(pipeline, storage)
        interrupted = stop.is_set()
        summaries = pipeline.finish()
        drained = storage.flush(timeout_s=args.drain_timeout)
    finally:
        status.close()
        storage.close()
    if interrupted:
        print("interrupted: data so far is stored", file=sys.stderr)
    print(
        f"subject {args.subject}: {pipeline.samples} samples, {pipeline.jerks} jerks"
        + (f", {pipeline.bilateral_count} bilateral" if len(specs) > 1 else "")
    )
    for spec in specs:
        print(f"sensor {spec.sensor} ({spec.side})")
        for line in summaries[spec.sensor].lines():
            print("  " + line)
    if influx is not None and not drained:
        print(
            "InfluxDB did not accept everything yet: the rest stays in the spool "
            f"({data_dir / 'spool'}); `jerkmon flush` sends it",
            file=sys.stderr,
        )
    day = time.strftime("%Y%m%d", time.localtime(t0))
    report = args.report or data_dir / "reports" / f"{args.subject}-{day}.html"
    write_night_report(report, args.subject, pipeline, summaries)
    print(f"report written to {report}")
    return 130 if interrupted else 0


class _StatusLine:
    """One line on stderr, rewritten at most once a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0
        self._width = 0

    def update(self, pipeline: NightPipeline, storage: Storage) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 1.0:
            return
        self._last = now
        st = storage.status()
        text = f"samples {pipeline.samples:,}  jerks {pipeline.jerks}  {st.summary()}"
        self._width = max(self._width, len(text))
        sys.stderr.write("\r" + text.ljust(self._width))
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self._width:
            sys.stderr.write("\n")
