"""``jerkmon run`` in a child process, for tests that signal or kill it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class RunProcess:
    """``jerkmon run`` in a child process; stderr is read line by line with arrival times."""

    def __init__(self, argv: list[str]) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JERKMON_")}
        env["PYTHONPATH"] = str(REPO)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jerkmon.cli", *argv],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[tuple[float, str]] = []
        self.out: list[str] = []
        self._cond = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_out, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        self.out.extend(self.proc.stdout)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append((time.monotonic(), line))
                self._cond.notify_all()

    def wait_for(self, text: str, timeout_s: float = 30.0, count: int = 1) -> tuple[float, str]:
        """(arrival time, line) of the ``count``-th stderr line containing ``text``."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                hits = [(arrived, line) for arrived, line in self.lines if text in line]
                if len(hits) >= count:
                    return hits[count - 1]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no {text!r} on stderr: {self.stderr}")
                self._cond.wait(min(left, 0.1))

    @property
    def stderr(self) -> str:
        with self._cond:
            return "".join(line for _, line in self.lines)

    def finish(self, timeout_s: float = 60.0) -> tuple[int, str]:
        """Wait for the exit; (status, stdout)."""
        self.proc.wait(timeout_s)
        for reader in self._readers:
            reader.join(5.0)
        return self.proc.returncode, "".join(self.out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
