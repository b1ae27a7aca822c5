"""Night summary: what a clinician reads first."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from detector.events import JerkEvent
from detector.sleep import SleepPeriod

if TYPE_CHECKING:
    from detector.core import JerkDetector


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
        not_worn_hours: of the signal, the sensor was not worn (not sleep, not coverage of
            the wearer), h.  awake_jerks: jerks outside sleep (awake at rest, walking,
            activity); by_state: jerks per state.
        main_sleep_onset / final_wake: the main sleep window (HDCZA), s, or None.
        episodes: convulsive episodes (never counted as jerks).
        negative: negative myoclonus (lapses of tone; not jerks, counted apart).
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
    not_worn_hours: float = 0.0
    awake_jerks: int = 0
    by_state: dict[str, int] | None = None
    main_sleep_onset: float | None = None
    final_wake: float | None = None
    episodes: int = 0
    negative: int = 0

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
        else:
            onset = _when(self.sleep_onset)
        return [
            f"jerks            {self.jerks}  ({rate})",
            f"hypnic jerks     {self.hypnic}",
            f"myoclonic jerks  {self.myoclonic}",
            f"negative         {self.negative}  (negative myoclonus: lapses of tone, not jerks)",
            f"series           {self.series}  ({self.jerks_in_series} jerks in series)",
            f"sleep onset      {onset}",
            f"sleep            {self.sleep_hours:.2f} h",
            f"recording        {self.recording_hours:.2f} h "
            f"({self.covered_hours:.2f} h with signal, {self.not_worn_hours:.2f} h not worn)",
            f"awake jerks      {self.awake_jerks}"
            + (f"  {self.by_state}" if self.by_state else ""),
            "main sleep       "
            + (
                f"{_when(self.main_sleep_onset)} to {_when(self.final_wake)}"
                if self.main_sleep_onset is not None and self.final_wake is not None
                else "not found"
            ),
            f"episodes         {self.episodes}"
            + ("  (convulsive movement: see the events)" if self.episodes else ""),
        ]


def _when(t_s: float) -> str:
    """A time for the summary: the local clock for a Unix time (live pipeline, files with
    absolute times), else seconds from the start of the recording."""
    if t_s > 1e8:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t_s))
    return f"t = {t_s:.0f} s"


def summarize(
    events: Sequence[JerkEvent],
    periods: Sequence[SleepPeriod],
    recording_s: float,
    covered_s: float,
    not_worn_s: float = 0.0,
    window: tuple[float, float] | None = None,
    episodes: int = 0,
) -> NightSummary:
    """Summarise one recording's events.

    Args:
        events: the detector's events (negative myoclonus among them is counted apart).
            periods: its sleep periods.
        recording_s: first-to-last-sample span, s.  covered_s: seconds with signal.
        not_worn_s: of which not worn, s (reported, and not counted as coverage).
        window: main sleep window (onset, final wake), s.  episodes: convulsive episodes.
    """
    negative = sum(1 for e in events if e.kind == "negative")
    events = [e for e in events if e.kind != "negative"]
    sleep_s = sum(p.end - p.onset for p in periods)
    in_sleep = sum(1 for e in events if any(p.onset <= e.onset <= p.end for p in periods))
    series_ids = {e.series for e in events if e.series is not None}
    hypnic = sum(1 for e in events if e.kind == "hypnic")
    states: dict[str, int] = {}
    for e in events:
        states[e.state] = states.get(e.state, 0) + 1
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
        covered_hours=max(covered_s - not_worn_s, 0.0) / 3600.0,
        not_worn_hours=not_worn_s / 3600.0,
        awake_jerks=sum(1 for e in events if e.state in ("awake", "walking", "activity")),
        by_state=dict(sorted(states.items())),
        main_sleep_onset=window[0] if window else None,
        final_wake=window[1] if window else None,
        episodes=episodes,
        negative=negative,
    )


def summarize_detector(
    det: JerkDetector,
    events: Sequence[JerkEvent],
    t_first: float | None,
    t_last: float | None,
    covered_s: float,
    episodes: int,
) -> NightSummary:
    """The summary of what ``det`` saw between its first and last sample (``t_first`` ..
    ``t_last`` s, None before any): its sleep periods, not-worn time and main sleep window
    with ``events``, ``covered_s`` of signal and ``episodes`` convulsive episodes.  The one
    summary ``detect`` and the live run print."""
    span = not_worn_s = 0.0
    if t_first is not None and t_last is not None:
        span = t_last - t_first
        not_worn_s = det.wear.not_worn_s(t_first, t_last + 1.0 / det.rate_hz)
    window = det.main_sleep_window()
    return summarize(
        events,
        det.sleep_periods(),
        span,
        covered_s,
        not_worn_s=min(not_worn_s, covered_s),
        window=(window.onset, window.wake) if window else None,
        episodes=episodes,
    )
