"""Line protocol encoding: escaping rules, and a round trip through a real influxd."""

from __future__ import annotations

import math
import time
import urllib.request

import numpy as np
import pytest

from detector.errors import InputError
from detector.events import JerkEvent, MinuteCount
from storage.influxd import LocalInfluxd
from storage.lineproto import encode_line, format_field_value, seconds_to_ns
from storage.schema import (
    ActivityAggregator,
    SensorStatus,
    count_line,
    event_line,
    imu_payload,
    status_line,
)
from tests.influx_server import influx_query, rows


def test_escaping_rules() -> None:
    line = encode_line(
        "my m,eas",
        {"t k": "a,b=c d", "a": "x"},
        {"f=1": 1.5, "s": 'say "hi" \\ there', "i": 3, "b": True, "n": None},
        123,
    )
    assert line == (
        r"my\ m\,eas,a=x,t\ k=a\,b\=c\ d f\=1=1.5,s="
        + '"say \\"hi\\" \\\\ there"'
        + ",i=3i,b=true 123"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (np.bool_(False), "false"),
        (-(2**63), f"{-(2**63)}i"),
        (np.int64(7), "7i"),
        (0.1, "0.1"),
        (1e20, "1e+20"),
        (np.float32(0.5), "0.5"),
        ("", '""'),
    ],
)
def test_field_values(value: object, text: str) -> None:
    assert format_field_value(value) == text


@pytest.mark.parametrize(
    "bad",
    [
        lambda: format_field_value(math.nan),
        lambda: format_field_value(math.inf),
        lambda: format_field_value(2**63),
        lambda: format_field_value([1]),
        lambda: format_field_value("two\nlines"),
        lambda: encode_line("#m", {}, {"a": 1}, 1),
        lambda: encode_line("m", {"t": "ends\\"}, {"a": 1}, 1),
        lambda: encode_line("m", {"t": "a\\,b"}, {"a": 1}, 1),
        lambda: encode_line("m", {"": "x"}, {"a": 1}, 1),
        lambda: encode_line("m", {"t": "x"}, {"a": None}, 1),
        lambda: encode_line("m", {"t": "x\n"}, {"a": 1}, 1),
        lambda: encode_line("m", {}, {"a": 1}, 1.5),  # type: ignore[arg-type]
        lambda: seconds_to_ns(math.nan),
    ],
)
def test_invalid_inputs_raise(bad: object) -> None:
    assert callable(bad)
    with pytest.raises(InputError):
        bad()


def test_empty_tag_values_are_left_out() -> None:
    assert encode_line("m", {"a": "", "b": "x"}, {"v": 1}, 5) == "m,b=x v=1i 5"


def test_seconds_to_ns_is_deterministic() -> None:
    t = 1_763_000_000.123456
    assert seconds_to_ns(t) == seconds_to_ns(t)
    assert seconds_to_ns(60.0) == 60_000_000_000


