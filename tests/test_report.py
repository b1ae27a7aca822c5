"""Reports from real simulated nights: sim -> NightPipeline -> Storage -> LocalStore ->
per-night totals, treatment response with a known rate change, HTML with PNG charts."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import numpy as np
import pytest

from detector import DetectorConfig, JerkEvent
from detector import __version__ as detector_version
from jerkmon.cli import main
from jerkmon.live.pipeline import NightPipeline, SensorSpec
from reports.html import write_report
from reports.nightdata import (
    build_night,
    count_series,
    date_bounds,
    group_jerks,
    load_nights,
    night_date,
)
from sim import NightConfig, simulate_night
from storage import Annotation, LocalStore, Night, Storage, StoredEvent

SUBJECT = "s01"
FIRST = date(2026, 10, 26)
#: (night, sporadic jerks per hour of sleep, seed, series): four nights at 30, then four at
#: 10; series only in the last night (the detailed one), so that the rate change shows.
PLAN = [
    (FIRST + timedelta(days=k), 30.0 if k < 4 else 10.0, 20 + k, 2 if k == 7 else 0)
    for k in range(8)
]
CHANGE_TEXT = "clonazepam 0.5 mg -> 1 mg"


def evening(day: date, hour: int = 22) -> float:
    """Local time ``hour``:00 of ``day``, s since the epoch."""
    return datetime(day.year, day.month, day.day, hour).astimezone().timestamp()


@dataclass(frozen=True)
class TruthNight:
    day: date
    jerks_in_sleep: int
    sleep_h: float


def record_nights(
    data_dir: Path,
    subject: str,
    plan: Sequence[tuple[date, float, int, int]],
    *,
    sensors: int = 2,
    hours: float = 1.5,
    storage: Storage | None = None,
) -> list[TruthNight]:
    """Simulate and record nights (22:00 local, 25 Hz) through the real pipeline."""
    truth: list[TruthNight] = []
    own = storage is None
    st = storage if storage is not None else Storage(data_dir)
    try:
        for day, rate, seed, series_count in plan:
            cfg = NightConfig(
                hours=hours,
                rate_hz=25.0,
                seed=seed,
                sensors=sensors,
                jerk_rate_per_h=rate,
                series_count=series_count,
                t0=evening(day),
            )
            night = simulate_night(cfg)
            specs = [SensorSpec(f"sim-{r.side}", r.side, r.rate_hz) for r in night.sensors]
            pipe = NightPipeline(subject, specs, st, store_raw=False)
            for spec, rec in zip(specs, night.sensors, strict=True):
                pipe.feed(spec.sensor, rec.t, rec.acc)
            pipe.finish()
            periods = night.truth["sleep_periods"]
            truth.append(
                TruthNight(
                    day,
                    sum(
                        1
                        for j in night.truth["jerks"]
                        if any(a <= j["onset"] <= b for a, b in periods)
                    ),
                    sum(b - a for a, b in periods) / 3600,
                )
            )
    finally:
        if own:
            st.close()
    return truth


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[TruthNight]]:
    data_dir = tmp_path_factory.mktemp("cohort")
    truth = record_nights(data_dir, SUBJECT, PLAN)
    with Storage(data_dir) as st:
        change = Annotation(SUBJECT, evening(FIRST + timedelta(days=4), 9), CHANGE_TEXT)
        st.add_annotation(change)
    return data_dir, truth


def _pngs(page: str) -> dict[str, np.ndarray[Any, Any]]:
    found = re.findall(r"<img alt='([^']*)' src='data:image/png;base64,([^']+)'>", page)
    out = {}
    for alt, b64 in found:
        raw = base64.b64decode(b64)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        out[alt] = mpimg.imread(io.BytesIO(raw), format="png")
    return out


def test_pipeline_records_subject_level_night(cohort: tuple[Path, list[TruthNight]]) -> None:
    data_dir, _ = cohort
    store = LocalStore(data_dir / "events.sqlite3")
    try:
        nights = store.nights(SUBJECT)
        assert [night_date(n.start_s) for n in nights] == [p[0] for p in PLAN]
        for n in nights:
            assert n.detector_version == detector_version
            assert json.loads(n.detector_config or "") == DetectorConfig().as_dict()
            assert n.sleep_periods and n.sleep_s == pytest.approx(
                sum(b - a for a, b in n.sleep_periods)
            )
            assert n.sleep_onset_s == n.sleep_periods[0][0]
            # What the pipeline recorded equals what a report recounts from stored events.
            nd = build_night(
                n,
                store.events(SUBJECT, n.start_s, n.end_s + 1),
                store.minute_counts(SUBJECT, n.start_s, n.end_s + 1),
                store.gaps(SUBJECT, n.start_s, n.end_s + 1),
            )
            r = nd.record
            assert (r.jerks, r.jerks_in_sleep, r.hypnic, r.series) == (
                n.jerks,
                n.jerks_in_sleep,
                n.hypnic,
                n.series,
            )
            assert r.sensors == 2 and 0 < r.bilateral < r.jerks
            stored = store.events(SUBJECT, n.start_s, n.end_s + 1)
            events = [e for e in stored if e.event.kind != "negative"]
            assert r.jerks == len(events) - r.bilateral  # each bilateral jerk: two events
            assert r.negative <= len(stored) - len(events)  # (a bilateral lapse: once)
            assert r.signal_h is not None
            assert 0.9 * r.recording_h < r.signal_h <= r.recording_h + 0.1 / 3600
    finally:
        store.close()


def test_treatment_response_finds_the_known_rate_change(
    cohort: tuple[Path, list[TruthNight]], tmp_path: Path
) -> None:
    data_dir, truth = cohort
    store = LocalStore(data_dir / "events.sqlite3")
    try:
        written = write_report(tmp_path / "r.html", store, SUBJECT, FIRST, PLAN[-1][0])
    finally:
        store.close()
    (resp,) = written.responses
    cmp = resp.comparison
    assert (cmp.nights_before, cmp.nights_after) == (4, 4)
    assert cmp.enough and cmp.rate_ratio is not None
    assert cmp.ci_low is not None and cmp.ci_high is not None
    # Ground truth of the simulator: jerks in true sleep over hours of true sleep.
    true_rr = (sum(t.jerks_in_sleep for t in truth[4:]) / sum(t.sleep_h for t in truth[4:])) / (
        sum(t.jerks_in_sleep for t in truth[:4]) / sum(t.sleep_h for t in truth[:4])
    )
    assert true_rr < 0.6
    assert cmp.ci_low <= true_rr <= cmp.ci_high
    assert cmp.ci_high < 1.0
    assert resp.sentence.startswith(
        f"After the change on {FIRST + timedelta(days=4)} ({CHANGE_TEXT}), jerks fell from "
    )
    assert re.search(r"rate ratio 0\.\d\d, 95% CI 0\.\d\d-0\.\d\d\)\.$", resp.sentence)


def test_report_renders_charts(cohort: tuple[Path, list[TruthNight]], tmp_path: Path) -> None:
    data_dir, _ = cohort
    out = tmp_path / "range.html"
    code = main(
        [
            "report",
            "--subject",
            SUBJECT,
            "--from",
            str(FIRST),
            "--to",
            str(PLAN[-1][0]),
            "--data-dir",
            str(data_dir),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    page = out.read_text()
    pngs = _pngs(page)
    assert list(pngs) == [
        "Jerks per hour of sleep, night by night",
        "Jerks over the night",
        "Jerks per hour",
        "Hypnic jerks at sleep onset",
        "Series",
        "Bilateral jerks",
        "Data coverage",
    ]
    for title, img in pngs.items():
        h, w = img.shape[:2]
        assert w >= 700 and h >= 100, title
        assert float(np.std(img[..., :3])) > 0.02, f"{title} is blank"
        # Every chart draws something in the data colours (not just axes and text).
        colourful = np.abs(img[..., 0] - img[..., 2]) > 0.25
        assert colourful.mean() > 0.0005, title
    assert "jerks fell from" in page and html.escape(CHANGE_TEXT) in page
    assert page.count("<tr>") > 40  # the per-night and jerk tables
    assert "Night of 2026-11-02" in page  # the latest night in detail


def test_single_night_report_and_errors(
    cohort: tuple[Path, list[TruthNight]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, _ = cohort
    out = tmp_path / "one.html"
    args = ["--subject", SUBJECT, "--data-dir", str(data_dir)]
    assert main(["report", *args, "--night", "2026-10-27", "--out", str(out)]) == 0
    page = out.read_text()
    assert "Night of 2026-10-27" in page and "Trend" not in page
    assert "<h1>Night report — subject s01</h1>" in page
    assert len(_pngs(page)) == 6
    store = LocalStore(data_dir / "events.sqlite3")
    try:
        (nd,) = load_nights(store, SUBJECT, date(2026, 10, 27), date(2026, 10, 27))
    finally:
        store.close()
    # One row per jerk of the subject in the jerk table.
    table = page.split("<h3>Jerks</h3>")[1]
    assert table.count("<tr>") == nd.record.jerks + 1
    # Default: the latest night, written in the working directory's name scheme.
    capsys.readouterr()
    assert main(["report", *args, "--out", str(tmp_path / "latest.html")]) == 0
    assert "report of 1 night written" in capsys.readouterr().out
    assert "Night of 2026-11-02" in (tmp_path / "latest.html").read_text()
    # Errors: exit 2 with one clear message.
    assert main(["report", *args, "--night", "2026-12-25", "--out", str(out)]) == 2
    assert "has no recorded night between 2026-12-25 and 2026-12-25" in capsys.readouterr().err
    assert main(["report", "--subject", "nobody", "--data-dir", str(data_dir)]) == 2
    assert "no recorded night" in capsys.readouterr().err
    bad = ["report", *args, "--night", "2026-10-27", "--from", "2026-10-26"]
    assert main(bad) == 2
    assert "either --night or --from/--to" in capsys.readouterr().err
    assert main(["report", *args, "--influx-url", "http://127.0.0.1:9"]) == 2
    assert "--influx-url and --influx-db" in capsys.readouterr().err
    assert main(["report", "--subject", "x", "--data-dir", str(tmp_path / "none")]) == 2
    assert "no local store" in capsys.readouterr().err


def test_report_with_a_change_given_on_the_command_line(
    cohort: tuple[Path, list[TruthNight]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, _ = cohort
    argv = [
        "report",
        "--subject",
        SUBJECT,
        "--data-dir",
        str(data_dir),
        "--from",
        str(FIRST),
        "--to",
        str(PLAN[-1][0]),
        "--out",
        str(tmp_path / "c.html"),
        "--change",
        "2026-10-28T08:00=valproate 500 mg",
        "--after-days",
        "3",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    # Two nights before 28 Oct 08:00: too little data (the stored annotation is replaced).
    assert (
        "Too little data to tell whether jerks changed after the change on 2026-10-28 "
        "(valproate 500 mg): only 2 nights with a sleep estimate before the change (3 needed)."
    ) in out
    assert html.escape(CHANGE_TEXT) not in (tmp_path / "c.html").read_text()


def test_run_writes_the_report_at_the_end_of_the_night(tmp_path: Path) -> None:
    out = tmp_path / "night.html"
    argv = [
        "run",
        "--sim",
        "--sensors",
        "2",
        "--hours",
        "0.6",
        "--rate",
        "25",
        "--speed",
        "max",
        "--subject",
        "r1",
        "--data-dir",
        str(tmp_path / "data"),
        "--report",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    page = out.read_text()
    assert "Night report — subject r1" in page and "Night of " in page
    assert "per h of sleep (this wrist)" in page  # per-wrist counts from the store
    assert len(_pngs(page)) == 6


def _ev(sensor: str, t: float, bilateral: bool, series: int | None = None) -> StoredEvent:
    side = "left" if sensor == "L" else "right"
    event = JerkEvent(t, 0.1, 50.0, 0.5, "myoclonic", series, 0.9)
    return StoredEvent("s", sensor, side, event, bilateral)


def test_bilateral_grouping_and_series() -> None:
    t = 1_800_000_000.0
    events = [
        _ev("L", t, True),
        _ev("R", t + 0.03, True),  # the same jerk on the right wrist
        _ev("L", t + 5.0, False),
        _ev("R", t + 5.05, False),  # close but not flagged: two unilateral jerks
        _ev("L", t + 9.0, True),
        _ev("L", t + 9.05, True),  # same sensor never merges
        _ev("R", t + 20.0, True),
        _ev("L", t + 20.2, True),  # flagged but beyond the 0.1 s window
    ]
    jerks = group_jerks(events)
    assert [len(j.sensors) for j in jerks] == [2, 1, 1, 1, 1, 1, 1]
    assert jerks[0].bilateral and jerks[0].onset_s == t
    series = [
        _ev("L", t + 100, True, 1),
        _ev("L", t + 104, True, 1),
        _ev("R", t + 100.02, True, 7),
        _ev("R", t + 106, True, 7),  # overlaps left series 1: one series of the subject
        _ev("R", t + 300, False, 8),
        _ev("R", t + 303, False, 8),
    ]
    assert count_series(series) == 2


def test_old_store_without_night_columns(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE nights (subject TEXT NOT NULL, start_ns INTEGER NOT NULL, "
        "end_ns INTEGER NOT NULL, sleep_onset_ns INTEGER, wake_ns INTEGER, note TEXT, "
        "PRIMARY KEY (subject, start_ns)) WITHOUT ROWID"
    )
    t0 = evening(date(2026, 1, 5))
    db.execute(
        "INSERT INTO nights VALUES (?,?,?,?,?,?)",
        (
            "old",
            int(t0 * 1e9),
            int((t0 + 8 * 3600) * 1e9),
            int((t0 + 1800) * 1e9),
            int((t0 + 7 * 3600) * 1e9),
            "first night",
        ),
    )
    db.commit()
    db.close()
    store = LocalStore(path)
    try:
        (night,) = store.nights("old")
        assert night.note == "first night" and night.sleep_s is None and night.jerks is None
        nd = build_night(night, [], [], [])
        assert nd.record.sleep_source == "onset-wake" and nd.record.sleep_h == pytest.approx(6.5)
        store.add_night(Night("old", t0 + 86400, t0 + 86400 + 3600, sleep_s=0.0))
        assert store.nights("old", t0 + 1, 4e9)[0].sleep_s == 0.0
    finally:
        store.close()


def test_date_bounds_noon_to_noon() -> None:
    a, b = date_bounds(date(2026, 3, 1), date(2026, 3, 2))
    assert a == evening(date(2026, 3, 1), 12) and b == evening(date(2026, 3, 3), 12)
    assert night_date(evening(date(2026, 3, 2), 23)) == date(2026, 3, 2)
    assert night_date(evening(date(2026, 3, 3), 1)) == date(2026, 3, 2)
