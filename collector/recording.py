"""One source interface for recorded files: CSV, research-device files, ``.npy`` and Parquet.

Every :class:`Recording` yields :class:`~collector.csvio.SampleChunk` s: time in s (since the
Unix epoch, UTC, when the file says when it was recorded), acceleration (n, 3) in g, and gaps
as gaps: a stretch without samples is a jump in ``t``, never filled with made-up values.

:func:`open_recording` picks the reader from the file's first bytes (its magic), not from
its name:

* ``MD`` (Axivity AX3/AX6 ``.cwa`` header packet), ``Device Identity`` (GENEActiv ``.bin``)
  and a ZIP holding ``info.txt`` (ActiGraph ``.gt3x``) are read with ``actfast`` (a kept,
  MIT-licensed reader in Rust); a ``.gt3x`` it cannot read (ActiGraph Link, NHANES-era
  files) falls back to ``pygt3x``, ActiGraph's own reader.  ActiGraph *idle sleep mode*
  (the device stops sampling while still) is a gap: ``actfast`` emits no samples there and
  the samples ``pygt3x`` fills in (the last value repeated, flagged) are dropped.
* ``\\x93NUMPY``: an ``.npy`` array (n, 4) of ``t, ax, ay, az`` (or a structured array
  with named fields); ``PAR1``: a Parquet table with time and acceleration columns (the
  same header aliases as CSV; a timestamp column is converted to s since the epoch).
* anything else that is text: CSV (:class:`~collector.csvio.SampleReader`).
* Matrix ``.BIN`` and other binary files: refused with one line naming what was found
  (no maintained reader exists for Matrix files).

Device clocks are local time: when the file states its time zone (ActiGraph, GENEActiv)
times are shifted to UTC; otherwise (Axivity) they are taken as UTC and the summary says so.
"""

from __future__ import annotations

import json
import re
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from collector.csvio import (
    ACC_UNIT_ALIASES,
    ALL_SENSORS,
    HEADER_ALIASES,
    MAX_ABS_G,
    SampleChunk,
    SampleReader,
    _key,
)
from detector.errors import InputError

__all__ = [
    "ArrayRecording",
    "Recording",
    "device_gaps",
    "open_recording",
    "sniff_format",
]

FloatArray = npt.NDArray[np.float64]
_CHUNK = 262_144

#: Formats :func:`sniff_format` tells apart.
FORMATS = ("csv", "cwa", "geneactiv", "gt3x", "npy", "parquet")


class Recording(Protocol):
    """What offline detection reads: a file's samples in chunks, oldest first.

    Attributes:
        path: the file.  format: what it is (``"CSV"``, ``"Axivity CWA"``, ...).
        size_bytes: the file's size (progress).  nominal_rate_hz: the rate the file states
            (None: inferred from the times).  notes: how it was read, for the summary.
    """

    path: Path
    format: str
    size_bytes: int
    nominal_rate_hz: float | None
    notes: list[str]

    def __iter__(self) -> Iterator[SampleChunk]: ...

    def progress_bytes(self, chunk: SampleChunk) -> int: ...


