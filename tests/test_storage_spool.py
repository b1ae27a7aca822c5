"""The spool: framing, torn-tail recovery, corruption, committed offsets, SIGKILL safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from detector.errors import ConfigError, StorageError
from storage.spool import SpoolOptions, SpoolStream


def _lines(i: int, n: int = 3) -> bytes:
    return b"".join(b"m,rec=%d v=%di %d\n" % (i, k, i * 1000 + k) for k in range(n))


def _read_all(spool: SpoolStream) -> bytes:
    out = []
    while (batch := spool.read_batch(10_000, 1 << 20)) is not None:
        out.append(batch.payload)
        spool.commit(batch)
    return b"".join(out)


def test_append_read_commit_and_segment_deletion(tmp_path: Path) -> None:
    opts = SpoolOptions(segment_max_bytes=4096)
    spool = SpoolStream(tmp_path / "s", "events", opts)
    for i in range(200):
        spool.append(_lines(i), 3)
    assert spool.pending_lines == 600
    segments = sorted((tmp_path / "s").glob("seg-*.jms"))
    assert len(segments) > 3
    batch = spool.read_batch(max_lines=30, max_bytes=1 << 20)
    assert batch is not None and batch.n_lines == 30
    assert batch.payload == b"".join(_lines(i) for i in range(10))
    spool.rewind()  # a failed send: the same lines come again
    again = spool.read_batch(max_lines=30, max_bytes=1 << 20)
    assert again == batch
    spool.commit(batch)
    rest = _read_all(spool)
    assert rest == b"".join(_lines(i) for i in range(10, 200))
    assert spool.pending_lines == 0 and spool.pending_bytes() == 0
    assert len(list((tmp_path / "s").glob("seg-*.jms"))) == 1  # sent segments deleted
    spool.close()


def test_restart_resumes_at_committed_offset(tmp_path: Path) -> None:
    spool = SpoolStream(tmp_path / "s", "events")
    for i in range(10):
        spool.append(_lines(i), 3)
    batch = spool.read_batch(max_lines=12, max_bytes=1 << 20)
    assert batch is not None
    spool.commit(batch)
    spool.close()
    spool = SpoolStream(tmp_path / "s", "events")
    assert spool.pending_lines == 18
    assert _read_all(spool) == b"".join(_lines(i) for i in range(4, 10))
    spool.close()


def test_torn_tail_is_cut_never_parsed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = SpoolStream(tmp_path / "s", "events")
    for i in range(5):
        spool.append(_lines(i), 3)
    spool.close()
    seg = sorted((tmp_path / "s").glob("seg-*.jms"))[-1]
    good_size = seg.stat().st_size
    # A crash in the middle of writing record 5: header and half the payload.
    full = b"#JM1 %d 3 %08x\n" % (len(_lines(5)), 0) + _lines(5)
    with open(seg, "ab") as f:
        f.write(full[: len(full) // 2])
    spool = SpoolStream(tmp_path / "s", "events")
    assert seg.stat().st_size == good_size
    assert spool.truncated_bytes == len(full) // 2
    assert "torn tail" in caplog.text
    spool.append(_lines(6), 3)  # appends continue after the cut
    assert _read_all(spool) == b"".join(_lines(i) for i in (0, 1, 2, 3, 4, 6))
    spool.close()


@pytest.mark.parametrize("damage", ["crc", "header", "length"])
def test_torn_tail_variants(tmp_path: Path, damage: str) -> None:
    spool = SpoolStream(tmp_path / "s", "events")
    spool.append(_lines(0), 3)
    spool.close()
    seg = sorted((tmp_path / "s").glob("seg-*.jms"))[-1]
    payload = _lines(1)
    bad = {
        "crc": b"#JM1 %d 3 00000000\n" % len(payload) + payload,  # right length, wrong CRC
        "header": b"#JM1 12x 3 0\n" + payload,
        "length": b"#JM1 999999 3 00000000\n" + payload,
    }[damage]
    with open(seg, "ab") as f:
        f.write(bad)
    spool = SpoolStream(tmp_path / "s", "events")
    assert _read_all(spool) == _lines(0)
    spool.close()


def _flip(seg: Path, record: int, at: int = 30) -> bytes:
    """Flip a payload byte of record number ``record``; return that record's bytes."""
    data = bytearray(seg.read_bytes())
    starts = [i for i in range(len(data)) if data.startswith(b"#JM1 ", i)]
    start = starts[record]
    end = starts[record + 1] if record + 1 < len(starts) else len(data)
    original = bytes(data[start:end])
    data[start + at] ^= 0xFF
    seg.write_bytes(bytes(data))
    return original