def _write(url: str, db: str, body: str) -> None:
    req = urllib.request.Request(f"{url}/write?db={db}&precision=ns", data=body.encode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204


def test_round_trip_through_influxd(running_influxd: LocalInfluxd, db_name: str) -> None:
    url = running_influxd.url
    influx_query(url, f'CREATE DATABASE "{db_name}"')
    tricky_tag = "Ana María, left=wrist \\o/"
    tricky_string = 'quote " backslash \\ comma, equals= space'
    line = encode_line(
        "odd meas,ure",
        {"subject": tricky_tag, "sensor key": "x=1"},
        {"s": tricky_string, "i": -42, "b": False, "f": 1e-7, "big": 2**62, "odd key,=": 1.0},
        1_700_000_000_123_456_789,
    )
    _write(url, db_name, line + "\n")
    doc = influx_query(url, 'SELECT * FROM "odd meas,ure"', db_name)
    (row,) = rows(doc)
    assert row["subject"] == tricky_tag
    assert row["sensor key"] == "x=1"
    assert row["s"] == tricky_string
    assert row["i"] == -42 and row["b"] is False and row["f"] == 1e-7
    assert row["big"] == 2**62 and row["odd key,="] == 1.0
    assert row["time"] == "2023-11-14T22:13:20.123456789Z"


def test_schema_lines_through_influxd(running_influxd: LocalInfluxd, db_name: str) -> None:
    url = running_influxd.url
    influx_query(url, f'CREATE DATABASE "{db_name}"')
    t0 = float(int(time.time()) // 60 * 60 - 600)
    ev = JerkEvent(t0 + 1.25, 0.12, 85.0, 1.4, "hypnic", 3, 0.8, clipped=True)
    lines = [
        event_line("s 1", "h10,L", "left", ev, True),
        event_line(
            "s 1", "h10,L", "left", JerkEvent(t0 + 5, 0.1, 9.0, 0.3, "myoclonic", None, 0.5), False
        ),
        count_line("s 1", "h10,L", "left", MinuteCount(t0, 2, 1, 1, 58.5)),
        status_line("s 1", "h10,L", "left", SensorStatus(t0 + 7, "gap", gap_s=2.5, rate_hz=99.5)),
        status_line(
            "s 1", "h10,L", "left", SensorStatus(t0 + 9, "disconnected", detail='lost "link"')
        ),
    ]
    payload, n = imu_payload(
        "s 1",
        "h10,L",
        "left",
        [t0, t0 + 0.01, t0 + 0.02],
        [[0.0, -0.001, 1.0], [np.nan, 0, 0], [1e-7, 2.5, -16.0]],
    )
    assert n == 2
    _write(url, db_name, "\n".join(lines) + "\n" + payload.decode())
    events = rows(influx_query(url, "SELECT * FROM jerk_event ORDER BY time", db_name))
    assert [e["kind"] for e in events] == ["hypnic", "myoclonic"]
    assert events[0]["series"] == 3 and events[1]["series"] == 0
    assert events[0]["bilateral"] is True and events[0]["clipped"] is True
    assert events[0]["time"].endswith(".25Z") and events[0]["sensor"] == "h10,L"
    (count,) = rows(influx_query(url, "SELECT * FROM jerk_count", db_name))
    assert (count["count"], count["hypnic"], count["myoclonic"], count["covered_s"]) == (
        2,
        1,
        1,
        58.5,
    )
    status = rows(influx_query(url, "SELECT * FROM sensor_status ORDER BY time", db_name))
    assert [s["state"] for s in status] == ["gap", "disconnected"]
    assert status[0]["gap_s"] == 2.5 and status[0]["connected"] is True
    assert status[1]["connected"] is False and status[1]["detail"] == 'lost "link"'
    imu = rows(influx_query(url, "SELECT ax, ay, az FROM imu ORDER BY time", db_name))
    assert [(r["ax"], r["ay"], r["az"]) for r in imu] == [(0.0, -0.001, 1.0), (0.0, 2.5, -16.0)]


def test_activity_aggregator_epochs() -> None:
    agg = ActivityAggregator(epoch_s=5.0)
    t = 1000.0 + np.arange(0, 12, 0.5)  # 1000.0 .. 1011.5
    acc = np.tile([0.0, 0.0, 2.0], (t.size, 1))  # |a| = 2 g: ENMO 1 g, arm vertical (90°)
    first = agg.add(t[:7], acc[:7])  # up to 1003.0: no epoch complete
    assert first == []
    done = agg.add(t[7:], acc[7:])
    assert [e.start_s for e in done] == [1000.0, 1005.0]
    assert done[0].samples == 10 and done[0].enmo_g == pytest.approx(1.0)
    assert done[0].angle_z_deg == pytest.approx(90.0)
    (last,) = agg.finish()
    assert last.start_s == 1010.0 and last.samples == 4


def test_vectorised_times_match_scalar() -> None:
    from storage.schema import _times_ns

    rng = np.random.default_rng(3)
    t = 1.7e9 + rng.uniform(0, 1e6, 2000)
    t[:3] = [1.7e9 + 1.25, 1.7e9 + 0.0000005, 1.7e9 + 0.9999996]
    assert _times_ns(t).tolist() == [seconds_to_ns(float(x)) for x in t]
    assert seconds_to_ns(1.7e9 + 1.25) % 1_000_000_000 == 250_000_000
