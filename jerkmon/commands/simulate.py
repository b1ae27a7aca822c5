"""``jerkmon simulate``: write a simulated night (CSV + ground-truth JSON)."""

from __future__ import annotations

import argparse
import time
from collections import Counter


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``simulate`` subcommand to the jerkmon parser."""
    from sim.config import EXTRAS, SWITCHES

    p = sub.add_parser(
        "simulate",
        help="write a simulated night of wrist accelerometry with ground truth",
        description=(
            "Simulate a night of wrist accelerometry (myoclonic and hypnic jerks, turning, "
            "scratching, tremor, fidgets, REM twitches, BLE gaps) and write PREFIX.csv "
            "(plus PREFIX.left.csv / PREFIX.right.csv for two sensors) and PREFIX.truth.json."
        ),
    )
    p.add_argument("--hours", type=float, default=8.0, help="recording length (default 8)")
    p.add_argument("--rate", type=float, default=100.0, help="sample rate in Hz (25–200)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--sensors", type=int, default=1, help="1 (left wrist) or 2 (both wrists)")
    p.add_argument("--range-g", type=float, default=8.0, help="full-scale range ± g: 2, 4, 8")
    p.add_argument("--bits", type=int, default=16, help="ADC resolution: 12 or 16")
    p.add_argument("--noise-mg", type=float, default=None, help="noise RMS (default 2–10 random)")
    p.add_argument("--jerk-rate", type=float, default=None, help="sporadic jerks per hour of sleep")
    p.add_argument("--series", type=int, default=None, help="number of jerk series (clusters)")
    p.add_argument("--t0", type=float, default=0.0, help="time of the first sample, s")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="timestamp jitter ± ms")
    p.add_argument(
        "--no",
        action="append",
        default=[],
        choices=SWITCHES,
        metavar="NAME",
        help=f"switch a component off (repeatable): {', '.join(SWITCHES)}",
    )
    p.add_argument(
        "--with",
        dest="extras",
        action="append",
        default=[],
        choices=(*EXTRAS, "all"),
        metavar="NAME",
        help=f"add a real-night confounder (repeatable): {', '.join(EXTRAS)}, or all",
    )
    p.add_argument("--out", required=True, metavar="PREFIX", help="output path prefix")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Simulate and write the night; print a short summary. Returns the exit code."""
    from sim import NightConfig, NightStream, write_stream
    from sim.config import EXTRAS

    started = time.perf_counter()
    config = NightConfig(
        hours=args.hours,
        rate_hz=args.rate,
        seed=args.seed,
        sensors=args.sensors,
        range_g=args.range_g,
        bits=args.bits,
        noise_mg=args.noise_mg,
        jerk_rate_per_h=args.jerk_rate,
        series_count=args.series,
        t0=args.t0,
        jitter_ms=args.jitter_ms,
        **{name: False for name in args.no},
        **{name: True for name in (EXTRAS if "all" in args.extras else args.extras)},
    )
    stream = NightStream(config)
    paths = write_stream(stream, args.out)
    truth = stream.truth
    elapsed = time.perf_counter() - started
    jerks = Counter(j["kind"] for j in truth["jerks"])
    confounders = Counter(c["kind"] for c in truth["confounders"])
    sleep_h = sum(b - a for a, b in truth["sleep_periods"]) / 3600.0
    print(
        f"simulated {config.hours:g} h at {config.rate_hz:g} Hz, seed {config.seed}, "
        f"{config.sensors} sensor(s) in {elapsed:.1f} s"
    )
    print(
        f"  sleep {sleep_h:.1f} h from {truth['sleep_onset'] - config.t0:.0f} s; "
        f"jerks: {jerks.get('myoclonic', 0)} myoclonic, {jerks.get('hypnic', 0)} hypnic, "
        f"{len({j['series'] for j in truth['jerks'] if j['series'] is not None})} series"
    )
    print(
        "  confounders: "
        + (", ".join(f"{n} {k}" for k, n in sorted(confounders.items())) or "none")
        + f"; gaps: {len(truth['gaps'])}; clipped runs: {len(truth['clipped'])}"
    )
    for path in paths:
        print(f"  wrote {path}")
    return 0
