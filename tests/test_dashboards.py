"""Dashboards against the real pipeline and a real InfluxDB 1.x.

One module-scoped fixture simulates six nights of two subjects through NightPipeline ->
Storage -> influxd, publishes the sensor_night points and writes a dose change with
``jerkmon annotate``; the tests then run every variable, panel and annotation query of every
dashboard with Grafana's substitution and compare the numbers with the pipeline's own events.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from dashboards.alerts import alert_rules, evaluate_cluster_alert
from dashboards.definitions import (
    COHORT_UID,
    LIVE_UID,
    NIGHT_UID,
    TRENDS_UID,
    all_dashboards,
)
from dashboards.grafana_macros import TimeRange, unresolved
from dashboards.influxql import InfluxQLClient
from dashboards.model import DashboardOptions
from dashboards.nights import night_label
from dashboards.provisioning import export
from dashboards.runner import DashboardRun, run_dashboard
from dashboards.validate import validate_dashboard
from jerkmon.cli import main
from jerkmon.demo import DemoNight, write_demo_nights
from storage import InfluxConfig, Storage
from storage.influxd import LocalInfluxd

OPTS = DashboardOptions()
CHANGE_TEXT = "clonazepam 0.5 mg -> 1 mg"


class World:
    def __init__(self, client: InfluxQLClient, nights: list[DemoNight], change_s: float) -> None:
        self.client = client
        self.nights = nights
        self.change_s = change_s
        self.boards = all_dashboards(OPTS)

    def of(self, subject: str) -> list[DemoNight]:
        return sorted((n for n in self.nights if n.spec.subject == subject), key=_start)

    def last(self, subject: str) -> DemoNight:
        return self.of(subject)[-1]


def _start(n: DemoNight) -> float:
    return n.night.start_s


def _withdrawn_candidates(data_dir: Path, influx: InfluxConfig, nights: list[DemoNight]) -> None:
    """Live candidates that the final verdict rejected, as a live run writes them: a
    provisional point, then its withdrawal.  One beside every third jerk of every night (in
    its cluster windows too), so every panel, the report reader and the alert must leave
    them out for the numbers below to hold."""
    with Storage(data_dir, influx) as storage:
        for n in nights:
            for sensor, events in n.events.items():
                side = next(s.side for s in n.sensors if s.sensor == sensor)
                fake = [replace(e, onset=e.onset + 0.37, series=None) for e in events[::3]]
                storage.add_provisional(n.spec.subject, sensor, side, fake)
                storage.add_withdrawn(n.spec.subject, sensor, side, fake)
        assert storage.flush(60.0)


#: Onset offset of the negative myoclonus written beside the jerks (see _negative_lapses).
NEG_OFFSET_S = 0.61


def _negative_lapses(data_dir: Path, influx: InfluxConfig, nights: list[DemoNight]) -> None:
    """Negative myoclonus (kind ``negative``) beside every fourth jerk of every night, as
    the pipeline stores it: in ``jerk_event`` with the jerks.  Every jerk count, marker and
    the cluster alert must leave them out (the numbers below are the pipeline's jerks); the
    negative panels count them."""
    with Storage(data_dir, influx) as storage:
        for n in nights:
            for sensor, events in n.events.items():
                side = next(s.side for s in n.sensors if s.sensor == sensor)
                lapses = [
                    replace(e, onset=e.onset + NEG_OFFSET_S, kind="negative", series=None)
                    for e in events[::4]
                    if e.kind != "negative"
                ]
                storage.add_events(n.spec.subject, sensor, side, lapses)
        assert storage.flush(60.0)


def _lapses(n: DemoNight) -> list[float]:
    """Onsets of the negative myoclonus of night ``n`` (written and detected)."""
    written = [
        e.onset + NEG_OFFSET_S
        for evs in n.events.values()
        for e in evs[::4]
        if e.kind != "negative"
    ]
    return sorted(written + [e.onset for e in n.negative_events])


@pytest.fixture(scope="module")
def world(influxd: LocalInfluxd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    influxd.start()
    root = tmp_path_factory.mktemp("dash")
    db = "jm_dashboards"
    influx = InfluxConfig(url=influxd.url, db=db, api="v1", create=True)
    nights = write_demo_nights(root / "data", influx)
    _withdrawn_candidates(root / "withdrawn", influx, nights)
    _negative_lapses(root / "negative", influx, nights)
    first = min(n.night.start_s for n in nights if n.spec.subject == "s1")
    change_s = float(int(first + 1.5 * 86400))
    mp = pytest.MonkeyPatch()
    mp.setenv("JERKMON_INFLUX_URL", influxd.url)
    mp.setenv("JERKMON_INFLUX_DB", db)
    try:
        code = main(
            [
                "annotate",
                "--subject",
                "s1",
                "--at",
                str(change_s),
                "--text",
                CHANGE_TEXT,
                "--data-dir",
                str(root / "data"),
            ]
        )
    finally:
        mp.undo()
    assert code == 0
    yield World(InfluxQLClient(influxd.url, db), nights, change_s)


def _assert_all_ran(run: DashboardRun) -> None:
    for text in run.queries():
        # a `$` may only remain as a regex anchor (`/^s1$/`): no variable or macro reference
        assert unresolved(text) == [], text
        assert "$/" in text or "$" not in text, text
    for link in run.links:
        assert unresolved(link) == [], link
    for link in run.data_links:  # only the click-time macros may remain
        left = {re.sub(r"[${}]|\..*", "", m) for m in unresolved(link)}
        assert left <= {"__url_time_range", "__value"}, link
    for p in run.panels:
        assert unresolved(p.title) == [], p.title


def _values(run: DashboardRun, title: str, column: str | None = None) -> list[tuple[int, float]]:
    out = []
    for t in run.panel(title).targets:
        for s in t.series:
            col = column or next(c for c in s.columns if c != "time")
            out.extend((int(tm), v) for tm, v in zip(s.column("time"), s.column(col), strict=True))
    return out


def _night_run(w: World, subject: str) -> tuple[DemoNight, DashboardRun]:
    night = w.last(subject)
    rng = TimeRange.from_seconds(night.night.start_s, night.night.end_s)
    sel = {"subject": subject, "night": night_label(night.night.start_s)}
    return night, run_dashboard(w.boards[NIGHT_UID], w.client, rng, sel)


def test_exported_json_is_valid_for_grafana(tmp_path: Path) -> None:
    files = export(tmp_path, OPTS)
    boards = sorted((tmp_path / "dashboards" / "jerkmon").glob("*.json"))
    assert [b.stem for b in boards] == sorted([COHORT_UID, LIVE_UID, NIGHT_UID, TRENDS_UID])
    for path in boards:
        board = json.loads(path.read_text())
        assert validate_dashboard(board, OPTS.datasource_uid) == []
        assert board["schemaVersion"] >= 39
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        refs = [p["datasource"] for p in board["panels"] if "datasource" in p] + [
            t["datasource"] for p in board["panels"] for t in p.get("targets", [])
        ]
        assert refs and all(r == {"type": "influxdb", "uid": OPTS.datasource_uid} for r in refs)
    ds = yaml.safe_load((tmp_path / "datasources" / "jerkmon.yaml").read_text())["datasources"][0]
    assert ds["uid"] == OPTS.datasource_uid and ds["jsonData"]["httpHeaderName1"] == "Authorization"
    assert ds["secureJsonData"]["httpHeaderValue1"] == "Token ${INFLUXDB_TOKEN}"
    provider = yaml.safe_load((tmp_path / "dashboards" / "jerkmon.yaml").read_text())
    assert provider["providers"][0]["options"]["path"].endswith("/dashboards/jerkmon")
    assert len(files) == 7


def test_validator_catches_broken_dashboards() -> None:
    board = json.loads(json.dumps(all_dashboards(OPTS)[NIGHT_UID]))
    board["panels"][2]["id"] = board["panels"][1]["id"]
    board["panels"][3]["targets"][0]["datasource"] = "jerkmon InfluxDB"
    board["panels"][4]["targets"][0]["query"] += " AND $nosuchvar"
    board["schemaVersion"] = 27
    problems = " | ".join(validate_dashboard(board, OPTS.datasource_uid))
    assert "duplicate panel id" in problems
    assert "datasource must be {type, uid}" in problems
    assert "nosuchvar" in problems
    assert "schemaVersion 27" in problems


def test_alert_rule_file_survives_grafana_env_interpolation(tmp_path: Path) -> None:
    export(tmp_path, DashboardOptions(cluster_threshold=6, cluster_window_s=90))
    text = (tmp_path / "alerting" / "jerkmon.yaml").read_text()

    def grafana_expand(value: object) -> object:  # values.go interpolateValue, empty env
        if isinstance(value, str):
            parts = [re.sub(r"\$\{\w+\}|\$\w+", "", p) for p in value.split("$$")]
            return "$".join(parts)
        if isinstance(value, list):
            return [grafana_expand(v) for v in value]
        if isinstance(value, dict):
            return {k: grafana_expand(v) for k, v in value.items()}
        return value

    loaded = grafana_expand(yaml.safe_load(text))
    assert loaded == json.loads(
        json.dumps(alert_rules(DashboardOptions(cluster_threshold=6, cluster_window_s=90)))
    )
    rule = alert_rules(DashboardOptions(cluster_threshold=6))["groups"][0]["rules"][0]
    assert rule["data"][2]["model"]["conditions"][0]["evaluator"]["params"] == [5]


def test_night_dashboard_numbers_equal_the_pipeline(world: World) -> None:
    night, run = _night_run(world, "s1")
    _assert_all_ran(run)
    events = night.all_events
    hypnic = [e for e in events if e.kind == "hypnic"]
    assert len(night.events) == 2 and events
    assert _values(run, "Jerks (per wrist, summed)") == [(run.time_range.from_ms, len(events))]
    assert [v for _, v in _values(run, "Hypnic (per wrist, summed)")] == [len(hypnic)]
    for title, bucket_s in (("Jerks per hour", 3600), ("Jerks per 5 min", 300)):
        expected = Counter(int(e.onset // bucket_s) * bucket_s * 1000 for e in events)
        exp_hyp = Counter(int(e.onset // bucket_s) * bucket_s * 1000 for e in hypnic)
        (series,) = run.panel(title).targets[0].series
        got = {int(t): m + h for t, m, h in series.values if m + h}
        assert got == dict(expected), title
        assert {int(t): h for t, _, h in series.values if h} == dict(exp_hyp), title
    (table,) = [s for t in run.panel("Jerk events").targets for s in t.series][:1]
    rows = sum(len(s.values) for t in run.panel("Jerk events").targets for s in t.series)
    # (the event list shows negative myoclonus too, kind "negative")
    assert rows == len(events) + len(_lapses(night)) and "peak_acc_g" in table.columns
    # The live run published every jerk provisionally first; each settled point replaced
    # its provisional one (kind is a field): every jerk once, under its final kind.
    assert not any(
        v for s in run.panel("Jerk events").targets[0].series for v in s.column("provisional")
    )
    timeline = {
        t.ref_id: sum(len(s.values) for s in t.series) for t in run.panel("Jerk timeline").targets
    }
    assert timeline == {
        "A": len(events) - len(hypnic),
        "B": len(hypnic),
        "C": len(_lapses(night)),
    }
    # Negative myoclonus from the minute counts: what the detector itself found.
    assert [v for _, v in _values(run, "Negative myoclonus (per wrist)")] == [
        len(night.negative_events)
    ]
    # per-sensor series counts and sleep-based rate from the night record
    series = {
        s.tags["sensor"]: s.values[0][1]
        for s in run.panel("Series (clusters) per wrist").targets[0].series
    }
    for sensor, evs in night.events.items():
        assert series.get(sensor, 0) == len({e.series for e in evs if e.series})
    periods = night.night.sleep_periods
    in_sleep = sum(1 for e in events if any(a <= e.onset <= b for a, b in periods))
    sleep_h = (night.night.sleep_s or 0) / 3600
    ((_, rate),) = _values(run, "Per hour of sleep (wrist mean)")
    # pooled over the wrists: jerks in sleep of both / (2 x hours of sleep)
    assert rate == pytest.approx(in_sleep / (sleep_h * len(night.events)), rel=1e-9)
    assert night.night.sleep_onset_s is not None
    onset = night.night.sleep_onset_s
    lo, hi = (int(onset * 1000) - 1800_000), (int(onset * 1000) + 1800_000)
    near = sum(1 for e in hypnic if lo <= int(e.onset // 60) * 60_000 < hi)
    assert [v for _, v in _values(run, "Hypnic ±30 min (per wrist)")] == [near]
    assert run.links[0].startswith(
        f"/d/jerkmon-night/jerkmon-night?from={int(night.night.start_s * 1000)}&to="
    )


def test_raw_acceleration_around_a_chosen_jerk(world: World) -> None:
    night = world.last("s1")
    jerk = max(night.all_events, key=lambda e: e.peak_acc_g)
    event_ms = int(jerk.onset * 1000)
    rng = TimeRange.from_seconds(night.night.start_s, night.night.end_s)
    sel = {"subject": "s1", "night": night_label(night.night.start_s), "event": str(event_ms)}
    run = run_dashboard(world.boards[NIGHT_UID], world.client, rng, sel)
    _assert_all_ran(run)
    series = run.panel("Raw acceleration around the chosen jerk").targets[0].series
    assert {s.tags["sensor"] for s in series} == set(night.events)
    for s in series:
        times = s.column("time")
        assert event_ms - 2000 <= min(times) and max(times) <= event_ms + 3000
        assert len(times) > 100  # 5 s at 25 Hz
        peak = max(math.dist((ax, ay, az), (0, 0, 0)) for _, ax, ay, az in s.values)
        assert peak > 1.0  # gravity plus the jerk


def test_trends_per_night_and_before_after_change(world: World) -> None:
    nights = world.of("s1")
    rng = TimeRange.from_seconds(nights[0].night.start_s - 86400, nights[-1].night.end_s + 60)
    change = dt.datetime.fromtimestamp(world.change_s, dt.UTC)
    sel = {"subject": "s1", "change": change.strftime("%Y-%m-%dT%H:%M:%SZ")}
    run = run_dashboard(world.boards[TRENDS_UID], world.client, rng, sel)
    _assert_all_ran(run)
    per_night: dict[int, int] = Counter()
    hyp_night: dict[int, int] = Counter()
    for t, v in _values(run, "Jerks per night, per wrist"):
        per_night[t] += int(v)
    for t, v in _values(run, "Hypnic jerks per night, per wrist"):
        hyp_night[t] += int(v)
    for n in nights:
        key = int(n.night.start_s * 1000)
        assert per_night[key] == len(n.all_events)
        assert hyp_night[key] == sum(1 for e in n.all_events if e.kind == "hypnic")
    # the annotation written by `jerkmon annotate`
    (anno,) = run.annotations
    assert anno.events == [(int(world.change_s * 1000), CHANGE_TEXT)]

    # before vs after: pooled jerks in sleep per hour of sleep, per sensor points
    def pooled(ns: list[DemoNight]) -> float:
        jerks = sleep = 0.0
        for n in ns:
            for evs in n.events.values():
                jerks += sum(
                    1
                    for e in evs
                    if e.kind != "negative"
                    and any(a <= e.onset <= b for a, b in n.night.sleep_periods)
                )
                sleep += n.night.sleep_s or 0.0
        return jerks / sleep * 3600

    before = [n for n in nights if n.night.start_s < world.change_s]
    after = [n for n in nights if n.night.start_s >= world.change_s]
    assert before and after
    stat = {
        t.alias: t.series[0].values[0][1]
        for t in run.panel("Jerks per hour of sleep before vs after ${change}").targets
    }
    assert stat["rate before"] == pytest.approx(pooled(before))
    assert stat["rate after"] == pytest.approx(pooled(after))
    assert stat["nights before"] == sum(len(n.events) for n in before)
    title = run.panel("Jerks per hour of sleep before vs after ${change}").title
    assert title == f"Jerks per hour of sleep before vs after {sel['change']}"


def test_cohort_table_and_distributions(world: World) -> None:
    first = min(n.night.start_s for n in world.nights)
    last = max(n.night.end_s for n in world.nights)
    rng = TimeRange.from_seconds(first - 3600, last + 60)
    run = run_dashboard(world.boards[COHORT_UID], world.client, rng)
    _assert_all_ran(run)
    assert run.variables["subject"].is_all
    rows = {}
    for s in run.panel("Participants × nights (per wrist)").targets[0].series:
        for row in s.values:
            rec = dict(zip(s.columns, row, strict=True))
            rows[(s.tags["subject"], s.tags["night"], s.tags["sensor"])] = rec
    expected = {
        (n.spec.subject, night_label(n.night.start_s), sensor): [
            e for e in evs if e.kind != "negative"
        ]
        for n in world.nights
        for sensor, evs in n.events.items()
    }
    assert set(rows) == set(expected)
    for key, evs in expected.items():
        assert rows[key]["jerks"] == len(evs)
        assert rows[key]["hypnic"] == sum(1 for e in evs if e.kind == "hypnic")
    hist = [v for _, v in _values(run, "Distribution: hypnic jerks per night (per wrist)")]
    assert sorted(hist) == sorted(r["hypnic"] for r in rows.values())


def test_live_last_five_minutes_and_cluster_alert(world: World) -> None:
    onsets = sorted(e.onset for n in world.nights if n.spec.nights_ago == 0 for e in n.all_events)
    window = OPTS.cluster_window_s
    busiest = max(onsets, key=lambda t: sum(1 for u in onsets if t - window < u <= t))
    now_ms = int(busiest * 1000) + 1000
    run = run_dashboard(
        world.boards[LIVE_UID], world.client, TimeRange(now_ms - 12 * 3600_000, now_ms)
    )
    _assert_all_ran(run)
    panel = run.panel("Jerks in the last 5 minutes")
    assert panel.time_range == TimeRange(now_ms - 300_000, now_ms)
    got = {s.tags["subject"]: s.values[0][1] for s in panel.targets[0].series}
    for subject in ("s1", "s2"):
        n = world.last(subject)
        expected = sum(1 for e in n.all_events if now_ms - 300_000 <= e.onset * 1000 <= now_ms)
        assert got.get(subject, 0) == expected
    neg = {
        s.tags["subject"]: s.values[0][1]
        for s in run.panel("Negative myoclonus tonight (per wrist)").targets[0].series
    }
    for subject in ("s1", "s2"):
        lo = now_ms - 12 * 3600_000
        expected = sum(1 for t in _lapses(world.last(subject)) if lo <= t * 1000 <= now_ms)
        assert expected > 0 and neg.get(subject, 0) == expected
    # the alert fires exactly where the pipeline has >= threshold jerks in the window
    checked = 0
    for t_ms in range(now_ms - 1_800_000, now_ms + 1, 30_000):
        states = {a.subject: a for a in evaluate_cluster_alert(world.client, OPTS, t_ms)}
        for subject in ("s1", "s2"):
            n = world.last(subject)
            count = sum(1 for e in n.all_events if t_ms - window * 1000 <= e.onset * 1000 <= t_ms)
            firing = states[subject].firing if subject in states else False
            assert firing == (count >= OPTS.cluster_threshold), (subject, t_ms, count)
            checked += firing
    assert checked > 0


def test_classic_mode_substitution_also_runs(world: World) -> None:
    night = world.last("s2")
    rng = TimeRange(int(night.night.start_s * 1000), int(night.night.end_s * 1000))
    sel = {"subject": "s2", "night": night_label(night.night.start_s)}
    run = run_dashboard(world.boards[NIGHT_UID], world.client, rng, sel, mode="classic")
    _assert_all_ran(run)
    assert _values(run, "Jerks (per wrist, summed)") == [(rng.from_ms, len(night.all_events))]


def test_preview_renders_every_dashboard(world: World, tmp_path: Path) -> None:
    from dashboards.preview import preview_dashboards

    paths = preview_dashboards(world.client, tmp_path, OPTS, subject="s1")
    assert [p.name for p in paths] == [
        f"{u}.png" for u in (NIGHT_UID, TRENDS_UID, COHORT_UID, LIVE_UID)
    ]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 20_000


def test_episode_and_not_worn_alert_queries_run(world: World) -> None:
    from dashboards.alerts import (
        EPISODE_ALERT_UID,
        NOT_WORN_ALERT_UID,
        episode_alert_query,
        not_worn_alert_query,
    )
    from dashboards.grafana_macros import QueryContext, render_query

    rules = alert_rules(OPTS)["groups"][0]["rules"]
    assert [r["uid"] for r in rules][1:] == [EPISODE_ALERT_UID, NOT_WORN_ALERT_UID]
    now_ms = int(world.last("s1").night.end_s * 1000)
    rng = TimeRange(now_ms - 600_000, now_ms)
    for q in (episode_alert_query(), not_worn_alert_query()):
        text = render_query(q, QueryContext({}, rng, interval_ms=1000))
        assert unresolved(text) == []
        world.client.query_one(text)  # valid InfluxQL against the real influxd
