"""Offline detection of recordings (CSV, device files, arrays): the ``jerkmon detect`` and
``jerkmon batch`` path.  One wrist: :func:`detect_recording`; two (two files, or one long
file with a ``sensor`` column): :func:`detect_wrists`, which flags bilateral jerks with the
live path's :class:`~detector.bilateral.BilateralMatcher`."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from collector.csvio import (
    ALL_SENSORS,
    SampleChunk,
    infer_rate_hz,
    read_event_onsets,
    write_episodes_csv,
    write_events_csv,
)
from collector.readahead import read_ahead
from collector.recording import Recording, open_recording
from detector import (
    DetectorConfig,
    EpisodeEvent,
    JerkDetector,
    JerkEvent,
    MinuteAggregator,
    MinuteCount,
    NightSummary,
    NotWorn,
    SleepPeriod,
    SleepWindow,
    summarize_detector,
)
from detector.bilateral import BilateralMatcher
from detector.errors import ConfigError, InputError, JerkmonError
from reports.evaluation import Score, score

_PROGRESS_MIN_BYTES = 20_000_000


@dataclass
class DetectionResult:
    """What one pass over a recording produced."""

    rate_hz: float
    events: list[JerkEvent]
    minutes: list[MinuteCount]
    periods: list[SleepPeriod]
    summary: NightSummary
    rejected: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    t_first: float = 0.0
    t_last: float = 0.0
    #: (last sample before, first sample after) of every step longer than the bridge, s.
    gaps: list[tuple[float, float]] = field(default_factory=list)
    episodes: list[EpisodeEvent] = field(default_factory=list)
    not_worn: list[NotWorn] = field(default_factory=list)
    sleep_window: SleepWindow | None = None


@contextlib.contextmanager
def input_file(path: str | Path) -> Iterator[None]:
    """Turn what a file that is not what it should be raises while being read into one
    InputError naming the file: bytes that are not UTF-8 text, NUL bytes, CSV the parser
    gives up on, numbers out of range."""
    try:
        yield
    except JerkmonError:
        raise
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not a UTF-8 text file (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start})"
        ) from None
    except (csv.Error, ValueError, OverflowError, TypeError, IndexError) as exc:
        # The parsers' own errors on malformed files (pandas raises several kinds).
        raise InputError(f"{path}: cannot read as a sample file: {exc}") from None


def detect_file(
    path: str | Path,
    out: str | Path,
    rate_hz: float | None = None,
    sensor: str | None = None,
    config: DetectorConfig | None = None,
    progress: bool | None = None,
) -> DetectionResult:
    """Detect jerks in the recording at ``path`` (one wrist) and write them to ``out``.  Bad
    input raises :class:`~detector.errors.InputError` naming the file."""
    with input_file(path):
        rec = open_recording(Path(path), sensor, None, None)
        result = detect_recording(rec, rate_hz, config, progress)
    write_events_csv(out, result.events)
    return result


def evaluate_files(
    events_path: str | Path,
    truth_path: str | Path,
    sensor: str | None = None,
    tolerance_s: float = 0.25,
) -> Score:
    """``jerkmon evaluate``: score an events CSV against a truth JSON file.  Bad input raises
    :class:`~detector.errors.InputError` naming the file."""
    with input_file(events_path):
        onsets, kinds = read_event_onsets(events_path, sensor)
    truth_file = Path(truth_path)
    if not truth_file.is_file():
        raise InputError(f"{truth_file}: no such file")
    with input_file(truth_file):
        try:
            truth: Any = json.loads(truth_file.read_bytes().decode("utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{truth_file}, line {exc.lineno}: not valid JSON: {exc.msg}"
            ) from None
    if not isinstance(truth, dict) or "jerks" not in truth:
        raise InputError(f"{truth_file}: not a jerkmon truth file (no 'jerks')")
    try:
        return score(onsets, kinds, truth, sensor=sensor, tolerance_s=tolerance_s)
    except JerkmonError:
        raise
    except (TypeError, KeyError, ValueError, IndexError) as exc:
        raise InputError(f"{truth_file}: not a jerkmon truth file ({exc!r})") from None


class _Pass:
    """One sensor's detector, minute aggregator and coverage over one pass."""

    def __init__(self, rate_hz: float | None, config: DetectorConfig | None) -> None:
        self.rate_hz, self.config = rate_hz, config
        self.det: JerkDetector | None = None
        self.agg: MinuteAggregator | None = None
        self.events: list[JerkEvent] = []
        self.minutes: list[MinuteCount] = []
        self.n = 0
        self.t_first = self.t_last = 0.0
        self.covered_s = 0.0
        self.t_prev_ok: float | None = None  # last finite sample so far
        self.gaps: list[tuple[float, float]] = []

    def feed(self, chunk: SampleChunk) -> list[JerkEvent]:
        if self.det is None:
            rate = self.rate_hz if self.rate_hz is not None else infer_rate_hz(chunk.t[:20_000])
            self.det = JerkDetector(rate, self.config)
            self.agg = MinuteAggregator(rate)
            self.t_first = float(chunk.t[0])
        assert self.agg is not None
        new = self.det.process(chunk.t, chunk.acc)
        self.events += new
        self.minutes += self.agg.process(chunk.t, new, self.det.watermark, chunk.acc, self.det.wear)
        # Coverage and gaps count steps between finite samples only: NaN rows are missing.
        finite = bool(np.isfinite(chunk.acc).all())  # (one flat pass: the usual case)
        t_ok = chunk.t if finite else chunk.t[np.isfinite(chunk.acc).all(axis=1)]
        bridge = self.det.config.bridge_s(self.det.rate_hz)
        self.covered_s += _covered(t_ok, self.t_prev_ok, bridge)
        self.gaps += _gaps(t_ok, self.t_prev_ok, bridge)
        if t_ok.size:
            self.t_prev_ok = float(t_ok[-1])
        self.n += chunk.t.size
        self.t_last = float(chunk.t[-1])
        return new

    def finish(self) -> DetectionResult:
        det, agg = self.det, self.agg
        assert det is not None and agg is not None
        tail = det.flush()
        self.events += tail
        self.minutes += agg.process(np.empty(0), tail, det.watermark, wear=det.wear)
        self.minutes += agg.flush()
        periods = det.sleep_periods()
        episodes = det.pop_episodes()
        summary = summarize_detector(
            det, self.events, self.t_first, self.t_last, self.covered_s, len(episodes)
        )
        onset, wake = summary.main_sleep_onset, summary.final_wake
        window = SleepWindow(onset, wake) if onset is not None and wake is not None else None
        return DetectionResult(
            rate_hz=det.rate_hz,
            events=self.events,
            minutes=self.minutes,
            periods=periods,
            summary=summary,
            rejected=dict(det.rejected),
            samples=self.n,
            t_first=self.t_first,
            t_last=self.t_last,
            episodes=episodes,
            not_worn=det.wear.periods(),
            sleep_window=window,
            gaps=self.gaps,
        )


