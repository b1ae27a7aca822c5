"""The InfluxQL reader against a real influxd 1.x: nights written through Storage with an
InfluxConfig read back exactly as the local store holds them, and reported from there."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from detector.errors import InfluxUnavailableError, StorageError
from jerkmon.cli import main
from reports.html import write_report
from reports.nightdata import load_nights
from storage import Annotation, InfluxConfig, LocalStore, Storage, StorageOptions
from storage.influxd import LocalInfluxd
from storage.influxread import InfluxReader
from tests.test_report import evening, record_nights

FAST = StorageOptions(retry_initial_s=0.05, retry_max_s=0.4, events_linger_s=0.0)
DAYS = [date(2026, 11, 2), date(2026, 11, 3)]


@pytest.fixture
def influx_night(running_influxd: LocalInfluxd, db_name: str, tmp_path: Path) -> Path:
    """Two nights of ``a1`` and one of ``b2``, written through Storage to the local store and
    to InfluxDB; b2's ``night`` point is then deleted (data from before nights were
    published), so its night must be derived from the minute counts."""
    cfg = InfluxConfig(url=running_influxd.url, db=db_name, timeout_s=5.0, create=True)
    data_dir = tmp_path / "data"
    with Storage(data_dir, cfg, FAST) as st:
        record_nights(
            data_dir, "a1", [(d, 20.0, 40 + i, 1) for i, d in enumerate(DAYS)], storage=st
        )
        record_nights(data_dir, "b2", [(DAYS[0], 10.0, 50, 0)], sensors=1, storage=st)
        st.add_annotation(Annotation("a1", evening(DAYS[1], 9), "levetiracetam 500 mg bid"))
        assert st.flush(30.0)
    InfluxReader(running_influxd.url, db_name).query('DELETE FROM "night" WHERE "subject" = \'b2\'')
    return data_dir


def test_influx_reader_matches_the_local_store(
    influx_night: Path, running_influxd: LocalInfluxd, db_name: str
) -> None:
    reader = InfluxReader(running_influxd.url, db_name)
    store = LocalStore(influx_night / "events.sqlite3")
    try:
        assert reader.subjects() == store.subjects() == ["a1", "b2"]
        nights = store.nights("a1")
        assert len(nights) == 2 and nights[0].jerks
        assert reader.nights("a1") == nights
        lo, hi = nights[0].start_s, nights[-1].end_s + 1
        for subject in ("a1", "b2"):
            assert reader.events(subject, lo, hi) == store.events(subject, lo, hi)
            assert reader.minute_counts(subject, lo, hi) == store.minute_counts(subject, lo, hi)
            assert reader.gaps(subject, lo, hi) == store.gaps(subject, lo, hi)
        assert reader.events("a1", lo, hi, sensor="sim-right") == store.events(
            "a1", lo, hi, sensor="sim-right"
        )
        assert reader.annotations("a1") == store.annotations("a1")
        # The same per-night totals, hence the same report, from either source.
        from_influx = [n.record for n in load_nights(reader, "a1")]
        assert from_influx == [n.record for n in load_nights(store, "a1")]
        # No night points for b2: the night is derived from the minute counts, no sleep.
        (derived,) = reader.nights("b2")
        (local,) = store.nights("b2")
        assert abs(derived.start_s - local.start_s) <= 60 and derived.end_s >= local.end_s
        (nd,) = load_nights(reader, "b2")
        assert nd.record.sleep_source == "none" and nd.record.rate_per_h_sleep is None
        assert nd.record.jerks == local.jerks
    finally:
        store.close()


def test_report_from_influx(
    influx_night: Path,
    running_influxd: LocalInfluxd,
    db_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src = ["--influx-url", running_influxd.url, "--influx-db", db_name]
    out = tmp_path / "a1.html"
    argv = ["report", "--subject", "a1", "--from", "2026-11-02", "--to", "2026-11-03"]
    assert main([*argv, *src, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "report of 2 nights written" in printed
    assert "Too little data" in printed  # one night on each side of the change
    page = out.read_text()
    assert f"InfluxDB {running_influxd.url} database {db_name}" in page
    assert page.count("<img ") == 7
    out_b = tmp_path / "b2.html"
    assert main(["report", "--subject", "b2", *src, "--out", str(out_b)]) == 0
    assert "No sleep estimate is stored for this night" in out_b.read_text()
    # Against a local report of the same nights: identical per-night table.
    store = LocalStore(influx_night / "events.sqlite3")
    try:
        local = write_report(tmp_path / "l.html", store, "a1", DAYS[0], DAYS[1])
    finally:
        store.close()
    reader = InfluxReader(running_influxd.url, db_name)
    remote = write_report(tmp_path / "r.html", reader, "a1", DAYS[0], DAYS[1])
    assert remote.nights == local.nights
    assert [dataclasses.astuple(r.comparison) for r in remote.responses] == [
        dataclasses.astuple(r.comparison) for r in local.responses
    ]


def test_influx_reader_errors(running_influxd: LocalInfluxd) -> None:
    with pytest.raises(StorageError, match="database not found"):
        InfluxReader(running_influxd.url, "jm_no_such_db").events("x", 0, 1e10)
    dead = InfluxReader("http://127.0.0.1:9", "db", timeout_s=2.0)
    with pytest.raises(InfluxUnavailableError, match="unreachable"):
        dead.subjects()
