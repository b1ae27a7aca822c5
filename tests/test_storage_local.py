"""Local SQLite event store, configuration loading and the Storage facade without a server."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from detector.errors import ConfigError, InputError, StorageError
from detector.events import JerkEvent, MinuteCount
from storage import (
    InfluxConfig,
    Night,
    SensorStatus,
    Storage,
    StorageOptions,
    default_data_dir,
    load_influx_config,
    load_storage_options,
)

T0 = 1_763_000_000.0


def _ev(t: float, kind: str = "myoclonic", series: int | None = None) -> JerkEvent:
    return JerkEvent(t, 0.08, 60.0, 1.1, kind, series, 0.85, clipped=False)  # type: ignore[arg-type]


def test_local_store_is_idempotent_and_queryable(tmp_path: Path) -> None:
    with Storage(tmp_path / "d") as storage:
        events = [_ev(T0 + 1.5), _ev(T0 + 30, "hypnic", 2), _ev(T0 + 700)]
        for _ in range(2):  # written twice (a replay): stored once
            storage.add_events("ana", "wl", "left", events, [False, True, False])
            storage.add_counts("ana", "wl", "left", [MinuteCount(T0, 2, 1, 1, 59.0)])
        storage.add_events("ana", "wr", "right", [_ev(T0 + 1.5)], [False])
        storage.add_events("bob", "wl", "left", [_ev(T0 + 2)])
        storage.add_status("ana", "wl", "left", SensorStatus(T0 + 40, "gap", gap_s=4.0))
        storage.add_status("ana", "wl", "left", SensorStatus(T0 + 50, "disconnected"))
        storage.add_night(Night("ana", T0 - 3600, T0 + 8 * 3600, sleep_onset_s=T0 + 20))
        store = storage.store
        found = store.events("ana", T0, T0 + 600)
        assert [(e.sensor, e.event.onset) for e in found] == [
            ("wl", T0 + 1.5),
            ("wr", T0 + 1.5),
            ("wl", T0 + 30),
        ]
        assert found[2].event == _ev(T0 + 30, "hypnic", 2) and found[2].bilateral
        assert [e.sensor for e in store.events("ana", T0, T0 + 600, sensor="wr")] == ["wr"]
        (count,) = store.minute_counts("ana", T0, T0 + 60)
        assert count.count == MinuteCount(T0, 2, 1, 1, 59.0)
        (gap,) = store.gaps("ana", T0, T0 + 3600)
        assert (gap.start_s, gap.duration_s, gap.sensor) == (T0 + 40, 4.0, "wl")
        states = [s.status for s in store.statuses("ana", T0, T0 + 3600)]
        assert [s.state for s in states] == ["gap", "disconnected"]
        assert states[1].connected is False
        (night,) = store.nights("ana")
        assert night.sleep_onset_s == T0 + 20 and night.wake_s is None
        assert store.subjects() == ["ana", "bob"]
        # Everything also sits in the spool for a later flush.
        # (the lines above, plus one for the night point)
        assert storage.status().streams["events"].backlog_lines == 3 * 2 + 2 + 2 + 2 + 1
    # Reopened: still there.
    with Storage(tmp_path / "d") as again:
        assert len(again.store.events("ana", T0, T0 + 3600)) == 4


def test_storage_input_checks(tmp_path: Path) -> None:
    with Storage(tmp_path / "d") as storage:
        with pytest.raises(InputError, match="bilateral"):
            storage.add_events("a", "s", "left", [_ev(T0)], [True, False])
        with pytest.raises(InputError, match="non-empty"):
            storage.add_events("", "s", "left", [_ev(T0)])
        with pytest.raises(InputError, match="n, 3"):
            storage.add_imu("a", "s", "left", np.arange(3.0), np.zeros((3, 2)))
        with pytest.raises(InputError, match="state"):
            SensorStatus(T0, "Bad State")
        with pytest.raises(InputError, match="battery"):
            SensorStatus(T0, "streaming", battery_pct=120)
    with pytest.raises(StorageError, match="closed"):
        storage.add_events("a", "s", "left", [_ev(T0)])


def test_influx_config_validation_and_masking() -> None:
    cfg = InfluxConfig(url="https://db.example:8086", db="jm", user="u", password="pw-123")
    assert "pw-123" not in repr(cfg) and "password='***'" in repr(cfg)
    with pytest.raises(ConfigError, match="http://host:8086"):
        InfluxConfig(url="localhost:8086", db="jm")
    with pytest.raises(ConfigError, match="credentials"):
        InfluxConfig(url="http://u:p@h:8086", db="jm")
    with pytest.raises(ConfigError, match="target missing"):
        InfluxConfig(url="http://h:8086")
    with pytest.raises(ConfigError, match="together"):
        InfluxConfig(url="http://h:8086", db="jm", user="u")
    with pytest.raises(ConfigError, match="api=v2 needs"):
        InfluxConfig(url="http://h:8086", db="jm", api="v2")
    with pytest.raises(ConfigError, match="duration"):
        InfluxConfig(url="http://h:8086", db="jm", raw_retention="7 days")
    with pytest.raises(ConfigError, match="batch_max_lines"):
        StorageOptions(batch_max_lines=0)
    with pytest.raises(ConfigError, match="retry"):
        StorageOptions(retry_initial_s=10, retry_max_s=1)


def test_config_from_env_file_and_flags(tmp_path: Path) -> None:
    env = {
        "JERKMON_INFLUX_URL": "http://env:8086",
        "JERKMON_INFLUX_TOKEN": "tok-env",
        "JERKMON_INFLUX_ORG": "home",
        "JERKMON_INFLUX_BUCKET": "jerks",
    }
    cfg = load_influx_config(env=env)
    assert cfg is not None and cfg.has_v2_credentials and cfg.token == "tok-env"
    toml = tmp_path / "jerkmon.toml"
    toml.write_text(
        '[influx]\nurl = "http://file:8086"\ndb = "filedb"\nuser = "u"\npassword = "pw"\n'
        "[storage]\ndisk_cap_gib = 0.5\nbatch_max_lines = 2000\n"
    )
    os.chmod(toml, 0o600)
    cfg = load_influx_config(toml, env={}, overrides={"db": "flagdb", "url": None})
    assert cfg is not None and (cfg.url, cfg.db, cfg.password) == (
        "http://file:8086",
        "flagdb",
        "pw",
    )
    opts = load_storage_options(toml)
    assert opts.disk_cap_bytes == 512 * 1024**2 and opts.batch_max_lines == 2000
    assert load_influx_config(env={}) is None
    with pytest.raises(ConfigError, match="environment or the config file"):
        load_influx_config(env=env, overrides={"token": "on-argv"})
    with pytest.raises(ConfigError, match="no URL"):
        load_influx_config(env={"JERKMON_INFLUX_DB": "x"})
    bad = tmp_path / "bad.toml"
    bad.write_text("[influx]\nurl = 'http://h:1'\ndatabase = 'x'\n")
    with pytest.raises(ConfigError, match="unknown"):
        load_influx_config(bad, env={})
    assert default_data_dir({"JERKMON_DATA_DIR": "/x/y"}) == Path("/x/y")
    assert default_data_dir({"XDG_DATA_HOME": "/d"}) == Path("/d/jerkmon")


def test_activity_summary_from_raw(tmp_path: Path) -> None:
    with Storage(tmp_path / "d", options=StorageOptions(activity_epoch_s=1.0)) as storage:
        t = T0 + np.arange(250) / 100  # 2.5 s
        storage.add_imu("a", "s", "left", t, np.tile([0.0, 0.0, 1.0], (250, 1)))
        assert storage.spools["events"].pending_lines == 2  # two whole 1 s epochs so far
    with Storage(tmp_path / "d") as storage:
        batch = storage.spools["events"].read_batch(100, 1 << 20)
        assert batch is not None
        lines = batch.payload.decode().splitlines()
        assert len(lines) == 3  # the partial epoch was written at close
        assert all(line.startswith("activity,sensor=s,side=left,subject=a ") for line in lines)
        assert "angle_z_deg=90.0" in lines[0] and "samples=100i" in lines[0]
