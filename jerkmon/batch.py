"""Cohorts: every recording of a study through the same detection as ``jerkmon detect``.

``run_batch`` takes a directory (each recording file one subject-night) or a manifest CSV
(``subject,night,path[,side]``; two rows of one subject and night with different sides are
one two-wrist night; relative paths are relative to the manifest), and writes into ``out``:

* ``recordings/<subject>_<night>/``: the night's events (``events.csv`` and the other chosen
  formats) and ``result.json`` (the cohort row, the reader's notes and the resume key);
* ``cohort.parquet`` and ``cohort.csv``: one row per subject-night (:data:`COHORT_COLUMNS`),
  with the jerk rate per hour of sleep and its exact (Garwood) 95 % Poisson CI;
* ``batch-errors.csv``: recordings that failed (path and the one-line reason); a bad file
  never stops the batch.

Resumable: a night whose inputs' SHA-256, detector version, configuration and reading options
match its ``result.json`` is not run again.  Recordings run serially (``workers=1``), on a
local process pool (default: one worker per core) or on a Dask distributed cluster
(``scheduler='tcp://host:8786'``, or ``'local:N'`` for a LocalCluster of N worker
processes); every way writes byte-identical per-recording files.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from collector.csvio import ALL_SENSORS, SampleReader
from collector.recording import ArrayRecording, open_recording, sniff_format
from detector import DetectorConfig, JerkEvent
from detector import __version__ as DETECTOR_VERSION
from detector.errors import ConfigError, InputError, JerkmonError
from jerkmon.offline import DetectionResult, detect_recording, detect_wrists
from reports.nightdata import night_fields
from reports.stats import poisson_rate_ci

__all__ = ["COHORT_COLUMNS", "BatchResult", "Job", "find_jobs", "run_batch", "run_job"]

#: Cohort table columns and their meaning (units in brackets).
COHORT_COLUMNS: dict[str, str] = {
    "subject": "subject id (manifest, or the file name)",
    "night": "night label (manifest; empty for a directory of files)",
    "sensors": "wrists recorded [count]",
    "inputs": "input files, ';'-separated",
    "start_utc": "first sample [UTC; device clock for files without a time zone]",
    "end_utc": "last sample [UTC]",
    "sleep_onset_utc": "first estimated sleep onset [UTC]",
    "recording_h": "first to last sample [h]",
    "worn_h": "time with signal [h]; idle-sleep-mode and other gaps excluded",
    "gaps": "signal gaps, all wrists [count]",
    "gap_h": "total duration of the gaps [h]",
    "sleep_h": "estimated sleep, union of the wrists' sleep periods [h]",
    "jerks": "distinct jerks; a bilateral jerk counts once [count]",
    "jerks_in_sleep": "of which during estimated sleep [count]",
    "hypnic": "hypnic jerks (at a sleep onset) [count]",
    "myoclonic": "other jerks [count]",
    "series": "distinct series (clusters of jerks) [count]",
    "bilateral": "jerks seen on both wrists [count]",
    "rate_per_h_sleep": "jerks_in_sleep / sleep_h [jerks per hour of sleep]",
    "rate_ci_low": "exact Poisson 95 % CI of the rate, lower [per hour of sleep]",
    "rate_ci_high": "exact Poisson 95 % CI of the rate, upper [per hour of sleep]",
    "negative": "negative myoclonus: lapses of tone, not jerks; bilateral once [count]",
    "detector_version": "version of the detector that produced the events",
    "detector_config": "detector configuration, JSON",
}
FORMATS = ("csv", "parquet", "edf", "bids")
ENV_SCHEDULER = "JERKMON_DASK_SCHEDULER"
_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class Job:
    """One subject-night: its input files by side (``""``: one wrist, side unknown)."""

    subject: str
    night: str
    inputs: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        return _NAME.sub("-", f"{self.subject}_{self.night}" if self.night else self.subject)


@dataclass(frozen=True, slots=True)
class Options:
    """Everything besides the inputs that decides a night's output (part of the resume key)."""

    config: dict[str, Any]
    formats: tuple[str, ...] = ("csv",)
    rate_hz: float | None = None
    time_unit: str | None = None
    units: str | None = None

    def key_blob(self) -> str:
        return json.dumps(
            {
                "detector_version": DETECTOR_VERSION,
                "config": self.config,
                "formats": list(self.formats),
                "rate_hz": self.rate_hz,
                "time_unit": self.time_unit,
                "units": self.units,
            },
            sort_keys=True,
        )