def _progress_chunks(
    rec: Recording, show: bool | None, desc: str | None = None
) -> Iterator[SampleChunk]:
    """``rec``'s chunks with a byte-based progress bar on stderr (None: large files only)."""
    on = show if show is not None else rec.size_bytes >= _PROGRESS_MIN_BYTES
    bar = tqdm(
        total=rec.size_bytes,
        unit="B",
        unit_scale=True,
        desc=desc or rec.path.name,
        disable=not on,
        file=sys.stderr,
        leave=False,
    )
    with bar:
        for chunk in read_ahead(rec):
            yield chunk
            # The bar tracks bytes (its total is known up front), estimated from rows read.
            bar.update(min(rec.progress_bytes(chunk), bar.total - bar.n))


def detect_recording(
    rec: Recording,
    rate_hz: float | None = None,
    config: DetectorConfig | None = None,
    progress: bool | None = None,
) -> DetectionResult:
    """Run the detector over one recording (one sensor), chunk by chunk.

    Args:
        rec: an open :class:`~collector.recording.Recording` (CSV, device file, arrays).
        rate_hz: nominal rate, Hz (None: the rate the file states, else inferred from the
            first chunk's median time step).  progress: show a progress bar on stderr
            (None: only for large files).
    """
    run = _Pass(rate_hz if rate_hz is not None else rec.nominal_rate_hz, config)
    for chunk in _progress_chunks(rec, progress):
        run.feed(chunk)
    if run.det is None:
        raise InputError(f"{rec.path}: no samples")
    return run.finish()


