"""Detector speed and memory.

Prints, for one simulated 8 h night at 100 Hz (all confounders on):
  * seconds, samples/s and peak traced memory of ``JerkDetector`` over the whole night,
  * the ratio to one 4th-order ``scipy.signal.sosfilt`` pass over the same (n, 3) array,
  * the same night fed in 0.25 s packets,
and a live figure: 1,000 concurrent streams fed in 0.25 s packets, real-time factor on one
core and memory per stream.

    .venv/bin/python benchmarks/detector.py [--hours 8] [--rate 100] [--streams 1000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# detector package: put the repository root there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
from scipy import signal

from detector import JerkDetector
from sim import NightConfig, simulate_night


def _best_of(n: int, fn: object) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=1001)
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--live-seconds", type=float, default=30.0)
    args = ap.parse_args()

    t_gen = time.perf_counter()
    night = simulate_night(NightConfig(hours=args.hours, rate_hz=args.rate, seed=args.seed))
    rec = night.sensors[0]
    t, acc = np.ascontiguousarray(rec.t), np.ascontiguousarray(rec.acc)
    n = t.size
    print(
        f"night: {args.hours:g} h at {args.rate:g} Hz, {n} samples "
        f"(simulated in {time.perf_counter() - t_gen:.1f} s)"
    )

    sos = signal.butter(4, 0.5, btype="highpass", fs=args.rate, output="sos")
    t_sos = _best_of(3, lambda: signal.sosfilt(sos, acc, axis=0))

    def whole() -> None:
        det = JerkDetector(args.rate)
        det.process(t, acc)
        det.flush()

    t_det = _best_of(3, whole)
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

    step = round(0.25 * args.rate)

    def packets() -> None:
        det = JerkDetector(args.rate)
        for i in range(0, n, step):
            det.process(t[i : i + step], acc[i : i + step])
        det.flush()

    t_pk = _best_of(1, packets)
    print(
        f"0.25 s packets: {t_pk:.2f} s for the night ({n / step:.0f} calls, "
        f"{t_pk / (n / step) * 1e6:.0f} us/call), real-time factor {args.hours * 3600 / t_pk:.0f}"
    )

    # Live: many streams, each fed 0.25 s packets in turn (round-robin, one core).
    streams = args.streams
    rounds = int(args.live_seconds / 0.25)
    offsets = np.random.default_rng(0).integers(0, max(1, n - rounds * step - 1), streams)
    gc.collect()
    tracemalloc.start()
    base_mem = tracemalloc.get_traced_memory()[0]
    dets = [JerkDetector(args.rate) for _ in range(streams)]
    # Warm up 10 s so buffers, noise history and sleep state hold their steady-state size.
    warm = int(10 / 0.25)
    for r in range(warm):
        for d, o in zip(dets, offsets.tolist(), strict=True):
            a = o + r * step
            d.process(t[a : a + step], acc[a : a + step])
    per_stream = (tracemalloc.get_traced_memory()[0] - base_mem) / streams
    tracemalloc.stop()
    t0 = time.perf_counter()
    for r in range(warm, warm + rounds):
        for d, o in zip(dets, offsets.tolist(), strict=True):
            a = o + r * step
            d.process(t[a : a + step], acc[a : a + step])
    el = time.perf_counter() - t0
    print(
        f"live: {streams} streams x {rounds} packets of 0.25 s: {el:.2f} s wall for "
        f"{args.live_seconds:g} s of signal -> real-time factor {args.live_seconds / el:.2f} "
        f"on one core; memory per stream {per_stream / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()