@dataclass
class BatchResult:
    """What a batch did: rows of the cohort, failures, and where it wrote them."""

    cohort_csv: Path
    cohort_parquet: Path
    errors_csv: Path | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    skipped: int = 0
    hours: float = 0.0
    seconds: float = 0.0


# ---------------------------------------------------------------------- finding the nights
def find_jobs(source: Path, out_dir: Path | None = None) -> list[Job]:
    """The nights of a directory (one file each, sorted) or of a manifest CSV."""
    if source.is_dir():
        jobs = []
        skip = out_dir.resolve() if out_dir is not None else None
        for p in sorted(source.rglob("*")):
            if not p.is_file() or p.name.startswith(".") or p.suffix.lower() == ".json":
                continue
            if skip is not None and skip in p.resolve().parents:
                continue
            rel = p.relative_to(source).with_suffix("")
            jobs.append(Job(str(rel).replace(os.sep, "_"), "", (("", str(p)),)))
        if not jobs:
            raise InputError(f"{source}: no recording files")
        return jobs
    if not source.is_file():
        raise InputError(f"{source}: no such file or directory")
    return _manifest(source)


def _manifest(path: Path) -> list[Job]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a UTF-8 manifest CSV") from exc
    if not rows or rows[0] is None:
        raise InputError(f"{path}: empty manifest (expected subject,night,path[,side])")
    cols = {c.strip().lower(): c for c in rows[0] if c is not None}
    for need in ("subject", "path"):
        if need not in cols:
            raise InputError(f"{path}, line 1: manifest lacks a {need!r} column")
    nights: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for k, row in enumerate(rows, 2):
        subject = (row.get(cols["subject"]) or "").strip()
        file = (row.get(cols["path"]) or "").strip()
        if not subject or not file:
            raise InputError(f"{path}, line {k}: empty subject or path")
        night = (row.get(cols.get("night", ""), "") or "").strip()
        side = (row.get(cols.get("side", ""), "") or "").strip()
        p = Path(file)
        full = str(p if p.is_absolute() else path.parent / p)
        sides = nights.setdefault((subject, night), [])
        if any(s == side for s, _ in sides):
            raise InputError(
                f"{path}, line {k}: {subject} {night or ''} has two inputs for side "
                f"{side or '(none)'}; give each wrist a side"
            )
        sides.append((side, full))
    return [Job(s, n, tuple(sorted(v))) for (s, n), v in sorted(nights.items())]


# ---------------------------------------------------------------------- one night
def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _utc(t: float | None) -> str | None:
    if t is None or not math.isfinite(t):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


_MALLOC_TUNED = False


