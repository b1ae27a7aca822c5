"""The night simulator: determinism, sensor model, night structure and truth consistency."""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
import pytest

from sim import NightConfig, NightStream, SimulatedNight, plan_night, simulate_night
from sim.night import SensorRecording

QUIET: dict[str, Any] = {
    "hypnic": False,
    "series": False,
    "jerk_rate_per_h": 0.0,
    "turns": False,
    "scratch": False,
    "tremor": False,
    "fidgets": False,
    "rem_twitches": False,
    "gaps": False,
}


@pytest.fixture(scope="module")
def night2() -> SimulatedNight:
    """One hour, two wrists, no BLE gaps, plenty of jerks and three series."""
    cfg = NightConfig(hours=1.0, rate_hz=50, seed=11, sensors=2, series_count=3, gaps=False)
    return simulate_night(cfg)


@pytest.fixture(scope="module")
def gappy() -> SimulatedNight:
    """Two hours at 100 Hz with BLE gaps and a high jerk rate."""
    return simulate_night(NightConfig(hours=2.0, seed=5, sensors=2, jerk_rate_per_h=60.0))


def _window(rec: SensorRecording, a: float, b: float) -> np.ndarray:
    m = (rec.t >= a) & (rec.t < b)
    return rec.acc[m]


def _side(night: SimulatedNight, side: str) -> SensorRecording:
    return next(r for r in night.sensors if r.side == side)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


# ------------------------------------------------------------------------------ determinism


def test_same_seed_same_night_and_different_seed_differs() -> None:
    cfg = NightConfig(hours=0.3, rate_hz=50, seed=7, sensors=2)
    a, b = simulate_night(cfg), simulate_night(cfg)
    for ra, rb in zip(a.sensors, b.sensors, strict=True):
        np.testing.assert_array_equal(ra.t, rb.t)
        np.testing.assert_array_equal(ra.acc, rb.acc)
    assert a.truth == b.truth
    c = simulate_night(NightConfig(hours=0.3, rate_hz=50, seed=8, sensors=2))
    assert c.sensors[0].acc.shape != a.sensors[0].acc.shape or not np.array_equal(
        c.sensors[0].acc, a.sensors[0].acc
    )
    assert c.truth["jerks"] != a.truth["jerks"]


def test_switching_a_confounder_off_leaves_the_jerks_alone() -> None:
    base: dict[str, Any] = dict(hours=1.0, rate_hz=50, seed=21, sensors=2)
    with_all = plan_night(NightConfig(**base)).truth
    no_tremor = plan_night(NightConfig(**base, tremor=False, scratch=False)).truth
    assert with_all["jerks"] == no_tremor["jerks"]
    assert not any(c["kind"] in ("tremor", "scratch") for c in no_tremor["confounders"])


def test_chunked_stream_equals_whole_night() -> None:
    cfg = NightConfig(hours=0.5, rate_hz=50, seed=4, sensors=2, range_g=2.0, jerk_rate_per_h=40)
    whole = simulate_night(cfg)
    stream = NightStream(cfg)
    chunks = list(stream.chunks(chunk_s=7.3))
    assert len(chunks) == int(np.ceil(cfg.n_samples / round(7.3 * 50)))
    for s, rec in enumerate(whole.sensors):
        t = np.concatenate([c[s].t for c in chunks])
        acc = np.concatenate([c[s].acc for c in chunks])
        np.testing.assert_array_equal(t, rec.t)
        np.testing.assert_array_equal(acc, rec.acc)
    assert stream.truth == whole.truth


# --------------------------------------------------------------------------- shapes, time