#: The ``jerkmon detect`` entry of earlier versions.
detect_csv = detect_recording


@dataclass
class WristsResult:
    """Detection on two (or more) wrists of one night.

    Attributes:
        sensors: sensor id -> that wrist's result (its ``events`` in onset order).
        bilateral: sensor id -> one flag per event of that sensor: the other wrist jerked
            within ``window_s`` (the live path's matcher).
        window_s: the bilateral onset window, s.
    """

    sensors: dict[str, DetectionResult]
    bilateral: dict[str, list[bool]]
    window_s: float

    @property
    def bilateral_jerks(self) -> int:
        """Jerks seen on both wrists (each counted once)."""
        return min(sum(f) for f in self.bilateral.values()) if len(self.bilateral) > 1 else 0

    @property
    def jerks(self) -> int:
        """Distinct jerks of the subject: a bilateral jerk counts once."""
        jerks = sum(e.kind != "negative" for r in self.sensors.values() for e in r.events)
        return jerks - self.bilateral_jerks


def detect_wrists(
    recordings: Mapping[str, Recording] | Recording,
    rate_hz: float | None = None,
    config: DetectorConfig | None = None,
    progress: bool | None = None,
    window_s: float = 0.1,
) -> WristsResult:
    """Run one detector per wrist and flag bilateral jerks.

    Args:
        recordings: sensor id (``left``, ``right``) -> its recording, or one long recording
            opened with ``sensor=ALL_SENSORS`` whose chunks carry their sensor.
        window_s: largest onset difference between the wrists for one jerk, s.
    """
    passes: dict[str, _Pass] = {}
    if isinstance(recordings, Mapping):
        sources: Sequence[tuple[str | None, Recording]] = list(recordings.items())
    else:
        sources = [(None, recordings)]
    for name, rec in sources:
        for chunk in _progress_chunks(rec, progress, name):
            sensor = name if name is not None else chunk.sensor
            if sensor is None or sensor == ALL_SENSORS:
                raise InputError(f"{rec.path}: no sensor column to tell the wrists apart")
            run = passes.get(sensor)
            if run is None:
                rate = rate_hz if rate_hz is not None else rec.nominal_rate_hz
                run = passes[sensor] = _Pass(rate, config)
            run.feed(chunk)
    if not passes:
        raise InputError("no samples")
    results = {s: p.finish() for s, p in passes.items() if p.det is not None}
    matcher = BilateralMatcher(list(results), window_s)
    flags: dict[tuple[str, float], bool] = {}
    for s, r in results.items():
        for sensor, ev, bil in matcher.process(s, r.events, math.inf):
            flags[(sensor, ev.onset)] = bil
    return WristsResult(
        sensors=results,
        bilateral={s: [flags[(s, e.onset)] for e in r.events] for s, r in results.items()},
        window_s=window_s,
    )


def _gaps(t: np.ndarray, prev: float | None, bridge: float) -> list[tuple[float, float]]:
    """Steps longer than ``bridge`` s in (n,) times (and from ``prev``), as (before, after)."""
    tt = t if prev is None else np.concatenate(([prev], t))
    idx = np.flatnonzero(np.diff(tt) > bridge)
    return [(float(tt[i]), float(tt[i + 1])) for i in idx.tolist()]


def _covered(t: np.ndarray, prev: float | None, bridge: float) -> float:
    """Seconds of signal in (n,) times of finite samples: steps no longer than ``bridge`` s
    count (``prev``: the previous finite sample, s, or None)."""
    if t.size == 0:
        return 0.0
    tt = t if prev is None else np.concatenate(([prev], t))
    d = np.diff(tt)
    return float(d[d <= bridge].sum())


def _episode_lines(out: Path, episodes: Mapping[str, Sequence[EpisodeEvent]]) -> list[str]:
    """Convulsive episodes are never silent: one line each, and ``X.episodes.csv`` beside the
    events file (the wrists' episodes in time order; ``bilateral`` when both moved)."""
    every = sorted((e for eps in episodes.values() for e in eps), key=lambda e: e.start)
    lines = [
        f"  CONVULSIVE EPISODE at t = {e.start:.0f} s for {e.duration_s:.0f} s "
        f"({e.dominant_hz:.1f} Hz, peak {e.peak_g:.1f} g): not counted as jerks"
        for e in every
    ]
    if every:
        lines.append(f"episodes written to {write_episodes_csv(out, every)}")
    return lines


