"""Which run owns a sensor's data over a span: re-runs replace, different runs conflict.

Before a run stores anything, it claims (subject, sensor, [start, end)) for each of its
sensors in the local store (:class:`storage.local.Run`), under a key saying what produces
the data (a simulated night: its seed, rate, length, sensors and the detector's version and
configuration).  Then:

* nothing stored there: the run records its claim and goes;
* stored by a run with the same key (a re-run of the same night): the stored data of these
  sensors over the span is replaced (deleted, then written again), so a re-run never adds;
  with ``--resume`` nothing is deleted: the run continues where the stored record stops;
* stored by a different run (or by a store that predates claims): a conflict, reported
  before anything is written; ``--replace`` deletes the stored data of these sensors over
  the span first (in the local store, and in InfluxDB 1.x when one is configured).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from detector import DetectorConfig
from detector import __version__ as DETECTOR_VERSION
from detector.errors import ConfigError
from storage import Storage
from storage.local import Run

__all__ = ["Claim", "claim_span", "sim_run_key"]


def _clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def sim_run_key(
    source: str,
    *,
    seed: int,
    rate_hz: float,
    hours: float,
    sensors: int,
    config: DetectorConfig,
    extra: str = "",
) -> str:
    """The key of a simulated run: the same key and span give the same data."""
    cfg = hashlib.sha256(json.dumps(config.as_dict(), sort_keys=True).encode()).hexdigest()
    return (
        f"{source} seed={seed} rate={rate_hz:g} hours={hours:g} sensors={sensors}"
        f"{' ' + extra if extra else ''} detector={DETECTOR_VERSION}/{cfg[:12]}"
    )


@dataclass(frozen=True, slots=True)
class Claim:
    """What :func:`claim_span` did: ``replaced`` rows deleted (a re-run or ``--replace``),
    and a note for the user (empty: nothing was stored there)."""

    replaced: int
    note: str


def claim_span(
    storage: Storage,
    subject: str,
    sensors: Sequence[str],
    start_s: float,
    end_s: float,
    key: str,
    *,
    replace: bool = False,
    resume: bool = False,
) -> Claim:
    """Claim ``sensors`` of ``subject`` over [start_s, end_s) for the run ``key`` (see the
    module docstring); raises ConfigError on a conflict without ``replace``."""
    store = storage.store
    conflicts = [c for s in sensors for c in store.conflicts(Run(subject, s, start_s, end_s, key))]
    rerun = not conflicts and any(store.runs(subject, s, start_s, end_s) for s in sensors)
    if conflicts and not replace:
        what = "; ".join(
            f"{c.sensor} {_clock(c.start_s)} - {_clock(c.end_s)} "
            + ("(by an unrecorded run)" if c.key == "?" else f"(by run {c.key!r})")
            for c in conflicts
        )
        raise ConfigError(
            f"subject {subject!r} already has data over this run's span "
            f"{_clock(start_s)} - {_clock(end_s)} from a different run: {what}. Two runs over "
            "the same time would count that night twice. Use --replace to delete the stored "
            "data of these sensors over the span and record this run instead, --resume to "
            "continue the same run, or another --start/--subject"
        )
    replaced = 0
    note = ""
    if conflicts or (rerun and not resume):
        replaced = storage.delete_span(subject, sensors, start_s, end_s)
        note = (
            f"jerkmon: --replace: deleted {replaced} stored rows of {', '.join(sensors)} "
            f"over {_clock(start_s)} - {_clock(end_s)}"
            if conflicts
            else f"jerkmon: re-run of a stored night: its {replaced} stored rows of "
            f"{', '.join(sensors)} are replaced"
        )
    for s in sensors:
        store.add_run(Run(subject, s, start_s, end_s, key))
    return Claim(replaced, note)
