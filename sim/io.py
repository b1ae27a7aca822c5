"""Writing simulated nights to CSV + truth JSON, and reading the truth back.

Files for ``prefix``:

* one sensor: ``prefix.csv`` with header ``t,ax,ay,az``;
* two sensors: ``prefix.csv`` in long form (``t,ax,ay,az,sensor``, rows in time order) and
  ``prefix.left.csv`` / ``prefix.right.csv`` (``t,ax,ay,az``);
* ``prefix.truth.json``.

``t`` has 6 decimals (seconds), accelerations 5 decimals (g).  Rows are formatted with
vectorised digit arithmetic (no per-row Python), about a second per million rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from detector.errors import InputError
from sim.geometry import FloatArray
from sim.night import NightStream, SensorRecording, SimulatedNight

U8Array = npt.NDArray[np.uint8]

_ROWS_PER_BATCH = 200_000
_REQUIRED_KEYS = (
    "version",
    "seed",
    "rate_hz",
    "hours",
    "t0",
    "range_g",
    "bits",
    "sensors",
    "sleep_onset",
    "sleep_onsets",
    "sleep_periods",
    "jerks",
    "confounders",
    "gaps",
    "clipped",
)


def output_paths(prefix: str | Path, sides: Iterable[str]) -> list[Path]:
    """Paths ``write_night`` writes for ``prefix``: CSV(s) then the truth JSON."""
    base = str(prefix)
    sides = list(sides)
    paths = [Path(base + ".csv")]
    if len(sides) > 1:
        paths += [Path(f"{base}.{side}.csv") for side in sides]
    return [*paths, Path(base + ".truth.json")]


def _fixed_point(values: FloatArray, decimals: int) -> U8Array:
    """ASCII of ``values`` (m,) with ``decimals`` decimals as an (m, w) byte matrix.

    Unused leading positions are 0 bytes, to be dropped after the rows are joined.
    """
    scaled = np.rint(values * 10.0**decimals).astype(np.int64)
    negative = scaled < 0
    magnitude = np.abs(scaled)
    top = int(magnitude.max()) if magnitude.size else 0
    n_digits = max(decimals + 1, len(str(top)))
    powers = 10 ** np.arange(n_digits - 1, -1, -1, dtype=np.int64)
    digits = (magnitude[:, None] // powers) % 10
    chars = (digits + ord("0")).astype(np.uint8)
    n_int = n_digits - decimals
    if n_int > 1:
        # Blank leading zeros of the integer part, keeping its last digit.
        leading = np.cumsum(digits[:, : n_int - 1] != 0, axis=1) == 0
        chars[:, : n_int - 1][leading] = 0
    out = np.zeros((values.size, n_digits + 2), dtype=np.uint8)
    out[:, 0] = np.where(negative, ord("-"), 0)
    out[:, 1 : 1 + n_int] = chars[:, :n_int]
    out[:, 1 + n_int] = ord(".")
    out[:, 2 + n_int :] = chars[:, n_int:]
    return out


def _row_matrix(t: FloatArray, acc: FloatArray) -> U8Array:
    """Rows ``t,ax,ay,az`` (without newline) as an (m, w) byte matrix with 0 padding."""
    comma = np.full((t.size, 1), ord(","), dtype=np.uint8)
    parts = [_fixed_point(t, 6)]
    for axis in range(3):
        parts += [comma, _fixed_point(acc[:, axis], 5)]
    return np.concatenate(parts, axis=1)


def _join(matrix: U8Array, suffix: bytes) -> bytes:
    tail = np.frombuffer(suffix, dtype=np.uint8)
    full = np.concatenate([matrix, np.broadcast_to(tail, (matrix.shape[0], tail.size))], axis=1)
    flat = full.ravel()
    return bytes(flat[flat != 0].tobytes())


def format_rows(t: FloatArray, acc: FloatArray, sensor: str | None = None) -> bytes:
    """CSV rows for times ``t`` (m,) s and accelerations ``acc`` (m, 3) g, newline-terminated."""
    suffix = f",{sensor}\n" if sensor is not None else "\n"
    out = [
        _join(
            _row_matrix(t[a : a + _ROWS_PER_BATCH], acc[a : a + _ROWS_PER_BATCH]), suffix.encode()
        )
        for a in range(0, t.size, _ROWS_PER_BATCH)
    ]
    return b"".join(out)


def _long_form(chunk: list[SensorRecording], matrices: list[U8Array]) -> bytes:
    """Rows of all sensors in time order, each tagged with its side."""
    rows = []
    for rec, m in zip(chunk, matrices, strict=True):
        tail = np.frombuffer(f",{rec.side}\n".encode(), dtype=np.uint8)
        rows.append(np.concatenate([m, np.broadcast_to(tail, (m.shape[0], tail.size))], axis=1))
    width = max(r.shape[1] for r in rows)
    padded = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]))) for r in rows], axis=0)
    order = np.argsort(np.concatenate([rec.t for rec in chunk]), kind="stable")
    flat = padded[order].ravel()
    return bytes(flat[flat != 0].tobytes())


def _write_chunks(
    chunks: Iterable[list[SensorRecording]],
    sides: list[str],
    prefix: str | Path,
    truth: Callable[[], dict[str, Any]],
) -> list[Path]:
    paths = output_paths(prefix, sides)
    try:
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        handles: list[IO[bytes]] = [open(p, "wb") for p in paths[:-1]]  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"cannot write simulation output at {prefix!s}: {exc}") from exc
    try:
        if len(sides) == 1:
            handles[0].write(b"t,ax,ay,az\n")
        else:
            handles[0].write(b"t,ax,ay,az,sensor\n")
            for h in handles[1:]:
                h.write(b"t,ax,ay,az\n")
        for chunk in chunks:
            # Callers keep chunks at most _ROWS_PER_BATCH slots long, bounding memory.
            matrices = [_row_matrix(r.t, r.acc) for r in chunk]
            if len(sides) == 1:
                handles[0].write(_join(matrices[0], b"\n"))
                continue
            handles[0].write(_long_form(chunk, matrices))
            for h, m in zip(handles[1:], matrices, strict=True):
                h.write(_join(m, b"\n"))
    finally:
        for h in handles:
            h.close()
    with open(paths[-1], "w", encoding="utf-8") as f:
        json.dump(truth(), f, indent=1)
        f.write("\n")
    return paths


def _night_chunks(night: SimulatedNight) -> Iterator[list[SensorRecording]]:
    """Slices of the night in common time windows, so long-form rows stay in time order."""
    rate_hz = float(night.config.rate_hz)
    window_s = _ROWS_PER_BATCH / rate_hz
    t0 = float(night.config.t0)
    n_windows = max(1, math.ceil(night.config.duration_s / window_s))
    for k in range(n_windows):
        edge_lo = -math.inf if k == 0 else t0 + k * window_s
        edge_hi = math.inf if k == n_windows - 1 else t0 + (k + 1) * window_s
        out = []
        for rec in night.sensors:
            a, b = np.searchsorted(rec.t, [edge_lo, edge_hi])
            out.append(SensorRecording(rec.side, rec.t[a:b], rec.acc[a:b], rec.rate_hz))
        yield out


def write_night(night: SimulatedNight, prefix: str | Path) -> list[Path]:
    """Write a simulated night's CSV file(s) and ``prefix.truth.json``; returns the paths."""
    sides = [r.side for r in night.sensors]
    return _write_chunks(_night_chunks(night), sides, prefix, lambda: night.truth)


