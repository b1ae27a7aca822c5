"""The InfluxDB 2.x code paths, against a recording stand-in server.

There is no InfluxDB 2.x server in this environment (Debian ships 1.x only), so these tests
use :class:`tests.influx_server.RecordingServer`, a small local HTTP server that answers like
2.x and records each request — the one place the storage tests use a stand-in.  They check
the requests our code builds (path, query, headers, gzip body) and how answers are handled;
the 1.x paths are tested against a real influxd in ``test_storage_influx.py``.
"""

from __future__ import annotations

import gzip
import logging
import time
from pathlib import Path

import numpy as np
import pytest

from detector.errors import InfluxRejectedError, InfluxUnavailableError
from detector.events import JerkEvent
from storage import InfluxConfig, Storage, StorageOptions
from storage.influx import InfluxLink, ServerInfo, V1Writer, V2Writer, parse_retry_after
from tests.influx_server import RecordingServer, Reply

FAST = StorageOptions(retry_initial_s=0.05, retry_max_s=0.2, events_linger_s=0, raw_linger_s=0)
TOKEN = "s3cr3t-t0ken-value"


def _event(t: float) -> JerkEvent:
    return JerkEvent(t, 0.1, 50.0, 1.0, "myoclonic", None, 0.9)


def test_v2_requests(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with RecordingServer("v2.7.11") as srv:
        cfg = InfluxConfig(url=srv.url, org="home", bucket="jerks", token=TOKEN, create=True)
        assert TOKEN not in repr(cfg) and TOKEN not in str(cfg)
        storage = Storage(tmp_path / "d", cfg, FAST)
        t0 = 1_763_000_000.0
        storage.add_events("s1", "w", "left", [_event(t0), _event(t0 + 1.5)], [True, False])
        storage.add_imu("s1", "w", "left", t0 + np.arange(3) / 100, np.eye(3))
        assert storage.flush(10.0)
        assert storage.status().influx_api == "v2"
        storage.close()
        writes = srv.writes()
        assert {w.path for w in writes} == {"/api/v2/write"}
        by_bucket: dict[str, list[str]] = {}
        for w in writes:
            by_bucket.setdefault(w.query["bucket"][0], []).extend(w.text.splitlines())
        assert set(by_bucket) == {"jerks", "jerks_raw"}
        for w in writes:
            assert w.method == "POST"
            assert w.query["org"] == ["home"] and w.query["precision"] == ["ns"]
            assert w.headers["Authorization"] == f"Token {TOKEN}"
            assert w.headers.get("Content-Encoding") == "gzip"
        events = [line for line in by_bucket["jerks"] if line.startswith("jerk_event")]
        assert events[0].startswith("jerk_event,sensor=w,side=left,subject=s1 ")
        assert 'kind="myoclonic"' in events[0] and "provisional=false" in events[0]
        assert events[0].endswith(" 1763000000000000000") and "bilateral=true" in events[0]
        raw = by_bucket["jerks_raw"]
        prefix = "imu,sensor=w,side=left,subject=s1 "
        assert raw[0] == prefix + "ax=1.000000,ay=0.000000,az=0.000000 1763000000000000000"
        assert len(raw) == 3
        # Set-up looked for both buckets (found: nothing created).
        looked = [r.query.get("name", [""])[0] for r in srv.requests if r.path == "/api/v2/buckets"]
        assert set(looked) == {"jerks", "jerks_raw"}
    assert TOKEN not in caplog.text


def test_v1_compat_on_2x_with_database_only(tmp_path: Path) -> None:
    with RecordingServer("2.7.4") as srv:
        cfg = InfluxConfig(url=srv.url, db="jerkmon", token=TOKEN, create=True)
        storage = Storage(tmp_path / "d", cfg, FAST)
        storage.add_events("s1", "w", "left", [_event(1_763_000_000.0)])
        storage.add_imu("s1", "w", "left", [1_763_000_000.0], [[0.0, 0.0, 1.0]])
        assert storage.flush(10.0)
        storage.close()
        writes = srv.writes()
        assert {w.path for w in writes} == {"/write"}
        dbs = {w.query["db"][0] for w in writes}
        assert dbs == {"jerkmon", "jerkmon_raw"}  # raw: its own DBRP-mapped bucket
        assert all("rp" not in w.query for w in writes)
        assert all(w.headers["Authorization"] == f"Token {TOKEN}" for w in writes)
        assert all(gzip.decompress(w.body).endswith(b"\n") for w in writes)


def test_api_pick_without_version_header() -> None:
    cfg = InfluxConfig(url="http://127.0.0.1:1", org="o", bucket="b", token=TOKEN, create=True)
    with RecordingServer(version=None) as srv:
        link = InfluxLink(InfluxConfig(**{**cfg.__dict__, "url": srv.url}))
        assert link.connect()[1] == "v2"  # the empty probe write was not a 404
        srv.queue("/api/v2/write", Reply(404, b"404 page not found\n"))
        link = InfluxLink(InfluxConfig(**{**cfg.__dict__, "url": srv.url}))
        assert link.connect()[1] == "v1"


def test_answers_are_classified() -> None:
    with RecordingServer("v2.7.11") as srv:
        cfg = InfluxConfig(url=srv.url, org="o", bucket="b", token=TOKEN, create=True)
        v2 = V2Writer(cfg, ServerInfo("v2.7.11"))
        srv.queue("/api/v2/write", Reply(429, b'{"message":"slow down"}', {"Retry-After": "7"}))
        with pytest.raises(InfluxUnavailableError) as unavailable:
            v2.write(b"m v=1 1\n", "events")
        assert unavailable.value.retry_after_s == 7.0
        srv.queue(
            "/api/v2/write",
            Reply(422, b'{"code":"unprocessable entity","message":"failure writing points"}'),
        )
        with pytest.raises(InfluxRejectedError) as rejected:
            v2.write(b"m v=1 1\n", "events")
        assert rejected.value.status == 422
        assert rejected.value.server_message == "failure writing points"
        v2.close()
        v1 = V1Writer(InfluxConfig(url=srv.url, db="x", create=True), ServerInfo("1.8.10"))
        srv.queue("/write", Reply(503, b"busy", {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}))
        with pytest.raises(InfluxUnavailableError) as busy:
            v1.write(b"m v=1 1\n", "events")
        assert busy.value.retry_after_s is not None and busy.value.retry_after_s > 1e6
        v1.close()
    with pytest.raises(InfluxUnavailableError, match="unreachable"):
        V1Writer(
            InfluxConfig(url="http://127.0.0.1:1", db="x", create=True), ServerInfo("1.8")
        ).write(b"m v=1 1\n", "events")


def test_retry_after_is_honoured_then_delivered(tmp_path: Path) -> None:
    with RecordingServer("v2.7.11") as srv:
        srv.queue("/api/v2/write", Reply(503, b"", {"Retry-After": "1"}), Reply(500, b"oops"))
        cfg = InfluxConfig(url=srv.url, org="o", bucket="b", token=TOKEN, create=True)
        storage = Storage(tmp_path / "d", cfg, FAST)
        start = time.monotonic()
        storage.add_events("s1", "w", "left", [_event(1_763_000_000.0)])
        assert storage.flush(10.0)
        assert time.monotonic() - start >= 0.9  # waited the server's Retry-After
        stats = storage.status().streams["events"].forwarder
        assert stats is not None and stats.retries == 2 and stats.sent_lines == 1
        storage.close()
        assert len(srv.writes()) == 3


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
