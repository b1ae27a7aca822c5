"""The command line starts instantly: building the parser (``jerkmon --help``,
``jerkmon detect --help``) imports no numerical, plotting, data-frame or BLE library; each
subcommand imports what it uses when it runs (timed in benchmarks/cli.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("numpy", "scipy", "pandas", "matplotlib", "bumble", "bleak", "pyarrow", "influxdb_client")

_PROBE = """
import json, sys
import jerkmon.cli
parser = jerkmon.cli.build_parser()
try:
    parser.parse_args(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))
"""


@pytest.mark.parametrize("argv", [[], ["--help"], ["detect", "--help"], ["run", "--help"]])
def test_parser_imports_nothing_heavy(argv: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    assert "jerkmon" in loaded
    assert not loaded & set(HEAVY), f"the parser imported {sorted(loaded & set(HEAVY))}"


_DETECT_PROBE = """
import json, pkgutil, sys
import detector
for m in pkgutil.iter_modules(detector.__path__):
    __import__("detector." + m.name)
from jerkmon.commands import detect
import jerkmon.offline
print(json.dumps(sorted(sys.modules)))
"""


def test_the_detection_path_imports_no_scipy() -> None:
    """Every module of ``detector`` and what ``jerkmon detect`` imports to run: importing
    ``scipy.signal`` alone costs ~0.5 s (the filters come from detector/filters.py)."""
    out = subprocess.run(
        [sys.executable, "-c", _DETECT_PROBE], capture_output=True, text=True, check=True
    ).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    assert "detector.core" in loaded and "jerkmon.offline" in loaded
    assert not [m for m in loaded if m.split(".")[0] == "scipy"]


_RUN_DETECT = """
import json, sys
from jerkmon.cli import main
code = main(["detect", sys.argv[1], "--out", sys.argv[2], "--no-progress"])
print(json.dumps([code, sorted(sys.modules)]))
"""


def test_jerkmon_detect_runs_without_scipy(tmp_path: Path) -> None:
    """A whole ``jerkmon detect`` of a CSV (50 Hz: interpolated, band-passed, sleep window)
    never imports SciPy."""
    from jerkmon.cli import main

    prefix = tmp_path / "night"
    args = ["--hours", "0.75", "--rate", "50", "--seed", "3", "--jerk-rate", "15"]
    assert main(["simulate", *args, "--out", str(prefix)]) == 0
    out = subprocess.run(
        [sys.executable, "-c", _RUN_DETECT, f"{prefix}.csv", str(tmp_path / "events.csv")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    code, loaded = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and (tmp_path / "events.csv").stat().st_size > 0
    assert "detector.core" in loaded
    assert not [m for m in loaded if m.split(".")[0] == "scipy"]