@dataclass
class ArrayRecording:
    """A recording held in memory: t (n,) s, strictly increasing; acc (n, 3) g (NaN rows are
    missing samples).  Yields chunks of 262144 samples; ``sensors`` (n,) str, if given,
    labels each sample's sensor (a long file of several sensors)."""

    path: Path
    format: str
    t: FloatArray
    acc: FloatArray
    nominal_rate_hz: float | None = None
    notes: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    sensors: npt.NDArray[np.str_] | None = None
    sensor: str | None = None

    def __post_init__(self) -> None:
        self.size_bytes = self.path.stat().st_size if self.path.is_file() else self.t.nbytes
        if self.t.ndim != 1 or self.acc.shape != (self.t.size, 3):
            raise InputError(f"{self.path}: expected t (n,) and acc (n, 3), got {self.acc.shape}")
        if self.sensors is not None:
            names = sorted(set(self.sensors.tolist()))
            if self.sensor is None and len(names) > 1:
                raise InputError(
                    f"{self.path}: holds several sensors ({', '.join(names)}); pick one with "
                    "--sensor"
                )
            if self.sensor not in (None, ALL_SENSORS):
                keep = self.sensors == self.sensor
                if not keep.any():
                    raise InputError(f"{self.path}: no rows for sensor {self.sensor!r}")
                self.t, self.acc, self.sensors = self.t[keep], self.acc[keep], None
        elif self.sensor not in (None, ALL_SENSORS):
            raise InputError(f"{self.path}: --sensor given but the file has no 'sensor' column")
        if self.t.size == 0:
            raise InputError(f"{self.path}: no samples")
        if not np.isfinite(self.t).all():
            k = int(np.flatnonzero(~np.isfinite(self.t))[0])
            raise InputError(f"{self.path}: sample {k}: time is not a finite number")
        bad = np.isinf(self.acc) | (np.abs(self.acc) > MAX_ABS_G)
        if bad.any():
            k = int(np.argwhere(bad)[0][0])
            raise InputError(
                f"{self.path}: sample {k}: acceleration {float(np.abs(self.acc[k]).max())!r} g "
                f"is infinite or beyond {MAX_ABS_G:g} g"
            )
        for name, idx in self._groups():
            tt = self.t if idx is None else self.t[idx]
            back = np.flatnonzero(np.diff(tt) <= 0)
            if back.size:
                k = int(back[0]) + 1
                who = f" (sensor {name})" if name else ""
                raise InputError(
                    f"{self.path}: sample {k}{who}: time goes backwards or repeats "
                    f"(t = {float(tt[k])!r} s after {float(tt[k - 1])!r} s)"
                )

    def _groups(self) -> list[tuple[str | None, npt.NDArray[np.intp] | None]]:
        if self.sensors is None:
            return [(self.sensor if self.sensor != ALL_SENSORS else None, None)]
        return [
            (str(s), np.flatnonzero(self.sensors == s)) for s in sorted(set(self.sensors.tolist()))
        ]

    def __iter__(self) -> Iterator[SampleChunk]:
        for name, idx in self._groups():
            t, acc = (self.t, self.acc) if idx is None else (self.t[idx], self.acc[idx])
            for i in range(0, t.size, _CHUNK):
                yield SampleChunk(i, t[i : i + _CHUNK], acc[i : i + _CHUNK], name)

    def progress_bytes(self, chunk: SampleChunk) -> int:
        return int(self.size_bytes * chunk.t.size / max(1, self.t.size))


