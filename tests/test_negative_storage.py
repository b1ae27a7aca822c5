"""Negative myoclonus in storage: the local store (and its migration), InfluxDB points and
the conditions that keep it out of the jerk counts, the report and the export."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from detector.events import JerkEvent, MinuteCount
from reports.export import events_frame
from reports.html import render_report
from reports.nightdata import load_nights
from storage import Night, Storage
from storage.influxd import LocalInfluxd
from storage.influxread import InfluxReader
from storage.local import LocalStore
from storage.schema import COUNTED, JERKS, NEGATIVE, count_line, event_line
from tests.influx_server import influx_query, rows
from tests.test_storage_lineproto import _write

T0 = 1_763_000_000.0


def _ev(t: float, kind: str = "myoclonic") -> JerkEvent:
    return JerkEvent(t, 0.3, 20.0, 0.6, kind, None, 0.9, state="awake")  # type: ignore[arg-type]


def test_local_store_keeps_negative_counts_and_migrates_old_stores(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    store = LocalStore(path)
    store.add_counts("ana", "wl", "left", [MinuteCount(T0, 2, 0, 2, 60.0, 60.0, negative=3)])
    store.add_night(Night("ana", T0, T0 + 3600, jerks=2, negative=3))
    (c,) = store.minute_counts("ana", T0, T0 + 60)
    assert c.count.negative == 3 and c.count.count == 2
    assert store.nights("ana")[0].negative == 3
    store.close()
    # A store from before the column: it is added, old rows read as none counted.
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE counts DROP COLUMN negative")
    db.execute("ALTER TABLE nights DROP COLUMN negative")
    db.commit()
    db.close()
    again = LocalStore(path)
    (c,) = again.minute_counts("ana", T0, T0 + 60)
    assert c.count.negative == 0 and c.count.count == 2
    assert again.nights("ana")[0].negative is None
    again.close()


def test_influx_points_count_negative_apart(running_influxd: LocalInfluxd, db_name: str) -> None:
    url = running_influxd.url
    influx_query(url, f'CREATE DATABASE "{db_name}"')
    t0 = float(int(time.time()) // 60 * 60 - 600)
    lines = [
        event_line("s1", "wl", "left", _ev(t0 + 1.0), False),
        event_line("s1", "wl", "left", _ev(t0 + 5.0, "negative"), False),
        event_line("s1", "wl", "left", _ev(t0 + 9.0, "hypnic"), False),
        count_line("s1", "wl", "left", MinuteCount(t0, 2, 1, 1, 60.0, 60.0, negative=1)),
    ]
    _write(url, db_name, "\n".join(lines) + "\n")

    def count(cond: str) -> int:
        q = f'SELECT count("duration_s") FROM "jerk_event" WHERE {cond}'
        return int(rows(influx_query(url, q, db_name))[0]["count"])

    assert count(COUNTED) == 3  # every event
    assert count(JERKS) == 2  # the jerks
    assert count(f"\"kind\" = '{NEGATIVE}'") == 1
    reader = InfluxReader(url, db_name)
    (c,) = reader.minute_counts("s1", t0, t0 + 60)
    assert c.count.negative == 1 and c.count.count == 2
    assert sorted(e.event.kind for e in reader.events("s1", t0, t0 + 60)) == [
        "hypnic",
        "myoclonic",
        "negative",
    ]


def test_report_and_export_show_negative_myoclonus_apart(tmp_path: Path) -> None:
    with Storage(tmp_path / "d") as storage:
        evs = [_ev(T0 + 100), _ev(T0 + 200, "negative"), _ev(T0 + 300, "negative")]
        storage.add_events("ana", "wl", "left", evs)
        storage.add_counts(
            "ana",
            "wl",
            "left",
            [MinuteCount(T0 + 60 * k, 0, 0, 0, 60.0, 60.0) for k in range(10)],
        )
        storage.add_night(Night("ana", T0, T0 + 600, jerks=1, negative=2))
        (nd,) = load_nights(storage.store, "ana")
    assert nd.record.jerks == 1 and len(nd.jerks) == 1
    assert nd.record.negative == 2 and len(nd.negative) == 2
    html = render_report([nd], "ana", responses=[])
    assert "negative myoclonus (lapses of tone, not jerks)" in html
    frame = events_frame([nd])
    assert list(frame["kind"]) == ["myoclonic", "negative", "negative"]
    assert frame["jerk_id"].isna().tolist() == [False, True, True]
