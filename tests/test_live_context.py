"""The live run warns when a sensor is not worn and stores convulsive episodes."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from jerkmon.live.pipeline import NightPipeline, SensorSpec
from storage import Storage
from tests import synth

T0 = 1_700_000_000.0


def test_not_worn_warning_and_episodes_reach_the_store(tmp_path: Path) -> None:
    fs = 25.0
    rng = np.random.default_rng(0)
    # 10 min worn (with a clonic episode), then 25 min on the table, then worn again.
    t1, a1 = synth.rest(600, fs, seed=1)
    for k, onset in enumerate(np.arange(200.0, 230.0, 1 / 4.0)):
        synth.add_jerk(a1, fs, float(onset), 1.5, 0.06, seed=7 + k % 2)
    for start in range(250, 600, 40):  # a worn arm moves now and then
        synth.add_fidget(a1, fs, float(start), 1.5, 0.1)
    n2 = round(1500 * fs)
    a2 = np.tile([0.0, 0.0, 1.0], (n2, 1)) + rng.normal(0, 0.003, (n2, 3))
    t3, a3 = synth.rest(600, fs, seed=2)
    synth.add_turn(a3, fs, 30, 3.0, 60.0)
    t = T0 + np.arange(t1.size + n2 + t3.size) / fs
    acc = np.concatenate((a1, a2, a3))
    spec = SensorSpec("S1", "left", fs)
    with Storage(tmp_path, None) as storage:
        pipeline = NightPipeline("p1", [spec], storage, not_worn_warn_s=15 * 60.0)
        warned = False
        for i in range(0, t.size, 500):
            pipeline.feed("S1", t[i : i + 500], acc[i : i + 500])
            warned |= pipeline.not_worn("S1")
        (summary,) = pipeline.finish().values()
        assert warned and not pipeline.not_worn("S1")
        # The night's summary (what `jerkmon run` prints) has the episode and the table.
        assert summary.episodes == 1 and summary.main_sleep_onset is not None
        clock = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(summary.main_sleep_onset))
        assert any(ln.startswith("main sleep") and clock in ln for ln in summary.lines())
        states = [s.status for s in storage.store.statuses("p1", T0, T0 + 1e5)]
        off = [s for s in states if s.state == "not_worn"]
        assert len(off) == 1 and off[0].detail is not None and "not worn" in off[0].detail
        # van Hees criteria on a few minutes are approximate: a minute or two either way.
        assert T0 + 600 + 12 * 60 <= off[0].time_s <= T0 + 600 + 17 * 60
        assert any(s.state == "worn" for s in states)
        eps = storage.store.episodes("p1", T0, T0 + 1e5)
        assert len(eps) == 1 and abs(eps[0][2].start - (T0 + 200.0)) < 3.0
        assert any(s.state == "episode" for s in states)
        # The night report lists the episode.
        from reports.html import _context_html
        from reports.nightdata import load_nights

        (nd,) = load_nights(storage.store, "p1")
        assert len(nd.episodes) == 1
        assert "Convulsive episodes" in _context_html(nd, None)


def test_night_summary_counts_idle_mode_as_not_worn(tmp_path: Path) -> None:
    fs = 50.0
    t, acc = synth.rest(1200, fs, seed=3)
    i0, i1 = round(400 * fs), round(700 * fs)
    acc[i0:i1] = acc[i0]  # the device repeats one sample for 5 min (idle mode)
    spec = SensorSpec("S1", "left", fs)
    with Storage(tmp_path, None) as storage:
        pipeline = NightPipeline("p1", [spec], storage)
        for i in range(0, t.size, 1000):
            pipeline.feed("S1", T0 + t[i : i + 1000], acc[i : i + 1000])
        (summary,) = pipeline.finish().values()
    assert abs(summary.not_worn_hours - 300 / 3600) < 1 / 3600
    assert abs(summary.covered_hours - 900 / 3600) < 2 / 3600  # signal less not worn
