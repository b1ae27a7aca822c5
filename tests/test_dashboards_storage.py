"""The dashboards read where the writer wrote: the raw panel's measurement comes from the
same storage settings (and the server's version), tested against a real influxd 1.x."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jerkmon.cli import main
from storage.influxd import LocalInfluxd
from tests.influx_server import influx_query, rows


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("JERKMON_"):
            monkeypatch.delenv(var)


def _raw_query(directory: Path) -> str:
    doc = json.loads((directory / "dashboards" / "jerkmon" / "jerkmon-night.json").read_text())
    panels = [p for p in doc["panels"] if "imu" in json.dumps(p.get("targets", []))]
    (panel,) = panels
    query: str = panel["targets"][0]["query"]
    return query


def test_raw_panel_reads_where_the_writer_writes(
    running_influxd: LocalInfluxd, db_name: str, tmp_path: Path
) -> None:
    url = running_influxd.url
    assert main(["dashboards", "export", str(tmp_path / "none")]) == 0
    assert '"jerkmon_raw"."autogen"."imu"' in _raw_query(tmp_path / "none")  # 2.x default
    # Against the 1.x server the run writes to: its raw retention policy, found by the query.
    argv = ["--url", url, "--db", db_name]
    assert main(["dashboards", "export", str(tmp_path / "v1"), *argv]) == 0
    query = _raw_query(tmp_path / "v1")
    assert 'FROM "raw"."imu"' in query
    run = ["run", "--sim", "--hours", "0.1", "--rate", "25", "--speed", "max", "--raw"]
    run += ["--subject", "d1", "--data-dir", str(tmp_path / "d"), "--quiet", "--create-db"]
    assert main([*run, *argv]) == 0
    got = rows(influx_query(url, 'SELECT count("ax") FROM "raw"."imu"', db_name))
    assert got and got[0]["count"] > 0.9 * 0.1 * 3600 * 25
    prov = (tmp_path / "v1" / "datasources" / "jerkmon.yaml").read_text()
    assert "Token" not in prov  # 1.x flavour: user/password auth, no token header
