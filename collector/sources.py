"""Sample sources for the live pipeline.

A source is an async iterator of :class:`SampleBatch` (and :class:`GapNotice` for gaps the
source knows the reason of).  The simulator source replays a simulated night in packets at
a chosen speed; the BLE source lives in :mod:`collector.ble`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detector.errors import ConfigError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SampleBatch:
    """Samples of one sensor: t (n,) s since the epoch, acc (n, 3) g."""

    sensor: str
    t: FloatArray
    acc: FloatArray


@dataclass(frozen=True, slots=True)
class GapNotice:
    """A gap in one sensor's data the source knows about, s since the epoch."""

    sensor: str
    start_s: float
    end_s: float
    reason: str


def parse_speed(text: str) -> float:
    """``--speed``: a factor over real time (1 = real time) or ``max`` (as fast as possible,
    returned as ``inf``)."""
    if text.strip().lower() == "max":
        return float("inf")
    try:
        value = float(text)
    except ValueError as exc:
        raise ConfigError(f"--speed must be a number or 'max', got {text!r}") from exc
    if not value > 0:
        raise ConfigError(f"--speed must be positive, got {text!r}")
    return value


async def replay(
    recordings: list[tuple[str, FloatArray, FloatArray]],
    speed: float,
    packet_s: float = 0.25,
    stop: asyncio.Event | None = None,
) -> AsyncIterator[SampleBatch | GapNotice]:
    """Replay recordings ``(sensor, t (n,), acc (n, 3))`` in time order, ``packet_s`` at a
    time per sensor, paced so that sensor time advances ``speed`` times faster than wall
    time (``inf``: no pacing; packets grow to 10 s to cut per-packet overhead)."""
    if not recordings:
        return
    t0 = min(float(t[0]) for _, t, _ in recordings if t.size)
    t1 = max(float(t[-1]) for _, t, _ in recordings if t.size)
    step = packet_s if np.isfinite(speed) else max(packet_s, 10.0)
    edges = np.arange(t0, t1 + step, step)
    cuts = [np.searchsorted(t, edges, "left") for _, t, _ in recordings]
    wall0 = time.monotonic()
    for k in range(edges.size - 1):
        if stop is not None and stop.is_set():
            return
        if np.isfinite(speed):
            due = wall0 + (edges[k + 1] - t0) / speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)  # let signal handlers and status printing run
        for (sensor, t, acc), c in zip(recordings, cuts, strict=True):
            a, b = int(c[k]), int(c[k + 1])
            if b > a:
                yield SampleBatch(sensor, t[a:b], acc[a:b])
