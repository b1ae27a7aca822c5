"""Where the public recordings this project did not make live (never in the repository):
``$JERKMON_SHARED_DATA``, else ``../shared/data`` beside the checkout (where CI puts them)."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(
    os.environ.get("JERKMON_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
DEVICES = SHARED_DATA / "devices"
