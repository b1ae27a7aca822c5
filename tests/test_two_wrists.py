"""Two wrists offline: ``detect LEFT RIGHT --sides left,right`` and a long file with a sensor
column give the same events, with bilateral jerks flagged as the live path does."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from jerkmon.cli import main


def test_two_files_and_a_long_file_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "n"
    sim = ["--hours", "0.5", "--rate", "50", "--seed", "8", "--jerk-rate", "40", "--sensors", "2"]
    assert main(["simulate", *sim, "--out", str(prefix)]) == 0
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    summary = tmp_path / "s.json"
    args = [f"{prefix}.left.csv", f"{prefix}.right.csv", "--sides", "left,right"]
    assert main(["detect", *args, "--out", str(a), "--summary-json", str(summary)]) == 0
    out = capsys.readouterr().out
    assert "wrist left" in out and "wrist right" in out and "bilateral jerks" in out
    assert main(["detect", f"{prefix}.csv", "--sensor", "all", "--out", str(b)]) == 0
    assert a.read_text() == b.read_text()
    with a.open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["sensor"] for r in rows} == {"left", "right"}
    onsets = [float(r["onset"]) for r in rows]
    assert onsets == sorted(onsets)
    # Every flagged event has a partner on the other wrist within 0.1 s, and only those.
    by = {s: [float(r["onset"]) for r in rows if r["sensor"] == s] for s in ("left", "right")}
    for r in rows:
        other = by["right" if r["sensor"] == "left" else "left"]
        near = any(abs(o - float(r["onset"])) <= 0.1 for o in other)
        assert (r["bilateral"] == "1") == near
    s = json.loads(summary.read_text())
    flagged = sum(r["bilateral"] == "1" for r in rows)
    assert s["bilateral_jerks"] >= 1 and flagged == 2 * s["bilateral_jerks"]
    assert s["jerks"] == len(rows) - s["bilateral_jerks"]


def test_sides_must_match_the_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "x.csv"
    f.write_text("t,ax,ay,az\n0,0,0,1\n0.01,0,0,1\n0.02,0,0,1\n")
    assert main(["detect", str(f), str(f), "--sides", "left", "--out", str(tmp_path / "e")]) == 2
    assert "--sides names 1 wrists but 2 inputs" in capsys.readouterr().err
