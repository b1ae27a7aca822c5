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


def fragment_onsets(rng: np.random.Generator, schedule: SleepSchedule) -> SleepSchedule:
    """The schedule with real nights' fragmented sleep onsets (randomised model).

    Adds 0-2 brief awakenings (0.5-3 min) inside the sleep periods, each followed by a
    re-onset, then puts 1-2 failed attempts (0.5-4 min of N1, then 0.5-5 min awake) before
    the first onset (80 % of nights) and before a re-onset (50 %): 2-3 attempts, each a sleep
    onset in the truth, each of which can carry a sleep start (hypnic jerk).
    """
    minute = 60.0
    starts, stages = schedule.starts_s.copy(), schedule.stages.copy()
    duration_s = float(schedule.ends_s[-1])
    for _ in range(int(rng.integers(0, 3))):
        periods = [(a, b) for a, b in schedule.periods_s if b - a > 20.0 * minute]
        if not periods:
            break
        a, b = periods[int(rng.integers(0, len(periods)))]
        length = float(rng.uniform(0.5, 3.0)) * minute
        at = float(rng.uniform(a + 8.0 * minute, b - 8.0 * minute - length))
        starts, stages = _paint(starts, stages, at, at + length, WAKE, duration_s)
    onsets, _ = _sleep_runs(starts, stages, duration_s)
    for k, onset in enumerate(onsets):
        if rng.random() >= (0.8 if k == 0 else 0.5):
            continue
        wake_from = 0.0 if k == 0 else _wake_start(starts, stages, onset)
        t = onset
        for _ in range(int(rng.integers(1, 3))):
            awake = float(rng.uniform(0.5, 5.0)) * minute
            asleep = float(rng.uniform(0.5, 4.0)) * minute
            begin = t - awake - asleep
            if begin < wake_from + 1.0 * minute:
                break
            starts, stages = _paint(starts, stages, begin, begin + asleep, N1, duration_s)
            t = begin
    onsets, periods = _sleep_runs(starts, stages, duration_s)
    ends = np.append(starts[1:], duration_s)
    awakenings = [
        (float(a), float(b))
        for a, b, c in zip(starts, ends, stages, strict=True)
        if c == WAKE and onsets and a > onsets[0]
    ]
    return SleepSchedule(
        starts_s=starts,
        ends_s=ends,
        stages=stages,
        onsets_s=tuple(onsets),
        periods_s=tuple(periods),
        awakenings_s=tuple(awakenings),
    )


def _paint(
    starts: FloatArray,
    stages: npt.NDArray[np.int64],
    a: float,
    b: float,
    code: int,
    duration_s: float,
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """The hypnogram with [a, b) set to stage ``code`` (repeats merged)."""
    after = int(stages[np.searchsorted(starts, b, side="right") - 1])
    keep = (starts < a) | (starts > b)
    seg = sorted(
        [*zip(starts[keep].tolist(), stages[keep].tolist(), strict=True), (a, code)]
        + ([(b, after)] if b < duration_s else [])
    )
    out_s = np.array([x for x, _ in seg], dtype=np.float64)
    out_c = np.array([c for _, c in seg], dtype=np.int64)
    change = np.ones(out_s.size, dtype=bool)
    change[1:] = out_c[1:] != out_c[:-1]
    return out_s[change], out_c[change]


def _sleep_runs(
    starts: FloatArray, stages: npt.NDArray[np.int64], duration_s: float
) -> tuple[list[float], list[tuple[float, float]]]:
    """Sleep onsets and periods (maximal runs of sleep stages) of a hypnogram."""
    ends = np.append(starts[1:], duration_s)
    onsets: list[float] = []
    periods: list[tuple[float, float]] = []
    for a, b, c in zip(starts.tolist(), ends.tolist(), stages.tolist(), strict=True):
        if c == WAKE:
            continue
        if periods and periods[-1][1] == a:
            periods[-1] = (periods[-1][0], b)
        else:
            onsets.append(a)
            periods.append((a, b))
    return onsets, periods


def _wake_start(starts: FloatArray, stages: npt.NDArray[np.int64], onset: float) -> float:
    """Start of the wake segment that ends at ``onset``."""
    i = int(np.searchsorted(starts, onset)) - 1
    return float(starts[i]) if i >= 0 and stages[i] == WAKE else onset
