"""Accuracy on whole simulated nights the detector was not tuned on (seeds 900+).

Smaller nights than the headline evaluation (see README) to keep the suite fast; the bounds
are below the targets to absorb night-to-night variation of a 2 h sample, yet far above what
a broken detector scores.
"""

from __future__ import annotations

import numpy as np
import pytest

from detector import JerkDetector
from reports.evaluation import score
from sim import NightConfig, simulate_night


@pytest.mark.parametrize(("rate_hz", "seed"), [(50.0, 901), (100.0, 902), (25.0, 903)])
def test_accuracy_on_unseen_nights(rate_hz: float, seed: int) -> None:
    night = simulate_night(NightConfig(hours=3, rate_hz=rate_hz, seed=seed, jerk_rate_per_h=15))
    rec = night.sensors[0]
    det = JerkDetector(rate_hz)
    events = det.process(rec.t, rec.acc) + det.flush()
    s = score(np.array([e.onset for e in events]), [e.kind for e in events], night.truth)
    assert s.n_true >= 20
    # 25 Hz is below the rates the targets are set for (a 40 ms jerk is one sample).
    low = rate_hz < 50
    assert s.sensitivity >= (0.85 if low else 0.9)
    assert s.ppv >= (0.85 if low else 0.9)
    assert s.false_per_hour <= (2.0 if low else 1.0)
    assert s.median_onset_error_ms <= (20.0 if rate_hz >= 50 else 30.0)
    assert s.kind_accuracy >= 0.8
