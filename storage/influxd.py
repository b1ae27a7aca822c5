"""Run a private InfluxDB 1.x server (Debian's ``influxd``) on loopback.

Used by the test suite and ``benchmarks/ingest.py``; usable by anyone who wants a throwaway
server for a night's data.  The server gets its own data, meta and WAL directories under
``root``, a generated configuration file that binds both the HTTP API and the RPC
(backup/restore) port to 127.0.0.1 on free ports, with usage reporting, the ``_internal``
monitor store, the HTTP access log, the query log and every other listener disabled.

The WAL is fsync'd before each write is acknowledged (``wal-fsync-delay = "0s"``), so a
SIGKILL of the server never loses a write it answered with 204.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType

from detector.errors import StorageError

__all__ = ["LocalInfluxd", "find_influxd", "free_port"]

_INSTALL_HINT = (
    "Debian's InfluxDB server 'influxd' is not on PATH; install it with "
    "'apt-get install -y influxdb' (scripts/test.sh does this)"
)


def find_influxd() -> str:
    """Return the path of the ``influxd`` binary, or raise :class:`StorageError`."""
    path = shutil.which("influxd")
    if path is None:
        raise StorageError(_INSTALL_HINT)
    return path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalInfluxd:
    """One ``influxd`` 1.x process bound to loopback, owning the directory ``root``.

    ``start()`` launches it and waits for ``/ping``; ``kill()`` sends SIGKILL (a crash);
    ``stop()`` sends SIGTERM and waits; ``start()`` again reuses the same directories and
    ports, so data written before a kill is still there.  With ``auth=True`` the HTTP API
    requires credentials: ``start()`` then creates the admin user ``admin_user`` with
    ``admin_password`` (allowed while no user exists).
    """

    def __init__(
        self,
        root: Path,
        *,
        auth: bool = False,
        admin_user: str = "admin",
        admin_password: str = "admin-secret",
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.root = Path(root)
        self.auth = auth
        self.admin_user = admin_user
        self.admin_password = admin_password
        self.startup_timeout_s = startup_timeout_s
        self.http_port = free_port()
        self.rpc_port = free_port()
        while self.rpc_port == self.http_port:
            self.rpc_port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._binary = find_influxd()
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path = self.root / "influxdb.conf"
        self.log_path = self.root / "influxd.log"
        self.config_path.write_text(self._config_text(), encoding="utf-8")

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:41234``."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def _config_text(self) -> str:
        r = self.root
        return f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"

[meta]
  dir = "{r / "meta"}"
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = "{r / "data"}"
  wal-dir = "{r / "wal"}"
  wal-fsync-delay = "0s"
  index-version = "inmem"
  query-log-enabled = false
  trace-logging-enabled = false

[retention]
  enabled = true

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{self.http_port}"
  auth-enabled = {"true" if self.auth else "false"}
  log-enabled = false
  suppress-write-log = true
  pprof-enabled = false
  unix-socket-enabled = false
  max-body-size = 0

[ifql]
  enabled = false

[continuous_queries]
  enabled = false
  log-enabled = false

[logging]
  level = "warn"
  suppress-logo = true
"""

    def start(self) -> None:
        """Launch the server and wait until ``/ping`` answers; raise StorageError if not."""
        if self._proc is not None and self._proc.poll() is None:
            return
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [self._binary, "run", "-config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise StorageError(
                    f"influxd exited with code {self._proc.returncode} at start-up; "
                    f"log: {self.log_text()[-2000:]}"
                )
            if self._ping():
                if self.auth:
                    self._ensure_admin()
                return
            time.sleep(0.05)
        self.kill()
        raise StorageError(f"influxd did not answer /ping within {self.startup_timeout_s} s")

    def _ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1.0) as resp:
                return bool(resp.status == 204)
        except (OSError, urllib.error.URLError):
            return False

    def _ensure_admin(self) -> None:
        q = (
            f"CREATE USER \"{self.admin_user}\" WITH PASSWORD '{self.admin_password}' "
            "WITH ALL PRIVILEGES"
        )
        data = urllib.parse.urlencode({"q": q}).encode()
        req = urllib.request.Request(f"{self.url}/query", data=data, method="POST")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        with contextlib.suppress(urllib.error.HTTPError):
            # 401 once the user exists (a restart on the same directory): nothing to do.
            urllib.request.urlopen(req, timeout=10.0).close()

    def kill(self) -> None:
        """SIGKILL the server (a crash) and reap it."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
        self._proc.wait(timeout=30)
        self._proc = None

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the server and wait; SIGKILL it if it does not exit in ``timeout_s``."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._proc = None

    def restart(self, *, hard: bool = True) -> None:
        """Kill (``hard``) or stop the server, then start it again on the same directory."""
        if hard:
            self.kill()
        else:
            self.stop()
        self.start()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> LocalInfluxd:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
