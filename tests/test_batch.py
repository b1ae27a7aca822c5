"""``jerkmon batch``: a small cohort (simulated 0.5 h nights, a two-wrist night from a
manifest, a real device file, a bad file) serially, on a process pool and on a real
``dask.distributed.LocalCluster`` with two worker processes: identical files, resumable,
bad files reported and never stopping the batch."""

from __future__ import annotations

import csv
import filecmp
import json
from pathlib import Path

import pandas as pd
import pytest

from detector import DetectorConfig
from jerkmon.batch import COHORT_COLUMNS, ENV_SCHEDULER, run_batch
from jerkmon.cli import main
from tests.shared_data import DEVICES


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cohort")
    data = root / "data"
    data.mkdir()
    for seed in (1, 2):
        sim = ["--hours", "0.5", "--rate", "25", "--seed", str(seed), "--jerk-rate", "30"]
        assert main(["simulate", *sim, "--out", str(data / f"s{seed}")]) == 0
    sim2 = ["--hours", "0.5", "--rate", "25", "--seed", "3", "--sensors", "2", "--jerk-rate", "30"]
    assert main(["simulate", *sim2, "--out", str(data / "s3")]) == 0
    (data / "broken.csv").write_text("t,ax,ay,az\n0,0,0,1\n0.04,0,0\n")
    rows = [
        ("s1", "2026-11-01", "data/s1.csv", ""),
        ("s2", "2026-11-01", "data/s2.csv", ""),
        ("s3", "2026-11-01", "data/s3.left.csv", "left"),
        ("s3", "2026-11-01", "data/s3.right.csv", "right"),
        ("dev", "2020-02-12", str(DEVICES / "skdh_ax3_sample.cwa"), ""),
        ("bad", "2026-11-02", "data/broken.csv", ""),
    ]
    with (root / "manifest.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["subject", "night", "path", "side"])
        w.writerows(rows)
    return root


def _files(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())


def _same_tree(a: Path, b: Path) -> None:
    assert _files(a) == _files(b)
    for rel in _files(a):
        assert filecmp.cmp(a / rel, b / rel, shallow=False), rel


def test_serial_pool_and_dask_write_identical_files(
    cohort: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import LocalCluster

    manifest = cohort / "manifest.csv"
    fmts = ("csv", "parquet", "edf", "bids")
    serial = run_batch(manifest, cohort / "serial", workers=1, formats=fmts, progress=False)
    assert [r["subject"] for r in serial.rows] == ["dev", "s1", "s2", "s3"]
    assert [e["subject"] for e in serial.errors] == ["bad"]
    assert "line 3: short row" in serial.errors[0]["error"]
    pool = run_batch(manifest, cohort / "pool", workers=2, formats=fmts, progress=False)
    _same_tree(cohort / "serial", cohort / "pool")
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        monkeypatch.setenv(ENV_SCHEDULER, cluster.scheduler_address)
        dask = run_batch(manifest, cohort / "dask", formats=fmts, progress=False)
    assert len(dask.rows) == 4 and pool.rows == serial.rows == dask.rows
    _same_tree(cohort / "serial", cohort / "dask")


def test_cohort_table_matches_detect(cohort: Path, tmp_path: Path) -> None:
    out = cohort / "serial"
    if not out.exists():
        fmts = ("csv", "parquet", "edf", "bids")
        run_batch(cohort / "manifest.csv", out, workers=1, formats=fmts, progress=False)
    table = pd.read_parquet(out / "cohort.parquet")
    assert list(table.columns) == list(COHORT_COLUMNS)
    assert list(pd.read_csv(out / "cohort.csv").columns) == list(COHORT_COLUMNS)
    s1 = table.set_index("subject").loc["s1"]
    ev = tmp_path / "e.csv"
    summary = tmp_path / "s.json"
    data = cohort / "data"
    assert (
        main(["detect", str(data / "s1.csv"), "--out", str(ev), "--summary-json", str(summary)])
        == 0
    )
    one = json.loads(summary.read_text())
    assert s1["jerks"] == one["jerks"] and s1["hypnic"] == one["hypnic"]
    assert s1["sleep_h"] == pytest.approx(one["sleep_hours"], abs=1e-5)
    assert s1["rate_ci_low"] < s1["rate_per_h_sleep"] < s1["rate_ci_high"]
    # Two wrists: bilateral jerks count once, as detect LEFT RIGHT says.
    both = tmp_path / "s3.json"
    args = [str(data / "s3.left.csv"), str(data / "s3.right.csv"), "--sides", "left,right"]
    assert main(["detect", *args, "--out", str(ev), "--summary-json", str(both)]) == 0
    two = json.loads(both.read_text())
    s3 = table.set_index("subject").loc["s3"]
    assert s3["sensors"] == 2 and s3["bilateral"] == two["bilateral_jerks"] >= 1
    assert s3["jerks"] == two["jerks"]
    dev = table.set_index("subject").loc["dev"]
    assert dev["start_utc"] == pd.Timestamp("2020-02-12 09:03:37.481", tz="UTC")
    # Gaps: none in the Axivity file; the simulated nights' link gaps all annotated.
    assert dev["gaps"] == 0 and s1["gaps"] >= 1 and s1["gap_h"] > 0
    night_dir = out / "recordings" / "s1_2026-11-01"
    with (night_dir / "events.tsv").open() as fh:
        kinds = [r["trial_type"] for r in csv.DictReader(fh, delimiter="\t")]
    assert kinds.count("signal gap") == s1["gaps"]
    # Every events file carries the detector version and configuration.
    events = pd.read_csv(out / "recordings" / "s1_2026-11-01" / "events.csv")
    assert (events["detector_version"] == s1["detector_version"]).all()
    assert json.loads(events["detector_config"].iloc[0]) == DetectorConfig().as_dict()


def test_resume_skips_unchanged_nights_and_reruns_changed_ones(
    cohort: Path, tmp_path: Path
) -> None:
    data = tmp_path / "dir"
    data.mkdir()
    for name in ("s1.csv", "s2.csv"):
        (data / name).write_bytes((cohort / "data" / name).read_bytes())
    out = tmp_path / "out"
    first = run_batch(data, out, workers=1, progress=False)
    assert first.skipped == 0 and len(first.rows) == 2 and not first.errors
    again = run_batch(data, out, workers=1, progress=False)
    assert again.skipped == 2 and again.rows == first.rows
    # A changed input runs again; so does everything under another configuration.
    text = (data / "s2.csv").read_text().splitlines()
    (data / "s2.csv").write_text("\n".join(text[: len(text) // 2]) + "\n")
    third = run_batch(data, out, workers=1, progress=False)
    assert third.skipped == 1
    assert third.rows[1]["recording_h"] < first.rows[1]["recording_h"]
    other = DetectorConfig(min_peak_acc_g=0.1)
    fourth = run_batch(data, out, config=other, workers=1, progress=False)
    assert fourth.skipped == 0


def test_cli_reports_failures_and_keeps_going(
    cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.csv").write_bytes((cohort / "data" / "s1.csv").read_bytes())
    (d / "zz.csv").write_bytes(b"\x00\x01binary")
    code = main(["batch", str(d), "--out", str(tmp_path / "o"), "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 1 and "1 nights" in out and "1 recordings failed" in out
    with (tmp_path / "o" / "batch-errors.csv").open() as fh:
        errs = list(csv.DictReader(fh))
    assert len(errs) == 1 and errs[0]["subject"] == "zz" and "binary" in errs[0]["error"]


def test_a_long_file_of_two_wrists_is_one_bilateral_night(cohort: Path, tmp_path: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    (d / "s3.csv").write_bytes((cohort / "data" / "s3.csv").read_bytes())
    res = run_batch(d, tmp_path / "o", workers=1, progress=False)
    (row,) = res.rows
    summary = tmp_path / "s.json"
    ev = tmp_path / "e.csv"
    assert main(["detect", str(d / "s3.csv"), "--sensor", "all", "--out", str(ev),
                 "--summary-json", str(summary)]) == 0  # fmt: skip
    two = json.loads(summary.read_text())
    assert row["sensors"] == 2 and row["bilateral"] == two["bilateral_jerks"] >= 1
    assert row["jerks"] == two["jerks"]
    events = pd.read_csv(tmp_path / "o" / "recordings" / "s3" / "events.csv")
    assert set(events["sensor"]) == {"left", "right"}
    assert int(events["bilateral"].sum()) == 2 * row["bilateral"]
