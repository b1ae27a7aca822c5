"""EDF+ and BIDS export of recorded nights: written with edfio, read back with pyedflib;
BIDS events.tsv with a sidecar describing every column; detector version and configuration
in every format."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date
from pathlib import Path

import numpy as np
import pytest

from detector import __version__ as detector_version
from jerkmon.cli import main
from reports.nightdata import load_nights
from storage import LocalStore
from tests.test_report import record_nights

D1 = date(2026, 11, 2)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("edf")
    record_nights(d, "p1", [(D1, 30.0, 70, 1)], hours=1.0)
    return d


@pytest.fixture(scope="module")
def night(data_dir: Path):  # type: ignore[no-untyped-def]
    store = LocalStore(data_dir / "events.sqlite3")
    try:
        (nd,) = load_nights(store, "p1")
    finally:
        store.close()
    return nd


def test_edf_annotations_read_back_with_pyedflib(
    data_dir: Path,
    tmp_path: Path,
    night,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    import pyedflib

    out = tmp_path / "x"
    assert main(["export", "--format", "edf", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    capsys.readouterr()
    (edf,) = sorted((out / "edf").glob("*.edf"))
    assert edf.name == "p1_2026-11-02.edf"
    f = pyedflib.EdfReader(str(edf))
    try:
        onsets, durations, texts = f.readAnnotations()
        start = f.getStartdatetime()
        equipment = f.getEquipment()
        labels = f.getSignalLabels()
        per_min = f.readSignal(0)
        patient = f.getPatientCode()
    finally:
        f.close()
    texts = [str(t) for t in texts]
    assert patient == "p1" and equipment == f"jerkmon {detector_version}"  # EDF+: _ reads as space
    assert texts[0] == f"jerkmon {detector_version} detector"
    pieces = [t for t in texts if t.startswith("jerkmon config ")]
    assert [p.split()[2] for p in pieces] == [
        f"{k}/{len(pieces)}" for k in range(1, len(pieces) + 1)
    ]
    config = json.loads("".join(p.split(" ", 3)[3] for p in pieces))
    assert config == night.detector_config()
    # One annotation per sensor event, labelled by kind and bilateral flag, at its onset.
    events = night.events
    jerk_anns = [(o, t) for o, t in zip(onsets, texts, strict=True) if t.startswith("jerk ")]
    jerk_anns = [(o, t) for o, t in jerk_anns if t != "jerk series"]
    assert len(jerk_anns) == len(events) > 0
    t0 = night.record.start_s
    whole = int(t0)  # EDF starts on a whole second (UTC)
    assert start.replace(tzinfo=UTC).timestamp() == whole  # the header's clock is UTC
    got = sorted(o for o, _ in jerk_anns)
    want = sorted(e.event.onset - whole for e in events)
    np.testing.assert_allclose(got, want, atol=1e-3)
    for (_, t), e in zip(
        sorted(jerk_anns), sorted(events, key=lambda e: e.event.onset), strict=True
    ):
        assert t.split()[1] == e.event.kind and ("bilateral" in t) == e.bilateral
    assert texts.count("sleep onset") == len(night.periods) and texts.count("wake") == len(
        night.periods
    )
    assert texts.count("jerk series") >= 1
    assert texts.count("signal gap") == len(night.gaps)
    # The signal: jerks per minute, exact counts summing to the events.
    assert labels == ["Jerks/min"]
    assert per_min.sum() == pytest.approx(len(events), abs=1e-6)
    assert np.allclose(per_min, np.round(per_min))
    dur = [d for d, t in zip(durations, texts, strict=True) if t == "jerk series"]
    assert all(d > 0 for d in dur)


def test_bids_events_and_sidecar(
    data_dir: Path,
    tmp_path: Path,
    night,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    out = tmp_path / "b"
    assert main(["export", "--format", "bids", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    capsys.readouterr()
    tsv = out / "sub-p1" / "ses-20261102" / "motion" / "sub-p1_ses-20261102_task-sleep_events.tsv"
    side = tsv.with_suffix(".json")
    with tsv.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    header = list(rows[0])
    assert header[:3] == ["onset", "duration", "trial_type"]
    meta = json.loads(side.read_text())
    for col in header:  # every column described, units where it has one
        assert "Description" in meta[col]
    assert meta["onset"]["Units"] == "s" and meta["peak_acc_g"]["Units"] == "g"
    assert set(meta["trial_type"]["Levels"]) >= {r["trial_type"] for r in rows}
    gen = meta["GeneratedBy"][0]
    assert gen["Name"] == "jerkmon" and gen["Version"] == detector_version
    assert gen["Configuration"] == night.detector_config()
    onsets = [float(r["onset"]) for r in rows]
    assert onsets == sorted(onsets) and min(onsets) >= 0
    jerks = [
        r for r in rows if r["trial_type"].startswith("jerk ") and r["trial_type"] != "jerk series"
    ]
    assert len(jerks) == len(night.events)
    assert all(r["peak_acc_g"] != "n/a" and r["bilateral"] in ("true", "false") for r in jerks)
    assert all(r["peak_acc_g"] == "n/a" for r in rows if r["trial_type"] == "sleep onset")