def _tune_malloc() -> None:
    """Let glibc serve the detector's per-chunk arrays (a few MB) from the heap.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_`` set, which turns off glibc's
    dynamic mmap threshold: every array above 128 KiB is then mmap'd and unmapped again, and
    the page faults doubled a night's CPU time on a LocalCluster.  Fixed thresholds of 32 MiB
    (mmap) and 64 MiB (trim) keep a worker's resident memory bounded all the same.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED or not sys.platform.startswith("linux"):
        return
    _MALLOC_TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 << 20)
        libc.mallopt(m_trim_threshold, 64 << 20)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def run_job(job: Job, out_dir: str, opts: Options) -> dict[str, Any]:
    """Detect one night and write its files; returns ``{"row": ..., "hours": ...}``, or
    ``{"error": ...}`` (never raises for a bad recording), or the stored row when resumed."""
    _tune_malloc()
    night_dir = Path(out_dir) / "recordings" / job.name
    result_path = night_dir / "result.json"
    try:
        hashes = [_sha256(p) for _, p in job.inputs]
    except OSError as exc:
        return {"error": f"cannot read input: {exc}"}
    key = hashlib.sha256("\n".join([*hashes, opts.key_blob()]).encode()).hexdigest()
    if result_path.is_file():
        try:
            stored = json.loads(result_path.read_text())
            if stored.get("key") == key:
                return {"row": stored["row"], "hours": stored["row"]["recording_h"], "skipped": 1}
        except (OSError, ValueError, KeyError):
            pass  # damaged: run again
    try:
        return _detect_job(job, night_dir, key, opts)
    except JerkmonError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # a reader library's own failure: reported, never fatal
        return {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}


def _detect_job(job: Job, night_dir: Path, key: str, opts: Options) -> dict[str, Any]:
    config = DetectorConfig(**opts.config)
    per_sensor: dict[str, DetectionResult] = {}
    flags: dict[str, list[bool]] = {}
    notes: dict[str, list[str]] = {}
    single = len(job.inputs) == 1
    if single and _has_sensor_column(job.inputs[0][1], opts):
        # A long file of one or more wrists (a ``sensor`` column): each wrist, bilateral.
        rec = open_recording(job.inputs[0][1], ALL_SENSORS, opts.time_unit, opts.units)
        wr = detect_wrists(rec, opts.rate_hz, config, progress=False)
        per_sensor, flags = wr.sensors, wr.bilateral
        notes = {"": [rec.format, *rec.notes]}
    elif single:
        side, path = job.inputs[0]
        rec = open_recording(path, None, opts.time_unit, opts.units)
        name = side or "wrist"
        per_sensor[name] = detect_recording(rec, opts.rate_hz, config, progress=False)
        flags[name] = [False] * len(per_sensor[name].events)
        notes[name] = [f"{rec.format}", *rec.notes]
    else:
        recs = {s: open_recording(p, None, opts.time_unit, opts.units) for s, p in job.inputs}
        wr = detect_wrists(recs, opts.rate_hz, config, progress=False)
        per_sensor, flags = wr.sensors, wr.bilateral
        notes = {s: [r.format, *r.notes] for s, r in recs.items()}
    row = cohort_row(job, per_sensor, flags, config)
    night_dir.mkdir(parents=True, exist_ok=True)
    events = [
        (e.onset, s, e, flags[s][k]) for s, r in per_sensor.items() for k, e in enumerate(r.events)
    ]
    events.sort(key=lambda x: (x[0], x[1]))
    periods = {s: [(p.onset, p.end) for p in r.periods] for s, r in per_sensor.items()}
    gaps = [(s, a, b - a) for s, r in per_sensor.items() for a, b in r.gaps]
    write_night_events(night_dir, job, events, periods, row, opts.formats, gaps)
    blob = {"key": key, "row": row, "notes": notes, "inputs": [p for _, p in job.inputs]}
    tmp = night_dir / "result.json.tmp"
    tmp.write_text(json.dumps(blob, indent=2, sort_keys=True) + "\n")
    tmp.replace(night_dir / "result.json")  # last: a half-written night is run again
    return {"row": row, "hours": row["recording_h"]}


def _has_sensor_column(path: str, opts: Options) -> bool:
    """A CSV, .npy or Parquet recording with a ``sensor`` column (device files: never)."""
    fmt = sniff_format(Path(path))
    if fmt == "csv":
        return SampleReader(path, None, opts.time_unit, opts.units).has_sensor
    if fmt in ("npy", "parquet"):
        rec = open_recording(path, ALL_SENSORS, opts.time_unit, opts.units)
        return isinstance(rec, ArrayRecording) and rec.sensors is not None
    return False


def cohort_row(
    job: Job,
    per_sensor: dict[str, DetectionResult],
    flags: dict[str, list[bool]],
    config: DetectorConfig,
) -> dict[str, Any]:
    """The night's row of the cohort table (:data:`COHORT_COLUMNS`)."""
    fields = night_fields({s: (r.events, r.periods) for s, r in per_sensor.items()}, config)
    sleep_h = fields["sleep_s"] / 3600.0
    start = min(r.t_first for r in per_sensor.values())
    end = max(r.t_last for r in per_sensor.values())
    onsets = [p[0] for p in fields["sleep_periods"]]
    rate = lo = hi = None
    if sleep_h > 0:
        rate = fields["jerks_in_sleep"] / sleep_h
        lo, hi = poisson_rate_ci(fields["jerks_in_sleep"], sleep_h)
    bilateral = min(sum(f) for f in flags.values()) if len(flags) > 1 else 0
    return {
        "subject": job.subject,
        "night": job.night,
        "sensors": len(per_sensor),
        "inputs": ";".join(Path(p).name for _, p in job.inputs),
        "start_utc": _utc(start),
        "end_utc": _utc(end),
        "sleep_onset_utc": _utc(onsets[0]) if onsets else None,
        "recording_h": round((end - start) / 3600.0, 6),
        "worn_h": round(max(r.summary.covered_hours for r in per_sensor.values()), 6),
        "gaps": sum(len(r.gaps) for r in per_sensor.values()),
        "gap_h": round(sum(b - a for r in per_sensor.values() for a, b in r.gaps) / 3600.0, 6),
        "sleep_h": round(sleep_h, 6),
        "jerks": fields["jerks"],
        "jerks_in_sleep": fields["jerks_in_sleep"],
        "hypnic": fields["hypnic"],
        "myoclonic": fields["jerks"] - fields["hypnic"],
        "series": fields["series"],
        "bilateral": bilateral,
        "rate_per_h_sleep": None if rate is None else round(rate, 6),
        "rate_ci_low": None if lo is None else round(lo, 6),
        "rate_ci_high": None if hi is None else round(hi, 6),
        "negative": fields["negative"],
        "detector_version": fields["detector_version"],
        "detector_config": fields["detector_config"],
    }


