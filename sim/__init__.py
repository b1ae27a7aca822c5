"""Seeded, physiology-based simulator of a night of wrist accelerometry, with ground truth.

Example::

    from sim import NightConfig, simulate_night, write_night
    night = simulate_night(NightConfig(hours=8, rate_hz=100, seed=3, sensors=1))
    night.sensors[0].acc  # (n, 3) g; rows lost in BLE gaps are absent
    write_night(night, "out/night3")  # out/night3.csv + out/night3.truth.json

``NightStream(config).chunks(chunk_s)`` renders the same night piecewise (for live pipelines).

``simulate_night(randomised_night(seed))`` is a night of the randomised model (issue 16,
:mod:`sim.randomised`): rate, clock error, BLE host timestamps and packet loss, range and
resolution, jerks, trains, fragmented onsets, negative myoclonus and confounders all drawn
from the seed; tune on :data:`TUNE_SEEDS`, never on :data:`HELD_OUT_SEEDS`.

Truth (``night.truth``, JSON-ready; all times in seconds on the same clock as ``t``, i.e.
including ``t0``):

* ``sleep_onset``, ``sleep_onsets``, ``sleep_periods`` [[onset, wake], ...], ``stages``
  [[start, end, "W"|"N1"|"N2"|"N3"|"R"], ...].
* ``jerks``: ``onset`` is the instant the main lobe of the wrist acceleration departs from
  baseline (earliest over the listed sensors); ``duration`` the main lobe, without the
  ringing that follows; ``amplitude_g`` the peak |linear acceleration| of the main lobe
  (largest over the listed sensors; gravity changes from the arm's swing come on top).
  ``kind`` "hypnic" | "myoclonic" | "negative" (negative myoclonus: ``onset`` is the start of
  the lapse of tone, ``duration`` lapse plus corrective burst), ``size`` "small" (< 0.15 g) |
  "medium" (0.15-0.5 g) | "large" (> 0.5 g), ``context`` "isolated" | "series_ge_1s" |
  "series_lt_1s" (a neighbour in its series >= / < 1 s away) | "awake_moving" (on a
  voluntary movement) | "in_tremor", ``series`` (int from 1, or null), ``sensors`` (where it is
  observable), ``bilateral`` (physiologically on both arms), ``stage``, and ``per_sensor``
  {side: {onset, duration, amplitude_g, shape}}.  Each sample is the mean over the
  preceding sample period, so the first sample showing a jerk is the first at or after its
  onset.  A sensor is listed only if the samples on both sides of the onset and half of the
  main lobe were received.
* ``confounders`` [{kind: turn|scratch|tremor|fidget|rem_twitch, start, end, sensors, ...}].
* With host timestamps (``ble_interval_ms``) every sensor time in the truth (jerk onsets,
  gaps, clipped runs) is on the clock of that sensor's time stamps; the rest (stages,
  confounders) stays on the sensor's sampling clock (tens of ms apart).
* ``gaps`` and ``clipped`` [{sensor, start, end}]: half-open [start, end) on the nominal
  sample grid — no row of that sensor has a slot time inside a gap; every clipped row is
  inside a clipped run.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.config import NightConfig
    from sim.io import load_truth, output_paths, write_night, write_stream
    from sim.night import NightStream, SensorRecording, SimulatedNight, simulate_night
    from sim.plan import NightPlan, plan_night
    from sim.randomised import HELD_OUT_SEEDS, RATES_HZ, TUNE_SEEDS, randomised_night

# Names are imported on first use (PEP 562), so that importing one light module of this
# package (e.g. for the command line's parser) does not load NumPy, SciPy or pandas.
_LAZY: dict[str, str] = {
    "NightConfig": "sim.config",
    "load_truth": "sim.io",
    "output_paths": "sim.io",
    "write_night": "sim.io",
    "write_stream": "sim.io",
    "NightStream": "sim.night",
    "SensorRecording": "sim.night",
    "SimulatedNight": "sim.night",
    "simulate_night": "sim.night",
    "NightPlan": "sim.plan",
    "plan_night": "sim.plan",
    "randomised_night": "sim.randomised",
    "RATES_HZ": "sim.randomised",
    "TUNE_SEEDS": "sim.randomised",
    "HELD_OUT_SEEDS": "sim.randomised",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "HELD_OUT_SEEDS",
    "RATES_HZ",
    "TUNE_SEEDS",
    "NightConfig",
    "NightPlan",
    "NightStream",
    "SensorRecording",
    "SimulatedNight",
    "load_truth",
    "output_paths",
    "plan_night",
    "randomised_night",
    "simulate_night",
    "write_night",
    "write_stream",
]