def test_shapes_units_and_time_axis(gappy: SimulatedNight) -> None:
    cfg = gappy.config
    assert [r.side for r in gappy.sensors] == ["left", "right"] == gappy.truth["sensors"]
    for rec in gappy.sensors:
        assert rec.rate_hz == 100.0
        assert rec.t.dtype == np.float64 and rec.t.ndim == 1
        assert rec.acc.dtype == np.float64 and rec.acc.shape == (rec.t.size, 3)
        assert np.all(np.diff(rec.t) > 0)
        assert rec.t[0] >= cfg.t0 and rec.t[-1] < cfg.t0 + cfg.duration_s
        slots = np.rint(rec.t * rec.rate_hz).astype(np.int64)
        np.testing.assert_allclose(rec.t, slots / rec.rate_hz, atol=1e-9)
        # Every slot is either received or inside a gap reported in the truth.
        gaps = [g for g in gappy.truth["gaps"] if g["sensor"] == rec.side]
        missing = sum(round((g["end"] - g["start"]) * rec.rate_hz) for g in gaps)
        assert rec.t.size + missing == cfg.n_samples
        assert missing > 0
        assert np.all(np.abs(rec.acc) <= cfg.range_g)


def test_gaps_are_really_absent(gappy: SimulatedNight) -> None:
    gaps = gappy.truth["gaps"]
    assert any(g["end"] - g["start"] >= 10.0 for g in gaps) or len(gaps) > 5
    for g in gaps:
        assert g["end"] > g["start"]
        rec = _side(gappy, g["sensor"])
        i, j = np.searchsorted(rec.t, [g["start"], g["end"]])
        assert i == j, f"samples inside gap {g}"
        # The gap is maximal: the slots right before and after it were received.
        if g["start"] > 0:
            assert np.any(np.isclose(rec.t, g["start"] - 0.01))
        if g["end"] < gappy.config.duration_s:
            assert np.any(np.isclose(rec.t, g["end"]))


def test_t0_and_jitter() -> None:
    t0 = 1_700_000_000.0
    cfg = NightConfig(hours=0.2, rate_hz=200, seed=2, t0=t0, jitter_ms=1.0)
    night = simulate_night(cfg)
    ref = simulate_night(NightConfig(hours=0.2, rate_hz=200, seed=2))
    t = night.sensors[0].t
    slots = np.rint((t - t0) * 200).astype(np.int64)
    dev = t - (t0 + slots / 200.0)
    assert np.all(np.abs(dev) <= 1e-3 + 1e-6) and np.std(dev) > 2e-4
    assert np.all(np.diff(t) > 0)
    np.testing.assert_array_equal(night.sensors[0].acc, ref.sensors[0].acc)
    assert night.truth["t0"] == t0
    assert night.truth["sleep_onset"] == pytest.approx(ref.truth["sleep_onset"] + t0)
    for a, b in zip(night.truth["jerks"], ref.truth["jerks"], strict=True):
        assert a["onset"] == pytest.approx(b["onset"] + t0, abs=1e-6)


# ---------------------------------------------------------------------------- sensor model


def test_at_rest_the_reading_is_one_g() -> None:
    night = simulate_night(NightConfig(hours=0.5, rate_hz=50, seed=9, bias=False, **QUIET))
    acc = night.sensors[0].acc
    norm = np.linalg.norm(acc, axis=1)
    assert abs(float(norm.mean()) - 1.0) < 0.01
    # Breathing (≤ 8 mg), heartbeat and noise (≤ 10 mg RMS) only.
    assert float(norm.std()) < 0.02
    with_bias = simulate_night(NightConfig(hours=0.5, rate_hz=50, seed=9, **QUIET))
    assert abs(float(np.linalg.norm(with_bias.sensors[0].acc, axis=1).mean()) - 1.0) < 0.05


def test_gravity_is_one_g_between_events(gappy: SimulatedNight) -> None:
    rng = np.random.default_rng(0)
    truth = gappy.truth
    checked = 0
    for rec in gappy.sensors:
        busy = [(j["onset"] - 1.0, j["onset"] + 2.0) for j in truth["jerks"]]
        busy += [(c["start"] - 1.0, c["end"] + 1.0) for c in truth["confounders"]]
        for start in rng.uniform(0, gappy.config.duration_s - 2, size=60):
            if any(a < start + 2 and b > start for a, b in busy):
                continue
            w = _window(rec, start, start + 2.0)
            if w.shape[0] < 150:
                continue
            assert abs(float(np.linalg.norm(w.mean(axis=0))) - 1.0) < 0.05
            checked += 1
    assert checked >= 10


