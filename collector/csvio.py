"""Reading sample CSV files (``t,ax,ay,az[,sensor]``) and writing event CSV files.

Reading is chunked (pandas' C parser) so an 8 h night at 200 Hz never sits in memory twice,
and every problem is reported as one :class:`~detector.errors.InputError` naming the file,
the line and what is wrong.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from detector.errors import InputError
from detector.events import JerkEvent

FloatArray = npt.NDArray[np.float64]
SAMPLE_COLUMNS = ("t", "ax", "ay", "az")
EVENT_COLUMNS = (
    "onset",
    "duration",
    "peak_jerk_g_per_s",
    "peak_acc_g",
    "kind",
    "series",
    "confidence",
    "clipped",
)
_CHUNK_ROWS = 262_144


@dataclass(frozen=True, slots=True)
class SampleChunk:
    """Rows ``first_line``.. of a sample file: t (n,) s and acc (n, 3) g."""

    first_line: int
    t: FloatArray
    acc: FloatArray


class SampleReader:
    """Iterates a sample CSV in chunks, validating as it goes.

    Args:
        path: the CSV file; header must contain ``t, ax, ay, az`` (any order, more columns
            allowed).  Empty or ``nan`` acceleration cells are missing samples.
        sensor: with a ``sensor`` column, keep only this sensor's rows (required when the
            file holds several sensors).
    """

    def __init__(self, path: str | Path, sensor: str | None = None) -> None:
        self.path = Path(path)
        self.sensor = sensor
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file")
        self.size_bytes = self.path.stat().st_size
        if self.size_bytes == 0:
            raise InputError(f"{self.path}: empty file (expected a header t,ax,ay,az)")
        with self.path.open(newline="") as fh:
            header = next(csv.reader(fh), [])
        names = [h.strip() for h in header]
        missing = [c for c in SAMPLE_COLUMNS if c not in names]
        if missing:
            raise InputError(
                f"{self.path}, line 1: missing column {', '.join(repr(m) for m in missing)} "
                f"(header is {','.join(names) or 'empty'}; expected t,ax,ay,az)"
            )
        with self.path.open("rb") as fb:
            head = fb.read(65536)
        self.bytes_per_row = len(head) / max(1, head.count(b"\n"))
        self.has_sensor = "sensor" in names
        if sensor is not None and not self.has_sensor:
            raise InputError(f"{self.path}: --sensor given but the file has no 'sensor' column")
        self.columns = names

    def __iter__(self) -> Iterator[SampleChunk]:
        usecols = [*SAMPLE_COLUMNS, *(["sensor"] if self.has_sensor else [])]
        line = 2  # first data line (1-based, header is line 1)
        last_t = -math.inf
        seen_sensors: set[str] = set()
        rows = 0
        try:
            reader = pd.read_csv(
                self.path,
                usecols=usecols,
                chunksize=_CHUNK_ROWS,
                dtype={"sensor": str} if self.has_sensor else None,
                skipinitialspace=True,
                skip_blank_lines=False,
            )
            for df in reader:
                n = len(df)
                if self.has_sensor:
                    sens = df["sensor"].astype(str)
                    seen_sensors.update(sens.unique().tolist())
                    if self.sensor is None and len(seen_sensors) > 1:
                        names = ", ".join(sorted(seen_sensors))
                        raise InputError(
                            f"{self.path}: holds several sensors ({names}); pick one with --sensor"
                        )
                    keep = (sens == self.sensor).to_numpy() if self.sensor is not None else None
                else:
                    keep = None
                cols = [self._numeric(df, c, line) for c in SAMPLE_COLUMNS]
                t = cols[0]
                bad_t = np.flatnonzero(~np.isfinite(t))
                if bad_t.size:
                    raise InputError(
                        f"{self.path}, line {line + int(bad_t[0])}: column 't' is empty or not "
                        "a number"
                    )
                acc = np.column_stack(cols[1:])
                if keep is not None:
                    idx = np.flatnonzero(keep)
                    t, acc = t[idx], acc[idx]
                    lines = line + idx
                else:
                    lines = line + np.arange(n)
                if t.size:
                    prev = np.concatenate(([last_t], t[:-1]))
                    back = np.flatnonzero(t <= prev)
                    if back.size:
                        k = int(back[0])
                        raise InputError(
                            f"{self.path}, line {int(lines[k])}: time goes backwards or repeats "
                            f"(t = {t[k]!r} after {prev[k]!r})"
                        )
                    last_t = float(t[-1])
                    rows += t.size
                    yield SampleChunk(int(lines[0]), t, acc)
                line += n
        except InputError:
            raise
        except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.path}: cannot parse as CSV near line {line}: {exc}") from exc
        if rows == 0:
            what = f"no rows for sensor {self.sensor!r}" if self.sensor else "no data rows"
            raise InputError(f"{self.path}: {what}")

    def _numeric(self, df: pd.DataFrame, col: str, line: int) -> FloatArray:
        s = df[col]
        if s.dtype.kind in "fi":
            return s.to_numpy(dtype=np.float64)
        num = pd.to_numeric(s, errors="coerce")
        bad = np.flatnonzero(num.isna().to_numpy() & s.notna().to_numpy())
        if bad.size:
            k = int(bad[0])
            raise InputError(
                f"{self.path}, line {line + k}: column {col!r} is not a number: {s.iloc[k]!r}"
            )
        return num.to_numpy(dtype=np.float64)


def infer_rate_hz(t: FloatArray) -> float:
    """Nominal sample rate from (n,) times, s: the median step, rounded sensibly."""
    if t.size < 3:
        raise InputError("too few samples to infer the sample rate; pass --rate")
    step = float(np.median(np.diff(t)))
    if step <= 0:
        raise InputError("cannot infer the sample rate from the times; pass --rate")
    rate = 1.0 / step
    return round(rate) if abs(rate - round(rate)) < 0.02 * rate else rate


def write_events_csv(path: str | Path, events: Sequence[JerkEvent]) -> None:
    """Write events, one row per jerk, columns :data:`EVENT_COLUMNS`."""
    with Path(path).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(EVENT_COLUMNS)
        for e in events:
            w.writerow(
                [
                    f"{e.onset:.4f}",
                    f"{e.duration:.4f}",
                    f"{e.peak_jerk_g_per_s:.3f}",
                    f"{e.peak_acc_g:.4f}",
                    e.kind,
                    "" if e.series is None else e.series,
                    f"{e.confidence:.3f}",
                    int(e.clipped),
                ]
            )


def read_event_onsets(path: str | Path) -> tuple[FloatArray, list[str]]:
    """Onsets (n,) s and kinds of an events CSV written by :func:`write_events_csv`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        df = pd.read_csv(p)
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{p}: empty file (expected a header with 'onset')") from exc
    if "onset" not in df.columns:
        raise InputError(f"{p}, line 1: missing column 'onset'")
    onset = pd.to_numeric(df["onset"], errors="coerce")
    bad = np.flatnonzero(onset.isna().to_numpy())
    if bad.size:
        raise InputError(f"{p}, line {int(bad[0]) + 2}: column 'onset' is not a number")
    kinds = df["kind"].astype(str).tolist() if "kind" in df.columns else ["myoclonic"] * len(df)
    return onset.to_numpy(dtype=np.float64), kinds
