"""The public entry points: :func:`simulate_night` and the chunked :class:`NightStream`."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from detector.errors import ConfigError
from sim.config import NightConfig
from sim.geometry import FloatArray
from sim.plan import NightPlan, plan_night, slot_times
from sim.render import BLOCK, RenderedBlock, n_blocks, render_block


@dataclass(frozen=True)
class SensorRecording:
    """The samples one wrist sensor delivered.

    Attributes:
        side: "left" or "right".
        t: (n,) float64 sample times in seconds (``t0`` + slot / rate_hz, ± jitter); strictly
            increasing; rows lost in BLE gaps are simply absent.
        acc: (n, 3) float64 acceleration in g (x, y, z of the sensor), quantised and clipped.
        rate_hz: Nominal sample rate in Hz.
    """

    side: str
    t: FloatArray
    acc: FloatArray
    rate_hz: float

    def __len__(self) -> int:
        return int(self.t.size)


@dataclass(frozen=True)
class SimulatedNight:
    """A whole simulated night: the recordings and the JSON-ready ground truth."""

    config: NightConfig
    sensors: list[SensorRecording]
    truth: dict[str, Any]


class NightStream:
    """A planned night rendered chunk by chunk, without holding the whole night in memory.

    ``chunks()`` yields, per chunk of ``chunk_s`` seconds of sample slots, one
    :class:`SensorRecording` per sensor (possibly with zero rows inside a gap).  Concatenated,
    the chunks equal :func:`simulate_night`'s recordings exactly, whatever ``chunk_s``.
    ``truth`` is available at once; its ``"clipped"`` list covers what has been rendered so
    far, so it is complete after a full pass.
    """

    def __init__(self, config: NightConfig, plan: NightPlan | None = None) -> None:
        self.config = config
        self.plan: NightPlan = plan if plan is not None else plan_night(config)
        self._clip_runs: list[list[list[int]]] = [[] for _ in self.plan.sensors]

    @property
    def rate_hz(self) -> float:
        return float(self.config.rate_hz)

    @property
    def sides(self) -> list[str]:
        return [s.side for s in self.plan.sensors]

    @property
    def truth(self) -> dict[str, Any]:
        """The truth dict (a copy), with ``"clipped"`` as far as rendered."""
        truth = copy.deepcopy(self.plan.truth)
        t0, rate = float(self.config.t0), self.config.sample_rate_hz
        rows = []
        for sp, runs in zip(self.plan.sensors, self._clip_runs, strict=True):
            for s, e in runs:
                if sp.arrival_s is None:
                    start, end = s / rate, e / rate
                else:  # on the clock of the host time stamps
                    start, end = slot_times(self.config, sp.arrival_s, np.array([s, e])).tolist()
                rows.append({"sensor": sp.side, "start": t0 + start, "end": t0 + end})
        truth["clipped"] = sorted(rows, key=lambda r: (r["start"], r["sensor"]))
        return truth

    def _note_clipping(self, sensor: int, block: RenderedBlock) -> None:
        idx = block.index[block.clipped]
        if idx.size == 0:
            return
        breaks = np.nonzero(np.diff(idx) != 1)[0]
        starts = np.concatenate([[idx[0]], idx[breaks + 1]])
        ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
        runs = self._clip_runs[sensor]
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            if runs and runs[-1][1] == s:
                runs[-1][1] = e  # the run continues across a block boundary
            else:
                runs.append([s, e])

    def chunks(self, chunk_s: float = 1.0) -> Iterator[list[SensorRecording]]:
        """Yield the night in chunks of ``chunk_s`` seconds of sample slots (last one shorter)."""
        if not chunk_s > 0.0:
            raise ConfigError(f"chunk_s must be positive, got {chunk_s!r}")
        self._clip_runs = [[] for _ in self.plan.sensors]
        step = max(1, round(chunk_s * self.config.sample_rate_hz))
        n = self.config.n_samples
        n_sensors = len(self.plan.sensors)
        pending: list[list[RenderedBlock]] = [[] for _ in range(n_sensors)]
        next_block, rendered_to = 0, 0
        total_blocks = n_blocks(self.plan)
        for c0 in range(0, n, step):
            c1 = min(c0 + step, n)
            while rendered_to < c1 and next_block < total_blocks:
                for s in range(n_sensors):
                    block = render_block(self.plan, s, next_block)
                    self._note_clipping(s, block)
                    pending[s].append(block)
                next_block += 1
                rendered_to = min(next_block * BLOCK, n)
            out = []
            for s in range(n_sensors):
                parts: list[RenderedBlock] = []
                queue = pending[s]
                while queue:
                    head = queue[0]
                    cut = int(np.searchsorted(head.index, c1))
                    if cut == head.index.size:
                        parts.append(queue.pop(0))
                        continue
                    parts.append(_slice(head, 0, cut))
                    queue[0] = _slice(head, cut, head.index.size)
                    break
                out.append(_recording(self.plan.sensors[s].side, parts, self.rate_hz))
            yield out


def _slice(block: RenderedBlock, a: int, b: int) -> RenderedBlock:
    return RenderedBlock(block.index[a:b], block.t[a:b], block.acc[a:b], block.clipped[a:b])


def _recording(side: str, parts: list[RenderedBlock], rate_hz: float) -> SensorRecording:
    if len(parts) == 1:
        return SensorRecording(side, parts[0].t, parts[0].acc, rate_hz)
    t = np.concatenate([p.t for p in parts]) if parts else np.zeros(0)
    acc = np.concatenate([p.acc for p in parts]) if parts else np.zeros((0, 3))
    return SensorRecording(side, t, acc, rate_hz)


def simulate_night(config: NightConfig, plan: NightPlan | None = None) -> SimulatedNight:
    """Plan and render a whole night (see :class:`NightConfig`), or render ``plan``."""
    stream = NightStream(config, plan)
    per_sensor: list[list[SensorRecording]] = [[] for _ in stream.sides]
    for chunk in stream.chunks(chunk_s=BLOCK / stream.config.sample_rate_hz):
        for s, rec in enumerate(chunk):
            per_sensor[s].append(rec)
    sensors = [
        SensorRecording(
            side,
            np.concatenate([r.t for r in recs]),
            np.concatenate([r.acc for r in recs]),
            stream.rate_hz,
        )
        for side, recs in zip(stream.sides, per_sensor, strict=True)
    ]
    return SimulatedNight(config, sensors, stream.truth)
