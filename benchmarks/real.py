"""False jerks on real recordings of healthy people awake (nobody there has myoclonus).

    .venv/bin/python benchmarks/real.py [--data ../shared/data/adl-dev] [--verbose]

Runs the ``jerkmon detect`` code path (:func:`jerkmon.offline.detect_csv`) on every CSV in
the folder and prints, per activity (the file name) and overall: hours of signal, jerks,
jerks per hour, the activity states the detector assigned and the convulsive episodes it
reported.  Every jerk reported there is a false one.  These files are a check, never a
training set: thresholds are set on physiology and simulated walking, not on them.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

# As a script, this folder comes first on sys.path and benchmarks/detector.py would shadow
# the detector package: use the repository root instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from collector.csvio import SampleReader
from jerkmon.offline import detect_csv
from tests.shared_data import SHARED_DATA

_DEFAULT = SHARED_DATA / "adl-dev"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=_DEFAULT)
    ap.add_argument("--verbose", action="store_true", help="print each false jerk")
    args = ap.parse_args()
    files = sorted(args.data.glob("*.csv"))
    if not files:
        raise SystemExit(f"no CSV files in {args.data}")
    total_h = 0.0
    total_n = 0
    total_episodes = 0
    worst = 0.0
    cpu0 = time.process_time()
    print(f"{'activity':16s} {'hours':>6s} {'jerks':>5s} {'per h':>6s}  episodes  states")
    for path in files:
        res = detect_csv(SampleReader(path), progress=False)
        hours = res.summary.covered_hours
        n = len(res.events)
        rate = n / hours if hours > 0 else 0.0
        worst = max(worst, rate)
        total_h += hours
        total_n += n
        episodes = list(getattr(res, "episodes", []))
        total_episodes += len(episodes)
        states = Counter(getattr(e, "state", "?") for e in res.events)
        print(
            f"{path.stem:16s} {hours:6.3f} {n:5d} {rate:6.2f}  {len(episodes):8d}  "
            f"{dict(states) if states else ''}"
        )
        if args.verbose:
            for e in res.events:
                print(f"    t={e.onset:9.2f} s peak {e.peak_acc_g:.2f} g {e}")
    print(
        f"{'overall':16s} {total_h:6.3f} {total_n:5d} {total_n / total_h:6.2f}  "
        f"{total_episodes:8d}   (worst activity {worst:.2f}/h; goal <= 1/h overall, "
        f"<= 3/h each)"
    )
    print(f"CPU {time.process_time() - cpu0:.1f} s")


if __name__ == "__main__":
    main()