def run_detect(
    inputs: Sequence[Path],
    out: Path,
    sides: Sequence[str] | None = None,
    sensor: str | None = None,
    rate_hz: float | None = None,
    config: DetectorConfig | None = None,
    time_unit: str | None = None,
    units: str | None = None,
    progress: bool | None = None,
    summary_json: Path | None = None,
) -> list[str]:
    """``jerkmon detect``: detect, write the events CSV (and summary JSON); return the lines
    to print.  One input and no ``sides``: one wrist.  Several inputs (``sides`` names
    them) or ``sensor='all'`` on a long file: each wrist, bilateral jerks flagged."""
    if sides is not None and len(sides) != len(inputs):
        raise ConfigError(f"--sides names {len(sides)} wrists but {len(inputs)} inputs are given")
    if sides is not None and len(set(sides)) != len(sides):
        raise ConfigError(f"--sides must name each wrist once, got {','.join(sides)}")
    if len(inputs) > 1 and sides is None:
        sides = ["left", "right"] if len(inputs) == 2 else [f"s{k + 1}" for k in range(len(inputs))]
    whole = sensor is not None and sensor.lower() == "all"
    if len(inputs) == 1 and sides is None and not whole:
        with input_file(inputs[0]):
            rec = open_recording(inputs[0], sensor, time_unit, units)
            result = detect_recording(rec, rate_hz, config, progress)
        write_events_csv(out, result.events)
        lines = [
            f"{inputs[0]}: {rec.format}, {result.samples} samples at {result.rate_hz:g} Hz",
            *(f"  {n}" for n in rec.notes),
            *("  " + ln for ln in result.summary.lines()),
            f"events written to {out}",
            *_episode_lines(out, {"": result.episodes}),
        ]
        if summary_json is not None:
            summary_json.write_text(json.dumps(result.summary.as_dict(), indent=2) + "\n")
        return lines
    if whole and len(inputs) > 1:
        raise ConfigError("--sensor all reads one long file; give one input")
    if whole:
        recs: Mapping[str, Recording] | Recording = open_recording(
            inputs[0], ALL_SENSORS, time_unit, units
        )
        notes = {"": list(recs.notes)}  # type: ignore[union-attr]
    else:
        assert sides is not None
        recs = {
            s: open_recording(p, None, time_unit, units) for s, p in zip(sides, inputs, strict=True)
        }
        notes = {s: [f"{r.path}: {r.format}", *r.notes] for s, r in recs.items()}
    with input_file(", ".join(str(p) for p in inputs)):
        wr = detect_wrists(recs, rate_hz, config, progress)
    order = sorted((e.onset, s, k) for s, r in wr.sensors.items() for k, e in enumerate(r.events))
    write_events_csv(
        out,
        [wr.sensors[s].events[k] for _, s, k in order],
        sensors=[s for _, s, _ in order],
        bilateral=[wr.bilateral[s][k] for _, s, k in order],
    )
    lines = [f"{', '.join(str(p) for p in inputs)}: {len(wr.sensors)} wrists"]
    for s, ns in notes.items():
        lines += [f"  {s + ': ' if s else ''}{n}" for n in ns]
    for s, r in wr.sensors.items():
        lines.append(f"wrist {s}: {r.samples} samples at {r.rate_hz:g} Hz")
        lines += ["  " + ln for ln in r.summary.lines()]
    lines.append(
        f"bilateral jerks  {wr.bilateral_jerks}  (within {wr.window_s:g} s on both wrists; "
        f"{wr.jerks} distinct jerks)"
    )
    lines.append(f"events written to {out}")
    lines += _episode_lines(out, {s: r.episodes for s, r in wr.sensors.items()})
    if summary_json is not None:
        blob = {
            "wrists": {s: r.summary.as_dict() for s, r in wr.sensors.items()},
            "bilateral_jerks": wr.bilateral_jerks,
            "jerks": wr.jerks,
        }
        summary_json.write_text(json.dumps(blob, indent=2) + "\n")
    return lines
