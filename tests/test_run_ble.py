"""``jerkmon run --sim-ble`` end to end: emulated Polar sensors on bumble's virtual radio ->
the production BLE sessions (scan, bleak-retry-connector, start, decode, clock mapping,
watchdog, reconnects) -> pipeline (detector, bilateral pairing) -> spool, local store and a
real InfluxDB 1.x.

One simulated night (36 min, two wrists at 100 Hz, each sensor with 20 link drops and one
60 s notification stall) runs once per module on the virtual clock; the tests check it
against the emulated sensors' log (what each sent while connected) and the simulator's
truth, and its jerks against the direct (non-BLE) path fed the same samples.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from collector.sources import SampleBatch, Samples
from jerkmon.cli import build_parser, main
from jerkmon.commands.run import prepare
from jerkmon.live import BleRun
from jerkmon.live.pipeline import NightPipeline, SensorSpec, consume
from reports.evaluation import Score, match_onsets, score
from sim import SimulatedNight
from storage import LocalStore, Storage, StoredEvent
from storage.influxd import LocalInfluxd
from storage.schema import COUNTED
from tests.influx_server import influx_query, rows
from tests.runproc import RunProcess

REPO = Path(__file__).resolve().parents[1]
SUBJECT = "s1"
HOURS = 0.6
SEED = 5  # both wrists jerk, some jerks on one wrist only, most on both
FAULTS = "disconnects=20,stalls=1,stall_s=60"
TOL_S = 0.005
# Recent (the raw retention policy keeps 7 days), on a whole minute.
START = float(int(time.time()) // 60 * 60 - 3 * 3600)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("JERKMON_"):
            monkeypatch.delenv(var)


@dataclass
class BleNight:
    run: BleRun
    night: SimulatedNight
    code: int
    stdout: str
    real_s: float
    items: list[object]
    data: Path
    url: str
    db: str

    def address(self, side: str) -> str:
        return self.run.emulated[side].address

    def sent(self, side: str) -> NDArray[np.int64]:
        return self.run.emulated[side].log.sent_indices()

    def truth_t(self, side: str) -> NDArray[np.float64]:
        return next(r.t for r in self.night.sensors if r.side == side)

    def store(self) -> LocalStore:
        return LocalStore(self.data / "events.sqlite3")


@pytest.fixture(scope="module")
def ble_night(influxd: LocalInfluxd, tmp_path_factory: pytest.TempPathFactory) -> BleNight:
    influxd.start()
    data = tmp_path_factory.mktemp("ble")
    db = f"ble_{uuid.uuid4().hex[:8]}"
    influx_query(influxd.url, f'CREATE DATABASE "{db}"')
    argv = [
        "run",
        "--sim-ble",
        "--sensors",
        "2",
        "--hours",
        str(HOURS),
        "--seed",
        str(SEED),
        "--speed",
        "max",
        "--faults",
        FAULTS,
        "--start",
        f"{START:.0f}",
        "--subject",
        SUBJECT,
        "--data-dir",
        str(data),
        "--url",
        influxd.url,
        "--db",
        db,
        "--create-db",
        "--quiet",
    ]
    with pytest.MonkeyPatch.context() as mp:
        for var in list(os.environ):
            if var.startswith("JERKMON_"):
                mp.delenv(var)
        run = prepare(build_parser().parse_args(argv))
    assert isinstance(run, BleRun)
    items: list[object] = []
    run.on_item = items.append
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = run.execute()
    real_s = time.perf_counter() - started
    assert run.night is not None
    return BleNight(run, run.night, code, out.getvalue(), real_s, items, data, influxd.url, db)


def _delivered(n: BleNight, side: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    batches = [i for i in n.items if isinstance(i, Samples) and i.sensor_address == n.address(side)]
    assert {b.side for b in batches} == {side}
    t = np.concatenate([b.t_host_s for b in batches])
    acc = np.concatenate([b.acc_g for b in batches], axis=0)
    return t, acc


def _holes(n: BleNight, side: str) -> list[tuple[float, float]]:
    """(last sample before, first sample after) of every run of samples the sensor did not
    send, in sample time."""
    sent = np.sort(n.sent(side))
    t = n.truth_t(side)
    jumps = np.flatnonzero(np.diff(sent) > 1)
    return [(float(t[sent[j]]), float(t[sent[j + 1]])) for j in jumps]


def test_the_run_ends_cleanly_and_fast(ble_night: BleNight) -> None:
    n = ble_night
    assert n.code == 0  # everything reached InfluxDB
    assert n.real_s < 40.0, f"{n.real_s:.1f} s for a {HOURS} h two-wrist night"
    for side in ("left", "right"):
        causes = Counter(cause for _, cause in n.run.emulated[side].log.disconnects)
        assert causes == {"disconnect": 20, "central": 1 + 1}  # the stall, the final stop
        sent = len(n.sent(side))
        assert f"emulated sensor sent {sent} samples while connected; {sent} delivered" in (
            n.stdout
        )
    assert "22 connections, link losses: disconnect 20, stall 1" in n.stdout


@pytest.mark.parametrize("side", ["left", "right"])
def test_every_sample_sent_while_connected_is_delivered_once_within_5ms(
    ble_night: BleNight, side: str
) -> None:
    n = ble_night
    t_host, acc = _delivered(n, side)
    t = n.truth_t(side)
    sent = n.sent(side)
    assert len(sent) == len(np.unique(sent))
    assert len(sent) > 0.97 * len(t)  # the faults cost a few %, not more
    assert np.all(np.diff(t_host) > 0)
    idx = np.clip(np.searchsorted(t, t_host), 1, len(t) - 1)
    idx = np.where(t_host - t[idx - 1] < t[idx] - t_host, idx - 1, idx)
    err = t_host - t[idx]
    assert np.max(np.abs(err)) < TOL_S, f"max timestamp error {np.max(np.abs(err)) * 1e3:.2f} ms"
    assert len(np.unique(idx)) == len(idx), "a sample was delivered twice"
    assert np.array_equal(idx, np.sort(sent)), "delivered != sent while connected"
    # Values: the sensor's 1 mg resolution, within the 8 g range both use.
    truth_acc = next(r.acc for r in n.night.sensors if r.side == side)[idx]
    assert np.max(np.abs(acc - truth_acc)) <= 0.0005 + 1e-9


@pytest.mark.parametrize("side", ["left", "right"])
def test_every_gap_and_link_change_is_in_sensor_status(ble_night: BleNight, side: str) -> None:
    n = ble_night
    address = n.address(side)
    with contextlib.closing(n.store()) as store:
        gaps = store.gaps(SUBJECT, START, START + 1e5, address)
        statuses = store.statuses(SUBJECT, START - 60, START + 1e5, address)
    holes = _holes(n, side)
    assert len(holes) == 21
    assert len(gaps) == len(holes)
    for gap, (before, after) in zip(gaps, holes, strict=True):
        assert gap.side == side
        assert abs(gap.start_s - before) < TOL_S
        assert abs(gap.duration_s - (after - before)) < 2 * TOL_S
    kinds = Counter((s.status.state, s.status.detail) for s in statuses if s.status.gap_s)
    assert kinds == {("gap", "disconnect"): 20, ("gap", "stall"): 1}
    # The watchdog ended the 60 s stall after its 10 s timeout.
    stalled = [s for s in statuses if s.status.detail == "stall" and s.status.gap_s]
    assert len(stalled) == 1 and 10.0 < float(stalled[0].status.gap_s or 0) < 15.0
    links = Counter((s.status.state, s.status.detail) for s in statuses if s.status.state != "gap")
    assert links == {
        ("connected", "stream started"): 22,
        ("disconnected", "disconnect"): 20,
        ("disconnected", "stall"): 1,
        ("disconnected", "stopped"): 1,
        ("streaming", None): 22,  # a battery reading at every connection
    }
    assert {s.status.battery_pct for s in statuses if s.status.state == "streaming"} == {87.0}
    # Each link loss is followed by a gap whose start is the last sample before it.
    downs = [s.status.time_s for s in statuses if s.status.state == "disconnected"]
    for gap, down in zip(gaps, downs, strict=False):
        assert gap.start_s <= down < gap.start_s + gap.duration_s


# ------------------------------------------------------------------------ jerks
@dataclass
class Compared:
    ble: dict[str, list[StoredEvent]]
    direct: dict[str, list[StoredEvent]]
    truth: dict[str, dict[str, Any]]  # side -> truth without the jerks no path could see


async def _direct_source(n: BleNight) -> AsyncIterator[SampleBatch]:
    """The samples the sensors sent, with their true times, in frame-sized batches in time
    order across the wrists - what the BLE path saw, without BLE."""
    parts = []
    for rec in n.night.sensors:
        sent = np.sort(n.sent(rec.side))
        for k in range(0, len(sent), 36):
            j = sent[k : k + 36]
            parts.append(SampleBatch(n.address(rec.side), rec.side, rec.t[j], rec.acc[j]))
    parts.sort(key=lambda b: float(b.t_host_s[-1]))
    for part in parts:
        yield part


@pytest.fixture(scope="module")
def compared(ble_night: BleNight, tmp_path_factory: pytest.TempPathFactory) -> Compared:
    n = ble_night
    specs = [SensorSpec(n.address(r.side), r.side, 100.0) for r in n.night.sensors]
    ble: dict[str, list[StoredEvent]] = {}
    direct: dict[str, list[StoredEvent]] = {}
    with Storage(tmp_path_factory.mktemp("direct"), None) as storage:
        pipeline = NightPipeline(SUBJECT, specs, storage, store_raw=False, night_start_s=START)
        asyncio.run(consume(pipeline, _direct_source(n)))
        pipeline.finish()
        for spec in specs:
            direct[spec.side] = storage.store.events(SUBJECT, START, START + 1e5, spec.sensor)
    with contextlib.closing(n.store()) as store:
        for spec in specs:
            ble[spec.side] = store.events(SUBJECT, START, START + 1e5, spec.sensor)
    truth: dict[str, dict[str, Any]] = {}
    for rec in n.night.sensors:
        t, sent = rec.t, np.sort(n.sent(rec.side))
        # Jerks within 1 s of samples the sensor never sent: invisible to either path.
        blind = [*_holes(n, rec.side), (-np.inf, float(t[sent[0]])), (float(t[sent[-1]]), np.inf)]
        seen = [
            j
            for j in n.night.truth["jerks"]
            if not any(a - 1.0 <= j["onset"] <= b + 1.0 for a, b in blind)
        ]
        truth[rec.side] = {**n.night.truth, "jerks": seen}
    return Compared(ble, direct, truth)


def _score(events: list[StoredEvent], truth: dict[str, Any], side: str) -> Score:
    onsets = np.array([e.event.onset for e in events], dtype=np.float64)
    return score(onsets, [e.event.kind for e in events], truth, sensor=side)


@pytest.mark.parametrize("side", ["left", "right"])
def test_jerk_onsets_match_truth_as_well_as_the_direct_path(compared: Compared, side: str) -> None:
    truth = compared.truth[side]
    ble = _score(compared.ble[side], truth, side)
    direct = _score(compared.direct[side], truth, side)
    assert ble.n_true >= 15
    # As good as the direct path: within one jerk either way.
    assert abs(ble.true_positives - direct.true_positives) <= 1
    assert abs(ble.false_positives - direct.false_positives) <= 1
    # (Accuracy itself is measured in benchmarks/accuracy.py; this night holds a series
    # during wake activity, some of whose jerks the activity rule does not count.)
    assert ble.sensitivity >= 0.8 and ble.ppv >= 0.9
    assert abs(ble.median_onset_error_ms - direct.median_onset_error_ms) < 2.0
    # Event by event: the same jerks, onsets within a few ms, same kind and bilateral flag.
    b = np.array([e.event.onset for e in compared.ble[side]])
    d = np.array([e.event.onset for e in compared.direct[side]])
    pairs = match_onsets(b, d, tolerance_s=0.05)
    assert len(pairs) >= max(len(b), len(d)) - 1
    for i, j in pairs:
        assert abs(b[i] - d[j]) < TOL_S
        assert compared.ble[side][i].event.kind == compared.direct[side][j].event.kind
        assert compared.ble[side][i].bilateral == compared.direct[side][j].bilateral


def test_jerks_on_both_wrists_are_flagged_bilateral_on_both(compared: Compared) -> None:
    """The two sensors' clocks differ by seconds and drift 35 ppm apart; the collector maps
    both to host time, so a jerk on both wrists pairs up within the 0.1 s window."""
    left, right = compared.ble["left"], compared.ble["right"]
    both = [
        j
        for j in compared.truth["left"]["jerks"]
        if j["bilateral"]
        and set(j["sensors"]) == {"left", "right"}
        and j in compared.truth["right"]["jerks"]
    ]
    assert len(both) >= 8
    flagged = 0
    for j in both:
        hits = [
            next(
                (e for e in events if abs(e.event.onset - j["per_sensor"][side]["onset"]) < 0.25),
                None,
            )
            for side, events in (("left", left), ("right", right))
        ]
        if all(h is not None for h in hits):
            assert all(h is not None and h.bilateral for h in hits), j
            flagged += 1
    assert flagged >= len(both) - 2
    # ...and a jerk on one wrist only is not.
    one = [j for j in compared.truth["left"]["jerks"] if j["sensors"] == ["right"]]
    for j in one:
        hit = next((e for e in right if abs(e.event.onset - j["onset"]) < 0.25), None)
        assert hit is None or not hit.bilateral, j


def test_influxdb_has_every_sample_gap_and_flag(ble_night: BleNight) -> None:
    n = ble_night
    where = f"WHERE subject = '{SUBJECT}'"
    raw = rows(
        influx_query(n.url, f'SELECT count(ax) FROM "raw"."imu" {where} GROUP BY sensor', n.db)
    )
    assert {r["sensor"]: r["count"] for r in raw} == {
        n.address(s): len(n.sent(s)) for s in ("left", "right")
    }
    gaps = rows(
        influx_query(
            n.url,
            f"SELECT count(gap_s) FROM sensor_status {where} AND state = 'gap' GROUP BY sensor",
            n.db,
        )
    )
    assert {r["sensor"]: r["count"] for r in gaps} == {n.address(s): 21 for s in ("left", "right")}
    events = rows(influx_query(n.url, f"SELECT * FROM jerk_event {where} AND {COUNTED}", n.db))
    with contextlib.closing(n.store()) as store:
        local = store.events(SUBJECT, START, START + 1e5)
    assert len(events) == len(local)
    assert sum(bool(e["bilateral"]) for e in events) == sum(e.bilateral for e in local) > 10


# ------------------------------------------------------------------------ the command
def _fail(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["run", *argv, "--subject", SUBJECT]) == 2
    return capsys.readouterr().err


def test_flags_are_checked_before_anything_connects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(tmp_path)]
    a, b = "A0:9E:1A:00:00:01", "A0:9E:1A:00:00:02"
    err = _fail(["--device", a, "--side", "left", "--allow", b, *d], capsys)
    assert f"sensor {a} is not on the allow-list ({b})" in err
    err = _fail(["--device", a, "--side", "left", "--device", b, "--side", "right",
                 "--allow", f"{a},A0:9E:1A:00:00:09", *d], capsys)  # fmt: skip
    assert f"sensor {b} is not on the allow-list" in err
    assert "one --side per --device" in _fail(["--device", a, *d], capsys)
    assert "two sensors on one wrist" in _fail(
        ["--device", a, "--side", "left", "--device", b, "--side", "left", *d], capsys
    )
    assert "takes a BLE address" in _fail(["--device", "kitchen", "--side", "left", *d], capsys)
    assert "--speed is for simulated sensors" in _fail(
        ["--device", a, "--side", "left", "--speed", "2", *d], capsys
    )
    assert "choose one source, not --sim and --device" in _fail(
        ["--sim", "--device", a, "--side", "left", *d], capsys
    )
    assert "choose a source" in _fail(d, capsys)
    assert "--allow, --faults and --pseudonymise-sensors are for BLE" in _fail(
        ["--sim", "--faults", "drops=1", *d], capsys
    )
    assert "not on the allow-list" in _fail(["--sim-ble", "--allow", a, *d], capsys)
    assert "--faults: expected KEY=VALUE" in _fail(["--sim-ble", "--faults", "fire=1", *d], capsys)
    assert "do not fit" in _fail(
        ["--sim-ble", "--hours", "0.1", "--faults", "disconnects=100", *d], capsys
    )
    assert "whole number of Hz" in _fail(["--sim-ble", "--rate", "52.5", *d], capsys)
    assert "--resume is for simulated sensors" in _fail(
        ["--device", a, "--side", "left", "--resume", *d], capsys
    )
    assert "--resume needs the night's --start" in _fail(["--sim-ble", "--resume", *d], capsys)
    assert not (tmp_path / "events.sqlite3").exists()  # nothing was started


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_sensors_and_stores_what_was_held_back(
    signum: signal.Signals, tmp_path: Path, spawn: list[RunProcess]
) -> None:
    """In real time, samples wait ~2 min for the clock mapping; a signal before that must
    still deliver and store every sample received, and leave the links closed."""
    data = tmp_path / "d"
    argv = ["run", "--sim-ble", "--sensors", "2", "--hours", "0.2", "--speed", "1"]
    c = RunProcess([*argv, "--subject", SUBJECT, "--data-dir", str(data)])
    spawn.append(c)
    c.wait_for(": streaming; samples are stored once", count=2)
    time.sleep(5.0)  # the night starts 3 s after the sensors are on
    c.proc.send_signal(signum)
    code, out = c.finish(60.0)
    err = c.stderr
    assert code == 128 + signum, err
    assert "stopping" in err and "interrupted: everything so far is stored" in err
    assert "link lost" not in err  # a stop is not a drop
    sent = [line.split()[3] for line in out.splitlines() if "emulated sensor sent" in line]
    assert len(sent) == 2 and all(int(s) >= 100 for s in sent), out
    assert all(f"sent {s} samples while connected; {s} delivered" in out for s in sent)
    with contextlib.closing(LocalStore(data / "events.sqlite3")) as store:
        statuses = store.statuses(SUBJECT, 0, 4e9)
        (night,) = store.nights(SUBJECT)
    last = {}
    for s in statuses:
        if s.status.state in ("connected", "disconnected"):
            last[s.sensor] = (s.status.state, s.status.detail)
    assert last == {
        "F1:5E:25:00:00:01": ("disconnected", "stopped"),
        "F1:5E:25:00:00:02": ("disconnected", "stopped"),
    }
    assert night.end_s - night.start_s > 2.0
    assert (data / "reports").is_dir()
