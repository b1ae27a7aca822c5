"""The detector's events are identical, bit for bit, to the golden lists (see
tests/golden_events.py): speed work must not change a single event or verdict."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from detector import JerkDetector
from tests import golden_events

GOLDEN = golden_events.load()


@pytest.mark.parametrize("name", list(golden_events.NIGHTS))
def test_events_identical_to_golden(name: str) -> None:
    want: dict[str, Any] = GOLDEN[name]
    t, acc, rate = golden_events.night_input(name)
    assert golden_events.checksum(t, acc) == want["input"], (
        "the simulated input changed (sim/ differs from when the golden lists were made): "
        "regenerate with `python -m tests.golden_events` after checking the detector is unchanged"
    )
    got = golden_events.run(t, acc, rate)
    assert len(want["events"]) > 0
    assert got["rejected"] == want["rejected"]
    for i, (g, w) in enumerate(zip(got["events"], want["events"], strict=False)):
        assert g == w, f"event {i} differs: {g} != {w}"
    assert len(got["events"]) == len(want["events"])


def test_packets_identical_to_golden() -> None:
    # The live path: the same night in 0.25 s packets.
    t, acc, rate = golden_events.night_input("jerks_60_per_h")
    det = JerkDetector(rate)
    step = round(0.25 * rate)
    events = []
    for i in range(0, t.size, step):
        events += det.process(t[i : i + step], acc[i : i + step])
    events += det.flush()
    want = GOLDEN["jerks_60_per_h"]["events"]
    assert [golden_events.encode(e) for e in events] == want
    assert np.isfinite([e.onset for e in events]).all()
