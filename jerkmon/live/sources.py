"""The simulator as a live source: a simulated night paced as packets, per sensor.

It yields the same items as the BLE sessions (:mod:`collector.sources`), so the pipeline
cannot tell a simulated night from a recorded one.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

from collector.sources import BatteryNotice, LinkNotice, SampleBatch
from detector.errors import ConfigError

if TYPE_CHECKING:
    from sim import NightStream

__all__ = ["sim_source"]


async def sim_source(
    night: NightStream,
    sensors: Sequence[str],
    speed: float,
    *,
    start_s: float | None = None,
    live_from_s: float | None = None,
    packet_s: float = 0.25,
    battery_every_s: float = 900.0,
    stop: asyncio.Event | None = None,
    on_live: Callable[[float], None] | None = None,
) -> AsyncIterator[SampleBatch | BatteryNotice | LinkNotice]:
    """Stream a simulated night as packets of ``packet_s`` s of samples per sensor.

    Samples before ``start_s`` are skipped (rendered, not yielded).  Samples before
    ``live_from_s`` are yielded at once (the past, e.g. a resumed run's detector warm-up);
    from there on a packet is released when sample time, running ``speed`` times faster than
    wall time, reaches its end (``inf``: no pacing, 10 s packets).  ``on_live(t)`` is called
    once, with the sample time that corresponds to the moment pacing starts.  A
    :class:`LinkNotice` opens each sensor's live stream and a :class:`BatteryNotice` (a
    simulated 4 %/h drain) comes every ``battery_every_s`` of sample time.  Ends at the end
    of the night or as soon as ``stop`` is set.
    """
    if not speed > 0:
        raise ConfigError(f"speed must be > 0, got {speed}")
    if len(sensors) != len(night.sides):
        raise ConfigError(f"{len(night.sides)} simulated sensors but {len(sensors)} ids")
    t0, n_slots, rate = float(night.config.t0), night.config.n_samples, night.rate_hz
    paced = math.isfinite(speed)
    chunk_s = packet_s if paced else max(packet_s, 10.0)
    step = max(1, round(chunk_s * rate))  # slots per chunk, as NightStream.chunks cuts them
    first = -math.inf if start_s is None else float(start_s)
    live = max(first, t0 if live_from_s is None else float(live_from_s))
    wall0: float | None = None
    next_battery = [-math.inf] * len(sensors)
    opened = [False] * len(sensors)
    for k, recs in enumerate(night.chunks(chunk_s)):
        end = t0 + min((k + 1) * step, n_slots) / rate  # sample time that completes the packet
        if end <= first:
            continue
        if stop is not None and stop.is_set():
            return
        delay = 0.0
        if paced and end > live:
            if wall0 is None:
                wall0 = time.monotonic()
                if on_live is not None:
                    on_live(live)
            delay = wall0 + (end - live) / speed - time.monotonic()
        if delay > 0 and stop is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
        else:
            # Also when late or unpaced: let signal handlers and the status line run.
            await asyncio.sleep(max(delay, 0.0))
        for i, (sensor, rec) in enumerate(zip(sensors, recs, strict=True)):
            t, acc = rec.t, rec.acc
            if t.size and t[0] < first:
                keep = t >= first
                t, acc = t[keep], acc[keep]
            if t.size == 0:
                continue
            if t[-1] >= live:
                if not opened[i]:
                    opened[i] = True
                    yield LinkNotice(sensor, float(t[0]), True, "simulated sensor")
                if t[0] >= next_battery[i]:
                    hours = (float(t[0]) - t0) / 3600.0
                    yield BatteryNotice(sensor, float(t[0]), max(0, round(100 - 4 * hours)))
                    next_battery[i] = (math.floor(t[0] / battery_every_s) + 1) * battery_every_s
            yield SampleBatch(sensor, night.sides[i], t, acc)
