"""Event and count records produced by the detector (frozen, hashable, comparable)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

#: ``negative`` is negative myoclonus: a brief lapse of tone (the held limb drops along
#: gravity, then a corrective burst restores it); it is counted apart from the jerks.
JerkKind = Literal["myoclonic", "hypnic", "negative"]
#: What the wearer was doing when a jerk happened: asleep (inside an estimated sleep or rest
#: period), awake at rest, walking, or in another bout of voluntary activity.
JerkState = Literal["asleep", "awake", "walking", "activity", "unknown"]


@dataclass(frozen=True, slots=True)
class JerkEvent:
    """One detected myoclonic jerk.

    Attributes:
        onset: start of the jerk in s, in the time base of the input ``t``.
        duration: s, from onset to the end of the main acceleration lobe (ringing excluded).
        peak_jerk_g_per_s: largest rate of change of acceleration inside the jerk, g/s.
        peak_acc_g: largest dynamic acceleration (deviation from the pre-jerk posture), g.
        kind: ``"hypnic"`` when it falls in the transition window of an estimated sleep
            onset, ``"negative"`` for negative myoclonus (a lapse of tone: the onset is the
            start of the drop, the duration spans the drop and the corrective burst), else
            ``"myoclonic"``.
        series: id shared by jerks of one cluster (successive jerks closer than the
            configured series gap), or ``None`` for a lone jerk.  Ids count up from 1 per
            detector instance.
        confidence: 0..1, how clearly the transient stands out of its surroundings.
        clipped: the sensor saturated during the jerk, so ``peak_acc_g`` is a lower bound.
        state: ``"asleep"``, ``"awake"`` (at rest), ``"walking"`` or ``"activity"`` (a jerk
            that interrupted voluntary movement); ``"unknown"`` for events from before
            the state existed.
    """

    onset: float
    duration: float
    peak_jerk_g_per_s: float
    peak_acc_g: float
    kind: JerkKind
    series: int | None
    confidence: float
    clipped: bool = False
    state: JerkState = "unknown"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class MinuteCount:
    """Jerks counted in one wall-clock minute of the input time base.

    Attributes:
        start: start of the minute, s (a multiple of 60 in the input time base).
        count: all jerks whose onset falls in ``[start, start + 60)`` (hypnic plus
            myoclonic; negative myoclonus is not a jerk and is counted apart).
        hypnic: of which labelled hypnic.
        myoclonic: of which labelled myoclonic.
        covered_s: seconds of valid signal in the minute (0..60), so a zero count in a
            gap is never mistaken for a quiet minute.
        worn_s: of which the sensor was worn (not-worn time is no signal about the
            wearer); None when unknown (equal to ``covered_s`` for old records).
        negative: negative myoclonus (lapses of tone) starting in the minute.
    """

    start: float
    count: int
    hypnic: int
    myoclonic: int
    covered_s: float
    worn_s: float | None = None
    negative: int = 0
