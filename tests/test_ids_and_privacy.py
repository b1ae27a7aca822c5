"""Subject and sensor ids are checked before anything is written; what jerkmon writes is
owner-only; BLE sensors can be stored under a stable pseudonym instead of their address."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from detector.errors import ConfigError
from jerkmon.cli import main
from jerkmon.live.pipeline import NightPipeline, SensorSpec
from sim.ble_sensor import EMULATED_SENSORS
from storage import LocalStore, Storage
from storage.ids import check_id, check_sensor_id, sensor_pseudonym

BAD_IDS = {
    "../../../x": "'/'",
    "a/b": "'/'",
    ".": "must not be '.'",
    "..": "must not be '..'",
    "s" * 65: "at most 64",
    "s 01": "' '",
    "s01\n": "'\\n'",
    "s01\\": "'\\\\'",
    "": "must not be empty",
    'x"y': "'\"'",
}


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("JERKMON_"):
            monkeypatch.delenv(var)


@pytest.mark.parametrize(("bad", "why"), sorted(BAD_IDS.items()))
def test_bad_ids_are_refused_with_the_reason(bad: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_id("subject id", bad)
    assert why in str(info.value)
    with pytest.raises(ConfigError):
        check_sensor_id(bad)


def test_good_ids_and_ble_addresses_pass() -> None:
    for good in ("s01", "demo_1.a-B", "x" * 64, "sim-left"):
        assert check_id("subject id", good) == good
    assert check_sensor_id("A0:9E:1A:12:34:56") == "A0:9E:1A:12:34:56"


COMMANDS = [
    ["run", "--sim", "--hours", "0.01", "--speed", "max"],
    ["annotate", "--at", "2026-01-01T22:00", "--text", "note"],
    ["report"],
    ["export", "--format", "csv"],
    ["dashboards", "nights"],
    ["dashboards", "preview", "--out", "previews"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_command_with_subject_refuses_a_bad_one_before_writing(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    with pytest.raises(SystemExit) as info:
        main([*command, "--subject", "../../../x", "--data-dir", str(data)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--subject: subject id '../../../x' has the character '/'" in err
    assert not data.exists() and list(tmp_path.iterdir()) == []


def test_the_pipeline_refuses_bad_ids_too(tmp_path: Path) -> None:
    with Storage(tmp_path / "d") as storage:
        with pytest.raises(ConfigError, match="at most 64"):
            NightPipeline("s" * 70_000, [SensorSpec("sim-left", "left", 50.0)], storage)
        with pytest.raises(ConfigError, match="'/'"):
            SensorSpec("left/../x", "left", 50.0)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_what_a_run_writes_is_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    argv = ["run", "--sim", "--hours", "0.1", "--speed", "max", "--subject", "s01"]
    assert main([*argv, "--data-dir", str(data), "--quiet"]) == 0
    assert main(["export", "--format", "csv", "--data-dir", str(data)]) == 0
    assert _mode(data) == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in files) and any(p.suffix == ".csv" for p in files)
    assert data / "events.sqlite3" in files
    assert {str(p.relative_to(data)): _mode(p) for p in files if _mode(p) != 0o600} == {}
    dirs = [p for p in data.rglob("*") if p.is_dir()]
    assert {str(p.relative_to(data)): _mode(p) for p in dirs if _mode(p) != 0o700} == {}


def test_an_old_store_and_data_directory_are_made_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "spool").mkdir(parents=True)
    os.chmod(data, 0o755)
    (data / "events.sqlite3").touch(mode=0o644)
    os.chmod(data / "events.sqlite3", 0o644)
    Storage(data).close()
    assert _mode(data) == 0o700 and _mode(data / "events.sqlite3") == 0o600


def test_pseudonyms_are_stable_per_data_directory_and_keyed(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    mac = "A0:9E:1A:12:34:56"
    first = sensor_pseudonym(a, mac)
    assert first == sensor_pseudonym(a, mac.lower()) and first.startswith("sensor-")
    assert check_id("sensor id", first) == first
    assert sensor_pseudonym(a, "A0:9E:1A:12:34:57") != first
    assert sensor_pseudonym(b, mac) != first  # another data directory, another key
    assert _mode(a / "sensor-key") == 0o600


def holding(data: Path, address: str) -> list[str]:
    """Files of ``data`` (but the key) holding ``address`` in any case or separator."""
    forms = {address, address.lower(), address.replace(":", ""), address.replace(":", "-")}
    return sorted(
        p.name
        for p in data.rglob("*")
        if p.is_file()
        and p.name != "sensor-key"
        and any(f.encode() in p.read_bytes() for f in forms)
    )


def test_a_ble_night_with_pseudonymised_sensors_never_stores_the_address(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    argv = ["run", "--sim-ble", "--hours", "0.1", "--speed", "max", "--subject", "s01"]
    argv += ["--data-dir", str(data), "--quiet", "--raw", "--pseudonymise-sensors"]
    assert main(argv) == 0
    store = LocalStore(data / "events.sqlite3")
    sensors = {c.sensor for c in store.minute_counts("s01", 0, 4e9)}
    store.close()
    assert len(sensors) == 1
    (pseudonym,) = sensors
    assert pseudonym.startswith("sensor-")
    # the emulated sensor's address appears in nothing that was stored
    address = EMULATED_SENSORS["left"][0]
    assert holding(data, address) == []
    # (as it does without the option: the scan finds it)
    plain = [a for a in argv if a != "--pseudonymise-sensors"]
    plain[plain.index(str(data))] = str(tmp_path / "plain")
    assert main(plain) == 0
    assert "events.sqlite3" in holding(tmp_path / "plain", address)
    # the next night: the same sensor, the same pseudonym
    assert main([*argv, "--replace"]) == 0
    store = LocalStore(data / "events.sqlite3")
    assert {c.sensor for c in store.minute_counts("s01", 0, 4e9)} == {pseudonym}
    store.close()
