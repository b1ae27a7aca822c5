"""The InfluxDB token never leaves the process except in the Authorization header: every
byte the commands write - stdout, stderr (the log), spool, quarantine, SQLite store,
reports, exports - is scanned for it, through a night the server refuses (401), the
CRLF-edited ``.env`` case, ``flush``, ``report``, ``export`` and ``dashboards nights``."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

from storage.influxd import LocalInfluxd
from tests.runproc import REPO

TOKEN = "jm-tok-7Qx3vN9pL2kR8sW4"


def jerkmon(argv: list[str], token: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JERKMON_")}
    env.update(PYTHONPATH=str(REPO), JERKMON_INFLUX_TOKEN=token, JERKMON_DEBUG="1")
    return subprocess.run(
        [sys.executable, "-m", "jerkmon.cli", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=300,
    )


def forms(secret: str) -> list[bytes]:
    """The token as it could leak: plain, in a repr, base64 (an Authorization header dump),
    and its first 12 characters (a truncated message)."""
    raw = secret.encode()
    return [raw, repr(secret).encode(), base64.b64encode(raw), raw[:12]]


def leaks(blobs: dict[str, bytes], secret: str) -> list[str]:
    return sorted(name for name, blob in blobs.items() if any(f in blob for f in forms(secret)))


def test_no_output_or_file_holds_the_token(
    influxd_auth: LocalInfluxd, db_name: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    url = influxd_auth.url
    common = ["--data-dir", str(data), "--url", url, "--db", db_name]
    night = ["run", "--sim", "--sensors", "2", "--hours", "0.2", "--speed", "max"]
    night += ["--subject", "s01", "--rate", "50", "--drain-timeout", "5", *common]
    done = [
        # the server refuses the token: 401s, quarantined batches with its message
        jerkmon(night, TOKEN),
        jerkmon(["flush", "--timeout", "5", *common], TOKEN),
        jerkmon(["flush", "--timeout", "5", "--retry-quarantine", *common], TOKEN),
        # a CRLF-edited .env: refused at load, without echoing it
        jerkmon(["flush", *common], TOKEN + "\r"),
        jerkmon([*night, "--replace"], TOKEN + "\r\n"),
        jerkmon(["dashboards", "nights", "--timeout", "5", *common], TOKEN),
        jerkmon(["report", "--subject", "s01", "--data-dir", str(data)], TOKEN),
        jerkmon(["export", "--format", "csv", "--data-dir", str(data)], TOKEN),
    ]
    codes = [p.returncode for p in done]
    assert codes[0] == 1 and codes[1] == codes[2] == 1  # refused, reported, kept
    assert codes[3] == codes[4] == 2  # the CRLF token is a configuration error
    err = b"".join(p.stderr for p in done)
    assert b"401" in err and b"quarantine" in err
    assert b"JERKMON_INFLUX_TOKEN" in done[3].stderr  # names the variable, not the value
    blobs = {f"stdout {i}": p.stdout for i, p in enumerate(done)}
    blobs |= {f"stderr {i}": p.stderr for i, p in enumerate(done)}
    files = [p for p in data.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".jms", ".sqlite3", ".html", ".csv", ".lp"}
    blobs |= {str(p.relative_to(data)): p.read_bytes() for p in files}
    assert leaks(blobs, TOKEN) == []
    # the scan would see it: a file holding it is caught
    assert leaks({**blobs, "x": b"header: Token " + TOKEN.encode()}, TOKEN) == ["x"]
