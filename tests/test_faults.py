"""Fault tests of what a bedside computer meets at 3 a.m., end to end against the real
influxd: a damaged spool record, ...  Each asserts what is delivered exactly once and what is
reported lost."""

from __future__ import annotations

import json
import os
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
    # The settled event's record (its provisional point, written before, survives).
    payload = _damage_record_holding(segs[0], b"provisional=false")
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
    assert {k: v for k, v in got.events.items() if k != lost_key} == expected  # once each
    # what is left of the damaged one is its provisional point, marked as such
    assert got.events[lost_key]["provisional"] is True
    assert reference.events[lost_key]["provisional"] is False
    assert got.n_events == reference.n_events
    assert got.counts == reference.counts and got.n_counts == reference.n_counts
    (meta_path,) = (data / "quarantine").glob("*.json")
    meta = json.loads(meta_path.read_text())
    assert meta["lines"] == 1 and meta["measurements"] == {"jerk_event": 1}
    # nothing more to salvage; still reported until the files are removed
    assert main([*flush, "--retry-quarantine"]) == 1
    for p in (data / "quarantine").glob("*"):
        p.unlink()
    assert main(flush) == 0
    assert _contents(url, db_name).n_events == reference.n_events
