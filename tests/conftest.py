"""Shared fixtures.  The storage tests run against a real InfluxDB 1.x (Debian's influxd).

``influxd`` is session-scoped and started on first use on a free loopback port with its own
temporary data/meta/WAL directories; ``influxd_auth`` is a second instance with
authentication enabled.  When ``influxd`` is not installed the tests fail (never skip):
``scripts/test.sh`` installs it with ``apt-get install influxdb``.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest

from storage.influxd import LocalInfluxd
from tests.runproc import RunProcess


def _require_influxd() -> None:
    if shutil.which("influxd") is None:
        pytest.fail(
            "influxd (InfluxDB 1.x) is not installed: run 'apt-get install -y influxdb' or "
            "scripts/test.sh, which installs it; the storage tests need a real server",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInfluxd]:
    """A running influxd 1.x without authentication (``.url``, ``.kill()``, ``.start()``)."""
    _require_influxd()
    with LocalInfluxd(tmp_path_factory.mktemp("influxd")) as server:
        yield server


@pytest.fixture
def running_influxd(influxd: LocalInfluxd) -> LocalInfluxd:
    """The shared server, (re)started if a previous test left it killed."""
    influxd.start()
    return influxd


@pytest.fixture(scope="session")
def influxd_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInfluxd]:
    """A second influxd with ``auth-enabled``; admin ``admin_user``/``admin_password``."""
    _require_influxd()
    with LocalInfluxd(tmp_path_factory.mktemp("influxd-auth"), auth=True) as server:
        yield server


@pytest.fixture
def db_name() -> str:
    """A fresh database name per test, so tests sharing one server do not interfere."""
    return f"jm_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def spawn() -> Iterator[list[RunProcess]]:
    """Child ``jerkmon run`` processes, killed at the end of the test if still running."""
    started: list[RunProcess] = []
    yield started
    for p in started:
        p.kill()
