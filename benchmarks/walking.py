"""False jerks while walking, on simulated walks of many gaits.

    .venv/bin/python benchmarks/walking.py [--seeds 1001-1010] [--hours 1] [--rates 50,100]

Each recording is walking from start to end (:func:`sim.plan.plan_walks`): bouts of 15-120 s,
each with its own gait drawn wider than the detector assumes (cadence 1.3-2.6 steps/s, arm
swing 2-40 degrees, heel strikes 0.05-1.5 g at the wrist, left/right asymmetry, 1-8 %
step-to-step variability, trunk bounce 0.03-0.3 g), 10-20 s standing between them, no
jerks.  Prints false jerks per hour of walking (goal <= 0.5) and the verdicts given to the
movement's transients.  Seeds 1-60 were used while developing; 1001+ are held out.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

from detector import JerkDetector
from reports.evaluation import state_at
from sim import NightConfig, simulate_night
from sim.plan import plan_walks


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", default="1001-1010")
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--rates", default="50,100")
    args = ap.parse_args()
    for rate in [float(r) for r in args.rates.split(",")]:
        walk_h = 0.0
        false_walk = 0
        verdicts: Counter[str] = Counter()
        for seed in _seeds(args.seeds):
            cfg = NightConfig(hours=args.hours, rate_hz=rate, seed=seed)
            night = simulate_night(cfg, plan_walks(cfg))
            rec = night.sensors[0]
            det = JerkDetector(rate)
            det.trace = []
            events = det.process(rec.t, rec.acc) + det.flush()
            walks = [c for c in night.truth["confounders"] if c["kind"] == "walk"]
            walk_h += sum(c["end"] - c["start"] for c in walks) / 3600.0
            false_walk += sum(1 for e in events if state_at(night.truth, e.onset) == "walking")
            verdicts.update(v for *_, v in det.trace)
        print(
            f"{rate:5.0f} Hz: {walk_h:.2f} h of walking, {false_walk} false jerks "
            f"({false_walk / walk_h:.2f} per hour of walking); verdicts {dict(verdicts)}"
        )


if __name__ == "__main__":
    main()
