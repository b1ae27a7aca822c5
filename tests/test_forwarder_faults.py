"""Bad servers: the forwarder against a misbehaving proxy in front of the real influxd.
Each test asserts the points that arrive exactly once and that nothing is quarantined or
lost: back-off never overflows and has a floor, Retry-After: 0 is no busy loop, 413 halves
the batch and is remembered, a trickling or huge answer is cut off by the request deadline
and the size cap, and a dead forwarder is shown and restarted."""

from __future__ import annotations

import itertools
import resource
import threading
import time
from pathlib import Path

import pytest

from detector.errors import InfluxUnavailableError
from detector.events import JerkEvent
from storage import Storage
from storage.config import InfluxConfig, StorageOptions
from storage.forwarder import Forwarder
from storage.influx import HttpClient
from storage.influxd import LocalInfluxd
from tests.influx_server import FaultProxy, count_points, influx_query


def _t0() -> float:
    return float(int(time.time()) // 60 * 60 - 3600)


def _events(t0: float, n: int) -> list[JerkEvent]:
    return [JerkEvent(t0 + i * 0.25, 0.1, 40.0, 0.8, "myoclonic", None, 0.7) for i in range(n)]


def _wait(cond: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_backoff_is_capped_has_a_floor_and_never_overflows(tmp_path: Path) -> None:
    opts = StorageOptions(retry_initial_s=0.5, retry_max_s=30.0)
    with Storage(tmp_path, InfluxConfig(url="http://127.0.0.1:9", db="x"), opts) as st:
        fwd = st.forwarders["events"]
        for attempt in (0, 1, 10, 1023, 1024, 10**6, 10**12):
            d = fwd._backoff_s(attempt, None)
            assert 0.5 <= d <= 30.0 * 1.2
        assert fwd._backoff_s(0, 0.0) >= 0.5  # Retry-After: 0 is not "now"
        assert fwd._backoff_s(0, 1e9) == 600.0  # a silly Retry-After is capped
        assert fwd._backoff_s(3, float("nan")) >= 0.5


def test_1500_retries_then_delivered_once_and_retry_after_0_is_not_a_busy_loop(
    running_influxd: LocalInfluxd, db_name: str, tmp_path: Path
) -> None:
    """The old forwarder died after 1024 retries (2.0**attempt overflowed) and honoured
    Retry-After: 0 with no delay (~300 requests/s)."""
    influx_query(running_influxd.url, f'CREATE DATABASE "{db_name}"')  # first setup
    with FaultProxy(running_influxd.url) as proxy:
        proxy.mode, proxy.count, proxy.retry_after = "unavailable", 1500, "0"
        opts = StorageOptions(retry_initial_s=0.002, retry_max_s=0.004, events_linger_s=0)
        cfg = InfluxConfig(url=proxy.url, db=db_name, timeout_s=5.0)
        with Storage(tmp_path, cfg, opts) as st:
            st.add_events("s1", "w", "left", _events(_t0(), 200))
            assert st.flush(60.0)
            stats = st.forwarders["events"].stats()
            assert stats.retries >= 1500 and stats.alive
        statuses = [s for _, _, s in proxy.writes]
        assert statuses.count(503) == 1500
        assert count_points(running_influxd.url, db_name, "jerk_event", "peak_acc_g") == 200
        # floor: Retry-After: 0 waits retry_initial_s at least
        proxy.writes.clear()
        proxy.mode, proxy.count = "unavailable", 10
        opts = StorageOptions(retry_initial_s=0.2, retry_max_s=0.2, events_linger_s=0)
        with Storage(tmp_path / "b", cfg, opts) as st:
            st.add_events("s1", "w", "left", _events(_t0() + 100, 5))
            assert st.flush(30.0)
        times = [t for t, _, _ in proxy.writes]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len(gaps) == 10 and min(gaps) >= 0.19  # <= 5 requests/s, not 300


def test_413_halves_the_batch_and_remembers_the_limit(
    running_influxd: LocalInfluxd, db_name: str, tmp_path: Path
) -> None:
    influx_query(running_influxd.url, f'CREATE DATABASE "{db_name}"')  # first setup
    with FaultProxy(running_influxd.url) as proxy:
        proxy.mode, proxy.limit_bytes = "limit", 16_000
        opts = StorageOptions(events_linger_s=0.5, batch_max_bytes=4 << 20)
        cfg = InfluxConfig(url=proxy.url, db=db_name, timeout_s=5.0)
        n = 3000
        with Storage(tmp_path, cfg, opts) as st:
            st.add_events("s1", "w", "left", _events(_t0(), n))
            assert st.flush(60.0)
            first_413s = sum(s == 413 for _, _, s in proxy.writes)
            st.add_events("s1", "w", "left", _events(_t0() + 3000, n))
            assert st.flush(60.0)
            fwd = st.forwarders["events"].stats()
            assert fwd.quarantined_lines == 0 and st.quarantine.totals() == (0, 0)
            assert fwd.max_batch_bytes <= 16_000
        total_413 = sum(s == 413 for _, _, s in proxy.writes)
        assert 1 <= first_413s <= 12
        assert total_413 - first_413s <= 1  # the limit was remembered
        got = count_points(running_influxd.url, db_name, "jerk_event", "peak_acc_g")
        assert got == 2 * n  # every event exactly once, none quarantined


def test_trickling_and_huge_answers_are_cut_off(running_influxd: LocalInfluxd) -> None:
    with FaultProxy(running_influxd.url) as proxy:
        proxy.mode = "trickle"
        client = HttpClient(proxy.url, timeout_s=1.0, deadline_s=2.0)
        t = time.monotonic()
        with pytest.raises(InfluxUnavailableError, match="deadline"):
            client.request("POST", "/write?db=x", b"m v=1 1\n")
        assert time.monotonic() - t < 3.5  # 100 bytes at 2/s would take 50 s
        proxy.mode = "huge"
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with pytest.raises(InfluxUnavailableError, match="not read"):
            client.request("POST", "/write?db=x", b"m v=1 1\n")
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        assert grown_mb < 50
        client.close()


def test_a_stuck_server_does_not_block_shutdown(
    running_influxd: LocalInfluxd, db_name: str, tmp_path: Path
) -> None:
    influx_query(running_influxd.url, f'CREATE DATABASE "{db_name}"')  # first setup
    with FaultProxy(running_influxd.url) as proxy:
        proxy.mode = "trickle"
        cfg = InfluxConfig(url=proxy.url, db=db_name, timeout_s=1.0)
        st = Storage(tmp_path, cfg, StorageOptions(events_linger_s=0))
        st.add_events("s1", "w", "left", _events(_t0(), 3))
        assert _wait(lambda: proxy.writes or st.forwarders["events"].stats().busy_s > 0, 10)
        t = time.monotonic()
        st.close(timeout_s=10.0)
        assert time.monotonic() - t < 5.0
    # and the spool still holds the 3 events for the next run
    with Storage(tmp_path, None) as again:
        assert again.status().backlog_lines == 3


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_forwarder_is_shown_and_restarted(
    running_influxd: LocalInfluxd,
    db_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    influx_query(running_influxd.url, f'CREATE DATABASE "{db_name}"')  # first setup
    cfg = InfluxConfig(url=running_influxd.url, db=db_name, timeout_s=5.0)
    with Storage(tmp_path, cfg, StorageOptions(events_linger_s=0)) as st:
        fwd = st.forwarders["events"]
        spool = fwd.spool
        real = spool.read_batch
        crashed = threading.Event()

        def broken(max_lines: int, max_bytes: int) -> object:
            if not crashed.is_set():
                crashed.set()
                raise RuntimeError("a bug")
            return real(max_lines, max_bytes)

        restart = Forwarder.restart_if_dead
        monkeypatch.setattr(spool, "read_batch", broken)
        monkeypatch.setattr(fwd, "restart_if_dead", lambda: False)  # hold the supervisor
        st.add_events("s1", "w", "left", _events(_t0(), 50))
        assert _wait(lambda: fwd.dead, 30)  # (a loaded machine: InfluxDB may answer slowly)
        assert st.status().influx_state == "forwarder dead (restarting)"
        monkeypatch.setattr(fwd, "restart_if_dead", lambda: restart(fwd))
        assert st.flush(30.0)
        assert fwd.stats().restarts == 1 and fwd.stats().alive
    n = count_points(running_influxd.url, db_name, "jerk_event", "peak_acc_g")
    assert n == 50
    influx_query(running_influxd.url, f'DROP DATABASE "{db_name}"')
