"""Night summary: what a clinician reads first."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from detector.events import JerkEvent
from detector.sleep import SleepPeriod


@dataclass(frozen=True, slots=True)
class NightSummary:
    """Counts and rates of one recording (one sensor).

    Attributes:
        jerks: all detected jerks.  hypnic / myoclonic: by kind.
        series: number of distinct series (clusters); jerks_in_series: jerks belonging to one.
        sleep_onset: first estimated sleep onset, s (input time base), or None.
        sleep_hours: total estimated sleep, h.  jerks_in_sleep: jerks inside a sleep period.
        jerks_per_hour_sleep: jerks_in_sleep / sleep_hours (None without sleep).
        recording_hours: first to last sample, h.  covered_hours: of which with signal, h.
    """

    jerks: int
    hypnic: int
    myoclonic: int
    series: int
    jerks_in_series: int
    sleep_onset: float | None
    sleep_hours: float
    jerks_in_sleep: int
    jerks_per_hour_sleep: float | None
    recording_hours: float
    covered_hours: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self, time_label: str | None = None) -> list[str]:
        """Human-readable lines; ``time_label`` formats the sleep onset when given."""
        rate = (
            f"{self.jerks_per_hour_sleep:.1f} per hour of sleep"
            if self.jerks_per_hour_sleep is not None
            else "no sleep detected"
        )
        if self.sleep_onset is None:
            onset = "not detected"
        elif time_label is not None:
            onset = time_label
        elif self.sleep_onset > 1e8:  # a Unix time (live pipeline): show the local clock
            onset = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.sleep_onset))
        else:
            onset = f"t = {self.sleep_onset:.0f} s"
        return [
            f"jerks            {self.jerks}  ({rate})",
            f"hypnic jerks     {self.hypnic}",
            f"myoclonic jerks  {self.myoclonic}",
            f"series           {self.series}  ({self.jerks_in_series} jerks in series)",
            f"sleep onset      {onset}",
            f"sleep            {self.sleep_hours:.2f} h",
            f"recording        {self.recording_hours:.2f} h "
            f"({self.covered_hours:.2f} h with signal)",
        ]


def summarize(
    events: Sequence[JerkEvent],
    periods: Sequence[SleepPeriod],
    recording_s: float,
    covered_s: float,
) -> NightSummary:
    """Summarise one recording's events.

    Args:
        events: the detector's events.  periods: its sleep periods.
        recording_s: first-to-last-sample span, s.  covered_s: seconds with signal.
    """
    sleep_s = sum(p.end - p.onset for p in periods)
    in_sleep = sum(1 for e in events if any(p.onset <= e.onset <= p.end for p in periods))
    series_ids = {e.series for e in events if e.series is not None}
    hypnic = sum(1 for e in events if e.kind == "hypnic")
    return NightSummary(
        jerks=len(events),
        hypnic=hypnic,
        myoclonic=len(events) - hypnic,
        series=len(series_ids),
        jerks_in_series=sum(1 for e in events if e.series is not None),
        sleep_onset=periods[0].onset if periods else None,
        sleep_hours=sleep_s / 3600.0,
        jerks_in_sleep=in_sleep,
        jerks_per_hour_sleep=(in_sleep / (sleep_s / 3600.0)) if sleep_s > 0 else None,
        recording_hours=recording_s / 3600.0,
        covered_hours=covered_s / 3600.0,
    )
