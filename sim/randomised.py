"""The randomised night model (issue 16): nights drawn wider than any single night model.

``randomised_night(seed)`` draws a whole :class:`~sim.config.NightConfig` from the seed
(rate, clock error, BLE timing and packet loss, range and resolution, confounders) with
``randomised=True``; :func:`plan_randomised` then plans its events instead of the
standard jerk planners.  The standard model (``NightConfig()``) is left as it was, bit for
bit: everything here draws from random streams of its own.

What is randomised, per night or per event:

* jerk amplitudes log-uniform 0.05-3 g; main lobes 30-350 ms; transient shapes from a single
  lobe through push-return to 3-12 Hz ringing (plus skewed and two-axis lobes);
* JME clusters of 3-15 jerks 0.3-3 s apart (often in the half hour after waking) and
  cortical trains of 3-15 jerks at 1-3 Hz, aperiodic (5-25 % period variation);
* jerks superimposed on sitting up, reaching and holding something while awake, and in
  tremor episodes (4-12 Hz, 0.02-0.3 g);
* fragmented sleep onsets (2-3 attempts) and re-onsets after brief awakenings, with
  0-3 hypnic jerks at each (:func:`sim.schedule.fragment_onsets`);
* negative myoclonus while the forearm is held against gravity: a 50-500 ms lapse of tone
  (the wrist drops along gravity first), then a corrective burst restores it (truth
  ``kind="negative"``);
* confounders: turning over, scratching, fidgets, REM twitches, periodic limb movements,
  REM behaviour disorder, sensor knocks, walking, activity, reading, off-wrist, clonic
  episodes;
* rates 25/26/50/52/100/104/200 Hz, clock error ±0.5 %, host timestamps on a 7.5-15 ms
  connection-interval grid with jitter and retransmissions, 36-sample packets, burst packet
  loss and disconnections, 12/16-bit samples over ±2/4/8 g (clipping).

Seeds: :data:`TUNE_SEEDS` are for tuning and development; :data:`HELD_OUT_SEEDS` are only
for the held-out evaluation (``benchmarks/accuracy.py --randomised --split held-out``) and
must never be tuned on.
"""

from __future__ import annotations

import math

import numpy as np

from sim.config import NightConfig

#: Stated rates of the wrist sensors the model covers (Polar H10: 25/50/100/200 Hz, Verity
#: Sense: 26/52/104 Hz).
RATES_HZ: tuple[float, ...] = (25.0, 26.0, 50.0, 52.0, 100.0, 104.0, 200.0)
#: Seeds for tuning (anyone may look at these nights as often as they like).
TUNE_SEEDS = range(100_000, 500_000)
#: Seeds for the held-out evaluation only: never tune on them.
HELD_OUT_SEEDS = range(500_000, 1_000_000)

_CONFIG_STREAM = 40


def randomised_night(
    seed: int,
    *,
    rate_hz: float | None = None,
    hours: float = 2.0,
    sensors: int = 1,
    t0: float = 0.0,
) -> NightConfig:
    """The randomised night of ``seed``: its sensor, link and confounders drawn from the seed
    (``rate_hz`` from :data:`RATES_HZ` unless given).  ``simulate_night`` renders it."""
    seq = np.random.SeedSequence(seed, spawn_key=(_CONFIG_STREAM,))
    rng = np.random.Generator(np.random.PCG64(seq))
    rate = float(RATES_HZ[int(rng.integers(0, len(RATES_HZ)))])
    off_wrist = bool(rng.random() < 0.25)
    return NightConfig(
        hours=hours,
        rate_hz=rate if rate_hz is None else rate_hz,
        seed=seed,
        sensors=sensors,
        range_g=float(rng.choice([2.0, 4.0, 8.0])),
        bits=int(rng.choice([12, 16])),
        noise_mg=float(np.exp(rng.uniform(math.log(1.5), math.log(12.0)))),
        gaps=False,  # packet loss and disconnections instead
        walking=bool(rng.random() < 0.7),
        activity=bool(rng.random() < 0.7),
        off_wrist=off_wrist,
        idle=off_wrist and bool(rng.random() < 0.5),
        clonic=bool(rng.random() < 0.2),
        t0=t0,
        randomised=True,
        rate_error_ppm=float(rng.uniform(-5000.0, 5000.0)),
        ble_interval_ms=float(rng.uniform(7.5, 15.0)),
        ble_jitter_ms=float(rng.uniform(0.2, 3.0)),
        packet_samples=36,
        packet_loss_pct=float(np.exp(rng.uniform(math.log(0.1), math.log(5.0)))),
    )