@pytest.mark.parametrize("where", ["last", "middle"])
def test_a_damaged_record_loses_only_itself_and_is_reported(
    tmp_path: Path, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Frame markers + CRC: the reader resynchronises on the next intact record; the damaged
    one is reported (bytes, lines, measurements) and overwritten by a skip record, so a
    reopen neither loses more nor reports it twice."""
    q = tmp_path / "quarantine"
    opts = SpoolOptions(segment_max_bytes=4096)
    spool = SpoolStream(tmp_path / "s", "events", opts, quarantine_dir=q)
    for i in range(120):
        spool.append(_lines(i), 3)
    spool.close()
    segs = sorted((tmp_path / "s").glob("seg-*.jms"))
    assert len(segs) >= 3
    seg = segs[-1] if where == "last" else segs[1]
    damaged = _flip(seg, 1)
    spool = SpoolStream(tmp_path / "s", "events", opts, quarantine_dir=q)
    assert spool.lost_records == 1 and spool.lost_lines == 3
    assert spool.pending_lines == 119 * 3
    got = _read_all(spool)
    spool.close()
    lost = {int(x.split(b" ")[0].split(b"=")[1]) for x in damaged.split(b"\n")[1:] if x}
    assert len(lost) == 1
    assert got == b"".join(_lines(i) for i in range(120) if i not in lost)
    (kept,) = q.glob("*.bin")
    assert kept.read_bytes() == damaged[:30] + bytes([damaged[30] ^ 0xFF]) + damaged[31:]
    meta = json.loads(kept.with_suffix(".json").read_text())
    assert meta["lines"] == 3 and meta["bytes"] == len(damaged)
    assert meta["measurements"] == {"m": 3}
    assert "damaged record" in caplog.text and "torn tail" not in caplog.text
    # reopened: the skip record reads as nothing, no second report
    spool = SpoolStream(tmp_path / "s", "events", opts, quarantine_dir=q)
    assert spool.lost_records == 0 and spool.pending_lines == 0
    spool.close()


def test_damage_found_while_sending_is_skipped_not_the_rest(tmp_path: Path) -> None:
    q = tmp_path / "quarantine"
    spool = SpoolStream(tmp_path / "s", "events", quarantine_dir=q)
    for i in range(10):
        spool.append(_lines(i), 3)
    seg = sorted((tmp_path / "s").glob("seg-*.jms"))[-1]
    _flip(seg, 4)  # after open: only the reader can see it
    got = _read_all(spool)
    assert got == b"".join(_lines(i) for i in range(10) if i != 4)
    assert spool.lost_records == 1 and spool.pending_lines == 0
    spool.append(_lines(10), 3)  # the writer goes on after it
    assert _read_all(spool) == _lines(10)
    spool.close()
    assert len(list(q.glob("*.bin"))) == 1


def test_a_truncated_middle_segment_is_reported_lost_not_a_torn_tail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    q = tmp_path / "quarantine"
    opts = SpoolOptions(segment_max_bytes=4096)
    spool = SpoolStream(tmp_path / "s", "events", opts, quarantine_dir=q)
    for i in range(120):
        spool.append(_lines(i), 3)
    spool.close()
    seg = sorted((tmp_path / "s").glob("seg-*.jms"))[1]
    size = seg.stat().st_size
    os.truncate(seg, size - 20)
    spool = SpoolStream(tmp_path / "s", "events", opts, quarantine_dir=q)
    assert spool.truncated_bytes == 0 and spool.lost_records == 1
    assert "cut a torn tail" not in caplog.text and "segment truncated" in caplog.text
    assert len(_read_all(spool).splitlines()) == 119 * 3
    spool.close()


@pytest.mark.parametrize(
    "committed", [b"garbage\n", b"1 999999999\n", b"99 0\n", b"1 7\n", b"\xff\xfe"]
)
def test_a_bad_committed_file_never_deletes_unsent_data(
    tmp_path: Path, committed: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    opts = SpoolOptions(segment_max_bytes=4096)
    spool = SpoolStream(tmp_path / "s", "events", opts)
    for i in range(60):
        spool.append(_lines(i), 3)
    spool.close()
    segs = sorted((tmp_path / "s").glob("seg-*.jms"))
    (tmp_path / "s" / "committed").write_bytes(committed)
    spool = SpoolStream(tmp_path / "s", "events", opts)
    assert sorted((tmp_path / "s").glob("seg-*.jms")) == segs  # nothing deleted
    assert "is not valid" in caplog.text
    assert _read_all(spool) == b"".join(_lines(i) for i in range(60))  # all sent again
    spool.close()


def test_salvage_recovers_intact_records_from_old_corrupt_files(tmp_path: Path) -> None:
    """An earlier version kept the damaged record *and the rest of its segment* in
    ``*-corrupt-*.bin``: salvage turns every intact record into a quarantine entry to
    re-send and keeps only the damaged bytes."""
    from storage.quarantine import Quarantine

    spool = SpoolStream(tmp_path / "s", "raw")
    for i in range(5):
        spool.append(_lines(i), 3)
    spool.close()
    seg = sorted((tmp_path / "s").glob("seg-*.jms"))[-1]
    data = bytearray(seg.read_bytes())
    second = data.index(b"#JM1", 1)
    data[second + 30] ^= 0xFF
    quarantine = Quarantine(tmp_path / "q")
    old = quarantine.directory / f"raw-corrupt-{seg.stem}-{second}.bin"
    old.write_bytes(bytes(data[second:]))  # records 1 (damaged) .. 4
    (loss,) = quarantine.losses()
    assert loss.stream == "raw"
    assert quarantine.salvage() == (3, 9)
    entries = quarantine.entries()
    assert b"".join(e.path.read_bytes() for e in entries) == b"".join(_lines(i) for i in (2, 3, 4))
    assert {e.stream for e in entries} == {"raw"}
    (loss,) = quarantine.losses()
    assert loss.lines == 3 and loss.n_bytes == data.index(b"#JM1", second + 1) - second


def test_one_owner_per_stream(tmp_path: Path) -> None:
    spool = SpoolStream(tmp_path / "s", "events")
    with pytest.raises(StorageError, match="in use by another process"):
        SpoolStream(tmp_path / "s", "events")
    spool.close()
    SpoolStream(tmp_path / "s", "events").close()


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="fsync_interval_s"):
        SpoolOptions(fsync_interval_s=-1)
    with pytest.raises(ConfigError, match="segment_max_bytes"):
        SpoolOptions(segment_max_bytes=10)


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from storage.spool import SpoolOptions, SpoolStream
    spool = SpoolStream(Path(sys.argv[1]), "events", SpoolOptions(segment_max_bytes=65536,
                        fsync_interval_s=float(sys.argv[2])))
    i = 0
    while True:
        payload = b"".join(b"m,rec=%d v=%di %d\\n" % (i, k, i * 1000 + k) for k in range(50))
        spool.append(payload, 50)
        sys.stdout.write(f"{i}\\n")  # acknowledged
        sys.stdout.flush()
        i += 1
    """
)


@pytest.mark.parametrize("fsync_interval_s", [0.0, 0.5])
def test_sigkill_loses_nothing_acknowledged(tmp_path: Path, fsync_interval_s: float) -> None:
    directory = tmp_path / "s"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(directory), str(fsync_interval_s)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.stdout is not None
    acked = -1
    deadline = time.monotonic() + 20
    while acked < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, "writer died"
        acked = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    acked = max([acked, *(int(x) for x in proc.stdout.read().split())])
    proc.stdout.close()
    spool = SpoolStream(directory, "events")
    data = _read_all(spool)
    spool.close()
    records = data.split(b"\n")[:-1]
    assert len(records) % 50 == 0  # only whole records, never a torn one
    recovered = len(records) // 50
    assert recovered >= acked + 1  # every acknowledged append is there
    expected = b"".join(
        b"".join(b"m,rec=%d v=%di %d\n" % (i, k, i * 1000 + k) for k in range(50))
        for i in range(recovered)
    )
    assert data == expected
