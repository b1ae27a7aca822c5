"""Bilateral jerks: the same jerk seen on both wrists (generalised myoclonic seizures are
bilateral and synchronous).  Pure and streaming, like the detector."""

from __future__ import annotations

import math
from collections.abc import Sequence

from detector.events import JerkEvent


class BilateralMatcher:
    """Pairs jerks of two or more sensors whose onsets lie within ``window_s``.

    Each sensor's detector reports events late and in onset order; an event can only be
    called unilateral once every other sensor's watermark has passed ``onset + window_s``.
    :meth:`process` returns ``(sensor, event, bilateral)`` for the events that are final.

    Args:
        sensors: ids of the sensors worn (one sensor: everything is final at once).
        window_s: largest onset difference between the wrists, s.  Wrist clocks aligned to
            a few ms and nerve conduction differences of ~10 ms make 0.1 s generous but far
            below the spacing of jerks in a series.
    """

    def __init__(self, sensors: Sequence[str], window_s: float = 0.1) -> None:
        if not sensors:
            raise ValueError("BilateralMatcher needs at least one sensor")
        self.window_s = float(window_s)
        self._pending: dict[str, list[JerkEvent]] = {s: [] for s in sensors}
        self._watermark: dict[str, float] = {s: -math.inf for s in sensors}
        self._paired: set[tuple[str, float]] = set()

    def process(
        self, sensor: str, events: Sequence[JerkEvent], watermark: float
    ) -> list[tuple[str, JerkEvent, bool]]:
        """Add one sensor's new events and watermark (``math.inf`` once it has ended)."""
        if sensor not in self._pending:
            raise KeyError(f"unknown sensor {sensor!r}")
        self._pending[sensor].extend(events)
        self._watermark[sensor] = max(self._watermark[sensor], watermark)
        # Pair new events with what the other sensors have pending or already emitted.
        for ev in events:
            for other, evs in self._pending.items():
                if other == sensor:
                    continue
                for oe in evs:
                    # A jerk pairs with a jerk, a lapse of tone with a lapse.
                    if abs(oe.onset - ev.onset) <= self.window_s and (oe.kind == "negative") == (
                        ev.kind == "negative"
                    ):
                        self._paired.add((sensor, ev.onset))
                        self._paired.add((other, oe.onset))
        out: list[tuple[str, JerkEvent, bool]] = []
        for s, evs in self._pending.items():
            keep: list[JerkEvent] = []
            others = [w for o, w in self._watermark.items() if o != s]
            horizon = min(others) if others else math.inf
            for ev in evs:
                key = (s, ev.onset)
                if key in self._paired or ev.onset + self.window_s < horizon:
                    out.append((s, ev, key in self._paired))
                else:
                    keep.append(ev)
            self._pending[s] = keep
        # Forget pairings that can no longer matter.
        low = min(self._watermark.values()) - 10 * self.window_s
        self._paired = {k for k in self._paired if k[1] >= low}
        return out

    def pending(self) -> int:
        return sum(len(v) for v in self._pending.values())
