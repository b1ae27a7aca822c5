"""Fault tests of what a bedside computer meets at 3 a.m., end to end against the real
influxd: a damaged spool record, ...  Each asserts what is delivered exactly once and what is
reported lost."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from jerkmon.cli import main
from storage.influxd import LocalInfluxd
from tests.test_run import (  # noqa: F401  (fixtures)
    Contents,
    _config,
    _contents,
    _run_argv,
    reference,
)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("JERKMON_"):
            monkeypatch.delenv(var)


def _damage_record_holding(seg: Path, needle: bytes) -> bytes:
    """Flip one byte inside the payload of the first record containing ``needle``; return
    the record's payload."""
    data = bytearray(seg.read_bytes())
    hit = data.index(needle)
    start = data.rindex(b"#JM1 ", 0, hit)
    body = data.index(b"\n", start) + 1
    end = data.find(b"#JM1 ", hit)
    payload = bytes(data[body : end if end >= 0 else len(data)])
    data[hit + len(needle) + 3] ^= 0x55
    seg.write_bytes(bytes(data))
    return payload


def test_a_damaged_spool_record_loses_only_its_event_and_flush_says_so(
    running_influxd: LocalInfluxd,
    db_name: str,
    tmp_path: Path,
    reference: Contents,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The night is recorded without a server; one byte of one event record in the spool
    goes bad; ``flush`` sends everything else exactly once, names the lost record (1 line,
    jerk_event) and exits 1 - and keeps exiting 1 until the loss is acknowledged."""
    url, data = running_influxd.url, tmp_path / "d"
    argv = _run_argv(data, None, None, "--speed", "max")
    assert main([*argv, "--config", _config(tmp_path)]) == 0
    segs = sorted((data / "spool" / "events").glob("seg-*.jms"))
    payload = _damage_record_holding(segs[0], b"\njerk_event,")
    (lost_line,) = payload.decode().splitlines()  # one event per record
    capsys.readouterr()
    assert main(["init", "--data-dir", str(data), "--url", url, "--db", db_name]) == 0
    flush = ["flush", "--data-dir", str(data), "--url", url, "--db", db_name]
    assert main(flush) == 1
    out = capsys.readouterr().out
    assert "LOST: 1 damaged spool record(s), 1 lines" in out
    assert "jerk_event 1" in out
    got = _contents(url, db_name)
    lost_t = int(lost_line.rsplit(" ", 1)[1])
    lost_key = next(k for k in reference.events if k[0] == lost_t)
    expected = {k: v for k, v in reference.events.items() if k != lost_key}
    assert got.events == expected  # every other event, once
    assert got.n_events == reference.n_events - 1
    assert got.counts == reference.counts and got.n_counts == reference.n_counts
    (meta_path,) = (data / "quarantine").glob("*.json")
    meta = json.loads(meta_path.read_text())
    assert meta["lines"] == 1 and meta["measurements"] == {"jerk_event": 1}
    # nothing more to salvage; still reported until the files are removed
    assert main([*flush, "--retry-quarantine"]) == 1
    for p in (data / "quarantine").glob("*"):
        p.unlink()
    assert main(flush) == 0
    assert _contents(url, db_name).n_events == reference.n_events - 1


def _damage_store(path: Path) -> None:
    """Real damaged bytes: 512 bytes of garbage over the start of the page holding the
    minute counts (what --resume reads), as a bad sector leaves it."""
    db = sqlite3.connect(path)
    (page_size,) = db.execute("PRAGMA page_size").fetchone()
    (root,) = db.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'counts'").fetchone()
    db.close()
    data = bytearray(path.read_bytes())
    at = (root - 1) * page_size
    data[at : at + 512] = bytes(range(256)) * 2
    path.write_bytes(bytes(data))


def test_a_damaged_store_does_not_block_flush_and_run_says_how_to_recover(
    running_influxd: LocalInfluxd,
    db_name: str,
    tmp_path: Path,
    reference: Contents,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The night is recorded without a server and events.sqlite3 then gets damaged bytes:
    ``flush`` sends the spool alone, every event and count exactly once; ``run --resume``
    refuses (it cannot tell where the night stopped) and names the file and the way out;
    after moving it aside, a new run works again."""
    url, data = running_influxd.url, tmp_path / "d"
    argv = [*_run_argv(data, None, None, "--speed", "max"), "--config", _config(tmp_path)]
    assert main(argv) == 0
    store = data / "events.sqlite3"
    _damage_store(store)
    capsys.readouterr()
    assert main(["init", "--data-dir", str(data), "--url", url, "--db", db_name]) == 0
    assert main(["flush", "--data-dir", str(data), "--url", url, "--db", db_name]) == 0
    got = _contents(url, db_name)
    assert got.events == reference.events and got.n_events == reference.n_events
    assert got.counts == reference.counts and got.n_counts == reference.n_counts
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"local event store {store} is damaged" in err
    assert f"mv {store} {store}.damaged" in err and "Traceback" not in err
    assert main([*argv, "--replace"]) == 2  # any run: the store cannot be used
    store.rename(store.with_name("events.sqlite3.damaged"))
    assert main(argv) == 0