def write_night_events(
    night_dir: Path,
    job: Job,
    events: Sequence[tuple[float, str, JerkEvent, bool]],
    periods: dict[str, list[tuple[float, float]]],
    row: dict[str, Any],
    formats: Sequence[str],
    gaps: Sequence[tuple[str, float, float]] = (),
) -> None:
    """The night's events in each of ``formats`` (see :mod:`reports.export`)."""
    from reports.export import night_events_frame, write_bids_events, write_edf_annotations

    frame = night_events_frame(
        [(s, e, b) for _, s, e, b in events], row["detector_version"], row["detector_config"]
    )
    meta = {k: row[k] for k in ("subject", "night", "detector_version", "detector_config")}
    if "csv" in formats:
        frame.to_csv(night_dir / "events.csv", index=False, float_format="%.6f")
    if "parquet" in formats:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata({b"jerkmon": json.dumps(meta).encode()})
        pq.write_table(table, night_dir / "events.parquet")
    start = _parse_utc(row["start_utc"])
    end = _parse_utc(row["end_utc"])
    if "edf" in formats:
        write_edf_annotations(
            night_dir / "events.edf", frame, periods, start, end, meta, job.subject, gaps
        )
    if "bids" in formats:
        write_bids_events(night_dir / "events.tsv", frame, periods, start, meta, gaps)


def _parse_utc(text: str | None) -> float:
    assert text is not None
    return pd.Timestamp(text).timestamp()


# ---------------------------------------------------------------------- the batch
def _executor(workers: int, scheduler: str | None) -> tuple[Callable[..., Any], Callable[[], None]]:
    """(submit(fn, *args) -> future, close()) of the chosen runner."""
    if scheduler:
        import importlib

        dd: Any = importlib.import_module("distributed")  # untyped; imported only when used
        Client, LocalCluster = dd.Client, dd.LocalCluster
        cluster = None
        if scheduler.startswith("local:"):
            n = int(scheduler.split(":", 1)[1])
            cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)
        else:
            client = Client(scheduler)

        def close() -> None:
            client.close()
            if cluster is not None:
                cluster.close()

        return (lambda fn, *a: client.submit(fn, *a, pure=False)), close
    if workers <= 1:
        return (lambda fn, *a: _Lazy(fn, a)), lambda: None
    pool = ProcessPoolExecutor(max_workers=workers)
    return pool.submit, lambda: pool.shutdown(wait=True, cancel_futures=True)


