"""One night is one night: night identity, idempotent re-runs, conflicts, end to end.

Each case of issue 15 runs the real ``jerkmon run`` (and ``scripts/run.sh``) and reads the
result the way a clinician or a study does (report, export, the night model, the
dashboards' ``sensor_night``), from the local store and from a real influxd.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dashboards.nights import SENSOR_NIGHT
from jerkmon.cli import main
from reports.nightdata import load_nights
from storage import LocalStore
from storage.influxd import LocalInfluxd
from storage.influxread import InfluxReader
from storage.nights import NightRule, merge_nights
from storage.schema import COUNTED, JERK_EVENT, Night
from tests.influx_server import influx_query, rows

REPO = Path(__file__).resolve().parents[1]
SUBJECT = "n1"
YESTERDAY = dt.date.today() - dt.timedelta(days=1)


def _at(day: dt.date, hh: int, mm: int) -> str:
    return dt.datetime(day.year, day.month, day.day, hh, mm).isoformat(timespec="minutes")


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("JERKMON_"):
            monkeypatch.delenv(var)


def _run(data: Path, start: str, *extra: str, hours: float = 0.5, seed: int = 5) -> int:
    argv = [
        "run",
        "--sim",
        "--hours",
        str(hours),
        "--rate",
        "25",
        "--seed",
        str(seed),
        "--speed",
        "max",
        "--start",
        start,
        "--subject",
        SUBJECT,
        "--data-dir",
        str(data),
        "--quiet",
        *extra,
    ]
    return main(argv)


def _influx(url: str, db: str, *, create: bool = False) -> list[str]:
    return ["--url", url, "--db", db, *(["--create-db"] if create else [])]


def _store(data: Path) -> LocalStore:
    return LocalStore(data / "events.sqlite3")


def _local_counts(data: Path, subject: str = SUBJECT) -> tuple[int, int, list[Night]]:
    st = _store(data)
    try:
        return (
            len(st.events(subject, 0, 4e9)),
            len(st.minute_counts(subject, 0, 4e9)),
            st.nights(subject),
        )
    finally:
        st.close()


def _influx_count(url: str, db: str, measurement: str, field: str) -> int:
    """Points of ``measurement`` with ``field``; of ``jerk_event``, the jerks (a live run's
    withdrawn candidates keep their fields under ``kind = 'withdrawn'``)."""
    where = f"subject = '{SUBJECT}'" + (f" AND {COUNTED}" if measurement == JERK_EVENT else "")
    doc = influx_query(url, f'SELECT count("{field}") FROM "{measurement}" WHERE {where}', db)
    got = rows(doc)
    return int(got[0]["count"]) if got else 0


# ------------------------------------------------------------------------ the rule
def test_night_rule_noon_to_noon_and_configurable() -> None:
    tz = dt.timezone(dt.timedelta(hours=1))
    rule = NightRule(tz=tz)
    d = dt.date(2026, 11, 2)
    at = [dt.datetime(2026, 11, m, h, 0, tzinfo=tz).timestamp() for m, h in ((2, 22), (3, 1))]
    assert [rule.date_of(t) for t in at] == [d, d]
    assert rule.date_of(dt.datetime(2026, 11, 3, 12, 0, tzinfo=tz).timestamp()) == d.replace(day=3)
    a, b = rule.bounds(d)
    assert b - a == 86400 and rule.date_of(a) == d and rule.date_of(b - 1) == d
    early = NightRule.from_env({"JERKMON_NIGHT_BOUNDARY": "18:00"}, tz=tz)
    assert early.date_of(dt.datetime(2026, 11, 3, 17, 0, tzinfo=tz).timestamp()) == d
    assert early.date_of(dt.datetime(2026, 11, 3, 19, 0, tzinfo=tz).timestamp()) == d.replace(day=3)
    with pytest.raises(Exception, match="HH:MM"):
        NightRule.from_env({"JERKMON_NIGHT_BOUNDARY": "noon"})


def test_sessions_of_one_night_merge() -> None:
    tz = dt.UTC
    t = dt.datetime(2026, 11, 2, 22, 0, tzinfo=tz).timestamp()
    parts = [
        Night(
            "s", t, t + 7200, t + 600, t + 7000, sleep_s=6000, sleep_periods=((t + 600, t + 7000),)
        ),
        Night(
            "s",
            t + 7200,
            t + 14400,
            None,
            t + 14000,
            sleep_s=6800,
            sleep_periods=((t + 7200, t + 14000),),
        ),
        Night("s", t + 86400, t + 90000),
    ]
    one, two = merge_nights(parts, NightRule(tz=tz))
    assert (one.start_s, one.end_s, one.sleep_onset_s, one.wake_s) == (
        t,
        t + 14400,
        t + 600,
        t + 14000,
    )
    assert one.sleep_periods == ((t + 600, t + 7000), (t + 7200, t + 14000))
    assert one.sleep_s == 13200
    assert two.start_s == t + 86400


# ------------------------------------------------------------------- local store
def test_run_sh_twice_is_one_night(tmp_path: Path) -> None:
    """./scripts/run.sh twice: the same night (22:30 the evening before), replaced, not
    added: the same events, one night, export and report agree."""
    env = {**os.environ, "JERKMON_DATA_DIR": str(tmp_path / "data")}
    cmd = [str(REPO / "scripts" / "run.sh"), "--hours", "0.5", "--rate", "25", "--quiet"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "simulated night " + _at(YESTERDAY, 22, 30).replace("T", " ") in first.stderr
    events, counts, nights = _local_counts(tmp_path / "data", "demo")
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert "replaced" in second.stderr
    assert _local_counts(tmp_path / "data", "demo") == (events, counts, nights)
    assert len(nights) == 1 and events > 0
    # jerkmon report and export find run.sh's data in the default data directory.
    run_env = {**env, "PATH": f"{REPO / '.venv' / 'bin'}:{env['PATH']}"}
    jm = [sys.executable, "-m", "jerkmon.cli"]
    rep = subprocess.run(
        [*jm, "report", "--subject", "demo"], env=run_env, capture_output=True, text=True
    )
    assert rep.returncode == 0, rep.stderr
    assert str(tmp_path / "data" / "reports") in rep.stdout
    exp = subprocess.run([*jm, "export"], env=run_env, capture_output=True, text=True)
    assert exp.returncode == 0, exp.stderr
    assert len(pd.read_csv(tmp_path / "data" / "export" / "events.csv")) == events
    assert len(pd.read_csv(tmp_path / "data" / "export" / "nights.csv")) == 1


def test_restart_after_midnight_is_one_night(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert _run(data, _at(YESTERDAY, 23, 30)) == 0
    a, _, _ = _local_counts(data)
    today = YESTERDAY + dt.timedelta(days=1)
    assert _run(data, _at(today, 0, 0), "--report", str(tmp_path / "r.html"), seed=6) == 0
    total, _, sessions = _local_counts(data)
    assert len(sessions) == 2 and total > a > 0
    st = _store(data)
    try:
        (night,) = load_nights(st, SUBJECT)
    finally:
        st.close()
    assert night.record.night == YESTERDAY
    assert night.record.start_s == sessions[0].start_s and night.record.end_s == sessions[1].end_s
    assert len(night.events) == total
    page = (tmp_path / "r.html").read_text()
    assert f"Night of {YESTERDAY.isoformat()}" in page and page.count("<h2>Night of") == 1
    assert f"jerks (subject)</td><td class=l>{len(night.jerks)} (" in page
    # export: one night row, every event once
    assert main(["export", "--data-dir", str(data), "--out", str(tmp_path / "x")]) == 0
    assert len(pd.read_csv(tmp_path / "x" / "events.csv")) == total
    assert len(pd.read_csv(tmp_path / "x" / "nights.csv")) == 1


def test_a_different_run_over_the_same_span_is_a_conflict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, fresh = tmp_path / "d", tmp_path / "fresh"
    start = _at(YESTERDAY, 22, 0)
    assert _run(data, start, seed=5) == 0
    before = _local_counts(data)
    capsys.readouterr()
    assert _run(data, start, seed=9) == 2
    err = capsys.readouterr().err
    assert "different run" in err and "--replace" in err and "seed=5" in err
    assert _local_counts(data) == before  # nothing was written
    assert _run(data, start, "--replace", seed=9) == 0
    assert _run(fresh, start, seed=9) == 0
    assert _local_counts(data)[:2] == _local_counts(fresh)[:2]
    assert "--replace: deleted" in capsys.readouterr().err


# ------------------------------------------------------------------- real influxd
def test_influx_rerun_restart_and_replace(
    running_influxd: LocalInfluxd, db_name: str, tmp_path: Path
) -> None:
    url, data = running_influxd.url, tmp_path / "d"
    start = _at(YESTERDAY, 23, 30)
    assert _run(data, start, *_influx(url, db_name)) == 2  # no database yet: never created
    series = influx_query(url, "SHOW DATABASES")["results"][0].get("series", [])
    assert [db_name] not in [v for x in series for v in x.get("values", [])]
    assert _run(data, start, *_influx(url, db_name, create=True)) == 0
    first = _influx_count(url, db_name, "jerk_event", "peak_acc_g")
    minutes = _influx_count(url, db_name, "jerk_count", "count")
    assert first == _local_counts(data)[0] > 0
    # Re-run: replaced, not added.
    assert _run(data, start, *_influx(url, db_name)) == 0
    assert _influx_count(url, db_name, "jerk_event", "peak_acc_g") == first
    assert _influx_count(url, db_name, "jerk_count", "count") == minutes
    # Restart after midnight: one night in InfluxDB too.
    today = YESTERDAY + dt.timedelta(days=1)
    assert _run(data, _at(today, 0, 0), *_influx(url, db_name), seed=6) == 0
    total = _local_counts(data)[0]
    assert _influx_count(url, db_name, "jerk_event", "peak_acc_g") == total
    reader = InfluxReader(url, db_name)
    (night,) = load_nights(reader, SUBJECT)
    assert night.record.night == YESTERDAY and len(night.events) == total
    doc = influx_query(
        url, f'SELECT "jerks", "night" FROM "{SENSOR_NIGHT}" GROUP BY "sensor"', db_name
    )
    points = rows(doc)
    assert len(points) == 1 and points[0]["night"] == YESTERDAY.isoformat()
    assert points[0]["jerks"] == total
    # A different run over the first part: conflict, then --replace deletes in InfluxDB too.
    assert _run(data, start, *_influx(url, db_name), seed=9) == 2
    assert _run(data, start, *_influx(url, db_name), "--replace", seed=9) == 0
    assert _influx_count(url, db_name, "jerk_event", "peak_acc_g") == _local_counts(data)[0]
    (night,) = load_nights(InfluxReader(url, db_name), SUBJECT)
    assert len(night.events) == _local_counts(data)[0]


def test_second_sensor_started_later_joins_the_night(tmp_path: Path) -> None:
    """The right wrist's sensor is put on half an hour after the left one, by a second
    process: one night with both wrists, every event of both once."""
    from jerkmon.live.pipeline import NightPipeline, SensorSpec
    from sim import NightConfig, simulate_night
    from storage import Storage

    t0 = dt.datetime.combine(YESTERDAY, dt.time(22, 0)).timestamp()
    night = simulate_night(NightConfig(hours=1.0, rate_hz=25.0, seed=4, sensors=2, t0=t0))
    left, right = night.sensors
    late = right.t >= t0 + 1800
    with Storage(tmp_path) as storage:
        first = NightPipeline(SUBJECT, [SensorSpec("L", "left", 25.0)], storage)
        first.feed("L", left.t, left.acc)
        first.finish()
        second = NightPipeline(SUBJECT, [SensorSpec("R", "right", 25.0)], storage)
        second.feed("R", right.t[late], right.acc[late])
        second.finish()
        sessions = storage.store.nights(SUBJECT)
        (one,) = load_nights(storage.store, SUBJECT)
    assert len(sessions) == 2 and {s.sensors for s in sessions} == {("L",), ("R",)}
    assert one.record.night == YESTERDAY and one.record.sensors == 2
    assert one.record.start_s == t0
    assert len(one.events) == len(first.events("L")) + len(second.events("R"))