# ---------------------------------------------------------------------- format sniffing
def sniff_format(path: Path) -> str:
    """One of :data:`FORMATS` from the file's first bytes (never from its name alone)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with path.open("rb") as fh:
        head = fh.read(4096)
    if not head:
        raise InputError(f"{path}: empty file (expected a header t,ax,ay,az or a device file)")
    if head[:2] == b"MD" and len(head) >= 4:
        return "cwa"
    if head.startswith(b"Device Identity"):
        return "geneactiv"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
        except zipfile.BadZipFile as exc:
            raise InputError(f"{path}: a damaged ZIP archive (not a readable .gt3x)") from exc
        if "info.txt" in names:
            return "gt3x"
        raise InputError(
            f"{path}: a ZIP archive without info.txt, not an ActiGraph .gt3x "
            f"(holds {', '.join(sorted(names)[:5])})"
        )
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PAR1"):
        return "parquet"
    if b"\x00" in head.split(b"\n", 1)[0]:  # text files fail later, naming the line
        what = " ".join(f"{b:02x}" for b in head[:4])
        hint = (
            " (a Matrix .BIN? no maintained reader exists for those; export it to CSV)"
            if path.suffix.upper() == ".BIN"
            else ""
        )
        raise InputError(
            f"{path}: binary file of unknown format (starts with {what}){hint}; jerkmon reads "
            "CSV, Axivity .cwa, GENEActiv .bin, ActiGraph .gt3x, .npy and Parquet"
        )
    return "csv"


def open_recording(
    path: str | Path,
    sensor: str | None = None,
    time_unit: str | None = None,
    units: str | None = None,
) -> Recording:
    """The right reader for ``path`` (see the module docstring).

    Args:
        sensor: for files of several sensors (CSV, Parquet, .npy with a sensor field): the
            one to read, or :data:`~collector.csvio.ALL_SENSORS`.
        time_unit / units: force the CSV (and .npy / Parquet) time unit and acceleration
            unit instead of detecting them; device files state theirs.
    """
    p = Path(path)
    fmt = sniff_format(p)
    if fmt == "csv":
        return SampleReader(p, sensor=sensor, time_unit=time_unit, units=units)
    if fmt in ("cwa", "geneactiv", "gt3x"):
        if sensor not in (None, ALL_SENSORS):
            raise InputError(f"{p}: --sensor given but a device file holds one sensor")
        return read_device(p, fmt)
    if fmt == "npy":
        return _read_npy(p, sensor, time_unit, units)
    return _read_parquet(p, sensor, time_unit, units)


# ---------------------------------------------------------------------- device files
_FORMAT_NAMES = {"cwa": "Axivity CWA", "geneactiv": "GENEActiv BIN", "gt3x": "ActiGraph GT3X"}


def read_device(path: Path, fmt: str) -> ArrayRecording:
    """A device file through ``actfast`` (``pygt3x`` for the .gt3x files it cannot read)."""
    import actfast

    try:
        data = actfast.read(str(path))
    except (ValueError, OSError, RuntimeError) as exc:
        if fmt != "gt3x":
            raise InputError(
                f"{path}: cannot read this {_FORMAT_NAMES[fmt]} file: {_one_line(exc)}"
            ) from exc
        return read_gt3x_pygt3x(path, f"actfast could not read it ({_one_line(exc)})")
    ts = data["timeseries"]
    series = ts.get("acceleration") or ts.get("high_frequency")
    if series is None or "acceleration" not in series:
        raise InputError(f"{path}: the {_FORMAT_NAMES[fmt]} file holds no acceleration")
    ns = np.asarray(series["datetime"], dtype=np.int64)
    acc = np.asarray(series["acceleration"], dtype=np.float64)
    meta = data.get("metadata", {})
    rate = _stated_rate(fmt, meta)
    offset = _utc_offset_s(fmt, meta)
    t = _ns_to_s(ns) - (offset or 0.0)
    rec = ArrayRecording(
        path,
        _FORMAT_NAMES[fmt],
        t,
        acc,
        nominal_rate_hz=rate,
        metadata={"reader": f"actfast {_version('actfast')}", "device": _plain(meta)},
    )
    rec.notes.append(f"{_FORMAT_NAMES[fmt]} file, read with actfast {_version('actfast')}")
    rec.notes.append(_clock_note(offset))
    _note_gaps(rec)
    return rec


def read_gt3x_pygt3x(path: Path, why: str = "") -> ArrayRecording:
    """An ActiGraph .gt3x through ActiGraph's ``pygt3x``; idle-sleep-mode fill is dropped."""
    from pygt3x.reader import FileReader

    try:
        with warnings.catch_warnings(), FileReader(str(path)) as reader:
            warnings.simplefilter("ignore")  # pandas deprecations inside pygt3x
            df = reader.to_pandas()
            rate = float(reader.info.sample_rate)
            tz = getattr(reader.info, "timezone", None)
    except Exception as exc:  # pygt3x raises bare Exceptions, KeyErrors, asserts ...
        raise InputError(f"{path}: cannot read this ActiGraph GT3X file: {_one_line(exc)}") from exc
    if df.empty:
        raise InputError(f"{path}: the ActiGraph GT3X file holds no acceleration")
    keep = ~df["IdleSleepMode"].to_numpy(dtype=bool)
    t = df.index.to_numpy(dtype=np.float64)[keep]
    acc = df[["X", "Y", "Z"]].to_numpy(dtype=np.float64)[keep]
    offset = _parse_offset(str(tz)) if tz is not None else None
    rec = ArrayRecording(
        path,
        _FORMAT_NAMES["gt3x"],
        t - (offset or 0.0),
        acc,
        nominal_rate_hz=rate,
        metadata={"reader": f"pygt3x {_version('pygt3x')}"},
    )
    rec.notes.append(
        f"ActiGraph GT3X file, read with pygt3x {_version('pygt3x')}" + (f": {why}" if why else "")
    )
    rec.notes.append(_clock_note(offset))
    dropped = int((~keep).sum())
    if dropped:
        rec.notes.append(f"idle sleep mode: {dropped} filled samples dropped (gaps)")
    _note_gaps(rec)
    return rec


