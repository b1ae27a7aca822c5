"""Night structure: sleep-onset latency, ~90 min NREM/REM cycles, brief awakenings, final wake.

All times here are seconds from the first sample (the truth adds ``t0``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sim.geometry import FloatArray

STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "R")
WAKE, N1, N2, N3, REM = range(5)


@dataclass(frozen=True)
class SleepSchedule:
    """A hypnogram and the landmarks derived from it.

    Attributes:
        starts_s: (k,) start of each stage segment; the first is 0, segments are contiguous.
        ends_s: (k,) end of each segment; the last is the recording length.
        stages: (k,) stage code of each segment (index into :data:`STAGES`).
        onsets_s: Sleep onsets (first one after the sleep-onset latency, then one after each
            brief awakening).
        periods_s: Sleep periods [(onset, wake), ...].
        awakenings_s: Wake periods that follow sleep [(start, end), ...], the last one being
            the final awakening.
    """

    starts_s: FloatArray
    ends_s: FloatArray
    stages: npt.NDArray[np.int64]
    onsets_s: tuple[float, ...]
    periods_s: tuple[tuple[float, float], ...]
    awakenings_s: tuple[tuple[float, float], ...]

    def stage_at(self, times_s: FloatArray) -> npt.NDArray[np.int64]:
        """Stage codes (same shape as ``times_s``) at the given times."""
        i = np.searchsorted(self.starts_s, times_s, side="right") - 1
        return self.stages[np.clip(i, 0, self.stages.size - 1)]

    @property
    def sleep_s(self) -> float:
        """Total time asleep in seconds."""
        return float(sum(b - a for a, b in self.periods_s))


def make_schedule(rng: np.random.Generator, duration_s: float) -> SleepSchedule:
    """Draw a night's hypnogram for a recording of ``duration_s`` seconds.

    Sleep-onset latency 5–40 min, final awakening 10–30 min before the end (both shortened
    for short recordings), 1–4 brief awakenings of 1–15 min (fewer if the sleep is short),
    cycles of 80–110 min with REM periods growing from ~7 to ~30 min across the night and
    deep sleep (N3) concentrated in the first cycles.
    """
    minute = 60.0
    latency = min(float(rng.uniform(5.0, 40.0)) * minute, 0.3 * duration_s)
    final_wake = min(float(rng.uniform(10.0, 30.0)) * minute, 0.1 * duration_s)
    sleep_end = duration_s - final_wake
    span = sleep_end - latency

    wanted = int(rng.integers(1, 5))
    possible = int(span // (45.0 * minute))
    awakenings: list[tuple[float, float]] = []
    for _ in range(200):
        if len(awakenings) >= min(wanted, possible):
            break
        length = float(np.exp(rng.uniform(np.log(1.0), np.log(15.0)))) * minute
        lo, hi = latency + 20.0 * minute, sleep_end - 20.0 * minute - length
        if hi <= lo:
            continue
        start = float(rng.uniform(lo, hi))
        if all(
            start > b + 30.0 * minute or start + length < a - 30.0 * minute for a, b in awakenings
        ):
            awakenings.append((start, start + length))
    awakenings.sort()

    onsets = [latency] + [b for _, b in awakenings]
    wakes = [a for a, _ in awakenings] + [sleep_end]
    periods = list(zip(onsets, wakes, strict=True))

    segments: list[tuple[float, int]] = [(0.0, WAKE)]
    first_onset = latency
    for onset, wake in periods:
        segments.extend(_sleep_period(rng, onset, wake, first_onset))
        segments.append((wake, WAKE))
    starts = np.array([s for s, _ in segments])
    stages = np.array([c for _, c in segments], dtype=np.int64)
    # Drop zero-length segments and merge repeats so each segment is a real stage change.
    keep = np.ones(starts.size, dtype=bool)
    keep[:-1] = starts[1:] > starts[:-1]
    starts, stages = starts[keep], stages[keep]
    change = np.ones(starts.size, dtype=bool)
    change[1:] = stages[1:] != stages[:-1]
    starts, stages = starts[change], stages[change]
    ends = np.append(starts[1:], duration_s)
    return SleepSchedule(
        starts_s=starts,
        ends_s=ends,
        stages=stages,
        onsets_s=tuple(onsets),
        periods_s=tuple(periods),
        awakenings_s=tuple(
            [*awakenings, (sleep_end, duration_s)] if sleep_end < duration_s else awakenings
        ),
    )


def _sleep_period(
    rng: np.random.Generator, onset: float, wake: float, first_onset: float
) -> list[tuple[float, int]]:
    """Stage segments (start, code) from ``onset`` to ``wake``; cycles restart with NREM."""
    minute = 60.0
    out: list[tuple[float, int]] = []
    t = onset
    first_cycle = True
    while t < wake:
        night_frac = min((t - first_onset) / (6.0 * 3600.0), 1.0)
        cycle = float(rng.uniform(80.0, 110.0)) * minute
        rem = (7.0 + 23.0 * night_frac) * float(rng.uniform(0.7, 1.3)) * minute
        if first_cycle and first_onset == onset:
            rem *= 0.6  # the first REM period of the night is the shortest
        n1 = float(rng.uniform(1.0, 7.0) if first_cycle else rng.uniform(0.0, 3.0)) * minute
        n3 = max(0.0, (35.0 * (1.0 - 1.6 * night_frac)) * float(rng.uniform(0.6, 1.2))) * minute
        nrem = max(cycle - rem, n1 + 10.0 * minute)
        n3 = min(n3, max(nrem - n1 - 10.0 * minute, 0.0))
        n2_before = (nrem - n1 - n3) * float(rng.uniform(0.4, 0.8))
        n2_after = nrem - n1 - n3 - n2_before
        for length, code in ((n1, N1), (n2_before, N2), (n3, N3), (n2_after, N2), (rem, REM)):
            if length > 0.0 and t < wake:
                out.append((t, code))
                t += length
        first_cycle = False
    return out
