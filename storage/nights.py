"""Night identity: which stored recordings make up one night of one subject.

A night is (subject, night date), the date of its evening.  One rule, :class:`NightRule`,
says where one night ends and the next begins: at a fixed local clock time, noon by
default (noon to noon, as actigraphy tools such as GGIR and the ActiGraph/Axivity software
cut days for sleep analysis).  The boundary is configurable with
``$JERKMON_NIGHT_BOUNDARY`` (``HH:MM``, local time), read once by :meth:`NightRule.from_env`.

Every recording session of a subject whose first sample falls into the night is part of it:
a restart after a crash or after midnight, a ``--resume``, a second sensor started later, a
re-run.  The stores keep one ``Night`` record per recording session (the ``nights`` table,
the ``night`` measurement); :func:`merge_nights` turns those into one :class:`Night` per
night date, and everything that reads nights (reports, statistics, export, the dashboards'
``sensor_night``) reads them through :func:`subject_nights`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from datetime import time as dtime
from typing import Protocol

from detector.errors import ConfigError, InputError

from .schema import Night

__all__ = [
    "NIGHT_BOUNDARY_ENV",
    "NightRule",
    "NightsSource",
    "merge_nights",
    "subject_nights",
]

#: Environment variable with the local clock time where one night ends and the next begins.
NIGHT_BOUNDARY_ENV = "JERKMON_NIGHT_BOUNDARY"

_FAR_S = 4e9


@dataclass(frozen=True, slots=True)
class NightRule:
    """Where one night ends and the next begins.

    Attributes:
        boundary_h: local clock time of the cut, h after midnight (default 12.0: noon to
            noon).  A recording that starts at 01:30 on 3 November belongs to the night of
            2 November; one that starts at 12:30 to the night of 3 November.
        tz: time zone of the clock (None: the system's).
    """

    boundary_h: float = 12.0
    tz: tzinfo | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.boundary_h) and 0.0 <= self.boundary_h < 24.0):
            raise ConfigError(f"the night boundary must be within 00:00..23:59, got {self}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, tz: tzinfo | None = None) -> NightRule:
        """The rule of ``$JERKMON_NIGHT_BOUNDARY`` (``HH:MM``; default ``12:00``)."""
        text = (os.environ if env is None else env).get(NIGHT_BOUNDARY_ENV, "").strip()
        if not text:
            return cls(tz=tz)
        try:
            hh, _, mm = text.partition(":")
            h, m = int(hh), int(mm or "0")
            if not (0 <= h < 24 and 0 <= m < 60):
                raise ValueError(text)
        except ValueError:
            raise ConfigError(
                f"${NIGHT_BOUNDARY_ENV} must be a local time HH:MM such as 12:00, got {text!r}"
            ) from None
        return cls(h + m / 60.0, tz)

    def with_tz(self, tz: tzinfo | None) -> NightRule:
        return NightRule(self.boundary_h, tz)

    def _local(self, t_s: float) -> datetime:
        return (
            datetime.fromtimestamp(t_s, self.tz)
            if self.tz is not None
            else datetime.fromtimestamp(t_s).astimezone()
        )

    def date_of(self, t_s: float) -> date:
        """The night (date of its evening) that the instant ``t_s`` (s since the epoch)
        belongs to."""
        return (self._local(t_s) - timedelta(hours=self.boundary_h)).date()

    def bounds(self, first: date, last: date | None = None) -> tuple[float, float]:
        """[start, end) in s since the epoch of the nights ``first`` .. ``last`` (inclusive;
        default: just ``first``): the boundary on ``first`` to the boundary on the day after
        ``last``, local time."""
        last = first if last is None else last
        if last < first:
            raise InputError(f"the last night {last} is before the first {first}")
        minutes = round(self.boundary_h * 60.0)
        cut = dtime(minutes // 60, minutes % 60)
        a = datetime.combine(first, cut, tzinfo=self.tz)
        b = datetime.combine(last + timedelta(days=1), cut, tzinfo=self.tz)
        return a.timestamp(), b.timestamp()  # naive (tz None) = local time

    def label(self, t_s: float) -> str:
        """``YYYY-MM-DD`` of :meth:`date_of`."""
        return self.date_of(t_s).isoformat()


class NightsSource(Protocol):
    """Anything with stored nights: :class:`~storage.LocalStore`,
    :class:`~storage.influxread.InfluxReader`."""

    def nights(self, subject: str, start_s: float = ..., end_s: float = ...) -> list[Night]: ...


def _join(values: Sequence[str | None], sep: str) -> str | None:
    seen = list(dict.fromkeys(v for v in values if v))
    return sep.join(seen) if seen else None


def _union(periods: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    out: list[list[float]] = []
    for a, b in sorted((float(a), float(b)) for a, b in periods):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def _merge(parts: Sequence[Night]) -> Night:
    """One night from its recording sessions (all of one subject and night date)."""
    if len(parts) == 1:
        return parts[0]
    periods = _union([p for n in parts for p in n.sleep_periods])
    known_sleep = [n.sleep_s for n in parts if n.sleep_s is not None]
    if periods:
        sleep_s: float | None = sum(b - a for a, b in periods)
    elif known_sleep and len(known_sleep) == len(parts):
        sleep_s = float(sum(known_sleep))
    else:
        sleep_s = None
    onsets = [n.sleep_onset_s for n in parts if n.sleep_onset_s is not None]
    wakes = [n.wake_s for n in parts if n.wake_s is not None]
    return Night(
        subject=parts[0].subject,
        start_s=min(n.start_s for n in parts),
        end_s=max(n.end_s for n in parts),
        sleep_onset_s=min(onsets) if onsets else None,
        wake_s=max(wakes) if wakes else None,
        note=_join([n.note for n in parts], "; "),
        sleep_s=sleep_s,
        sleep_periods=periods,
        # Subject-level counts of the parts cannot be added up (the parts may overlap: a
        # second sensor started later); readers count from the events.
        jerks=None,
        jerks_in_sleep=None,
        hypnic=None,
        series=None,
        detector_version=_join([n.detector_version for n in parts], " + "),
        detector_config=parts[-1].detector_config,
    )


def merge_nights(parts: Sequence[Night], rule: NightRule | None = None) -> list[Night]:
    """One :class:`Night` per (subject, night date) from stored recording sessions, oldest
    first: span from the first session's start to the last one's end, sleep periods and
    sleep the union of the sessions', first sleep onset, last wake."""
    rule = rule if rule is not None else NightRule.from_env()
    groups: dict[tuple[str, date], list[Night]] = {}
    for n in sorted(parts, key=lambda n: (n.subject, n.start_s)):
        groups.setdefault((n.subject, rule.date_of(n.start_s)), []).append(n)
    merged = [_merge(g) for g in groups.values()]
    return sorted(merged, key=lambda n: (n.start_s, n.subject))


def subject_nights(
    source: NightsSource,
    subject: str,
    first: date | None = None,
    last: date | None = None,
    rule: NightRule | None = None,
) -> list[Night]:
    """The nights of ``subject`` from ``first`` to ``last`` (night dates, inclusive; None =
    unbounded), one per night date, oldest first."""
    rule = rule if rule is not None else NightRule.from_env()
    lo, hi = 0.0, _FAR_S
    if first is not None or last is not None:
        a, b = rule.bounds(first or date(1970, 1, 2), last or date(2096, 1, 1))
        lo, hi = (a if first is not None else lo), (b if last is not None else hi)
    return merge_nights(source.nights(subject, lo, hi), rule)
