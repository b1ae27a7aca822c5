"""The BLE session hands the pipeline strictly increasing sample times whatever order and
timing the notifications arrive in: duplicates, swaps, late bursts, host stalls, drops and
reconnects (hypothesis drives the consumer side of the real session with PMD frames); and
end to end, the emulated sensor streaming through a real event loop that is paused four
times as a suspended laptop is."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.ble.clock import ClockMapConfig
from collector.ble.session import (
    BleSession,
    GapRecord,
    SampleBatch,
    SessionConfig,
    _Emitter,
    _HostStall,
    _LinkDown,
    _Rx,
)
from collector.protocols.pmd import encode_acc_frame
from sim.ble_backend import BumbleClientBackend, BumbleScannerBackend
from sim.ble_sensor import EmulatedPmdSensor, EmulatedSensorConfig, SimClock

RATE_HZ = 100.0
PER_FRAME = 20
FRAME_S = PER_FRAME / RATE_HZ
SENSOR0_S = 850_000_000.0  # sensor clock: s since 2000-01-01 (a 2026 date)
OFFSET_S = 946_684_800.0 + 3.25  # host = sensor + this (Unix epoch, clock 3.25 s off)
FAST_CLOCK = ClockMapConfig(window_s=60.0, min_span_for_drift_s=10.0, settle_s=5.0)


@dataclass(frozen=True)
class Perturbation:
    kind: str  # dup, swap, burst, stall, drop, reconnect
    at: int  # frame index
    size: int  # frames affected / delay in frames
    extra_s: float


perturbations = st.builds(
    Perturbation,
    kind=st.sampled_from(["dup", "swap", "burst", "stall", "drop", "reconnect"]),
    at=st.integers(min_value=5, max_value=580),
    size=st.integers(min_value=1, max_value=12),
    extra_s=st.floats(min_value=0.0, max_value=5.0),
)


def frames(n: int) -> list[tuple[int, bytes]]:
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        acc = rng.normal(0.0, 0.01, size=(PER_FRAME, 3)) + np.array([0.0, 0.0, 1.0])
        last_s = SENSOR0_S + (i + 1) * FRAME_S - 1 / RATE_HZ
        out.append((round(last_s * 1e9), encode_acc_frame(acc, round(last_s * 1e9))))
    return out


def frames_from(sensor0_s: float, n: int) -> list[bytes]:
    acc = np.zeros((PER_FRAME, 3)) + np.array([0.0, 0.0, 1.0])
    return [
        encode_acc_frame(acc, round((sensor0_s + (i + 1) * FRAME_S - 1 / RATE_HZ) * 1e9))
        for i in range(n)
    ]


FRAMES = frames(600)


def schedule(
    perturbs: list[Perturbation], jitter: list[float]
) -> tuple[list[object], int, set[int]]:
    """(queue items in arrival order, duplicates injected, frame indices never sent)."""
    # arrival host time of each frame: sampled at the end of the frame + latency
    arrive = [
        SENSOR0_S + OFFSET_S + (i + 1) * FRAME_S + 0.01 + jitter[i % len(jitter)]
        for i in range(len(FRAMES))
    ]
    order = list(range(len(FRAMES)))
    extras: list[tuple[float, object]] = []  # (arrival, frame index to repeat | item)
    dups = 0
    never: set[int] = set()
    for p in perturbs:
        i = p.at
        j = min(len(FRAMES) - 1, i + p.size)
        if p.kind == "dup":
            extras.append((arrive[j], i))
            dups += 1
        elif p.kind == "swap":
            arrive[i], arrive[i + 1] = arrive[i + 1], arrive[i]
        elif p.kind in ("burst", "stall"):
            # burst: the link holds a backlog, then delivers it at once; stall: this host
            # did not run.  Either way nothing arrives in [start, end): every arrival inside
            # (frames of any index, duplicates, link events, other stalls' notices) is held
            # until end, and later frames queue behind it.
            start = arrive[i]
            end = arrive[j] + (p.extra_s / 10 if p.kind == "burst" else p.extra_s)
            for k in range(len(FRAMES)):
                if k >= i or start <= arrive[k] < end:
                    arrive[k] = max(arrive[k], end)
            extras = [(end if start <= w < end else w, what) for w, what in extras]
            if p.kind == "stall":
                stall = _HostStall(round((start - 0.01) * 1e9), round(end * 1e9))
                extras.append((end, stall))
        elif p.kind == "drop":
            never.add(i)
        elif p.kind == "reconnect":  # link lost, frames missed while down
            never.update(range(i, j + 1))
            extras.append((arrive[i], _LinkDown("disconnect", 0.0)))
    timed: list[tuple[float, int, object]] = []
    for k in order:
        if k not in never:
            payload = FRAMES[k][1]
            timed.append((arrive[k], 0, _Rx(round(arrive[k] * 1e9), payload)))
    for when, what in extras:
        if isinstance(what, int):
            if what in never:
                dups -= 1
                continue
            payload = FRAMES[what][1]
            what = _Rx(round(when * 1e9), payload)
        timed.append((when, 1, what))
    timed.sort(key=lambda x: (x[0], x[1]))
    return [w for _, _, w in timed], dups, never


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    perturbs=st.lists(perturbations, max_size=8),
    jitter=st.lists(st.floats(min_value=0.0, max_value=0.08), min_size=1, max_size=20),
)
def test_random_orders_and_timings_give_increasing_times(
    perturbs: list[Perturbation], jitter: list[float]
) -> None:
    session = BleSession(SessionConfig(address="AA:BB:CC:DD:EE:01", side="left", clock=FAST_CLOCK))
    emitter = _Emitter(session)
    items, dups, never = schedule(perturbs, jitter)
    out = []
    for item in items:
        emitter.handle(item)  # type: ignore[arg-type]
        out += emitter.take()
    emitter.flush(final=True)
    out += emitter.take()
    batches = [e for e in out if isinstance(e, SampleBatch)]
    gaps = [e for e in out if isinstance(e, GapRecord)]
    t = np.concatenate([b.t_host_s for b in batches])
    # strictly increasing, across every batch and gap
    assert np.all(np.diff(t) > 0)
    for g in gaps:
        assert g.end_s > g.start_s
        assert g.reason != "clock_reset"  # the sensor clock never restarted here
    stats = session.stats
    # every frame that arrived is delivered once, except frames too late to reorder
    delivered_frames = len(FRAMES) - len(never) - stats.late_frames
    assert t.size == delivered_frames * PER_FRAME
    assert stats.duplicate_frames == dups
    # and lands near its true host time (sensor + offset; BLE latency <= 0.1 s, a
    # repaired step decays at 2 %)
    sensor_first = SENSOR0_S + OFFSET_S
    assert t[0] >= sensor_first - 0.5
    assert t[-1] <= SENSOR0_S + OFFSET_S + len(FRAMES) * FRAME_S + 6.0


def run_items(items: list[object]) -> tuple[np.ndarray, list[GapRecord], BleSession]:
    session = BleSession(SessionConfig(address="AA:BB:CC:DD:EE:01", side="left", clock=FAST_CLOCK))
    emitter = _Emitter(session)
    out = []
    for item in items:
        emitter.handle(item)  # type: ignore[arg-type]
        out += emitter.take()
    emitter.flush(final=True)
    out += emitter.take()
    t = np.concatenate([e.t_host_s for e in out if isinstance(e, SampleBatch)])
    return t, [e for e in out if isinstance(e, GapRecord)], session


def rx(k: int, late_s: float = 0.0) -> _Rx:
    arrive = SENSOR0_S + OFFSET_S + (k + 1) * FRAME_S + 0.01 + late_s
    return _Rx(round(arrive * 1e9), FRAMES[k][1])


def test_a_frame_passed_on_early_is_not_a_clock_reset() -> None:
    """Frames 41-59 are held up (a retransmission backlog) while 60-64 arrive on time, so
    60 goes on; then the backlog arrives, up to 3.8 s behind it, and frame 60 again: the
    backlog is late (a gap), the sensor clock did not restart, so the mapping is kept, the
    duplicate dropped, and no gap is called a clock reset."""
    items: list[object] = [rx(k) for k in [*range(41), *range(60, 65)]]
    held_up = 0.05 + 64 * FRAME_S
    items += [rx(k, late_s=held_up - k * FRAME_S) for k in range(41, 61)]
    items += [rx(k) for k in range(65, 200)]
    t, gaps, session = run_items(items)
    assert np.all(np.diff(t) > 0)
    assert [g.reason for g in gaps if g.reason == "clock_reset"] == []
    assert session.mapper.anchors == 1
    assert session.stats.duplicate_frames == 1
    assert session.stats.late_frames == 19
    assert t.size == (200 - 19) * PER_FRAME


def test_after_a_link_loss_a_frame_far_behind_is_a_clock_reset() -> None:
    """The same far-behind frame after the link went down is a restarted sensor clock
    (power loss): passed on in arrival order, re-anchored, recorded as a clock reset."""
    restarted = frames_from(SENSOR0_S - 3600.0, 100)
    items: list[object] = [rx(k) for k in range(150)]
    items.append(_LinkDown("disconnect", 0.0))
    base = SENSOR0_S + OFFSET_S + 160 * FRAME_S
    items += [
        _Rx(round((base + k * FRAME_S) * 1e9), payload) for k, payload in enumerate(restarted)
    ]
    t, gaps, session = run_items(items)
    assert np.all(np.diff(t) > 0)
    assert [g.reason for g in gaps] == ["disconnect"]
    assert session.mapper.anchors == 2
    assert session.stats.late_frames == 0
    assert t.size == 250 * PER_FRAME


def test_host_stall_with_paused_event_loop_is_not_a_clock_reset() -> None:
    """The emulated sensor streams through the real session on a real event loop (10x
    simulated time); four times the whole process stops for 0.4 s real (4 s simulated, as
    SIGSTOP or a suspended laptop): the backlog arrives in a burst.  Every sample arrives
    once, in strictly increasing time, no gap is called a clock reset, and each stall is
    recognised as the host's."""
    speed = 10.0
    duration_s = 300.0
    rate = 50
    t = np.arange(0.0, duration_s, 1.0 / rate) + 1_795_000_000.0
    acc = np.zeros((t.size, 3)) + np.array([0.0, 0.0, 1.0])

    async def main() -> tuple[list[SampleBatch], list[GapRecord], BleSession, float]:
        clock = SimClock(origin_s=float(t[0]) - 1.0, speed=speed)
        sensor = EmulatedPmdSensor(
            t, acc, EmulatedSensorConfig(sample_rate_hz=rate, seed=3), clock=clock
        )
        await sensor.start()
        session = BleSession(
            SessionConfig(
                address=sensor.address,
                side="left",
                stall_timeout_s=1.0,  # loop seconds: 10 s simulated
                watchdog_interval_s=0.05,
                host_stall_s=0.2,
                clock=FAST_CLOCK,
            ),
            client_backend=BumbleClientBackend,
            scanner_backend=BumbleScannerBackend,
            host_clock=clock,
        )
        loop = asyncio.get_running_loop()
        for k in range(4):  # pause the whole loop, as SIGSTOP does
            loop.call_later(4.0 + 6.0 * k, time.sleep, 0.4)
        batches: list[SampleBatch] = []
        gaps: list[GapRecord] = []

        async def stopper() -> None:
            await sensor.finished.wait()
            await clock.sleep(2.0)
            await session.stop()

        task = asyncio.ensure_future(stopper())
        async for ev in session:
            if isinstance(ev, SampleBatch):
                batches.append(ev)
            elif isinstance(ev, GapRecord):
                gaps.append(ev)
        await task
        await sensor.stop()
        sent = sensor.log.sent_indices().size
        return batches, gaps, session, float(sent)

    batches, gaps, session, sent = asyncio.run(main())
    t_host = np.concatenate([b.t_host_s for b in batches])
    assert np.all(np.diff(t_host) > 0)
    assert [g.reason for g in gaps if g.reason == "clock_reset"] == []
    assert session.stats.host_stalls == 4
    assert session.stats.link_losses.total() == 0  # no false sensor stall, no reconnect
    # delivered once: every sample sent after the mapping settled (held back, not lost)
    assert t_host.size == sent
    # mapped onto the host clock within BLE latency (sensor clock = true time here)
    err = t_host - t[-t_host.size :]
    assert np.median(np.abs(err)) < 0.1
