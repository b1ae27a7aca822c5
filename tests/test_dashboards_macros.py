"""Grafana's substitution rules (frontend templateSrv + InfluxDB backend Build), and the
annotate / push commands."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from dashboards.grafana_macros import (
    ALL_VALUE,
    QueryContext,
    TimeRange,
    Variable,
    calculate_interval,
    format_interval,
    interpolate,
    regex_escape,
    render_query,
    round_interval,
    seconds_to_hms,
    unresolved,
)
from dashboards.model import DashboardOptions
from detector.errors import ConfigError
from jerkmon.cli import main
from jerkmon.commands.annotate import parse_time
from storage import LocalStore

RANGE = TimeRange(1_700_000_000_000, 1_700_028_800_000)  # 8 h


def test_regex_escape_matches_kbn() -> None:
    assert regex_escape("s1.a/b+(c)|d[e]{f}^$*?\\") == (
        "s1\\.a\\/b\\+\\(c\\)\\|d\\[e\\]\\{f\\}\\^\\$\\*\\?\\\\"
    )
    assert regex_escape("left-wrist_01") == "left-wrist_01"  # '-' is not escaped


def test_variables_single_multi_all_and_explicit_format() -> None:
    v = {
        "subject": Variable("subject", "s.1"),
        "sensor": Variable("sensor", ("a", "b/c")),
        "all": Variable("all", (ALL_VALUE,), options=("x", "y.z")),
        "custom_all": Variable("custom_all", ALL_VALUE, options=("x",), all_value=".*"),
        "one": Variable("one", ("only",)),
        "change": Variable("change", "2025-01-02T03:04:05.5Z"),
    }
    q = (
        "a=~/^$subject$/ b=~/^${sensor}$/ c=~/^[[all]]$/ d=~/^$custom_all$/ e=$one "
        "t<'${change:raw}' f=${subject:singlequote} g=$unknown h=${__from} i=${__to:date:seconds}"
    )
    out = interpolate(q, v, "regex", time_range=RANGE)
    assert out == (
        "a=~/^s\\.1$/ b=~/^(a|b\\/c)$/ c=~/^(x|y\\.z)$/ d=~/^.*$/ e=only "
        "t<'2025-01-02T03:04:05.5Z' f='s.1' g=$unknown h=1700000000000 i=1700028800"
    )
    assert unresolved(out) == ["$unknown"]
    # glob (default format) and queryparam, as dashboard links use them
    assert interpolate("${sensor}", v) == "{a,b/c}"
    assert interpolate("${sensor:queryparam}", v) == "var-sensor=a&var-sensor=b%2Fc"


def test_interval_rounding_and_texts() -> None:
    assert round_interval(28_800_000 / 1000) == 30_000  # 28.8 s -> 30 s
    assert round_interval(24_999) == 20_000 and round_interval(9) == 1
    assert calculate_interval(RANGE, 1000) == (30_000, "30s")
    assert calculate_interval(RANGE, 200, "1m") == (120_000, "2m")
    assert calculate_interval(TimeRange(0, 5000), 1000, "5s") == (5000, "5s")
    assert calculate_interval(TimeRange(0, 5000), 1000) == (1, "1ms")  # 5 ms rounds to 1 ms
    assert seconds_to_hms(90) == "1m" and format_interval(90_000) == "1m"
    assert format_interval(0) == "1ms" and format_interval(86_400_000 * 2) == "2d"


def test_backend_and_classic_rendering() -> None:
    q = (
        'SELECT mean("x") FROM "m" WHERE "s" =~ /^$subject$/ AND $timeFilter '
        "GROUP BY time($__interval) LIMIT $__interval_ms OFFSET $interval"
    )
    v = {"subject": Variable("subject", "s1")}
    backend = render_query(q, QueryContext(v, RANGE, 20_000))
    expected = (
        'SELECT mean("x") FROM "m" WHERE "s" =~ /^s1$/ AND '
        "time >= 1700000000000ms and time <= 1700028800000ms "
        "GROUP BY time(20s) LIMIT 20000 OFFSET 20s"
    )
    assert backend == expected
    classic = render_query(q, QueryContext(v, RANGE, 20_000, mode="classic"))
    assert classic == expected
    relative = TimeRange(RANGE.from_ms, RANGE.to_ms, raw_from="now-8h", raw_to="now")
    assert "time >= now() - 8h and time <= now()" in render_query(
        q, QueryContext(v, relative, 20_000, mode="classic")
    )


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError):
        DashboardOptions(cluster_threshold=1)
    with pytest.raises(ConfigError):
        DashboardOptions(raw_measurement="imu; DROP")
    with pytest.raises(ConfigError):
        DashboardOptions(change_default="yesterday")


def test_annotate_parses_times_and_stores_locally(tmp_path: Path, monkeypatch: Any) -> None:
    assert parse_time("1700000000") == 1_700_000_000
    assert parse_time("2023-11-14T22:13:20Z") == 1_700_000_000
    assert parse_time("2023-11-14 23:13:20+01:00") == 1_700_000_000
    with pytest.raises(ConfigError):
        parse_time("next tuesday")
    for var in ("JERKMON_INFLUX_URL", "JERKMON_INFLUX_DB"):
        monkeypatch.delenv(var, raising=False)
    code = main(
        [
            "annotate",
            "--subject",
            "s9",
            "--at",
            "1700000000",
            "--text",
            "clonazepam 0.5 mg -> 1 mg",
            "--data-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    store = LocalStore(tmp_path / "events.sqlite3")
    try:
        (note,) = store.annotations("s9")
    finally:
        store.close()
    assert (note.time_s, note.text) == (1_700_000_000, "clonazepam 0.5 mg -> 1 mg")
    assert main(["annotate", "--subject", "s9", "--at", "soon", "--text", "x"]) == 2


class _Recorder(BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[str, str, str, Any]]] = []

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.calls.append((self.command, self.path, self.headers["Authorization"], body))
        status, answer = 200, {"url": "/d/x"}
        if self.command == "POST" and self.path == "/api/folders":
            status = 409  # exists already
        if self.command == "PUT" and "alert-rules" in self.path:
            status = 404  # not there yet: push must POST it
        if self.command == "GET":
            answer = {"title": "jerkmon-live", "interval": 60, "rules": []}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _handle

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_grafana() -> Iterator[str]:
    """A loopback HTTP server recording requests (no Grafana server can run here)."""
    _Recorder.calls = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_push_uploads_dashboards_and_alert_rule(fake_grafana: str, monkeypatch: Any) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    assert main(["dashboards", "push", "--grafana-url", fake_grafana]) == 2  # no token
    monkeypatch.setenv("GRAFANA_TOKEN", "glsa_test")
    assert main(["dashboards", "push", "--grafana-url", fake_grafana]) == 0
    calls = _Recorder.calls
    assert all(auth == "Bearer glsa_test" for _, _, auth, _ in calls)
    boards = [b for m, p, _, b in calls if p == "/api/dashboards/db"]
    assert sorted(b["dashboard"]["uid"] for b in boards) == [
        "jerkmon-cohort",
        "jerkmon-live",
        "jerkmon-night",
        "jerkmon-trends",
    ]
    assert all(b["overwrite"] and b["folderUid"] == "jerkmon" for b in boards)
    posted = [b for m, p, _, b in calls if m == "POST" and p == "/api/v1/provisioning/alert-rules"]
    assert posted and posted[0]["uid"] == "jerkmon-cluster"
    assert "$timeFilter" in posted[0]["data"][0]["model"]["query"]  # API: no $$ escaping


def test_stack_files_hold_no_secret_and_make_env_generates_them(tmp_path: Path) -> None:
    import shutil
    import subprocess

    import yaml  # type: ignore[import-untyped]

    root = Path(__file__).resolve().parents[1]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    assert {"influxdb", "grafana", "jerkmon", "jerkmon-ble", "dashboards"} <= set(
        compose["services"]
    )
    # the BLE service shares the host's network: InfluxDB is the port published on loopback
    ble = compose["services"]["jerkmon-ble"]
    assert ble["network_mode"] == "host"
    assert ble["environment"]["JERKMON_INFLUX_URL"] == "http://127.0.0.1:8086"
    assert "127.0.0.1:8086:8086" in compose["services"]["influxdb"]["ports"]
    text = (root / "docker-compose.yml").read_text()
    for secret in ("INFLUXDB_TOKEN", "INFLUXDB_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        assert f"${{{secret}:?" in text  # required from .env, no default
    example = dict(
        line.split("=", 1)
        for line in (root / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert example["INFLUXDB_TOKEN"] == example["GRAFANA_ADMIN_PASSWORD"] == ""
    (tmp_path / "scripts").mkdir()
    shutil.copy(root / ".env.example", tmp_path)
    shutil.copy(root / "scripts" / "make-env.sh", tmp_path / "scripts")
    envs = []
    for _ in range(2):
        done = subprocess.run(
            ["bash", "scripts/make-env.sh", "--force"],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            text=True,
        )
        env = dict(
            line.split("=", 1)
            for line in (tmp_path / ".env").read_text().splitlines()
            if line and not line.startswith("#")
        )
        # secrets only in .env: the output says where, never what
        for secret in ("INFLUXDB_TOKEN", "INFLUXDB_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
            assert env[secret] not in done.stdout + done.stderr
        assert "GRAFANA_ADMIN_PASSWORD in" in done.stdout
        assert len(env["INFLUXDB_TOKEN"]) >= 60 and len(env["INFLUXDB_ADMIN_PASSWORD"]) >= 30
        assert (tmp_path / ".env").stat().st_mode & 0o077 == 0
        envs.append(env)
    assert envs[0]["INFLUXDB_TOKEN"] != envs[1]["INFLUXDB_TOKEN"]
    assert subprocess.run(["bash", "scripts/make-env.sh"], cwd=tmp_path).returncode == 1