def device_gaps(t: FloatArray, rate_hz: float, factor: float = 3.5) -> list[tuple[float, float]]:
    """Gaps of (n,) times ``t`` s: (last sample before, first after) where the step exceeds
    ``factor`` sample periods (the detector's default bridge)."""
    d = np.diff(t)
    idx = np.flatnonzero(d > factor / rate_hz)
    return [(float(t[i]), float(t[i + 1])) for i in idx.tolist()]


def _note_gaps(rec: ArrayRecording) -> None:
    rate = rec.nominal_rate_hz or 1.0 / float(np.median(np.diff(rec.t)))
    gaps = device_gaps(rec.t, rate)
    span = (rec.t[-1] - rec.t[0]) / 3600.0
    lost = sum(b - a for a, b in gaps)
    rec.notes.append(
        f"{rec.t.size} samples at {rate:g} Hz over {span:.2f} h; {len(gaps)} gaps "
        f"({lost:.0f} s without samples)"
    )


def _ns_to_s(ns: npt.NDArray[np.int64]) -> FloatArray:
    if ns.size == 0:
        return np.empty(0)
    base = int(ns[0]) // 1_000_000_000
    return base + (ns - base * 1_000_000_000).astype(np.float64) / 1e9


def _stated_rate(fmt: str, meta: dict[str, Any]) -> float | None:
    try:
        if fmt == "cwa":
            return float(meta["configuration"]["sample_rate_hz"])
        if fmt == "gt3x":
            return float(meta["info"]["Sample Rate"])
        m = re.match(r"\s*([\d.]+)", meta["Configuration Info"]["Measurement Frequency"])
        return float(m.group(1)) if m else None
    except (KeyError, TypeError, ValueError):
        return None


