"""``jerkmon run`` end to end against a real InfluxDB 1.x: faults, signals, refusals.

Every run simulates the same short night (``NIGHT``, a fixed ``--start`` a few hours ago so
the ``raw`` retention policy keeps it).  The fault-free reference is run once per module at
``--speed max``; a faulty run must leave exactly the same events and minute counts in
InfluxDB.  The detector is chunk-invariant, so packet sizes (0.25 s when paced, 10 s at
max speed) do not change what it finds.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jerkmon.cli import main
from sim import NightConfig, simulate_night
from storage import LocalStore
from storage.influxd import LocalInfluxd
from tests.influx_server import influx_query
from tests.runproc import RunProcess

REPO = Path(__file__).resolve().parents[1]
SUBJECT = "s01"
RATE = 50.0
HOURS = 0.4
SEED = 3
# A recent night (the raw RP keeps 7 days), on a whole minute so minutes align with t0.
START = float(int(time.time()) // 60 * 60 - 3 * 3600)
NIGHT = [
    "--sim",
    "--sensors",
    "2",
    "--hours",
    str(HOURS),
    "--rate",
    str(RATE),
    "--seed",
    str(SEED),
    "--start",
    f"{START:.0f}",
    "--subject",
    SUBJECT,
    "--quiet",
]
# Retry quickly, so a restarted server is noticed within a fraction of a second.
FAST = "[storage]\nretry_initial_s = 0.1\nretry_max_s = 0.5\nraw_linger_s = 0.2\n"


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("JERKMON_"):
            monkeypatch.delenv(var)


def _run_argv(data: Path, url: str | None, db: str | None, *extra: str) -> list[str]:
    argv = ["run", *NIGHT, "--data-dir", str(data), "--report", str(data / "r.html")]
    if url is not None and db is not None:
        argv += ["--url", url, "--db", db, "--create-db"]
    return argv + list(extra)


def _config(tmp: Path) -> str:
    path = tmp / "jerkmon.toml"
    path.write_text(FAST)
    return str(path)


def _query(url: str, q: str, db: str, **auth: str) -> list[dict[str, Any]]:
    """Rows of one InfluxQL statement, times as integer ns."""
    form = {"q": q, "db": db, "epoch": "ns"}
    req = urllib.request.Request(f"{url}/query", urllib.parse.urlencode(form).encode())
    if auth:
        basic = base64.b64encode(f"{auth['user']}:{auth['password']}".encode()).decode()
        req.add_header("Authorization", f"Basic {basic}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        doc = json.loads(resp.read())
    result = doc["results"][0]
    assert "error" not in result, result
    out = []
    for series in result.get("series", []):
        for values in series["values"]:
            row = dict(zip(series["columns"], values, strict=True))
            row.update(series.get("tags", {}))
            out.append(row)
    return out


@dataclass(frozen=True)
class Contents:
    """What one database holds of the night."""

    events: dict[tuple[int, str], dict[str, Any]]  # (time ns, sensor) -> fields and tags
    counts: dict[tuple[int, str], tuple[int, int, int, float]]
    n_events: int  # points, to catch duplicates under distinct tags
    n_counts: int
    raw: dict[str, int]  # sensor -> imu points
    activity: int


def _contents(url: str, db: str, **auth: str) -> Contents:
    who = f"WHERE subject = '{SUBJECT}'"
    ev = _query(url, f"SELECT * FROM jerk_event {who}", db, **auth)
    co = _query(url, f"SELECT * FROM jerk_count {who}", db, **auth)
    raw = _query(url, f'SELECT count(ax) FROM "raw"."imu" {who} GROUP BY sensor', db, **auth)
    act = _query(url, f"SELECT count(samples) FROM activity {who}", db, **auth)
    return Contents(
        events={(r["time"], r["sensor"]): r for r in ev},
        counts={
            (r["time"], r["sensor"]): (r["count"], r["hypnic"], r["myoclonic"], r["covered_s"])
            for r in co
        },
        n_events=len(ev),
        n_counts=len(co),
        raw={r["sensor"]: r["count"] for r in raw},
        activity=act[0]["count"] if act else 0,
    )


def _detector_independent(events: dict[tuple[int, str], dict[str, Any]]) -> dict[Any, Any]:
    """Events without the fields a restarted detector may legitimately change: series ids
    (numbered per detector) and confidence (it depends on the noise history)."""
    skip = ("series", "confidence")
    return {k: {f: v for f, v in r.items() if f not in skip} for k, r in events.items()}


@pytest.fixture(scope="module")
def night_samples() -> dict[str, np.ndarray]:
    """Sample times of the simulated night per sensor id, for loss accounting."""
    night = simulate_night(NightConfig(hours=HOURS, rate_hz=RATE, seed=SEED, sensors=2, t0=START))
    return {f"sim-{r.side}": r.t for r in night.sensors}


@pytest.fixture(scope="module")
def reference(influxd: LocalInfluxd, tmp_path_factory: pytest.TempPathFactory) -> Contents:
    """The fault-free run of the night at full speed."""
    influxd.start()
    db = f"ref_{uuid.uuid4().hex[:8]}"
    data = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as mp:
        for var in list(os.environ):
            if var.startswith("JERKMON_"):
                mp.delenv(var)
        assert main(_run_argv(data, influxd.url, db, "--speed", "max")) == 0
    ref = _contents(influxd.url, db)
    # The night is worth comparing: jerks on both wrists, every minute counted once.
    assert ref.n_events >= 5 and len({s for _, s in ref.events}) == 2
    assert ref.n_counts == 2 * HOURS * 60 == len(ref.counts)
    assert sum(ref.raw.values()) > 0.95 * 2 * HOURS * 3600 * RATE
    return ref


def _assert_same(got: Contents, ref: Contents, *, restarted: bool = False) -> None:
    if restarted:
        assert _detector_independent(got.events) == _detector_independent(ref.events)
        for key, row in got.events.items():
            assert row["confidence"] == pytest.approx(ref.events[key]["confidence"], abs=0.05)
    else:
        assert got.events == ref.events
    assert got.n_events == ref.n_events
    assert got.counts == ref.counts
    assert got.n_counts == ref.n_counts
    assert got.raw == ref.raw
    assert got.activity == ref.activity


# ------------------------------------------------------------------ a subprocess run
@contextlib.contextmanager
def _store(path: Path) -> Iterator[LocalStore]:
    store = LocalStore(path)
    try:
        yield store
    finally:
        store.close()


def _live_t(line: str) -> float:
    return float(line.split("live from t=")[1].split()[0])


# ------------------------------------------------------------------ the tests
def test_influxd_sigkill_mid_night_leaves_every_point_exactly_once(
    running_influxd: LocalInfluxd, db_name: str, tmp_path: Path, reference: Contents
) -> None:
    server = running_influxd
    events: list[str] = []

    def outage() -> None:
        time.sleep(1.5)
        server.kill()  # mid-night: batches in flight, the spool keeps filling
        events.append("killed")
        time.sleep(2.0)
        server.start()
        events.append("restarted")

    chaos = threading.Thread(target=outage)
    chaos.start()
    argv = _run_argv(tmp_path / "d", server.url, db_name, "--speed", "250")
    code = main([*argv, "--config", _config(tmp_path)])
    chaos.join()
    assert events == ["killed", "restarted"]
    assert code == 0
    _assert_same(_contents(server.url, db_name), reference)


def test_pipeline_sigkill_then_restart_on_the_same_data_dir(
    running_influxd: LocalInfluxd,
    db_name: str,
    tmp_path: Path,
    reference: Contents,
    night_samples: dict[str, np.ndarray],
    spawn: list[RunProcess],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, data = running_influxd.url, tmp_path / "d"
    config = _config(tmp_path)
    base = [*_run_argv(data, url, db_name), "--config", config]

    # 1. Killed a few seconds into the night at 5x: at most 1 s of samples may be lost.
    p1 = RunProcess([*base, "--speed", "5"])
    spawn.append(p1)
    live_at, line = p1.wait_for("live from t=")
    time.sleep(3.0)
    killed_at = time.monotonic()
    p1.kill()
    t_kill = _live_t(line) + (killed_at - live_at) * 5.0  # sample time when it died
    assert main(["flush", "--data-dir", str(data), "--url", url, "--db", db_name]) == 0
    capsys.readouterr()
    last = _query(url, 'SELECT last(ax) FROM "raw"."imu" GROUP BY sensor', db_name)
    assert {r["sensor"] for r in last} == set(night_samples)
    stored = _contents(url, db_name).raw
    for row in last:
        t = night_samples[row["sensor"]]
        t_last = row["time"] / 1e9
        lost = int(np.count_nonzero((t > t_last + 1e-6) & (t <= t_kill)))
        assert lost <= RATE, f"{row['sensor']}: {lost} samples lost"
        # ...and what was spooled arrived without a hole.
        assert stored[row["sensor"]] == np.count_nonzero(t <= t_last + 1e-6)

    # 2. Resumed, then killed again later in the night, with minutes and events stored.
    p2 = RunProcess([*base, "--resume", "--speed", "250"])
    spawn.append(p2)
    p2.wait_for("live from t=")
    store = data / "events.sqlite3"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.2)
        with _store(store) as st:
            minutes = st.minute_counts(SUBJECT, START, START + 1e5)
        if len(minutes) >= 2 * 18:  # 18 of 24 min: the warm-up of a resume starts mid-night
            break
    p2.kill()
    assert p2.proc.returncode == -signal.SIGKILL  # mid-night, not at its end
    with _store(store) as st:
        spooled_events = st.events(SUBJECT, START, START + 1e5)
        spooled_counts = st.minute_counts(SUBJECT, START, START + 1e5)
    assert spooled_events and len(spooled_counts) >= 36

    # 3. Resumed to the end: the same night as without the crashes.
    assert main([*base, "--resume", "--speed", "max"]) == 0
    assert "resuming at" in capsys.readouterr().err
    got = _contents(url, db_name)
    for e in spooled_events:  # everything spooled before the kill is there, once
        key = (round(e.event.onset * 1e6) * 1000, e.sensor)
        assert got.events[key]["kind"] == e.event.kind
    for c in spooled_counts:
        key = (round(c.count.start * 1e6) * 1000, c.sensor)
        assert got.counts[key][0] == c.count.count
    _assert_same(got, reference, restarted=True)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_with_summary_and_data_stored(
    signum: signal.Signals,
    running_influxd: LocalInfluxd,
    db_name: str,
    tmp_path: Path,
    spawn: list[RunProcess],
    night_samples: dict[str, np.ndarray],
    reference: Contents,
) -> None:
    url, data = running_influxd.url, tmp_path / "d"
    # SIGINT with InfluxDB, SIGTERM on the embedded default (spool + local store only).
    with_influx = signum == signal.SIGINT
    argv = _run_argv(data, url if with_influx else None, db_name, "--speed", "50")
    p = RunProcess([*argv, "--config", _config(tmp_path)])
    spawn.append(p)
    p.wait_for("live from t=")
    time.sleep(2.0)  # 100 s of the night
    p.proc.send_signal(signum)
    code, out = p.finish()
    assert code == 128 + signum, p.stderr
    assert "stopping" in p.stderr and "interrupted" in p.stderr
    assert f"subject {SUBJECT}:" in out and "hypnic jerks" in out
    assert (data / "r.html").is_file()
    with _store(data / "events.sqlite3") as st:
        statuses = st.statuses(SUBJECT, START, START + 1e5)
        (night,) = st.nights(SUBJECT)
    assert {s.status.state for s in statuses} >= {"connected", "streaming"}
    assert night.start_s == START and START + 60 < night.end_s < START + 600
    if with_influx:
        assert "has everything" in p.stderr
        raw = _contents(url, db_name).raw
        last = _query(url, 'SELECT last(ax) FROM "raw"."imu" GROUP BY sensor', db_name)
        for row in last:  # every sample up to the stop, which came after ~100 s
            t = night_samples[row["sensor"]]
            assert raw[row["sensor"]] == np.count_nonzero(t <= row["time"] / 1e9 + 1e-6)
            assert START + 60 < row["time"] / 1e9 < START + 600
        # The night goes on where it stopped: its partly counted last minute is redone.
        assert main([*argv, "--config", _config(tmp_path), "--resume", "--speed", "max"]) == 0
        _assert_same(_contents(url, db_name), reference, restarted=True)
    else:
        assert "no InfluxDB configured" in p.stderr


def test_field_type_conflict_is_quarantined_with_a_clear_error(
    running_influxd: LocalInfluxd,
    db_name: str,
    tmp_path: Path,
    reference: Contents,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, data = running_influxd.url, tmp_path / "d"
    # Someone wrote jerk_count.count as a string into this shard: every count line gets 400.
    influx_query(url, f'CREATE DATABASE "{db_name}"')
    line = f'jerk_count,sensor=other,side=left,subject=x count="many" {int(START * 1e9)}\n'
    req = urllib.request.Request(f"{url}/write?db={db_name}", data=line.encode(), method="POST")
    urllib.request.urlopen(req, timeout=10).close()
    code = main([*_run_argv(data, url, db_name, "--speed", "max"), "--config", _config(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "field type conflict" in err and "quarantined" in err
    assert "jerkmon flush --retry-quarantine" in err
    got = _contents(url, db_name)
    assert got.events == reference.events and got.raw == reference.raw  # the rest arrived
    assert got.n_counts == 0
    quarantined = b"".join(p.read_bytes() for p in (data / "quarantine").glob("*.lp"))
    lines = [x for x in quarantined.decode().splitlines() if x]
    assert sum(x.startswith("jerk_count,") for x in lines) == reference.n_counts
    # Once the conflicting series is gone, the quarantined counts go through.
    influx_query(url, "DROP MEASUREMENT jerk_count", db_name)
    argv = ["flush", "--data-dir", str(data), "--url", url, "--db", db_name]
    assert main([*argv, "--retry-quarantine"]) == 0
    assert _contents(url, db_name).counts == reference.counts


def test_bad_token_is_a_clear_error_and_nothing_is_lost(
    influxd_auth: LocalInfluxd,
    db_name: str,
    tmp_path: Path,
    reference: Contents,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, data = influxd_auth, tmp_path / "d"
    monkeypatch.setenv("JERKMON_INFLUX_TOKEN", "not-the-token")
    argv = _run_argv(data, server.url, db_name, "--speed", "max")
    code = main([*argv, "--config", _config(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "401" in err and "quarantined" in err and "not-the-token" not in err
    assert "jerkmon flush" in err
    assert list((data / "quarantine").glob("*.lp"))
    # With the right credentials, quarantine and spool together hold the whole night.
    monkeypatch.delenv("JERKMON_INFLUX_TOKEN")
    monkeypatch.setenv("JERKMON_INFLUX_PASSWORD", server.admin_password)
    flush = ["flush", "--data-dir", str(data), "--url", server.url, "--db", db_name]
    # The bad token could not create the database: first setup as admin, then flush.
    assert main([*flush, "--user", server.admin_user, "--retry-quarantine"]) == 2
    assert main(["init", "--url", server.url, "--db", db_name, "--user", server.admin_user]) == 0
    assert main([*flush, "--user", server.admin_user, "--retry-quarantine"]) == 0
    auth = {"user": server.admin_user, "password": server.admin_password}
    _assert_same(_contents(server.url, db_name, **auth), reference)


def test_status_line_shows_samples_jerks_backlog_and_influx_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from jerkmon.live.pipeline import NightPipeline, SensorSpec
    from jerkmon.live.status import StatusLine as _StatusLine
    from storage import Storage

    with Storage(tmp_path, None) as storage:
        pipeline = NightPipeline(SUBJECT, [SensorSpec("w", "left", 50.0)], storage)
        pipeline.feed("w", START + np.arange(500) / 50.0, np.tile([0.0, 0.0, 1.0], (500, 1)))
        line = _StatusLine(True)
        line.show(pipeline, storage)
        line.close()
    err = capsys.readouterr().err
    assert err.startswith("\r") and err.endswith("\n")
    clock = time.strftime("%H:%M:%S", time.localtime(START + 499 / 50.0))
    assert f"{clock}  samples 500  jerks 0  influx not_configured; backlog" in err