def test_noise_level_and_quantisation_steps() -> None:
    quiet = dict(QUIET, breathing=False, heartbeat=False, bias=False)
    night = simulate_night(NightConfig(hours=0.1, seed=3, noise_mg=6.0, **quiet))
    acc = night.sensors[0].acc
    detrended = acc - acc.mean(axis=0)
    np.testing.assert_allclose(detrended.std(axis=0), 0.006, rtol=0.1)
    lsb16 = 16.0 / 2**16
    np.testing.assert_allclose(acc / lsb16, np.rint(acc / lsb16), atol=1e-9)

    coarse = simulate_night(NightConfig(hours=0.1, seed=3, noise_mg=2.0, bits=12, **quiet))
    c = coarse.sensors[0].acc
    lsb12 = 16.0 / 2**12
    np.testing.assert_allclose(c / lsb12, np.rint(c / lsb12), atol=1e-9)
    steps = np.unique(np.round(np.abs(np.diff(c[:, 0])) / lsb12))
    assert steps[0] == 0 and 1 in steps  # neighbouring levels are one LSB apart
    assert np.unique(c[:, 0]).size < 20  # 2 mg noise spans only a few 3.9 mg levels


def test_clipping_at_range() -> None:
    base: dict[str, Any] = dict(hours=0.5, rate_hz=100, seed=12, jerk_rate_per_h=60.0, gaps=False)
    wide = simulate_night(NightConfig(**base, range_g=8.0))
    narrow = simulate_night(NightConfig(**base, range_g=2.0))
    a8, a2 = wide.sensors[0].acc, narrow.sensors[0].acc
    lsb2, top = 4.0 / 2**16, 2.0 - 4.0 / 2**16
    over = np.any((a8 > top + lsb2) | (a8 < -2.0 - lsb2), axis=1)
    assert over.any(), "this seed should produce accelerations beyond 2 g"
    assert np.all(a2 <= top + 1e-12) and np.all(a2 >= -2.0 - 1e-12)
    inside = np.all(np.abs(a8) < 1.99, axis=1)
    # Same signal, only the quantisation differs (half an LSB of each range at most).
    assert np.max(np.abs(a2[inside] - a8[inside])) <= (16.0 + 4.0) / 2**17 + 1e-12
    assert np.all(np.any((a2[over] >= top - 1e-12) | (a2[over] <= -2.0 + 1e-12), axis=1))
    # The truth lists the clipped runs, covering exactly the clipped samples.
    t = narrow.sensors[0].t
    listed = np.zeros(t.size, dtype=bool)
    for run in narrow.truth["clipped"]:
        assert run["sensor"] == "left" and run["end"] > run["start"]
        listed |= (t >= run["start"] - 1e-9) & (t < run["end"] - 1e-9)
    clipped = np.any((a2 >= top - 1e-12) | (a2 <= -2.0 + 1e-12), axis=1)
    np.testing.assert_array_equal(listed, clipped)
    assert wide.truth["clipped"] == []


def test_low_and_high_rates() -> None:
    for rate in (25.0, 200.0):
        night = simulate_night(NightConfig(hours=0.2, rate_hz=rate, seed=1, gaps=False))
        rec = night.sensors[0]
        assert rec.t.size == round(0.2 * 3600 * rate)
        assert np.allclose(np.diff(rec.t), 1.0 / rate)


# ---------------------------------------------------------------------------- night layout