def _parse_offset(text: str) -> float | None:
    """``+02:00``, ``02:00:00``, ``GMT -04:00`` -> s east of UTC (None: not stated)."""
    m = re.search(r"([+-]?)\s*(\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if not m:
        return None
    sign = -1.0 if m.group(1) == "-" else 1.0
    return sign * (int(m.group(2)) * 3600 + int(m.group(3)) * 60 + int(m.group(4) or 0))


def _utc_offset_s(fmt: str, meta: dict[str, Any]) -> float | None:
    try:
        if fmt == "gt3x":
            return _parse_offset(meta["info"]["TimeZone"])
        if fmt == "geneactiv":
            return _parse_offset(meta["Configuration Info"]["Time Zone"])
    except (KeyError, TypeError):
        return None
    return None  # Axivity files store no time zone


def _clock_note(offset: float | None) -> str:
    if offset is None:
        return "time: device clock; the file states no time zone, so it is taken as UTC"
    h, m = divmod(abs(int(offset)) // 60, 60)
    return f"time: device clock at UTC{'-' if offset < 0 else '+'}{h:02d}:{m:02d}, shifted to UTC"


def _plain(meta: Any) -> Any:
    """Metadata as JSON-safe values (NULs of unset GENEActiv fields stripped)."""
    if isinstance(meta, dict):
        return {str(k): _plain(v) for k, v in meta.items()}
    if isinstance(meta, str):
        return meta.replace("\x00", "").strip()
    try:
        json.dumps(meta)
    except TypeError:
        return str(meta)
    return meta


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


# ---------------------------------------------------------------------- npy and parquet
def _scale_units(
    path: Path, t: FloatArray, acc: FloatArray, time_unit: str | None, units: str | None
) -> tuple[FloatArray, FloatArray, list[str]]:
    """Apply CSV's time-unit and acceleration-unit rules to in-memory columns."""
    from collector.csvio import _GRAVITY_BANDS, _RATE_BAND_HZ, ACC_UNITS, TIME_UNITS

    notes: list[str] = []
    steps = np.diff(t[np.isfinite(t)])
    steps = steps[steps > 0]
    if time_unit is None:
        if steps.size == 0:
            time_unit = "s"
        else:
            m = float(np.median(steps))
            fits = [
                u
                for u, s in TIME_UNITS.items()
                if _RATE_BAND_HZ[0] <= 1 / (m * s) < _RATE_BAND_HZ[1]
            ]
            if not fits:
                raise InputError(
                    f"{path}: cannot tell the time unit: median step {m:.6g} is no sample rate "
                    "in s, ms, us or ns; pass --time-unit"
                )
            time_unit = fits[0]
    elif time_unit not in TIME_UNITS:
        raise InputError(f"{path}: --time-unit must be s, ms, us or ns here, got {time_unit!r}")
    notes.append(f"time: {time_unit}")
    ok = np.isfinite(acc).all(axis=1)
    if units is None:
        with np.errstate(over="ignore"):
            med = float(np.median(np.linalg.norm(acc[ok][:5000], axis=1))) if ok.any() else 0.0
        unit = next((u for u, (lo, hi) in _GRAVITY_BANDS.items() if lo <= med <= hi), None)
        if unit is None:
            raise InputError(
                f"{path}: cannot tell the acceleration unit: median vector magnitude {med:.4g} "
                "(gravity reads near 1 g, 1000 mg or 9.81 m/s^2); pass --units g|mg|m/s2"
            )
        notes.append(f"acceleration: {unit} (median |a| {med:.4g} {unit})")
    else:
        if units.lower() not in ACC_UNIT_ALIASES:
            raise InputError(f"--units must be g, mg or m/s2, got {units!r}")
        unit = ACC_UNIT_ALIASES[units.lower()]
        notes.append(f"acceleration: {unit} (as given)")
    return t * TIME_UNITS[time_unit], acc * ACC_UNITS[unit], notes


def _read_npy(
    path: Path, sensor: str | None, time_unit: str | None, units: str | None
) -> ArrayRecording:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise InputError(f"{path}: cannot read as .npy: {_one_line(exc)}") from exc
    sensors = None
    if arr.dtype.names:
        roles = {HEADER_ALIASES.get(_key(n)): n for n in arr.dtype.names}
        missing = [c for c in ("t", "ax", "ay", "az") if c not in roles]
        if missing:
            raise InputError(f"{path}: .npy fields lack {', '.join(missing)}")
        t = np.asarray(arr[roles["t"]], dtype=np.float64)
        acc = np.column_stack(
            [np.asarray(arr[roles[a]], dtype=np.float64) for a in ("ax", "ay", "az")]
        )
        if "sensor" in roles:
            sensors = np.asarray(arr[roles["sensor"]]).astype(str)
    else:
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise InputError(f"{path}: expected an (n, 4) array of t, ax, ay, az, got {arr.shape}")
        data = np.asarray(arr, dtype=np.float64)
        t, acc = data[:, 0].copy(), data[:, 1:].copy()
    t, acc, notes = _scale_units(path, t, acc, time_unit, units)
    return ArrayRecording(path, "NumPy .npy", t, acc, notes=notes, sensors=sensors, sensor=sensor)


def _read_parquet(
    path: Path, sensor: str | None, time_unit: str | None, units: str | None
) -> ArrayRecording:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot read as Parquet: {_one_line(exc)}") from exc
    roles: dict[str, str] = {}
    for name in schema.names:
        role = HEADER_ALIASES.get(_key(name))
        if role is not None and (role not in roles or _key(name) == role):
            roles[role] = name
    missing = [c for c in ("t", "ax", "ay", "az") if c not in roles]
    if missing:
        raise InputError(
            f"{path}: Parquet columns lack {', '.join(repr(m) for m in missing)} "
            f"(has {', '.join(schema.names)})"
        )
    table = pq.read_table(path, columns=list(roles.values()))
    tcol = table.column(roles["t"])
    notes: list[str] = []
    if pa.types.is_timestamp(tcol.type):
        ts = tcol.to_pandas()
        if ts.dt.tz is None:
            ts = ts.dt.tz_localize("UTC")
        t = np.asarray((ts - ts.iloc[0]).dt.total_seconds(), dtype=np.float64) + (
            ts.iloc[0].timestamp()
        )
        time_unit = "s"
    else:
        t = tcol.to_numpy().astype(np.float64)
    acc = np.column_stack(
        [table.column(roles[a]).to_numpy().astype(np.float64) for a in ("ax", "ay", "az")]
    )
    t, acc, more = _scale_units(path, t, acc, time_unit, units)
    notes += more
    sensors = table.column(roles["sensor"]).to_numpy().astype(str) if "sensor" in roles else None
    return ArrayRecording(path, "Parquet", t, acc, notes=notes, sensors=sensors, sensor=sensor)