def write_stream(stream: NightStream, prefix: str | Path, chunk_s: float = 600.0) -> list[Path]:
    """Render and write a night chunk by chunk (constant memory); same files as write_night."""
    chunk_s = min(chunk_s, _ROWS_PER_BATCH / stream.rate_hz)
    return _write_chunks(stream.chunks(chunk_s), stream.sides, prefix, lambda: stream.truth)


def load_truth(path: str | Path) -> dict[str, Any]:
    """Read a ``*.truth.json`` file; raises :class:`InputError` if it is not a valid truth."""
    try:
        with open(path, encoding="utf-8") as f:
            truth = json.load(f)
    except OSError as exc:
        raise InputError(f"cannot read truth file {path!s}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"truth file {path!s} is not valid JSON: {exc}") from exc
    if not isinstance(truth, dict):
        raise InputError(f"truth file {path!s} must hold a JSON object")
    missing = [k for k in _REQUIRED_KEYS if k not in truth]
    if missing:
        raise InputError(f"truth file {path!s} lacks {', '.join(missing)}")
    if truth["version"] != 1:
        raise InputError(f"truth file {path!s} has unsupported version {truth['version']!r}")
    for key in ("jerks", "confounders", "gaps", "clipped", "sleep_onsets", "sleep_periods"):
        if not isinstance(truth[key], list):
            raise InputError(f"truth file {path!s}: {key} must be a list")
    return truth
