"""Golden event lists: the detector's output on simulated nights of different busyness.

The lists in ``tests/data/golden_events.json.gz`` were produced by the detector as it was
with the real-life context rules (wear, activity, episodes) and the compiled kernels;
``tests/test_detector_golden.py`` checks that every
optimisation since keeps the events bit for bit (floats are stored as ``float.hex``) and the
per-reason rejection counts identical.

Why stored lists rather than a frozen copy of the old detector: the lists are small, the test
needs no second 1,000-line detector to maintain, and the old code (seconds per busy night)
does not have to run in the suite.  Each night also stores a checksum of its simulated
input, so a failure says whether the simulator or the detector changed.  A deliberate change
of the detector's behaviour regenerates the file:

    .venv/bin/python -m tests.golden_events
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from detector import JerkDetector, JerkEvent
from sim import NightConfig, simulate_night

PATH = Path(__file__).parent / "data" / "golden_events.json.gz"

#: Nights from quiet to very busy, at the native and an interpolated rate.
NIGHTS: dict[str, dict[str, Any]] = {
    "quiet": dict(
        seed=7, jerk_rate_per_h=0.0, series_count=0, scratch=False, tremor=False, fidgets=False
    ),
    "default": dict(seed=0),
    "jerks_60_per_h": dict(seed=60, jerk_rate_per_h=60.0),
    "jerks_600_per_h": dict(seed=600, jerk_rate_per_h=600.0),
    "default_50hz": dict(seed=3, rate_hz=50.0),
}
HOURS = 3.0


def night_input(name: str) -> tuple[np.ndarray, np.ndarray, float]:
    """t (n,) s, acc (n, 3) g and the rate of one golden night's left wrist."""
    kw = dict(NIGHTS[name])
    rate = float(kw.pop("rate_hz", 100.0))
    rec = simulate_night(NightConfig(hours=HOURS, rate_hz=rate, **kw)).sensors[0]
    return np.ascontiguousarray(rec.t), np.ascontiguousarray(rec.acc), rate


def checksum(t: np.ndarray, acc: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(t).tobytes())
    h.update(np.ascontiguousarray(acc).tobytes())
    return h.hexdigest()[:16]


def encode(ev: JerkEvent) -> list[Any]:
    return [
        ev.onset.hex(),
        ev.duration.hex(),
        ev.peak_jerk_g_per_s.hex(),
        ev.peak_acc_g.hex(),
        ev.kind,
        ev.series,
        ev.confidence.hex(),
        ev.clipped,
    ]


def run(t: np.ndarray, acc: np.ndarray, rate: float) -> dict[str, Any]:
    """Events (encoded) and rejection counts of one night fed whole."""
    det = JerkDetector(rate)
    events = det.process(t, acc) + det.flush()
    return {"events": [encode(e) for e in events], "rejected": dict(sorted(det.rejected.items()))}


def load() -> dict[str, Any]:
    with gzip.open(PATH, "rt") as f:
        data: dict[str, Any] = json.load(f)
    return data


def main() -> None:
    out: dict[str, Any] = {}
    for name in NIGHTS:
        t, acc, rate = night_input(name)
        out[name] = {"input": checksum(t, acc), **run(t, acc, rate)}
        print(name, len(out[name]["events"]), "events", out[name]["rejected"])
    PATH.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(PATH, "wt") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"wrote {PATH} ({PATH.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
