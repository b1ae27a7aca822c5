"""Detector accuracy on simulated nights (seeds the detector was not tuned on).

    .venv/bin/python benchmarks/accuracy.py [--seeds 201-230,301-330,401-460] [--rates 50,100]
                                            [--standard-only]

Prints per night and pooled: sensitivity, PPV (each with a 95 % Wilson interval: a few dozen
nights hold only a couple of thousand jerks), false jerks per hour, median onset error and
hypnic/myoclonic label accuracy (match window +-0.25 s, one to one).  Development used seeds
1-60; seeds 101-110 were the held-out set until they were looked at.  Held out: 201-230 (30
nights, +-0.7 % on sensitivity: sets of that size differ from each other by about that much),
then 301-330 and 401-460, first run only once the detector of session 4 was final; the
default pools all 120 nights (960 h, ~9,700 jerks per rate, +-0.35 %).

Then (issue 16) randomised nights (``sim.randomised_night``: a wider model than the nights
above; see sim/randomised.py): per rate, context (isolated, series >= 1 s, series < 1 s,
awake moving, in tremor) and size (< 0.15, 0.15-0.5, > 0.5 g) the sensitivity with n per
cell; PPV, false jerks per hour, hypnic precision and recall, negative myoclonus sensitivity
and PPV (detections of kind "negative"), median onset error.  Seeds are split:

* tuning:   ``--split tune``     seeds 100000-499999 (look at these as often as you like);
* held out: ``--split held-out`` seeds 500000-999999 (the default; never tune on these).

Night k (0-based) at the i-th rate of ``--rates`` uses seed split start + 1000 i + k
(+ ``--first``).  ``--randomised`` runs only this section, e.g. for tuning:

    .venv/bin/python benchmarks/accuracy.py --randomised --split tune --nights 4
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

# As a script, this folder comes first on sys.path and benchmarks/detector.py would shadow
# the detector package: use the repository root instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from detector import JerkDetector
from reports.evaluation import (
    CONTEXTS,
    SIZES,
    STATES,
    CellCounts,
    score,
    score_cells,
    score_episodes,
)
from sim import HELD_OUT_SEEDS, TUNE_SEEDS, NightConfig, randomised_night, simulate_night
from sim.config import EXTRAS

#: The rates of the issue's table (Polar H10 25/100/200 Hz, Verity Sense 26/52/104 Hz).
RANDOMISED_RATES = "25,26,52,100,104,200"
SPLITS = {"tune": TUNE_SEEDS, "held-out": HELD_OUT_SEEDS}
_CONTEXT_LABEL = {
    "isolated": "isolated",
    "series_ge_1s": "series >= 1 s",
    "series_lt_1s": "series < 1 s",
    "awake_moving": "awake moving",
    "in_tremor": "in tremor",
}
_SIZE_LABEL = {"small": "< 0.15 g", "medium": "0.15-0.5 g", "large": "> 0.5 g"}


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return out


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of the proportion k / n."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return mid - half, mid + half


def randomised_seeds(split: str, rate_index: int, nights: int, first: int = 0) -> list[int]:
    """Seeds of ``nights`` randomised nights at the ``rate_index``-th rate of a split."""
    seeds = SPLITS[split]
    start = seeds.start + 1000 * rate_index + first
    if nights + first > 1000 or start + nights > seeds.stop:
        raise ValueError("at most 1000 nights per rate")
    return list(range(start, start + nights))


def evaluate_randomised(
    split: str = "tune",
    nights: int = 4,
    rates: Sequence[float] = (25.0, 26.0, 52.0, 100.0, 104.0, 200.0),
    hours: float = 2.0,
    first: int = 0,
    make_detector: Callable[[float], JerkDetector] = JerkDetector,
) -> dict[float, CellCounts]:
    """Pooled counts per rate of ``make_detector(rate)`` on randomised nights of ``split``
    (left wrist): ``result[rate].cell(context, size)`` is (found, n); see CellCounts."""
    out: dict[float, CellCounts] = {}
    for i, rate in enumerate(rates):
        pooled = CellCounts()
        for seed in randomised_seeds(split, i, nights, first):
            night = simulate_night(randomised_night(seed, rate_hz=rate, hours=hours))
            rec = night.sensors[0]
            det = make_detector(rate)
            ev = det.process(rec.t, rec.acc) + det.flush()
            pooled = pooled + score_cells(
                np.array([e.onset for e in ev]), [e.kind for e in ev], night.truth
            )
        out[rate] = pooled
    return out


def _frac(found: int, n: int) -> str:
    return f"{found / n:5.3f} ({found}/{n})" if n else "    - (0/0)"


def _ratio(x: float) -> str:
    return "  nan" if math.isnan(x) else f"{x:5.3f}"


def print_randomised(
    result: dict[float, CellCounts], split: str, nights: int, hours: float, first: int
) -> None:
    seeds = SPLITS[split]
    print(
        f"\nRandomised nights, {split} seeds ({seeds.start}-{seeds.stop - 1}; "
        f"rate i, night k: seed {seeds.start + first} + 1000 i + k), {nights} nights of "
        f"{hours:g} h per rate, left wrist"
        + ("  -- HELD OUT: never tune on these" if split == "held-out" else "")
    )
    print(
        "  rate  hours  jerks  sens    PPV    false/h  onset ms  hypnic P / R    "
        "negative sens / PPV (n, det)  negative shown as jerk"
    )
    total = sum(result.values(), CellCounts())
    for label, c in [*((f"{r:4.0f}", c) for r, c in result.items()), ("all ", total)]:
        n = c.cell()[1]
        print(
            f"  {label}  {c.hours:5.1f}  {n:5d}  {_ratio(c.sensitivity)}  {_ratio(c.ppv)}  "
            f"{c.false_per_hour:7.2f}  {c.median_onset_error_ms:8.1f}  "
            f"{_ratio(c.hypnic_precision)} / {_ratio(c.hypnic_recall)}  "
            f"{_ratio(c.negative_sensitivity)} / {_ratio(c.negative_ppv)} "
            f"({c.negative_true}, {c.negative_detected})          {c.negative_as_jerk}"
        )
    width = 18
    head = "".join(f"{_SIZE_LABEL[s]:>{width}}" for s in SIZES) + f"{'all sizes':>{width}}"
    print("  sensitivity (found/n) per rate, context and size:")
    print(f"  rate  {'context':<14}{head}")
    for label, c in [*((f"{r:4.0f}", c) for r, c in result.items()), ("all ", total)]:
        for ctx in (*CONTEXTS, None):
            cells = [c.cell(ctx, s) for s in (*SIZES, None)]
            name = _CONTEXT_LABEL[ctx] if ctx else "all contexts"
            print(f"  {label}  {name:<14}" + "".join(f"{_frac(*x):>{width}}" for x in cells))
    bad = [
        f"{r:g} Hz {_CONTEXT_LABEL[ctx]} {_SIZE_LABEL[s]} {_frac(*c.cell(ctx, s))}"
        for r, c in result.items()
        for ctx in CONTEXTS
        for s in SIZES
        if c.cell(ctx, s)[1] >= 30 and c.cell(ctx, s)[0] < 0.9 * c.cell(ctx, s)[1]
    ]
    print(f"  cells with n >= 30 below 0.9: {len(bad)}" + "".join(f"\n    {b}" for b in bad))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", default="201-230,301-330,401-460")
    ap.add_argument("--rates", default="50,100")
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument(
        "--plain",
        action="store_true",
        help="nights without the real-night confounders (walking, activity, off-wrist, idle, "
        "clonic episodes): the nights of earlier sessions",
    )
    ap.add_argument("--quiet", action="store_true", help="pooled figures only")
    ap.add_argument("--randomised", action="store_true", help="only the randomised nights' section")
    ap.add_argument(
        "--split",
        choices=sorted(SPLITS),
        default="held-out",
        help="randomised seeds: tune (for tuning) or held-out (default; never tune on them)",
    )
    ap.add_argument("--nights", type=int, default=4, help="randomised nights per rate")
    ap.add_argument("--first", type=int, default=0, help="skip this many nights per rate")
    ap.add_argument("--randomised-hours", type=float, default=2.0)
    ap.add_argument("--randomised-rates", default=RANDOMISED_RATES)
    ap.add_argument(
        "--standard-only", action="store_true", help="skip the randomised nights' section"
    )
    args = ap.parse_args()
    if not args.randomised:
        _standard(args)
    if args.standard_only:
        return
    started = time.perf_counter()
    rates = [float(r) for r in args.randomised_rates.split(",")]
    result = evaluate_randomised(args.split, args.nights, rates, args.randomised_hours, args.first)
    print_randomised(result, args.split, args.nights, args.randomised_hours, args.first)
    print(f"  ({time.perf_counter() - started:.0f} s)")


def _standard(args: argparse.Namespace) -> None:
    extras: dict[str, Any] = {} if args.plain else dict.fromkeys(EXTRAS, True)
    for rate in [float(r) for r in args.rates.split(",")]:
        tp = fp = fn = 0
        hours = 0.0
        errs: list[float] = []
        kinds: list[float] = []
        false_state: dict[str, int] = dict.fromkeys(STATES, 0)
        hours_state: dict[str, float] = dict.fromkeys(STATES, 0.0)
        ep_true = ep_found = ep_false = 0
        ep_false_ctx: dict[str, int] = {}
        n_negative = 0
        for seed in _seeds(args.seeds):
            night = simulate_night(NightConfig(hours=args.hours, rate_hz=rate, seed=seed, **extras))
            rec = night.sensors[0]
            det = JerkDetector(rate)
            out = det.process(rec.t, rec.acc) + det.flush()
            # These nights hold no negative myoclonus: such detections are counted apart
            # (all false), the jerks scored without them.
            ev = [e for e in out if e.kind != "negative"]
            n_negative += len(out) - len(ev)
            s = score(np.array([e.onset for e in ev]), [e.kind for e in ev], night.truth)
            for k, v in s.false_by_state.items():
                false_state[k] = false_state.get(k, 0) + v
            for k, h in s.hours_by_state.items():
                hours_state[k] = hours_state.get(k, 0.0) + h
            eps = score_episodes([(e.start, e.end) for e in det.pop_episodes()], night.truth)
            ep_true, ep_found, ep_false = (
                ep_true + eps.n_true,
                ep_found + eps.found,
                ep_false + eps.false,
            )
            for k, v in eps.false_by_context.items():
                ep_false_ctx[k] = ep_false_ctx.get(k, 0) + v
            tp, fp, fn = tp + s.true_positives, fp + s.false_positives, fn + s.false_negatives
            hours += s.hours
            errs.append(s.median_onset_error_ms)
            kinds.append(s.kind_accuracy)
            if args.quiet:
                continue
            print(
                f"{rate:5.0f} Hz seed {seed}: true {s.n_true:3d} sens {s.sensitivity:.3f} "
                f"PPV {s.ppv:.3f} false/h {s.false_per_hour:.2f} "
                f"onset err {s.median_onset_error_ms:4.1f} ms kind {s.kind_accuracy:.3f}"
            )
        s_lo, s_hi = _wilson(tp, tp + fn)
        p_lo, p_hi = _wilson(tp, tp + fp)
        print(
            f"{rate:5.0f} Hz pooled over {hours:.0f} h, {tp + fn} true jerks, {tp} found, "
            f"{fp} false: sensitivity {tp / (tp + fn):.4f} [{s_lo:.3f}, {s_hi:.3f}], "
            f"PPV {tp / (tp + fp):.4f} [{p_lo:.3f}, {p_hi:.3f}], "
            f"false jerks/h {fp / hours:.2f}, median onset error "
            f"{np.median(errs):.1f} ms, kind label right {np.mean(kinds):.3f} "
            f"(worst night {np.min(kinds):.3f})"
        )
        print(
            f"{rate:5.0f} Hz false jerks by state: "
            + ", ".join(
                f"{k} {false_state[k]} in {hours_state[k]:.1f} h"
                + (f" ({false_state[k] / hours_state[k]:.2f}/h)" if hours_state[k] > 0 else "")
                for k in STATES
            )
        )
        print(
            f"{rate:5.0f} Hz episodes: {ep_found} of {ep_true} found, {ep_false} false "
            f"{ep_false_ctx}"
        )
        print(
            f"{rate:5.0f} Hz negative myoclonus detections (none in these nights): "
            f"{n_negative} ({n_negative / hours:.2f}/h)"
        )


if __name__ == "__main__":
    main()
