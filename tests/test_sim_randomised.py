"""The randomised night model (issue 16): determinism, breadth, truth, timing, negative
myoclonus, and the per-cell scoring built on its truth."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from reports.evaluation import CONTEXTS, SIZES, CellCounts, score_cells, size_of
from sim import (
    HELD_OUT_SEEDS,
    RATES_HZ,
    TUNE_SEEDS,
    NightConfig,
    NightStream,
    plan_night,
    randomised_night,
    simulate_night,
)
from sim.plan import CONTEXTS as SIM_CONTEXTS
from sim.plan import KINDS
from sim.plan import SIZES as SIM_SIZES


def test_seed_splits_are_disjoint() -> None:
    assert TUNE_SEEDS.stop <= HELD_OUT_SEEDS.start


def test_same_seed_same_night() -> None:
    cfg = randomised_night(100_003, hours=0.3)
    assert cfg == randomised_night(100_003, hours=0.3)
    a, b = simulate_night(cfg), simulate_night(cfg)
    np.testing.assert_array_equal(a.sensors[0].t, b.sensors[0].t)
    np.testing.assert_array_equal(a.sensors[0].acc, b.sensors[0].acc)
    assert a.truth == b.truth
    other = simulate_night(randomised_night(100_004, hours=0.3))
    assert other.truth["jerks"] != a.truth["jerks"]


def test_chunks_equal_the_whole_night() -> None:
    cfg = randomised_night(100_001, hours=0.25, sensors=2)
    whole = simulate_night(cfg)
    parts = list(NightStream(cfg).chunks(chunk_s=7.3))
    for s, rec in enumerate(whole.sensors):
        np.testing.assert_array_equal(rec.t, np.concatenate([c[s].t for c in parts]))
        np.testing.assert_array_equal(rec.acc, np.concatenate([c[s].acc for c in parts]))


def test_covers_every_rate_and_the_sensor_breadth() -> None:
    cfgs = [randomised_night(s) for s in range(100_000, 100_080)]
    assert {c.rate_hz for c in cfgs} == set(RATES_HZ)
    assert {c.range_g for c in cfgs} == {2.0, 4.0, 8.0}
    assert {c.bits for c in cfgs} == {12, 16}
    assert all(abs(c.rate_error_ppm) <= 5000.0 for c in cfgs)
    assert max(abs(c.rate_error_ppm) for c in cfgs) > 3000.0
    assert all(7.5 <= c.ble_interval_ms <= 15.0 and c.packet_samples == 36 for c in cfgs)
    assert all(c.randomised and c.packet_loss_pct > 0.0 for c in cfgs)
    assert randomised_night(100_000, rate_hz=26.0).rate_hz == 26.0


@pytest.fixture(scope="module")
def truths() -> list[dict[str, object]]:
    return [plan_night(randomised_night(s)).truth for s in range(100_000, 100_004)]


def test_covers_every_context_kind_and_size(truths: list[dict[str, object]]) -> None:
    jerks = [j for t in truths for j in t["jerks"]]  # type: ignore[attr-defined]
    assert {j["context"] for j in jerks} == set(SIM_CONTEXTS) == set(CONTEXTS)
    assert {j["kind"] for j in jerks} == set(KINDS)
    assert {j["size"] for j in jerks} == set(SIM_SIZES) == set(SIZES)
    assert min(j["amplitude_g"] for j in jerks) < 0.06
    shapes = {s["shape"] for j in jerks for s in j["per_sensor"].values()}
    assert {"single_lobe", "push_return", "ringing", "negative"} <= shapes
    # Fragmented onsets: more sleep onsets than sleep periods of the standard model.
    assert max(len(t["sleep_onsets"]) for t in truths) >= 3  # type: ignore[arg-type]
    kinds = {c["kind"] for t in truths for c in t["confounders"]}  # type: ignore[attr-defined]
    assert {"turn", "sit_up", "reach", "hold", "tremor", "knock"} <= kinds


def test_truth_is_consistent(truths: list[dict[str, object]]) -> None:
    for t in truths:
        t0, dur = float(t["t0"]), float(t["duration_s"])  # type: ignore[arg-type]
        onsets = t["sleep_onsets"]
        assert onsets == sorted(onsets)  # type: ignore[type-var]
        for j in t["jerks"]:  # type: ignore[attr-defined]
            assert t0 <= j["onset"] < t0 + dur
            assert j["kind"] in KINDS and j["context"] in SIM_CONTEXTS
            assert j["size"] == size_of(j["amplitude_g"])
            assert 0.0 < j["duration"] < 1.0 and j["sensors"]
            if j["context"].startswith("series"):
                assert j["series"] is not None
        hypnic = [j for j in t["jerks"] if j["kind"] == "hypnic"]  # type: ignore[attr-defined]
        for j in hypnic:  # a sleep start is near a sleep onset
            assert min(abs(j["onset"] - o) for o in onsets) <= 200.0  # type: ignore[attr-defined]


def test_host_timestamps_packets_and_loss() -> None:
    cfg = NightConfig(
        hours=0.2,
        rate_hz=52.0,
        seed=1,
        gaps=False,
        rate_error_ppm=4000.0,
        ble_interval_ms=10.0,
        ble_jitter_ms=2.0,
        packet_loss_pct=3.0,
    )
    night = simulate_night(cfg)
    rec = night.sensors[0]
    steps = np.diff(rec.t)
    assert steps.min() > 0.0
    # Inside a packet the host dates samples at the stated rate.
    assert np.median(steps) == pytest.approx(1.0 / 52.0, abs=1e-9)
    # Over the night, time follows the sensor's true rate.
    slots = cfg.n_samples
    assert slots == round(0.2 * 3600 * 52.0 * 1.004)
    span = night.truth["duration_s"]
    assert span == pytest.approx(slots / (52.0 * 1.004))
    # Whole packets are lost.
    lost = slots - len(rec)
    assert lost > 0 and night.truth["gaps"]
    assert lost % 36 in (0, slots % 36)  # the last packet may be a partial one
    for g in night.truth["gaps"]:
        assert not np.any((rec.t >= g["start"]) & (rec.t < g["end"]))
    # Host time is after the sensor took the sample: offset of latency + connection wait.
    first_slot_time = np.arange(36) / (52.0 * 1.004)
    offset = rec.t[:36] - first_slot_time if len(rec) else np.zeros(1)
    assert 0.0 < float(np.median(offset)) < 0.05


def test_standard_nights_have_no_new_kinds() -> None:
    truth = plan_night(NightConfig(hours=0.5, seed=4)).truth
    assert all(j["kind"] in ("hypnic", "myoclonic") for j in truth["jerks"])
    assert all(j["context"] in SIM_CONTEXTS for j in truth["jerks"])


def test_negative_myoclonus_drops_along_gravity_first() -> None:
    cfg = dataclasses.replace(
        randomised_night(100_001, hours=2.0, rate_hz=100.0),
        noise_mg=1.0,
        range_g=8.0,
        bits=16,
    )
    night = simulate_night(cfg)
    rec = night.sensors[0]
    negatives = [j for j in night.truth["jerks"] if j["kind"] == "negative"]
    assert len(negatives) >= 5
    checked = 0
    for j in negatives:
        onset = j["onset"]
        before = (rec.t >= onset - 0.3) & (rec.t < onset)
        after = (rec.t >= onset) & (rec.t < onset + j["duration"] + 0.5)
        if before.sum() < 20 or after.sum() < 20:
            continue  # lost packets around it
        base = rec.acc[before].mean(axis=0)
        up = base / np.linalg.norm(base)
        along = (rec.acc[after] - base) @ up
        # Velocity along up: the wrist falls (negative) before the corrective burst peaks.
        velocity = np.cumsum(along) / cfg.rate_hz
        assert velocity.min() < 0.0
        assert int(np.argmin(velocity)) <= int(np.argmax(along))
        assert along.max() > 0.0
        checked += 1
    assert checked >= 5


def test_score_cells_counts() -> None:
    truth = {
        "sensors": ["left"],
        "hours": 2.0,
        "jerks": [
            {"onset": 10.0, "amplitude_g": 0.1, "kind": "myoclonic", "context": "isolated"},
            {"onset": 20.0, "amplitude_g": 0.3, "kind": "hypnic", "context": "isolated"},
            {"onset": 30.0, "amplitude_g": 1.0, "kind": "myoclonic", "context": "series_lt_1s"},
            {"onset": 30.5, "amplitude_g": 1.0, "kind": "myoclonic", "context": "series_lt_1s"},
            {"onset": 40.0, "amplitude_g": 0.2, "kind": "negative", "context": "awake_moving"},
            {"onset": 50.0, "amplitude_g": 0.2, "kind": "negative", "context": "awake_moving"},
        ],
    }
    det = np.array([10.01, 20.0, 30.0, 40.02, 50.0, 70.0])
    kinds = ["myoclonic", "hypnic", "hypnic", "myoclonic", "negative", "myoclonic"]
    c = score_cells(det, kinds, truth)
    assert c.cell() == (3, 4)
    assert c.cell("series_lt_1s", "large") == (1, 2)
    assert c.cell("isolated", "small") == (1, 1)
    assert c.detected == 5 and c.true_positives == 3 and c.negative_as_jerk == 1
    assert c.false_per_hour == pytest.approx(1.0)
    assert (c.hypnic_true, c.hypnic_detected, c.hypnic_right) == (1, 2, 1)
    assert c.negative_sensitivity == 0.5 and c.negative_ppv == 1.0
    assert c.median_onset_error_ms == pytest.approx(0.0)
    pooled = c + c
    assert pooled.cell() == (6, 8) and pooled.hours == 4.0
    assert math.isnan(CellCounts().sensitivity)
    with pytest.raises(ValueError):
        CellCounts(detected=1, true_positives=2)
