"""The command line starts instantly: building the parser (``jerkmon --help``,
``jerkmon detect --help``) imports no numerical, plotting, data-frame or BLE library; each
subcommand imports what it uses when it runs (timed in benchmarks/cli.py)."""

from __future__ import annotations

import json
import subprocess
import sys

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
