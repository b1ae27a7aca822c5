"""The BLE link of the randomised model: host arrival times of packets, and packet loss."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from sim.config import NightConfig
from sim.geometry import FloatArray

IntArray = npt.NDArray[np.int64]


def packet_arrivals(rng: np.random.Generator, cfg: NightConfig, n: int) -> FloatArray:
    """Host arrival time (s) of every packet of ``cfg.packet_samples`` slots.

    A packet leaves once its last sample is taken (plus 1-4 ms of processing), waits for the
    next connection event (grid of ``ble_interval_ms`` with a random phase), 3 % wait for
    retransmissions (1+ more intervals), and the host adds |N(0, ble_jitter_ms)|.  Arrivals
    are then made late enough that time stamps dated back at the stated rate strictly
    increase (a quarter sample period at least between packets), as host loggers enforce.
    """
    size = int(cfg.packet_samples)
    n_pk = -(-n // size)
    interval = float(cfg.ble_interval_ms) / 1000.0
    k = np.arange(n_pk)
    ready = (k * size + size - 1) / cfg.sample_rate_hz + float(rng.uniform(0.001, 0.004))
    phase = float(rng.uniform(0.0, interval))
    event = phase + np.ceil((ready - phase) / interval) * interval
    retry = rng.random(n_pk) < 0.03
    event = event + interval * rng.geometric(0.5, size=n_pk) * retry
    arrival = event + np.abs(rng.normal(0.0, float(cfg.ble_jitter_ms) / 1000.0, size=n_pk))
    step = (size - 0.75) / float(cfg.rate_hz)
    arrival = np.maximum.accumulate(arrival - k * step) + k * step
    return np.asarray(arrival, dtype=np.float64)


def packet_loss(rng: np.random.Generator, cfg: NightConfig, n: int) -> IntArray:
    """Slot ranges [start, end) (g, 2) of lost packets: a two-state (Gilbert-Elliott) burst
    process losing ``packet_loss_pct`` % of packets in bursts of 1-4 on average, plus
    disconnections (0.3 per hour, 5-120 s)."""
    size = int(cfg.packet_samples)
    n_pk = -(-n // size)
    share = float(cfg.packet_loss_pct) / 100.0
    p_exit = 1.0 / float(rng.uniform(1.0, 4.0))
    p_enter = min(share * p_exit / (1.0 - share), 1.0)
    lost: list[tuple[int, int]] = []
    pos = int(rng.geometric(p_enter))
    while pos < n_pk:
        length = int(rng.geometric(p_exit))
        lost.append((pos, min(pos + length, n_pk)))
        pos += length + int(rng.geometric(p_enter))
    for _ in range(int(rng.poisson(0.3 * cfg.hours))):
        length_s = float(np.exp(rng.uniform(math.log(5.0), math.log(120.0))))
        a = int(rng.integers(0, n_pk))
        lost.append((a, min(a + math.ceil(length_s * cfg.sample_rate_hz / size), n_pk)))
    rows = [(a * size, min(b * size, n)) for a, b in sorted(lost)]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)
