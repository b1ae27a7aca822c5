"""JerkDetectorBank: many streams give, packet by packet, the events of per-stream
JerkDetectors fed the same packets (simulated nights, random packet sizes, gaps, 50 and
100 Hz), and a bad packet fails only its own stream."""

from __future__ import annotations

import numpy as np
import pytest

from detector import JerkDetector, JerkEvent
from detector.bank import BankInputError, JerkDetectorBank
from sim import NightConfig, simulate_night

Night = tuple[np.ndarray, np.ndarray]


def _night(seed: int, rate: float, **kw: float) -> Night:
    rec = simulate_night(NightConfig(hours=0.4, rate_hz=rate, seed=seed, **kw)).sensors[0]
    return np.ascontiguousarray(rec.t), np.ascontiguousarray(rec.acc)


@pytest.fixture(scope="module")
def nights100() -> list[Night]:
    # Quiet stretches, sporadic jerks, a dense night; the simulator drops BLE packets (gaps).
    return [
        _night(3, 100.0),
        _night(600, 100.0, jerk_rate_per_h=600.0),
        _night(60, 100.0, jerk_rate_per_h=60.0),
        _night(8, 100.0, jerk_rate_per_h=300.0),
    ]


def _cuts(n: int, rng: np.random.Generator, hi: int) -> list[int]:
    sizes = rng.integers(1, hi, n // 2 + 2)
    ends = np.cumsum(sizes)
    return [0, *ends[ends < n].tolist(), n]


def _compare_each(nights: list[Night], rate: float, seed: int, **bank_kw: float) -> int:
    """Feed per-stream detectors and a bank the same random packets; every round's events
    must be the same; returns how many events there were."""
    rng = np.random.default_rng(seed)
    cuts = [_cuts(t.size, rng, int(rng.choice([30, 120, 400]))) for t, _ in nights]
    dets = [JerkDetector(rate) for _ in nights]
    bank = JerkDetectorBank(rate, len(nights), **bank_kw)
    total = 0
    for r in range(max(len(c) for c in cuts) - 1):
        packets: list[tuple[np.ndarray, np.ndarray] | None] = []
        want: dict[int, list[JerkEvent]] = {}
        for i, ((t, acc), c) in enumerate(zip(nights, cuts, strict=True)):
            if r + 1 >= len(c):
                packets.append(None)
                continue
            a, b = c[r], c[r + 1]
            packets.append((t[a:b].copy(), acc[a:b].copy()))
            ev = dets[i].process(t[a:b], acc[a:b])
            if ev:
                want[i] = ev
        assert bank.process_each(packets) == want, f"round {r}"
        total += sum(len(v) for v in want.values())
    tails = {i: ev for i, d in enumerate(dets) if (ev := d.flush())}
    assert bank.flush() == tails
    return total + sum(len(v) for v in tails.values())


def test_random_packets_same_events_at_the_same_packet(nights100: list[Night]) -> None:
    assert _compare_each(nights100, 100.0, seed=1) > 20


def test_interpolated_streams_and_a_small_stage() -> None:
    nights = [_night(5, 50.0, jerk_rate_per_h=300.0), _night(9, 50.0)]
    assert _compare_each(nights, 50.0, seed=2, max_stage_s=1.0) > 5


def test_aligned_packets(nights100: list[Night]) -> None:
    """The (streams, n) form, 0.25 s packets on each night's samples (times differ)."""
    step = 25
    n = min(t.size for t, _ in nights100) // step * step
    t_all = np.stack([t[:n] for t, _ in nights100])
    acc_all = np.stack([acc[:n] for _, acc in nights100])
    dets = [JerkDetector(100.0) for _ in nights100]
    bank = JerkDetectorBank(100.0, len(nights100))
    got = want = 0
    for a in range(0, n, step):
        exp = {}
        for i, d in enumerate(dets):
            if ev := d.process(t_all[i, a : a + step], acc_all[i, a : a + step]):
                exp[i] = ev
        assert bank.process(t_all[:, a : a + step], acc_all[:, a : a + step]) == exp
        got += sum(len(v) for v in exp.values())
    assert got > 10
    tails = {i: ev for i, d in enumerate(dets) if (ev := d.flush())}
    assert bank.flush() == tails
    want = sum(len(d.sleep_periods()) for d in dets)
    assert want == sum(len(bank.detector(i).sleep_periods()) for i in range(len(dets)))


def test_a_bad_packet_fails_its_own_stream_only(nights100: list[Night]) -> None:
    (t0, a0), (t1, a1) = nights100[0], nights100[1]
    bank = JerkDetectorBank(100.0, 2)
    bank.process_each([(t0[:100], a0[:100]), (t1[:100], a1[:100])])
    bank.process_each([(t0[100:125], a0[100:125]), (t1[100:125], a1[100:125])])
    with pytest.raises(BankInputError) as err:
        # Stream 1 goes back in time; stream 0 is processed.
        bank.process_each([(t0[125:150], a0[125:150]), (t1[50:75], a1[50:75])])
    assert err.value.stream == 1 and err.value.events == {}
    assert "does not increase" in str(err.value)
    assert bank.detector(0).samples_seen == 150
    assert bank.detector(1).samples_seen == 125  # the held-back packet was fed, not lost
    bank.process_each([None, (t1[125:150], a1[125:150])])
    assert bank.detector(1).samples_seen == 150
