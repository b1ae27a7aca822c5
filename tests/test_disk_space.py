"""A full disk, on a real small file system (a tmpfs mounted with ``size=``; the tests run
as root): a warning well before it is full, raw data given up oldest first and recorded as
a gap, events, minute counts and status kept to the end, then a clear error - never a
traceback - and nothing accepted before is lost."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from detector.errors import DiskFullError, JerkmonError
from detector.events import JerkEvent, MinuteCount
from storage import LocalStore, SensorStatus, Storage, StorageOptions
from storage.spool import SpoolOptions, valid_records

MiB = 1024 * 1024
T0 = 1_795_000_000.0


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs, unmounted afterwards."""
    mnt = tmp_path / f"fs-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.fail(
            f"cannot mount a small tmpfs ({done.stderr.strip()}): these tests need root",
            pytrace=False,
        )
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def options() -> StorageOptions:
    return StorageOptions(
        free_warn_bytes=12 * MiB,
        free_reserve_bytes=5 * MiB,
        raw_spool=SpoolOptions(segment_max_bytes=MiB, fsync_interval_s=0.5),
    )


def ev(t: float) -> JerkEvent:
    return JerkEvent(t, 0.1, 40.0, 0.8, "myoclonic", None, 0.7)


def spool_lines(data_dir: Path, stream: str, measurement: str) -> list[bytes]:
    out = []
    for seg in sorted((data_dir / "spool" / stream).glob("seg-*.jms")):
        records, damaged = valid_records(seg.read_bytes())
        assert damaged == []
        for payload, _ in records:
            out += [x for x in payload.splitlines() if x.startswith(measurement.encode() + b",")]
    return out


def night(storage: Storage, seconds: int, t0: float = T0) -> tuple[int, int]:
    """``seconds`` of two wrists at 100 Hz; an event every 10 s, a count every minute."""
    rng = np.random.default_rng(5)
    events = counts = 0
    for k in range(seconds):
        t = t0 + k + np.arange(100) / 100.0
        for sensor, side in (("L1", "left"), ("R1", "right")):
            acc = rng.normal(0.0, 0.02, (100, 3)) + np.array([0.0, 0.0, 1.0])
            storage.add_imu("s01", sensor, side, t, acc)
            if k % 10 == 3:
                events += storage.add_events("s01", sensor, side, [ev(t0 + k + 0.5)])
            if k % 60 == 59:
                minute = MinuteCount(t0 + k - 59, 6, 0, 6, 60.0)
                counts += storage.add_counts("s01", sensor, side, [minute])
    return events, counts


def test_raw_is_given_up_first_and_events_are_kept(small_fs: Path) -> None:
    data = small_fs / "data"
    with Storage(data, options=options()) as storage:
        assert storage.check_space() == "ok"
        # ~18 kB of raw lines per second of night: 24 MiB holds ~20 min of it
        events, counts = night(storage, 2400)
        status = storage.status()
        assert status.raw_given_up_samples > 0
        assert "DISK LOW" in status.summary() and "raw samples given up" in status.summary()
        assert shutil.disk_usage(data).free >= 2 * MiB  # the reserve held
    # every event and minute count is in the store and the spool (read once closed: raw
    # refused while space is still short is recorded as its gap when that ends, or at close)
    store = LocalStore(data / "events.sqlite3")
    statuses = store.statuses("s01", T0 - 1, T0 + 1e4)
    assert len(store.events("s01", T0 - 1, T0 + 1e4)) == events == 2 * 240
    assert len(store.minute_counts("s01", T0 - 1, T0 + 1e4)) == counts == 2 * 40
    store.close()
    assert len(spool_lines(data, "events", "jerk_event")) == events
    assert len(spool_lines(data, "events", "jerk_count")) == counts
    # warned before anything was given up, on each sensor (in the order written)
    written = spool_lines(data, "events", "sensor_status")
    for sensor in ("L1", "R1"):
        mine = [x for x in written if b"sensor=" + sensor.encode() + b"," in x]
        low = next(i for i, x in enumerate(mine) if b"state=disk_low" in x)
        gap = next(i for i, x in enumerate(mine) if b"state=raw_gap" in x)
        assert low < gap
    # the raw series' gaps start at the night's start (oldest first) and account for
    # every sample not in the spool
    kept = spool_lines(data, "raw", "imu")
    gaps = [s for s in statuses if s.status.state == "raw_gap"]
    assert min(g.status.time_s for g in gaps) == pytest.approx(T0)
    given = sum(int(str(g.status.detail).split(": ")[1].split()[0]) for g in gaps)
    assert given + len(kept) == 2 * 2400 * 100
    assert given == storage.raw_given_up_samples
    newest = max(int(x.rsplit(b" ", 1)[1]) for x in kept) / 1e9
    assert newest == pytest.approx(T0 + 2399.99, abs=1e-3)  # the newest raw is kept
    assert all(g.status.gap_s is None for g in gaps)  # not a gap in the signal


def test_a_full_disk_is_a_clear_error_and_loses_nothing_accepted(small_fs: Path) -> None:
    data = small_fs / "data"
    opts = StorageOptions(free_warn_bytes=2 * MiB, free_reserve_bytes=MiB)
    storage = Storage(data, options=opts)
    accepted = night(storage, 60)[0]
    ballast = small_fs / "ballast"
    with open(ballast, "wb") as f:  # fill the disk to the last block
        block = b"\0" * MiB
        try:
            while True:
                f.write(block)
                f.flush()
        except OSError:
            pass
        try:
            while True:
                os.write(f.fileno(), b"\0" * 512)
        except OSError:
            pass
    with pytest.raises(DiskFullError) as info:
        for i in range(2000):  # the spool may still fit a few records in its last block
            storage.add_events("s01", "L1", "left", [ev(T0 + 100 + i)])
            accepted += 1
    assert "no space left" in str(info.value) or "disk is full" in str(info.value)
    assert str(data) in str(info.value)
    # SQLite on the full disk: the same kind of clear error (it used to raise
    # "cannot rollback - no transaction is active" from the error handler)
    with pytest.raises(DiskFullError, match="disk is full"):
        for i in range(2000):
            storage.store.add_status("s01", "L1", "left", SensorStatus(T0 + 200 + i, "gap"))
    storage.close()
    ballast.unlink()
    with Storage(data, options=opts) as again:
        stored = again.store.events("s01", T0 - 1, T0 + 1e4)
        assert len(stored) >= accepted
    assert len(spool_lines(data, "events", "jerk_event")) >= accepted


def test_a_damaged_store_names_the_file_and_how_to_recover(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    store = LocalStore(path)
    store.add_events("s01", "L1", "left", [ev(T0 + i) for i in range(3000)], [False] * 3000)
    store.close()
    raw = bytearray(path.read_bytes())
    raw[5 * 4096 : 5 * 4096 + 64] = b"\xa5" * 64  # a damaged page inside the events table
    path.write_bytes(bytes(raw))
    with pytest.raises(JerkmonError) as info:
        LocalStore(path)
    text = str(info.value)
    assert str(path) in text and "damaged" in text and "mv " in text
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JerkmonError, match="damaged"):
        LocalStore(path)
