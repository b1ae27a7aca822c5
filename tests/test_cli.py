"""The offline path through the console entry point: simulate -> detect -> evaluate, and
clear errors for malformed input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from collector.csvio import EVENT_COLUMNS
from jerkmon.cli import main


def test_simulate_detect_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = tmp_path / "night"
    args = ["--hours", "2", "--rate", "50", "--seed", "11", "--jerk-rate", "15"]
    assert main(["simulate", *args, "--out", str(prefix)]) == 0
    events = tmp_path / "events.csv"
    summary = tmp_path / "summary.json"
    code = main(
        [
            "detect",
            f"{prefix}.csv",
            "--out",
            str(events),
            "--summary-json",
            str(summary),
            "--progress",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "jerks" in out and "sleep onset" in out and "per hour of sleep" in out
    with events.open() as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys()) == EVENT_COLUMNS
    assert all(r["kind"] in ("myoclonic", "hypnic") for r in rows)
    assert json.loads(summary.read_text())["jerks"] == len(rows)
    scores = tmp_path / "scores.json"
    assert main(["evaluate", str(events), f"{prefix}.truth.json", "--json", str(scores)]) == 0
    s = json.loads(scores.read_text())
    assert s["n_detected"] == len(rows)
    assert s["sensitivity"] >= 0.85 and s["ppv"] >= 0.85  # accuracy: test_accuracy.py
    assert s["median_onset_error_ms"] <= 20.0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "empty file"),
        ("t,ax,ay\n0,0,0\n", "line 1: missing column 'az'"),
        ("t,ax,ay,az\n0.00,0,0,1\n0.01,0,x1,1\n", "line 3: column 'ay' is not a number: 'x1'"),
        ("t,ax,ay,az\n0.00,0,0,1\n0.02,0,0,1\n0.01,0,0,1\n", "line 4: time goes backwards"),
        ("t,ax,ay,az\n0.00,0,0,1\n,0,0,1\n", "line 3: column 't' is empty"),
        ("t,ax,ay,az\n", "no data rows"),
    ],
)
def test_detect_rejects_malformed_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    code = main(["detect", str(bad), "--out", str(tmp_path / "ev.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert str(bad) in err and expected in err
    assert err.count("\n") == 1  # one clear line, no traceback


def test_detect_needs_a_sensor_for_two_sensor_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "two"
    main(
        [
            "simulate",
            "--hours",
            "0.2",
            "--rate",
            "25",
            "--seed",
            "2",
            "--sensors",
            "2",
            "--out",
            str(prefix),
        ]
    )
    capsys.readouterr()
    assert main(["detect", f"{prefix}.csv", "--out", str(tmp_path / "e.csv")]) == 2
    assert "pick one with --sensor" in capsys.readouterr().err
    assert (
        main(["detect", f"{prefix}.csv", "--sensor", "right", "--out", str(tmp_path / "e.csv")])
        == 0
    )


def test_evaluate_rejects_bad_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ev = tmp_path / "e.csv"
    ev.write_text(",".join(EVENT_COLUMNS) + "\n")
    truth = tmp_path / "t.json"
    truth.write_text("{not json")
    assert main(["evaluate", str(ev), str(truth)]) == 2
    assert "line 1: not valid JSON" in capsys.readouterr().err


def test_run_sim_without_server_prints_summary_and_writes_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("JERKMON_INFLUX_URL", "JERKMON_INFLUX_DB", "JERKMON_INFLUX_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    report = tmp_path / "r.html"
    code = main(
        [
            "run",
            "--sim",
            "--hours",
            "0.5",
            "--rate",
            "50",
            "--seed",
            "4",
            "--speed",
            "max",
            "--subject",
            "p01",
            "--data-dir",
            str(tmp_path / "data"),
            "--report",
            str(report),
            "--quiet",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "subject p01" in out and "hypnic jerks" in out
    page = report.read_text()
    assert "<img" in page and "Night report" in page
    assert (tmp_path / "data" / "events.sqlite3").is_file()
