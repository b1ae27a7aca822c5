"""Detector speed and memory.

Prints, per night type (quiet, this benchmark's own night, the ``jerkmon simulate`` default,
60 and 600 sporadic jerks per hour of sleep; 8 h at 100 Hz), bursts/h and jerks/h and the CPU
time of ``JerkDetector`` over the whole night as a ratio to one 4th-order
``scipy.signal.sosfilt`` pass over the same (n, 3) array, both measured in the same run (CPU
time, best of ``--repeats``; target <= 3).  Then, for the benchmark's own night: samples/s and
peak traced memory, the night fed in 0.25 s packets, and a live figure: ``--streams``
concurrent streams fed in 0.25 s packets, CPU real-time factor on one core and memory per
stream after ``--warm-seconds`` of stream age, for per-stream ``JerkDetector`` objects and for
one ``JerkDetectorBank`` (the same packets, side by side).

    .venv/bin/python benchmarks/detector.py [--hours 8] [--rate 100] [--repeats 5]
                                            [--streams 1000] [--warm-seconds 60]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# detector package: put the repository root there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
from scipy import signal

from detector import JerkDetector
from detector.bank import JerkDetectorBank
from sim import NightConfig, simulate_night

#: Night types: NightConfig overrides (seed, busyness).
NIGHTS: dict[str, dict[str, Any]] = {
    "quiet": dict(
        seed=7, jerk_rate_per_h=0.0, series_count=0, scratch=False, tremor=False, fidgets=False
    ),
    "benchmark": dict(seed=1001),
    "simulate default": dict(seed=0),
    "60 jerks/h": dict(seed=60, jerk_rate_per_h=60.0),
    "600 jerks/h": dict(seed=600, jerk_rate_per_h=600.0),
}


def _best_of(n: int, fn: object) -> float:
    """Least CPU time (s) of ``n`` runs of ``fn``."""
    assert callable(fn)
    best = float("inf")
    for _ in range(n):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _one_night(name: str, kw: dict[str, Any], hours: float, rate: float, repeats: int) -> None:
    rec = simulate_night(NightConfig(hours=hours, rate_hz=rate, **kw)).sensors[0]
    t, acc = np.ascontiguousarray(rec.t), np.ascontiguousarray(rec.acc)
    sos = signal.butter(4, 0.5, btype="highpass", fs=rate, output="sos")
    counts: dict[str, int] = {}

    def whole() -> None:
        det = JerkDetector(rate)
        counts["jerks"] = len(det.process(t, acc) + det.flush())
        counts["bursts"] = counts["jerks"] + sum(det.rejected.values())

    def reference() -> None:
        signal.sosfilt(sos, acc, axis=0)

    t_det = t_sos = float("inf")
    for _ in range(repeats):  # interleaved, so both see the same machine load
        t_sos = min(t_sos, _best_of(1, reference))
        t_det = min(t_det, _best_of(1, whole))
    print(
        f"{name:<18} {counts['bursts'] / hours:8.0f} {counts['jerks'] / hours:8.0f} "
        f"{t_det:11.3f} {t_sos:10.3f} {t_det / t_sos:8.2f}",
        flush=True,
    )


def night_types(hours: float, rate: float, repeats: int) -> None:
    """Print bursts/h, jerks/h and detector/sosfilt per night type."""
    print("night type         bursts/h  jerks/h   detector s  sosfilt s  ratio (target <= 3)")
    for name, kw in NIGHTS.items():
        _one_night(name, kw, hours, rate, repeats)


def _offline(t: np.ndarray, acc: np.ndarray, rate: float, hours: float, repeats: int) -> None:
    """Whole night at once, and in 0.25 s packets through one detector."""
    n = t.size
    sos = signal.butter(4, 0.5, btype="highpass", fs=rate, output="sos")
    t_sos = _best_of(repeats, lambda: signal.sosfilt(sos, acc, axis=0))

    def whole() -> None:
        det = JerkDetector(rate)
        det.process(t, acc)
        det.flush()

    t_det = _best_of(repeats, whole)
    gc.collect()
    tracemalloc.start()
    whole()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"whole night:   {t_det:.3f} s, {n / t_det / 1e6:.2f} M samples/s, "
        f"peak traced memory {peak / 2**20:.1f} MiB (input itself {acc.nbytes / 2**20:.0f} MiB)"
    )
    print(
        f"sosfilt (4th order, (n,3)): {t_sos:.3f} s  ->  detector / sosfilt = {t_det / t_sos:.2f}"
    )

    step = round(0.25 * rate)

    def packets() -> None:
        det = JerkDetector(rate)
        for i in range(0, n, step):
            det.process(t[i : i + step], acc[i : i + step])
        det.flush()

    t_pk = _best_of(1, packets)
    print(
        f"0.25 s packets: {t_pk:.2f} s for the night ({n / step:.0f} calls, "
        f"{t_pk / (n / step) * 1e6:.0f} us/call), real-time factor {hours * 3600 / t_pk:.0f}"
    )


def _live(
    t: np.ndarray,
    acc: np.ndarray,
    rate: float,
    streams: int,
    live_s: float,
    warm_s: float,
    max_stage_s: float,
) -> None:
    """Many streams fed 0.25 s packets in turn (one core): per-stream JerkDetectors, and
    one JerkDetectorBank (the same packets, as (streams, n) arrays per round)."""
    step = round(0.25 * rate)
    n = t.size
    rounds = int(live_s / 0.25)
    warm = int(warm_s / 0.25)
    offsets = np.random.default_rng(0).integers(0, max(1, n - (rounds + warm) * step - 1), streams)
    lanes = np.arange(step)

    def singles() -> tuple[float, float]:
        gc.collect()
        tracemalloc.start()
        base_mem = tracemalloc.get_traced_memory()[0]
        dets = [JerkDetector(rate) for _ in range(streams)]
        # Warm up so buffers, noise history and sleep state hold their steady-state size.
        for r in range(warm):
            for d, o in zip(dets, offsets.tolist(), strict=True):
                a = o + r * step
                d.process(t[a : a + step], acc[a : a + step])
        mem = (tracemalloc.get_traced_memory()[0] - base_mem) / streams
        tracemalloc.stop()
        t0 = time.process_time()
        for r in range(warm, warm + rounds):
            for d, o in zip(dets, offsets.tolist(), strict=True):
                a = o + r * step
                d.process(t[a : a + step], acc[a : a + step])
        return time.process_time() - t0, mem

    def bank() -> tuple[float, float]:
        gc.collect()
        tracemalloc.start()
        base_mem = tracemalloc.get_traced_memory()[0]
        b = JerkDetectorBank(rate, streams, max_stage_s=max_stage_s)
        for r in range(warm):
            idx = offsets[:, None] + r * step + lanes
            b.process(t[idx], acc[idx])
        mem = (tracemalloc.get_traced_memory()[0] - base_mem) / streams
        tracemalloc.stop()
        t0 = time.process_time()
        for r in range(warm, warm + rounds):
            idx = offsets[:, None] + r * step + lanes  # (building the packets is timed too)
            b.process(t[idx], acc[idx])
        return time.process_time() - t0, mem

    for name, fn in (("JerkDetector each", singles), ("JerkDetectorBank", bank)):
        el, mem = fn()
        print(
            f"live, {name}: {streams} streams x {rounds} packets of 0.25 s: {el:.2f} s CPU "
            f"for {live_s:g} s of signal -> {el / (streams * rounds) * 1e6:.1f} us per packet, "
            f"real-time factor {live_s / el:.2f} on one core (~{streams * live_s / el:.0f} "
            f"streams per core); memory per stream {mem / 1024:.0f} KiB after {warm_s:g} s "
            "of stream age",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=1001)
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--live-seconds", type=float, default=30.0)
    ap.add_argument("--warm-seconds", type=float, default=60.0, help="stream age before memory")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-stage-s", type=float, default=5.0, help="JerkDetectorBank's")
    ap.add_argument("--live-only", action="store_true", help="skip the offline figures")
    args = ap.parse_args()
    if not args.live_only:
        night_types(args.hours, args.rate, args.repeats)

    t_gen = time.perf_counter()
    night = simulate_night(NightConfig(hours=args.hours, rate_hz=args.rate, seed=args.seed))
    rec = night.sensors[0]
    t, acc = np.ascontiguousarray(rec.t), np.ascontiguousarray(rec.acc)
    n = t.size
    print(
        f"night: {args.hours:g} h at {args.rate:g} Hz, {n} samples "
        f"(simulated in {time.perf_counter() - t_gen:.1f} s)"
    )

    if not args.live_only:
        _offline(t, acc, args.rate, args.hours, args.repeats)
    _live(t, acc, args.rate, args.streams, args.live_seconds, args.warm_seconds, args.max_stage_s)


if __name__ == "__main__":
    main()
