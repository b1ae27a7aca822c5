"""Spool + forwarder against a real InfluxDB 1.x: exactly-once, quarantine, auth, API pick."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from detector.events import JerkEvent, MinuteCount
from jerkmon import cli
from jerkmon.cli import main
from storage import InfluxConfig, Point, SensorStatus, Storage, StorageOptions
from storage.influx import HttpClient, InfluxLink, probe_v2_write
from storage.influxd import LocalInfluxd
from storage.schema import COUNTED
from tests.influx_server import count_points, influx_query, rows

FAST = StorageOptions(
    batch_max_lines=400,
    retry_initial_s=0.05,
    retry_max_s=0.4,
    events_linger_s=0.0,
    raw_linger_s=0.05,
)


def _now_minute() -> float:
    return float(int(time.time()) // 60 * 60 - 3600)


def _events(t0: float, n: int, offset: int = 0) -> list[JerkEvent]:
    return [
        JerkEvent(t0 + (offset + i) * 0.5, 0.1, 40.0 + i % 7, 0.8, "myoclonic", i % 5 or None, 0.7)
        for i in range(n)
    ]


def test_exactly_once_across_influxd_sigkill(
    running_influxd: LocalInfluxd, db_name: str, tmp_path: Path
) -> None:
    server = running_influxd
    cfg = InfluxConfig(url=server.url, db=db_name, timeout_s=2.0, create=True)
    t0 = _now_minute()
    n_events, n_counts, n_imu = 0, 0, 0
    storage = Storage(tmp_path / "data", cfg, FAST)
    rng = np.random.default_rng(1)
    for chunk in range(12):
        if chunk == 3:  # a raw backlog, so the kill lands while batches are in flight
            t = t0 + 200 + np.arange(30_000) / 100
            n_imu += storage.add_imu("s1", "wrist-l", "left", t, rng.normal(0, 0.1, (30_000, 3)))
        if chunk == 4:
            server.kill()  # the server dies mid-stream...
        if chunk == 7:
            # ...and the collector restarts while it is down: the spool carries over.
            storage.close()
            storage = Storage(tmp_path / "data", cfg, FAST)
        if chunk == 9:
            server.start()
        events = _events(t0, 250, offset=chunk * 250)
        n_events += storage.add_events(
            "s1", "wrist-l", "left", events, [i % 2 == 0 for i in range(250)]
        )
        counts = [MinuteCount(t0 + 60 * (chunk * 10 + k), 3, 1, 2, 60.0) for k in range(10)]
        n_counts += storage.add_counts("s1", "wrist-l", "left", counts)
        t = t0 + (chunk * 1000 + np.arange(1000)) / 100
        n_imu += storage.add_imu("s1", "wrist-l", "left", t, rng.normal(0, 0.1, (1000, 3)))
        time.sleep(0.1)
    assert storage.flush(timeout_s=30.0), storage.status().summary()
    status = storage.status()
    assert status.influx_state == "ok" and status.quarantined_lines == 0
    assert status.backlog_lines == 0
    assert sum(s.forwarder.retries for s in status.streams.values() if s.forwarder) > 0
    storage.close()
    assert count_points(server.url, db_name, "jerk_event", "peak_acc_g") == n_events == 3000
    assert count_points(server.url, db_name, "jerk_count", "count") == n_counts == 120
    assert count_points(server.url, db_name, "imu", "ax", rp="raw") == n_imu == 42_000
    doc = influx_query(server.url, "SELECT sum(count) FROM jerk_count", db_name)
    assert rows(doc)[0]["sum"] == 360  # no minute counted twice


def test_field_type_conflict_is_quarantined_then_retried(
    running_influxd: LocalInfluxd, db_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = running_influxd.url
    cfg = InfluxConfig(url=url, db=db_name, create=True)
    t0 = _now_minute()
    storage = Storage(tmp_path / "data", cfg, FAST)
    storage.add_points([Point("note", {"subject": "s1"}, {"v": 1}, int(t0 * 1e9))])
    assert storage.flush(10.0)
    # One batch: 300 good events around one line whose field type conflicts.
    storage.spools["events"].append_lines(
        [
            *(
                Point(
                    "jerk_event", {"subject": "s1"}, {"peak_acc_g": float(i)}, int((t0 + i) * 1e9)
                ).to_line()
                for i in range(150)
            ),
            Point("note", {"subject": "s1"}, {"v": "text"}, int((t0 + 1) * 1e9)).to_line(),
            *(
                Point(
                    "jerk_event", {"subject": "s1"}, {"peak_acc_g": float(i)}, int((t0 + i) * 1e9)
                ).to_line()
                for i in range(150, 300)
            ),
        ]
    )
    assert storage.flush(10.0)
    storage.add_events("s1", "w", "left", _events(t0, 20))  # later batches still flow
    assert storage.flush(10.0)
    status = storage.status()
    assert status.quarantined_lines == 1 and status.quarantined_batches == 1
    assert "field type conflict" in (status.last_error or "")
    (entry,) = storage.quarantine.entries()
    assert entry.statuses == (400,) and "field type conflict" in entry.messages[0]
    assert entry.path.read_bytes().startswith(b'note,subject=s1 v="text"')
    assert "quarantined" in caplog.text and "field type conflict" in caplog.text
    assert count_points(url, db_name, "jerk_event", "peak_acc_g") == 300 + 20
    # The user fixes the cause (drops the old measurement), then re-sends the quarantine.
    influx_query(url, "DROP MEASUREMENT note", db_name)
    report = storage.retry_quarantine()
    assert (report.resent_lines, report.still_refused_lines) == (1, 0)
    assert storage.quarantine.entries() == []
    assert rows(influx_query(url, "SELECT v FROM note", db_name))[0]["v"] == "text"
    storage.close()


def test_wrong_password_is_quarantined_with_clear_error(
    influxd_auth: LocalInfluxd, db_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = influxd_auth
    influx_query(
        server.url,
        f'CREATE DATABASE "{db_name}"',
        user=server.admin_user,
        password=server.admin_password,
    )
    bad = InfluxConfig(
        url=server.url, db=db_name, user="admin", password="wrong-pass-123", create=True
    )
    assert "wrong-pass-123" not in repr(bad)
    storage = Storage(tmp_path / "data", bad, FAST)
    storage.add_events("s1", "w", "left", _events(_now_minute(), 10))
    assert storage.flush(10.0)  # nothing left in the spool: it went to quarantine
    status = storage.status()
    assert status.quarantined_lines == 10
    assert "401" in (status.last_error or "") and "authorization failed" in (
        status.last_error or ""
    )
    assert "wrong-pass-123" not in caplog.text
    storage.close()
    good = InfluxConfig(
        url=server.url,
        db=db_name,
        user=server.admin_user,
        password=server.admin_password,
        create=True,
    )
    storage = Storage(tmp_path / "data", good, FAST)
    assert storage.retry_quarantine().resent_lines == 10
    storage.close()
    doc = influx_query(
        server.url,
        "SELECT count(peak_acc_g) FROM jerk_event",
        db_name,
        user=server.admin_user,
        password=server.admin_password,
    )
    assert rows(doc)[0]["count"] == 10


def test_missing_database_is_created_only_when_asked_or_quarantined(
    running_influxd: LocalInfluxd, db_name: str, tmp_path: Path
) -> None:
    url = running_influxd.url
    # create=False: 404 database not found is quarantined with the server's words.
    storage = Storage(tmp_path / "a", InfluxConfig(url=url, db=db_name, create=False), FAST)
    storage.add_status("s1", "w", "left", SensorStatus(_now_minute(), "connected", battery_pct=80))
    assert storage.flush(10.0)
    (entry,) = storage.quarantine.entries()
    assert entry.statuses == (404,) and "database not found" in entry.messages[0]
    storage.close()
    # create=True: the database and the raw RP are created; dropped mid-run, re-created.
    storage = Storage(tmp_path / "b", InfluxConfig(url=url, db=db_name, create=True), FAST)
    storage.add_status("s1", "w", "left", SensorStatus(_now_minute(), "connected"))
    assert storage.flush(10.0)
    rps = rows(influx_query(url, f'SHOW RETENTION POLICIES ON "{db_name}"'))
    assert {"name": "raw", "duration": "168h0m0s"}.items() <= next(
        r for r in rps if r["name"] == "raw"
    ).items()
    influx_query(url, f'DROP DATABASE "{db_name}"')
    storage.add_status("s1", "w", "left", SensorStatus(_now_minute() + 1, "gap", gap_s=1.5))
    assert storage.flush(10.0)
    assert storage.status().quarantined_lines == 0
    assert count_points(url, db_name, "sensor_status", "connected") == 1
    storage.close()


def test_api_pick_on_a_1x_server(
    running_influxd: LocalInfluxd, db_name: str, tmp_path: Path
) -> None:
    url = running_influxd.url
    # v2-style settings against 1.x: /api/v2/write does not exist there (404 page not found),
    # so auto picks the v1 API with the bucket as database.
    cfg = InfluxConfig(url=url, org="home", bucket=db_name, token="tok-abc", create=True)
    client = HttpClient(url, 5.0)
    assert probe_v2_write(client, cfg) is False
    client.close()
    link = InfluxLink(cfg)
    server, api = link.connect()
    assert server.major == 1 and api == "v1"
    storage = Storage(tmp_path / "a", cfg, FAST)
    storage.add_events("s1", "w", "left", _events(_now_minute(), 5))
    assert storage.flush(10.0)
    assert storage.status().influx_api == "v1"
    storage.close()
    assert count_points(url, db_name, "jerk_event", "peak_acc_g") == 5
    # Forcing v2 against 1.x: the 404 is quarantined with an explanation, not retried.
    forced = InfluxConfig(
        url=url, org="home", bucket=db_name, token="tok-abc", api="v2", create=True
    )
    storage = Storage(tmp_path / "b", forced, FAST)
    storage.add_events("s1", "w", "left", _events(_now_minute(), 5))
    assert storage.flush(10.0)
    (entry,) = storage.quarantine.entries()
    assert entry.statuses == (404,) and "no /api/v2/write" in entry.messages[0]
    storage.close()


def test_flush_command(
    running_influxd: LocalInfluxd,
    db_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = running_influxd.url
    # Only this command: the CLI's other subcommands belong to other modules.
    monkeypatch.setattr(
        cli, "_COMMAND_MODULES", ("jerkmon.commands.flush", "jerkmon.commands.init")
    )
    for var in ("URL", "DB", "TOKEN", "ORG", "BUCKET", "USER", "PASSWORD", "API", "RP"):
        monkeypatch.delenv(f"JERKMON_INFLUX_{var}", raising=False)
    data = tmp_path / "data"
    t0 = _now_minute()
    with Storage(data) as offline:  # no server configured: spool + local store only
        offline.add_events("s1", "w", "left", _events(t0, 40))
        offline.add_points([Point("note", {}, {"v": 1}, int(t0 * 1e9))])
        offline.add_points([Point("note", {}, {"v": "x"}, int((t0 + 1) * 1e9))])
        offline.add_imu("s1", "w", "left", t0 + np.arange(500) / 100, np.zeros((500, 3)))
        assert offline.status().influx_state == "not_configured"
    # A missing database is a clear error, never created: everything stays in the spool.
    assert main(["flush", "--data-dir", str(data), "--url", url, "--db", db_name]) == 2
    err = capsys.readouterr().err
    assert f"has no database '{db_name}'" in err and "jerkmon init" in err
    assert err.count("\n") == 1
    series = influx_query(url, "SHOW DATABASES")["results"][0].get("series", [])
    assert [db_name] not in [v for x in series for v in x.get("values", [])]
    with Storage(data, start_forwarder=False) as again:
        assert again.status().streams["events"].backlog_lines == 43
        assert not again.quarantine.entries()
    assert main(["init", "--url", url, "--db", db_name]) == 0
    assert "ready" in capsys.readouterr().out
    assert main(["flush", "--data-dir", str(data), "--url", url, "--db", db_name]) == 1
    out = capsys.readouterr().out
    # 40 events, the first note and the activity epoch of the 5 s of raw samples
    assert "events: sent 42 lines" in out and "quarantined 1" in out
    assert "raw: sent 500 lines" in out
    assert "field type conflict" in out and "--retry-quarantine" in out
    assert count_points(url, db_name, "jerk_event", "peak_acc_g") == 40
    assert count_points(url, db_name, "imu", "ax", rp="raw") == 500
    influx_query(url, "DROP MEASUREMENT note", db_name)
    argv = ["flush", "--data-dir", str(data), "--url", url, "--db", db_name, "--retry-quarantine"]
    assert main(argv) == 0
    assert "re-sent 1 lines" in capsys.readouterr().out
    # Nothing configured at all: a clear error, exit status 2.
    assert main(["flush", "--data-dir", str(data)]) == 2
    assert "no InfluxDB configured" in capsys.readouterr().err


def test_events_are_not_stuck_behind_raw(
    running_influxd: LocalInfluxd, db_name: str, tmp_path: Path
) -> None:
    url = running_influxd.url
    storage = Storage(
        tmp_path / "d", InfluxConfig(url=url, db=db_name, create=True), FAST, start_forwarder=False
    )
    t0 = _now_minute()
    storage.add_imu("s1", "w", "left", t0 + np.arange(50_000) / 100, np.zeros((50_000, 3)))
    storage.add_events("s1", "w", "left", _events(t0, 3))
    storage.forwarders["events"].start()  # only the events forwarder runs
    deadline = time.monotonic() + 10
    while storage.spools["events"].pending_lines and time.monotonic() < deadline:
        time.sleep(0.02)
    assert storage.spools["events"].pending_lines == 0
    assert storage.spools["raw"].pending_lines == 50_000
    storage.close()
    assert count_points(url, db_name, "jerk_event", "peak_acc_g") == 3


def test_disk_cap_warns_and_deletes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    opts = StorageOptions(disk_cap_bytes=1024 * 1024, activity_epoch_s=0)
    with Storage(tmp_path / "d", None, opts) as storage:
        t = 1.7e9 + np.arange(20_000) / 100
        storage.add_imu("s1", "w", "left", t, np.zeros((20_000, 3)))
        assert storage.check_disk_cap()
        status = storage.status()
        assert status.over_disk_cap and status.streams["raw"].backlog_lines == 20_000
    assert "over the 0.00 GiB cap" in caplog.text or "cap" in caplog.text


def test_concurrent_writers_are_safe(
    running_influxd: LocalInfluxd, db_name: str, tmp_path: Path
) -> None:
    storage = Storage(
        tmp_path / "d", InfluxConfig(url=running_influxd.url, db=db_name, create=True), FAST
    )
    t0 = _now_minute()

    def writer(k: int) -> None:
        for j in range(20):
            storage.add_events(f"s{k}", "w", "left", _events(t0, 10, offset=j * 10))
            storage.add_imu(
                f"s{k}", "w", "left", t0 + (j * 100 + np.arange(100)) / 100, np.ones((100, 3))
            )

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert storage.flush(20.0)
    storage.close()
    assert count_points(running_influxd.url, db_name, "jerk_event", "peak_acc_g") == 800
    assert count_points(running_influxd.url, db_name, "imu", "ax", rp="raw") == 8000


def test_settled_point_replaces_provisional_one(
    running_influxd: LocalInfluxd, db_name: str, tmp_path: Path
) -> None:
    """A live jerk is written provisional, then settled with another kind, series and
    bilateral flag: InfluxDB, the report reader and the local store hold it once; a
    withdrawn candidate is left out by the readers and by queries filtering with COUNTED."""
    from storage.influxread import InfluxReader

    cfg = InfluxConfig(url=running_influxd.url, db=db_name, create=True)
    t0 = _now_minute()
    first = JerkEvent(t0 + 1.25, 0.1, 40.0, 0.9, "myoclonic", None, 0.7)
    second = JerkEvent(t0 + 7.5, 0.1, 30.0, 0.6, "myoclonic", None, 0.6, state="unknown")
    third = JerkEvent(t0 + 20.0, 0.1, 30.0, 0.6, "myoclonic", None, 0.6)
    with Storage(tmp_path / "data", cfg, FAST) as storage:
        # the first settles in a later batch than its provisional point ...
        assert storage.add_provisional("s1", "w", "left", [first, second, third]) == 3
        assert storage.flush(10.0)
        live = rows(influx_query(cfg.url, "SELECT * FROM jerk_event", db_name))
        assert [r["provisional"] for r in live] == [True, True, True]
        settled = [
            JerkEvent(first.onset, 0.1, 40.0, 0.9, "hypnic", None, 0.7, state="asleep"),
            JerkEvent(second.onset, 0.1, 30.0, 0.6, "myoclonic", 4, 0.6, state="awake"),
        ]
        storage.add_events("s1", "w", "left", settled, [True, False])
        assert storage.flush(10.0)
        # ... the third in the same batch as its provisional point (the live run's flush).
        fourth = JerkEvent(t0 + 30.0, 0.1, 30.0, 0.6, "myoclonic", None, 0.6)
        storage.add_provisional("s1", "w", "left", [fourth])
        storage.add_events("s1", "w", "left", [replace(fourth, kind="hypnic")], [False])
        assert storage.flush(10.0)
        # ... and a live candidate that the final verdict rejected.
        fifth = JerkEvent(t0 + 40.0, 0.1, 30.0, 0.6, "myoclonic", None, 0.6)
        storage.add_provisional("s1", "w", "left", [fifth])
        assert storage.add_withdrawn("s1", "w", "left", [fifth]) == 1
        assert storage.flush(10.0)
        local = storage.store.events("s1", t0, t0 + 60)
    every = rows(influx_query(cfg.url, "SELECT * FROM jerk_event ORDER BY time", db_name))
    assert [(r["kind"], r["provisional"]) for r in every[4:]] == [("withdrawn", False)]
    got = rows(
        influx_query(cfg.url, f"SELECT * FROM jerk_event WHERE {COUNTED} ORDER BY time", db_name)
    )
    assert [(r["kind"], r["provisional"], r["series"], r["bilateral"]) for r in got] == [
        ("hypnic", False, 0, True),
        ("myoclonic", False, 4, False),
        ("myoclonic", True, 0, False),  # not settled (its run stopped): never a final jerk
        ("hypnic", False, 0, False),
    ]
    assert got[0]["state"] == "asleep" and got[1]["state"] == "awake"
    doc = influx_query(cfg.url, "SELECT count(duration_s) FROM jerk_event", db_name)
    assert rows(doc)[0]["count"] == 5  # the withdrawn point keeps its candidate's fields
    doc = influx_query(
        cfg.url, f"SELECT count(duration_s) FROM jerk_event WHERE {COUNTED}", db_name
    )
    assert rows(doc)[0]["count"] == 4
    doc = influx_query(
        cfg.url, "SELECT count(duration_s) FROM jerk_event WHERE \"kind\" = 'hypnic'", db_name
    )
    assert rows(doc)[0]["count"] == 2
    read = InfluxReader(cfg.url, db_name).events("s1", t0, t0 + 60)
    assert [(e.event.onset, e.event.kind) for e in read] == [
        (first.onset, "hypnic"),
        (second.onset, "myoclonic"),
        (fourth.onset, "hypnic"),
    ]
    assert [e.event.onset for e in local] == [first.onset, second.onset, fourth.onset]
