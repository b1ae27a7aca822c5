"""Rendering a planned night into accelerometer samples, one fixed block at a time.

Blocks are fixed ranges of :data:`BLOCK` sample slots and their random noise is seeded by
(seed, sensor, block), so the output does not depend on how a caller chunks the night.

Measurement model of one sample i at time i / rate_hz (all in g, sensor frame):
``up(t)`` (gravity direction, 1 g, changed only by rotations) + breathing tilt + heartbeat
ballistocardiogram + slow drift + bias + event accelerations + white noise, then
quantised to ``bits`` over ± ``range_g`` and clipped to the ADC's integer range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sim.geometry import FloatArray, rotate
from sim.plan import IntArray, NightPlan, SensorPlan, slot_times

#: Sample slots per render block.
BLOCK = 1 << 16

_NOISE_STREAM = 100

# One cycle of a ballistocardiogram (H, I, J, K, L waves) at the wrist, peak 1.
_BCG_U = np.linspace(0.0, 1.0, 513)
_BCG = (
    -0.3 * np.exp(-0.5 * ((_BCG_U - 0.12) / 0.02) ** 2)
    + 1.0 * np.exp(-0.5 * ((_BCG_U - 0.2) / 0.025) ** 2)
    - 0.6 * np.exp(-0.5 * ((_BCG_U - 0.28) / 0.03) ** 2)
    + 0.25 * np.exp(-0.5 * ((_BCG_U - 0.38) / 0.04) ** 2)
)
_BCG = _BCG / np.abs(_BCG).max()


@dataclass(frozen=True)
class RenderedBlock:
    """Received samples of one block of one sensor.

    ``index`` (m,) sample slot numbers, ``t`` (m,) seconds (t0-based, jittered if asked),
    ``acc`` (m, 3) g after quantisation and clipping, ``clipped`` (m,) True where any axis hit
    the ADC limits.  Slots lost in BLE gaps are absent.
    """

    index: IntArray
    t: FloatArray
    acc: FloatArray
    clipped: npt.NDArray[np.bool_]


def n_blocks(plan: NightPlan) -> int:
    """Number of render blocks in the night."""
    return -(-plan.config.n_samples // BLOCK)


def gravity(sp: SensorPlan, b0: int, b1: int) -> FloatArray:
    """Up vector (nb, 3) in g of sample slots b0 .. b1 - 1 (orientation only).

    Outside rotation windows the arm rests at the state left by all earlier rotations; within
    a cluster of overlapping windows the rotations are composed in start order.
    """
    idx = np.arange(b0, b1)
    if not sp.rot_events:
        return np.tile(sp.rot_states[0], (b1 - b0, 1))
    count = np.searchsorted(sp.rot_starts, idx, side="right")
    g = sp.rot_states[count]
    hits = np.nonzero((sp.rot_starts < b1) & (sp.rot_ends > b0))[0]
    k = 0
    while k < hits.size:
        # A maximal group of overlapping rotation windows.
        first = int(hits[k])
        end = int(sp.rot_ends[first])
        members = [first]
        k += 1
        while k < hits.size and sp.rot_starts[hits[k]] < end:
            members.append(int(hits[k]))
            end = max(end, int(sp.rot_ends[hits[k]]))
            k += 1
        lo, hi = max(int(sp.rot_starts[first]), b0), min(end, b1)
        seg = np.tile(sp.rot_states[first], (hi - lo, 1))
        slots = np.arange(lo, hi)
        for m in members:
            ev = sp.rot_events[m]
            angle = np.zeros(hi - lo)
            angle[slots >= ev.end] = ev.final_rad
            inside = (slots >= ev.start) & (slots < ev.end)
            angle[inside] = ev.angle_rad[slots[inside] - ev.start]
            seg = rotate(seg, ev.axis, angle)
        g[lo - b0 : hi - b0] = seg
    return np.asarray(g, dtype=np.float64)


def render_block(plan: NightPlan, sensor: int, block: int) -> RenderedBlock:
    """Render sample slots ``block * BLOCK`` .. (exclusive end clipped to the night)."""
    cfg = plan.config
    sp = plan.sensors[sensor]
    bl = sp.baseline
    rate_hz = cfg.sample_rate_hz
    b0 = block * BLOCK
    b1 = min(b0 + BLOCK, cfg.n_samples)
    idx = np.arange(b0, b1)
    t_rel = idx / rate_hz

    up = gravity(sp, b0, b1)
    acc = up.copy()
    knots_t = np.arange(bl.breath_phase.size) * bl.knot_step_s
    if bl.breathing:
        # Breathing tilts the resting arm a little: the reading moves perpendicular to up.
        phase = np.interp(t_rel, knots_t, bl.breath_phase)
        tilt = np.interp(t_rel, knots_t, bl.breath_amp_g) * (
            (np.sin(phase) + 0.25 * np.sin(2.0 * phase + 0.8)) / 1.2
        )
        acc += tilt[:, None] * np.cross(bl.breath_axis, up)
    if bl.heartbeat:
        frac = np.mod(np.interp(t_rel, knots_t, bl.heart_phase), 1.0)
        acc += (bl.heart_amp_g * np.interp(frac, _BCG_U, _BCG))[:, None] * bl.heart_dir
    drift_t = np.arange(bl.drift_g.shape[0]) * bl.drift_step_s
    for axis in range(3):
        acc[:, axis] += np.interp(t_rel, drift_t, bl.drift_g[:, axis]) + bl.bias_g[axis]

    hits = np.nonzero((sp.acc_starts < b1) & (sp.acc_ends > b0))[0]
    for k in hits:
        ev = sp.acc_events[int(k)]
        lo = max(ev.start, b0)
        hi = min(ev.start + ev.data.shape[0], b1)
        acc[lo - b0 : hi - b0] += ev.data[lo - ev.start : hi - ev.start]
    for uev in sp.up_events:
        # Along gravity as the arm is oriented at each sample (negative myoclonus: a drop).
        lo = max(uev.start, b0)
        hi = min(uev.start + uev.along_up_g.size, b1)
        if lo < hi:
            acc[lo - b0 : hi - b0] += (
                uev.along_up_g[lo - uev.start : hi - uev.start, None] * up[lo - b0 : hi - b0]
            )

    seq = np.random.SeedSequence(cfg.seed, spawn_key=(_NOISE_STREAM, sensor, block))
    rng = np.random.Generator(np.random.PCG64(seq))
    acc += rng.standard_normal(acc.shape) * bl.noise_g
    idle_rows = _off_wrist(sp, acc, b0, b1, rate_hz, (cfg.seed, sensor, block))

    lsb_g = 2.0 * float(cfg.range_g) / 2.0**cfg.bits
    q_max = 2 ** (cfg.bits - 1) - 1
    q = np.rint(acc / lsb_g)
    clipped = np.any((q > q_max) | (q < -q_max - 1), axis=1)
    acc = np.clip(q, -q_max - 1, q_max) * lsb_g
    if idle_rows is not None and idle_rows.any():
        # Idle mode: the device repeats one (noise-free, quantised) sample.
        still = np.clip(np.rint((sp.table_up + bl.bias_g) / lsb_g), -q_max - 1, q_max) * lsb_g
        acc[idle_rows] = still

    if sp.arrival_s is None:
        t = float(cfg.t0) + t_rel
    else:
        t = float(cfg.t0) + slot_times(cfg, sp.arrival_s, idx)
    if cfg.jitter_ms > 0.0:
        t = t + rng.uniform(-cfg.jitter_ms, cfg.jitter_ms, size=t.size) / 1000.0

    present = np.ones(b1 - b0, dtype=bool)
    if sp.gaps.size:
        for s, e in sp.gaps[(sp.gaps[:, 0] < b1) & (sp.gaps[:, 1] > b0)].tolist():
            present[max(s, b0) - b0 : min(e, b1) - b0] = False
    return RenderedBlock(
        index=idx[present],
        t=np.asarray(t[present], dtype=np.float64),
        acc=np.asarray(acc[present], dtype=np.float64),
        clipped=clipped[present],
    )


_HANDLING_S = 3.0  # taking the sensor off / putting it on: a crossfade between wrist and table


def _off_wrist(
    sp: SensorPlan, acc: FloatArray, b0: int, b1: int, rate_hz: float, key: tuple[int, int, int]
) -> npt.NDArray[np.bool_] | None:
    """Replace (in place) the rows of ``acc`` (nb, 3) g where the sensor lies on the table:
    its flat orientation plus bias and the noise already in ``acc`` (no breathing, no
    heartbeat, no movement), crossfaded over the handling at both ends.  Returns the rows
    in idle mode (repeated samples), or None."""
    if sp.off.size == 0:
        return None
    idx = np.arange(b0, b1)
    idle = np.zeros(b1 - b0, dtype=bool)
    hand = max(1, round(_HANDLING_S * rate_hz))
    for s, e in sp.off.tolist():
        if e <= b0 or s >= b1:
            continue
        lo, hi = max(s, b0), min(e, b1)
        rows = idx[lo - b0 : hi - b0]
        w = np.clip(np.minimum(rows - s, e - rows) / hand, 0.0, 1.0)[:, None]
        seg = acc[lo - b0 : hi - b0]
        table = sp.table_up + sp.baseline.bias_g
        # Sensor noise of its own stream, so the main noise stream is left as it was.
        seq = np.random.SeedSequence(key[0], spawn_key=(_NOISE_STREAM + 1, key[1], key[2], s))
        noise = np.random.Generator(np.random.PCG64(seq)).standard_normal(seg.shape)
        acc[lo - b0 : hi - b0] = (1.0 - w) * seg + w * (table + noise * sp.baseline.noise_g)
        if sp.idle:
            idle[lo - b0 : hi - b0] = (rows - s >= 10 * rate_hz) & (e - rows > hand)
    return idle