def test_night_structure_of_a_full_night_plan() -> None:
    plan = plan_night(NightConfig(hours=8.0, seed=3))
    truth, sched = plan.truth, plan.schedule
    onsets, periods = truth["sleep_onsets"], truth["sleep_periods"]
    assert truth["sleep_onset"] == onsets[0]
    assert 5 * 60 <= onsets[0] <= 40 * 60
    assert 2 <= len(onsets) <= 5  # 1–4 brief awakenings, each followed by a new onset
    assert [p[0] for p in periods] == onsets
    assert all(a < b for a, b in periods)
    assert all(p[1] < q[0] for p, q in itertools.pairwise(periods))
    for (_, wake), nxt in zip(periods, onsets[1:], strict=False):
        assert 60.0 <= nxt - wake <= 15 * 60 + 1e-6
    assert 10 * 60 <= 8 * 3600 - periods[-1][1] <= 30 * 60
    # Stages tile the night; REM exists, and late REM periods are longer than the first.
    stages = truth["stages"]
    assert stages[0][0] == 0.0 and stages[-1][1] == pytest.approx(8 * 3600)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(stages))
    rem = [b - a for a, b, s in stages if s == "R"]
    assert len(rem) >= 2 and max(rem[len(rem) // 2 :]) > rem[0]
    asleep = [s for a, b, s in stages if any(p0 <= a < p1 for p0, p1 in periods)]
    assert "W" not in asleep
    assert sched.sleep_s > 5 * 3600


def test_jerk_truth_is_consistent(night2: SimulatedNight) -> None:
    truth = night2.truth
    jerks = truth["jerks"]
    assert len(jerks) >= 5
    duration = night2.config.duration_s
    onsets = [j["onset"] for j in jerks]
    assert onsets == sorted(onsets)
    for j in jerks:
        assert j["onset"] > 0.0 and j["onset"] + j["duration"] < duration
        assert j["kind"] in ("myoclonic", "hypnic")
        assert 0.04 <= j["duration"] <= 0.42
        assert 0.1 <= j["amplitude_g"] <= 3.0
        assert j["sensors"] and set(j["sensors"]) <= {"left", "right"}
        assert set(j["per_sensor"]) == set(j["sensors"])
        per = j["per_sensor"].values()
        assert j["onset"] == min(p["onset"] for p in per)
        assert j["amplitude_g"] == max(p["amplitude_g"] for p in per)
        # No gaps in this night: bilateral jerks show on both wrists, within 15 ms.
        if j["bilateral"]:
            assert j["sensors"] == ["left", "right"]
            assert max(p["onset"] for p in per) - j["onset"] <= 0.015 + 1e-9
        else:
            assert len(j["sensors"]) == 1
    kinds = {j["kind"] for j in jerks}
    assert kinds == {"myoclonic", "hypnic"} or "myoclonic" in kinds


def test_jerks_are_visible_in_the_signal(night2: SimulatedNight) -> None:
    """Each jerk's main lobe departs from the baseline right after its onset."""
    for j in night2.truth["jerks"]:
        for side, p in j["per_sensor"].items():
            rec = _side(night2, side)
            before = _window(rec, p["onset"] - 0.4, p["onset"] - 0.04)
            during = _window(rec, p["onset"], p["onset"] + p["duration"] + 0.04)
            dev = np.linalg.norm(during - before.mean(axis=0), axis=1).max()
            assert dev > 0.3 * p["amplitude_g"], (j, side)
            # Before the onset, the arm rests: nothing jerk-sized yet.
            quiet = np.linalg.norm(before - before.mean(axis=0), axis=1).max()
            assert quiet < max(0.5 * p["amplitude_g"], 0.1), (j, side)


def test_series_spacing_and_ids(night2: SimulatedNight) -> None:
    series: dict[int, list[dict[str, Any]]] = {}
    for j in night2.truth["jerks"]:
        if j["series"] is not None:
            assert j["kind"] == "myoclonic"
            series.setdefault(j["series"], []).append(j)
    assert sorted(series) == [1, 2, 3]
    for members in series.values():
        assert 3 <= len(members) <= 10
        gaps = np.diff([m["per_sensor"][m["sensors"][0]]["onset"] for m in members])
        assert np.all(gaps >= 1.0 - 0.016) and np.all(gaps <= 6.0 + 0.016)
        assert np.std(gaps) > 0.05  # irregular
        # A series is a generalised seizure (both wrists) or stays on one arm.
        assert len({tuple(m["sensors"]) for m in members}) == 1
        assert len({m["bilateral"] for m in members}) == 1


def test_hypnic_jerks_cluster_at_sleep_onsets() -> None:
    offsets = []
    for seed in range(8):
        truth = plan_night(
            NightConfig(hours=3.0, rate_hz=25, seed=seed, **QUIET | {"hypnic": True})
        ).truth
        for j in truth["jerks"]:
            assert j["kind"] == "hypnic"
            offsets.append(min((j["onset"] - o for o in truth["sleep_onsets"]), key=abs))
    offsets_arr = np.array(offsets)
    assert offsets_arr.size >= 8
    assert np.all((offsets_arr >= -180.0) & (offsets_arr <= 600.0))
    assert np.mean((offsets_arr >= -60.0) & (offsets_arr <= 300.0)) >= 0.75


def test_no_jerk_onset_inside_a_gap_of_its_sensor(gappy: SimulatedNight) -> None:
    truth = gappy.truth
    n_gaps = {side: [g for g in truth["gaps"] if g["sensor"] == side] for side in truth["sensors"]}
    seen_bilateral_one_side = False
    for j in truth["jerks"]:
        for side in j["sensors"]:
            onset = j["per_sensor"][side]["onset"]
            assert not any(g["start"] <= onset < g["end"] for g in n_gaps[side]), (j, side)
            rec = _side(gappy, side)
            assert np.any(np.abs(rec.t - onset) <= 0.0100001)  # a sample next to the onset
        if j["bilateral"] and len(j["sensors"]) == 1:
            seen_bilateral_one_side = True
    assert len(truth["jerks"]) > 50
    # With 2 h of gaps some bilateral jerk is likely seen on one wrist only; not required.
    assert isinstance(seen_bilateral_one_side, bool)


def test_confounder_records(gappy: SimulatedNight) -> None:
    kinds = {c["kind"] for c in gappy.truth["confounders"]}
    assert kinds <= {"turn", "scratch", "tremor", "fidget", "rem_twitch"}
    assert {"fidget", "rem_twitch"} <= kinds
    for c in gappy.truth["confounders"]:
        assert 0.0 <= c["start"] < c["end"] <= gappy.config.duration_s
        assert c["sensors"] and set(c["sensors"]) <= {"left", "right"}
        length = c["end"] - c["start"]
        if c["kind"] == "turn":
            assert c["sensors"] == ["left", "right"] and 2.0 <= length <= 11.5
        elif c["kind"] == "rem_twitch":
            assert 0.01 <= length <= 0.06 and c["peak_g"] <= 0.05
        elif c["kind"] == "fidget":
            assert 0.5 <= length <= 4.0
        elif c["kind"] == "scratch":
            assert 2.0 <= length <= 32.5


def test_rem_twitches_happen_mostly_in_rem() -> None:
    truth = plan_night(
        NightConfig(hours=8.0, rate_hz=25, seed=6, **QUIET | {"rem_twitches": True})
    ).truth
    stages = truth["stages"]
    twitches = [c for c in truth["confounders"] if c["kind"] == "rem_twitch"]
    assert len(twitches) > 50

    def stage(t: float) -> str:
        return str(next(s for a, b, s in stages if a <= t < b))

    assert np.mean([stage(c["start"]) == "R" for c in twitches]) > 0.7


def _first_night_with(kind: str, **kwargs: Any) -> tuple[NightConfig, dict[str, Any]]:
    for seed in range(40):
        cfg = NightConfig(seed=seed, **kwargs)
        events = [c for c in plan_night(cfg).truth["confounders"] if c["kind"] == kind]
        if events:
            return cfg, events[0]
    raise AssertionError(f"no {kind} in 40 seeds")


def _dominant_hz(acc: np.ndarray, rate_hz: float, lo: float = 1.5, hi: float = 15.0) -> float:
    x = acc - acc.mean(axis=0)
    power = (np.abs(np.fft.rfft(x * np.hanning(x.shape[0])[:, None], axis=0)) ** 2).sum(axis=1)
    freqs = np.fft.rfftfreq(x.shape[0], 1.0 / rate_hz)
    band = (freqs >= lo) & (freqs <= hi)
    return float(freqs[band][np.argmax(power[band])])


def test_tremor_spectrum_peaks_at_4_to_7_hz() -> None:
    cfg, tremor = _first_night_with("tremor", hours=1.0, rate_hz=50, **QUIET | {"tremor": True})
    night = simulate_night(cfg)
    rec = _side(night, tremor["sensors"][0])
    a, b = tremor["start"], tremor["end"]
    f = _dominant_hz(_window(rec, a + 0.2 * (b - a), b - 0.2 * (b - a)), rec.rate_hz)
    assert 4.0 <= f <= 7.0
    assert abs(f - tremor["freq_hz"]) < 0.6
    assert 60.0 <= b - a <= 600.0


def test_scratch_spectrum_peaks_at_3_to_7_hz() -> None:
    cfg, scratch = _first_night_with("scratch", hours=1.0, rate_hz=100, **QUIET | {"scratch": True})
    night = simulate_night(cfg)
    rec = _side(night, scratch["sensors"][0])
    a, b = scratch["start"], scratch["end"]
    # Skip the reach to the itch and back (about a second each).
    f = _dominant_hz(_window(rec, a + 1.3, b - 1.3), rec.rate_hz)
    assert 3.0 <= f <= 7.0
    assert abs(f - scratch["freq_hz"]) < 0.6
    peak = np.abs(_window(rec, a, b) - _window(rec, a - 1.0, a).mean(axis=0)).max()
    assert 0.05 <= peak <= 2.5


def test_turns_change_orientation_and_jerks_do_not() -> None:
    cfg, _ = _first_night_with("turn", hours=1.0, rate_hz=50, **QUIET | {"turns": True})
    night = simulate_night(cfg)
    turns = [c for c in night.truth["confounders"] if c["kind"] == "turn"]
    for c in turns:
        rec = night.sensors[0]
        before = _window(rec, c["start"] - 1.5, c["start"] - 0.2).mean(axis=0)
        after = _window(rec, c["end"] + 0.5, c["end"] + 1.5).mean(axis=0)
        assert _angle_deg(before, after) >= 25.0
        during = _window(rec, c["start"], c["end"])
        peak = np.linalg.norm(during - before, axis=1).max()
        assert peak >= 0.2

    jerky = simulate_night(
        NightConfig(hours=1.0, rate_hz=50, seed=3, **QUIET | {"jerk_rate_per_h": 40.0})
    )
    rec = jerky.sensors[0]
    shifts = []
    for j in jerky.truth["jerks"]:
        before = _window(rec, j["onset"] - 0.5, j["onset"] - 0.05).mean(axis=0)
        after = _window(rec, j["onset"] + 1.4, j["onset"] + 1.9).mean(axis=0)
        shifts.append(_angle_deg(before, after))
    assert len(shifts) >= 10
    assert max(shifts) <= 12.0 and float(np.median(shifts)) < 4.0


def test_jerk_amplitudes_and_durations_vary() -> None:
    jerks = []
    for seed in range(4):
        cfg = NightConfig(hours=2.0, rate_hz=25, seed=seed, jerk_rate_per_h=30.0)
        jerks += [j for j in plan_night(cfg).truth["jerks"] if j["kind"] == "myoclonic"]
    amps = np.array([j["amplitude_g"] for j in jerks])
    durs = np.array([j["duration"] for j in jerks])
    shapes = {p["shape"] for j in jerks for p in j["per_sensor"].values()}
    assert shapes == {"half_sine", "biphasic", "skewed", "multi_axis"}
    assert amps.min() >= 0.1 and amps.max() <= 3.0
    assert np.mean(amps < 0.5) > np.mean(amps > 1.0)  # more small than big
    assert durs.min() >= 0.04 and durs.max() <= 0.4 and np.ptp(durs) > 0.15


@pytest.mark.slow
def test_full_night_generates_in_a_few_seconds() -> None:
    started = time.perf_counter()
    night = simulate_night(NightConfig(hours=8.0, rate_hz=100, seed=3))
    elapsed = time.perf_counter() - started
    assert elapsed < 30.0  # ~1 s on one free core; generous for a shared CI machine
    rec = night.sensors[0]
    assert 0.9 * 2_880_000 < rec.t.size <= 2_880_000
    assert len(night.truth["jerks"]) > 20
