"""Cohort export (CSV and Parquet) of real recorded nights: contents, metadata, filters."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from detector import DetectorConfig
from detector import __version__ as detector_version
from jerkmon.cli import main
from reports.export import EVENT_COLUMNS, NIGHT_COLUMNS
from reports.nightdata import load_nights
from storage import LocalStore
from tests.test_report import record_nights

D1, D2, D3 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("export")
    record_nights(d, "p1", [(D1, 20.0, 60, 1), (D2, 8.0, 61, 0)])
    record_nights(d, "p2", [(D1, 12.0, 62, 0), (D3, 12.0, 63, 0)], sensors=1)
    return d


def test_csv_export(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "csv"
    assert main(["export", "--format", "csv", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    assert "exported 4 nights" in capsys.readouterr().out
    nights = pd.read_csv(out / "nights.csv")
    events = pd.read_csv(out / "events.csv")
    assert list(nights.columns) == list(NIGHT_COLUMNS)
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert list(zip(nights.subject, nights.night, strict=True)) == [
        ("p1", "2026-11-02"),
        ("p1", "2026-11-03"),
        ("p2", "2026-11-02"),
        ("p2", "2026-11-04"),
    ]
    store = LocalStore(data_dir / "events.sqlite3")
    try:
        recs = [n.record for s in ("p1", "p2") for n in load_nights(store, s)]
        n_events = sum(
            len(store.events(n.subject, n.start_s, n.end_s + 1))
            for s in ("p1", "p2")
            for n in store.nights(s)
        )
    finally:
        store.close()
    for row, rec in zip(nights.itertuples(), recs, strict=True):
        assert row.jerks == rec.jerks and row.hypnic == rec.hypnic and row.series == rec.series
        assert row.jerks_in_sleep == rec.jerks_in_sleep
        assert row.sleep_h == pytest.approx(rec.sleep_h)
        assert row.rate_per_h_sleep == pytest.approx(rec.rate_per_h_sleep)
        assert pd.Timestamp(row.sleep_onset_utc).timestamp() == pytest.approx(rec.sleep_onset_s)
        assert row.detector_version == detector_version
        assert json.loads(row.detector_config) == DetectorConfig().as_dict()
    assert len(events) == n_events
    # The two wrists' events of a bilateral jerk share its jerk_id; jerks = distinct ids.
    p1 = events[events.subject == "p1"]
    assert p1.bilateral.any()
    per_night = p1.groupby("night").jerk_id.nunique()
    assert per_night.tolist() == nights[nights.subject == "p1"].jerks.tolist()
    assert (p1[p1.bilateral].groupby(["night", "jerk_id"]).size() <= 2).all()
    assert events.onset_utc.str.endswith("Z").all()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["detector_versions"] == [detector_version]
    (cfg,) = meta["detector_configs"]
    assert cfg["config"] == DetectorConfig().as_dict() and cfg["nights"] == 4
    assert meta["columns"]["nights"]["sleep_h"].endswith("[h]")


def test_parquet_export_equals_csv(data_dir: Path, tmp_path: Path) -> None:
    base = ["export", "--data-dir", str(data_dir), "--subject", "p1"]
    assert main([*base, "--format", "parquet", "--out", str(tmp_path / "pq")]) == 0
    assert main([*base, "--format", "csv", "--out", str(tmp_path / "csv")]) == 0
    table = pq.read_table(tmp_path / "pq" / "nights.parquet")
    meta = json.loads(table.schema.metadata[b"jerkmon"])
    assert meta["subjects"] == ["p1"] and meta["detector_versions"] == [detector_version]
    pq_nights = table.to_pandas()
    csv_nights = pd.read_csv(tmp_path / "csv" / "nights.csv")
    assert len(pq_nights) == 2
    for col in ("jerks", "jerks_in_sleep", "hypnic", "series", "bilateral"):
        assert pq_nights[col].tolist() == csv_nights[col].tolist()
    assert pq_nights.sleep_h.tolist() == pytest.approx(csv_nights.sleep_h.tolist())
    assert str(pq_nights.start_utc.dtype) == "datetime64[us, UTC]"
    pq_events = pq.read_table(tmp_path / "pq" / "events.parquet").to_pandas()
    csv_events = pd.read_csv(tmp_path / "csv" / "events.csv")
    assert pq_events.onset_s.tolist() == csv_events.onset_s.tolist()
    assert pq_events.in_sleep.tolist() == csv_events.in_sleep.tolist()


def test_export_filters_and_errors(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["export", "--data-dir", str(data_dir), "--out", str(tmp_path / "x")]
    assert main([*base, "--from", "2026-11-03", "--to", "2026-11-04"]) == 0
    nights = pd.read_csv(tmp_path / "x" / "nights.csv")
    assert nights.night.tolist() == ["2026-11-03", "2026-11-04"]
    assert main([*base, "--from", "2026-12-01"]) == 2
    assert "nothing to export" in capsys.readouterr().err
    assert main([*base, "--from", "2026-11-04", "--to", "2026-11-02"]) == 2
    assert "before --from" in capsys.readouterr().err
    assert main([*base, "--tz", "Mars/Olympus"]) == 2
    assert "unknown time zone" in capsys.readouterr().err