class _Lazy:
    """A serial job run when its result is asked for (so the progress bar moves)."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args

    def result(self) -> Any:
        return self.fn(*self.args)


def _completed(futures: Sequence[Any], scheduler: str | None) -> Iterator[Any]:
    if scheduler:
        import importlib

        yield from importlib.import_module("distributed").as_completed(futures)
    elif futures and isinstance(futures[0], Future):
        yield from as_completed(futures)
    else:
        yield from futures


def run_batch(
    source: Path,
    out_dir: Path,
    config: DetectorConfig | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    formats: Iterable[str] = ("csv",),
    rate_hz: float | None = None,
    time_unit: str | None = None,
    units: str | None = None,
    progress: bool | None = None,
) -> BatchResult:
    """Run every night of ``source`` (directory or manifest) into ``out_dir``.

    Args:
        workers: local processes (None: one per core; 1: serial, in this process).
        scheduler: a Dask scheduler address (``tcp://host:8786``) or ``local:N``; None
            reads :data:`ENV_SCHEDULER`, and without it runs locally.
        formats: per-night event files, of :data:`FORMATS` (``csv`` always written).
        progress: a bar on stderr with nights and recording hours done and the ETA
            (None: when stderr is a terminal).
    """
    fmts = tuple(dict.fromkeys(["csv", *formats]))
    bad = [f for f in fmts if f not in FORMATS]
    if bad:
        raise ConfigError(f"unknown format {', '.join(bad)} (choose from {', '.join(FORMATS)})")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    scheduler = scheduler or os.environ.get(ENV_SCHEDULER) or None
    out_dir = Path(out_dir)
    jobs = find_jobs(Path(source), out_dir)
    for job in jobs:  # a file that is no recording at all: fail fast, before the pool
        for _, p in job.inputs:
            if not Path(p).is_file():
                raise InputError(f"{p}: no such file (listed in {source})")
    names = [j.name for j in jobs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"{source}: several nights would be written to {', '.join(dup)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    opts = Options((config or DetectorConfig()).as_dict(), fmts, rate_hz, time_unit, units)
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    submit, close = _executor(n_workers, scheduler)
    show = progress if progress is not None else sys.stderr.isatty()
    started = time.perf_counter()
    result = BatchResult(out_dir / "cohort.csv", out_dir / "cohort.parquet", None)
    outcomes: dict[int, dict[str, Any]] = {}
    bar = tqdm(total=len(jobs), unit="night", disable=not show, file=sys.stderr, desc="batch")
    try:
        futures = [submit(run_job, job, str(out_dir), opts) for job in jobs]
        index = {id(f): k for k, f in enumerate(futures)}
        with bar:
            for fut in _completed(futures, scheduler):
                k = index[id(fut)]
                try:
                    out = fut.result()
                except Exception as exc:  # a worker process died (crash, out of memory)
                    out = {"error": f"worker failed: {type(exc).__name__}: {exc}"}
                outcomes[k] = out
                result.hours += float(out.get("hours", 0.0))
                bar.set_postfix_str(f"{result.hours:.1f} h recorded", refresh=False)
                bar.update(1)
    finally:
        close()
    for k, job in enumerate(jobs):
        out = outcomes[k]
        if "error" in out:
            result.errors.append(
                {
                    "subject": job.subject,
                    "night": job.night,
                    "inputs": ";".join(p for _, p in job.inputs),
                    "error": out["error"],
                }
            )
        else:
            result.rows.append(out["row"])
            result.skipped += int(out.get("skipped", 0))
    result.seconds = time.perf_counter() - started
    _write_cohort(result, opts)
    return result


def _write_cohort(result: BatchResult, opts: Options) -> None:
    frame = pd.DataFrame(result.rows, columns=list(COHORT_COLUMNS))
    for c in ("start_utc", "end_utc", "sleep_onset_utc"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    frame.to_csv(
        result.cohort_csv, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ", float_format="%.6f"
    )
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {
        "detector_version": DETECTOR_VERSION,
        "detector_config": opts.config,
        "columns": COHORT_COLUMNS,
    }
    table = table.replace_schema_metadata({b"jerkmon": json.dumps(meta).encode()})
    pq.write_table(table, result.cohort_parquet)
    errors = result.cohort_csv.parent / "batch-errors.csv"
    if result.errors:
        with errors.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["subject", "night", "inputs", "error"])
            w.writeheader()
            w.writerows(result.errors)
        result.errors_csv = errors
    elif errors.exists():
        errors.unlink()  # from an earlier run whose bad files are now fixed or gone
