"""Reading sample CSV files as devices and people write them, and writing event CSV files.

A sample file holds a time column and three acceleration columns (more columns allowed, and
an optional ``sensor`` column for files of several sensors).  What real exports look like is
read as such, and every guess is stated in :attr:`SampleReader.notes`:

* UTF-8 with or without a byte-order mark; ``,`` ``;`` or tab delimiters (with ``;`` or tab,
  a decimal comma is recognised); preamble lines before the header (ActiLife's 10-line
  banner) are skipped; a file without a header is read as time, x, y, z when its first line
  is a time and three numbers (OMGUI's CWA export);
* header names in any case, with common aliases (``time``, ``timestamp``, ``x``/``y``/``z``,
  ``acc_x``, ``Accelerometer X`` ...) and units in brackets;
* time as seconds, milliseconds, microseconds or nanoseconds since start or the Unix epoch
  (the unit is the one whose median step gives a sample rate of 4-4000 Hz), or ISO 8601
  datetimes (converted to s since the epoch, UTC; naive ones taken as UTC);
  ``time_unit`` forces it;
* acceleration in g, mg or m/s^2, detected from the median vector magnitude of the first
  rows (gravity: near 1 g, 1000 mg or 9.81 m/s^2); ``units`` forces it; anything else is
  refused rather than guessed.

Reading is chunked (blocks of lines) so an 8 h night at 200 Hz never sits in memory twice.
A block of plain numbers (``t,ax,ay,az`` as most tools write it) is read by a compiled,
exact reader without the GIL (:mod:`collector._csvparse`; pandas is then never imported);
anything else - decimal commas, ISO times, a sensor column, quotes, any bad line - goes
through pandas' C parser, which also words every error.  Every problem is one
:class:`~detector.errors.InputError` naming the file, the line and what is wrong: binary
or non-UTF-8 content, short rows, non-numeric or infinite cells, accelerations beyond
100 g, time going backwards.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from collector import _csvparse
from detector.episodes import EpisodeEvent
from detector.errors import InputError
from detector.events import JerkEvent

if TYPE_CHECKING:
    # pandas (0.25 s to import) is loaded only when a file needs the general reader.
    import pandas as pd

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
    "state",
)
_CHUNK_ROWS = 262_144
_HEAD_ROWS = 5_000
_PREAMBLE_LINES = 30

#: s per unit of a numeric time column.
TIME_UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
#: g per unit of acceleration.
ACC_UNITS: dict[str, float] = {"g": 1.0, "mg": 1e-3, "m/s2": 1.0 / 9.80665}
#: accepted spellings of the acceleration units (``--units``).
ACC_UNIT_ALIASES: dict[str, str] = {
    "g": "g",
    "mg": "mg",
    "m/s2": "m/s2",
    "m/s^2": "m/s2",
    "ms2": "m/s2",
    "ms-2": "m/s2",
    "mps2": "m/s2",
}
#: Plausible median |a| of each unit (gravity dominates a night's recording).
_GRAVITY_BANDS: dict[str, tuple[float, float]] = {
    "g": (0.7, 1.3),
    "mg": (700.0, 1300.0),
    "m/s2": (6.9, 12.7),
}
#: Sample rates a raw accelerometer file can have, Hz (half-open: one time unit fits).
_RATE_BAND_HZ = (4.0, 4000.0)
#: Unix times of 2000-01-01 and 2100-01-01, s.
_EPOCH_BAND_S = (946_684_800.0, 4_102_444_800.0)
#: |a| beyond this is no wrist movement but a unit or file error, g.
MAX_ABS_G = 100.0


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", re.sub(r"[\(\[].*?[\)\]]", "", name.lower()))


def _aliases() -> dict[str, str]:
    out = {
        k: "t"
        for k in (
            "t", "time", "times", "timestamp", "timestamps", "datetime", "date", "ts",
            "timesec", "timeseconds", "seconds", "sec", "secs", "elapsed", "elapsedtime",
            "unixtime", "unixtimestamp", "epoch", "epochtime", "timeutc", "utc", "clock",
            "timems", "timestampms", "ms", "timeus", "timestampus", "timens",
        )
    }  # fmt: skip
    for ax in "xyz":
        for k in (
            f"a{ax}", ax, f"acc{ax}", f"accel{ax}", f"acceleration{ax}", f"accelerometer{ax}",
            f"{ax}axis", f"axis{ax}", f"{ax}acc", f"{ax}accel", f"{ax}acceleration",
            f"accelerometer{ax}axis", f"acc{ax}axis",
        ):  # fmt: skip
            out[k] = f"a{ax}"
    for k in ("sensor", "sensorid", "side", "wrist", "device", "deviceid", "limb"):
        out[k] = "sensor"
    return out


HEADER_ALIASES: dict[str, str] = _aliases()
_TIME_HINTS = {"ms": "ms", "us": "us", "ns": "ns", "s": "s", "sec": "s", "seconds": "s"}


def _time_hint(name: str) -> str | None:
    """A time unit stated in a column name (``time_ms``, ``Time (s)``), if any."""
    low = name.lower().strip()
    m = re.search(r"[\(\[]\s*([a-zµ]+)\s*[\)\]]", low)
    if m:
        return _TIME_HINTS.get(m.group(1).replace("µ", "u"))
    m = re.search(r"[_\s-](ms|us|ns|s)$", low)
    if m:
        return m.group(1)
    if low in ("timems", "timestampms", "ms"):
        return "ms"
    if low in ("timeus", "timestampus"):
        return "us"
    return None


def _num(x: float) -> str:
    """A number for a message: plain Python float text, never ``np.float64(...)``."""

    v = float(x)
    return repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


@dataclass(frozen=True, slots=True)
class SampleChunk:
    """Rows ``first_line``.. of a sample file: t (n,) s and acc (n, 3) g; ``sensor``: whose
    rows they are (files of several sensors read whole), else None."""

    first_line: int
    t: FloatArray
    acc: FloatArray
    sensor: str | None = None


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the table starts and how it is written."""

    header_line: int  # 1-based line of the header (0: no header)
    delimiter: str
    decimal: str
    names: list[str]  # column names as written (or positional names)
    roles: dict[str, int]  # "t", "ax", "ay", "az", "sensor" -> column index


#: ``sensor`` value of :class:`SampleReader` that reads every sensor of a long file.
ALL_SENSORS = "*"


@dataclass(frozen=True, slots=True)
class _Block:
    """Parsed rows of one block of lines, before units: raw time cells and acc (n, 3);
    a plain numeric block (:mod:`collector._csvparse`) has its times in s instead
    (``t_s``, (n,), finite; in the file's own unit while that is not known) and no
    ``t_raw``."""

    first_line: int
    t_raw: pd.Series | None
    acc: FloatArray
    sensor: pd.Series | None
    t_s: FloatArray | None = None


class SampleReader:
    """Iterates a sample CSV in chunks, validating as it goes (a :class:`Recording`).

    Args:
        path: the CSV file (see the module docstring for what it may look like).
        sensor: with a ``sensor`` column, keep only this sensor's rows (required when the
            file holds several sensors, unless :data:`ALL_SENSORS`: then every sensor's rows
            come as their own chunks, each chunk's ``sensor`` set).
        time_unit: ``s``, ``ms``, ``us``, ``ns`` or ``iso`` (None: detected).
        units: acceleration unit ``g``, ``mg`` or ``m/s2`` (None: detected).

    Attributes:
        notes: how the file was read (delimiter, header line, time base, units), for the
            summary.  format: ``"CSV"``.  nominal_rate_hz: None (inferred from the times).
    """

    format = "CSV"
    nominal_rate_hz: float | None = None

    def __init__(
        self,
        path: str | Path,
        sensor: str | None = None,
        time_unit: str | None = None,
        units: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.sensor = sensor
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file")
        self.size_bytes = self.path.stat().st_size
        if self.size_bytes == 0:
            raise InputError(f"{self.path}: empty file (expected a header t,ax,ay,az)")
        if time_unit is not None and time_unit not in (*TIME_UNITS, "iso"):
            raise InputError(f"--time-unit must be s, ms, us, ns or iso, got {time_unit!r}")
        if units is not None and units.lower() not in ACC_UNIT_ALIASES:
            raise InputError(f"--units must be g, mg or m/s2, got {units!r}")
        self.notes: list[str] = []
        self.time_unit: str | None = None
        self._forced_time: str | None = None
        with self.path.open("rb") as fb:
            head = fb.read(1 << 20)
        self.bytes_per_row = len(head) / max(1, head.count(b"\n"))
        head_lines = self._decode(head, 1, partial=len(head) == 1 << 20).splitlines()
        self.layout = self._sniff(head_lines)
        self.columns = self.layout.names
        self.has_sensor = "sensor" in self.layout.roles
        if sensor is not None and not self.has_sensor:
            raise InputError(f"{self.path}: --sensor given but the file has no 'sensor' column")
        lay = self.layout
        if lay.header_line:
            where = f"header on line {lay.header_line}" + (
                f" after {lay.header_line - 1} preamble lines" if lay.header_line > 1 else ""
            )
        else:
            where = "no header: columns read as time, x, y, z"
        delim = {",": "','", ";": "';'", "\t": "tab"}[lay.delimiter]
        self.notes.append(
            f"CSV: {delim}-delimited, {where}" + (", decimal comma" if lay.decimal == "," else "")
        )
        self._forced_time = time_unit
        block = next(self._blocks(_HEAD_ROWS), None)
        if block is None:
            raise InputError(f"{self.path}: no data rows")
        acc = block.acc
        if block.t_s is not None:  # plain: numbers, as written
            self.time_unit = self._numeric_time_unit(block.t_s, time_unit)
        else:
            t_raw = block.t_raw
            assert t_raw is not None
            if block.sensor is not None and sensor not in (None, ALL_SENSORS):
                keep = (block.sensor == sensor).to_numpy()
                t_raw, acc = t_raw[keep], acc[keep]
            self.time_unit = self._detect_time(t_raw, time_unit)
        self.units = self._detect_units(
            acc, None if units is None else ACC_UNIT_ALIASES[units.lower()]
        )
        self._g_per_unit = ACC_UNITS[self.units]

    # ------------------------------------------------------------------ sniffing
    def _decode(self, data: bytes, first_line: int, partial: bool = False) -> str:
        nul = data.find(b"\x00")
        if nul >= 0:
            line = first_line + data.count(b"\n", 0, nul)
            raise InputError(
                f"{self.path}, line {line}: binary data (a NUL byte), not a text CSV; device "
                "files (.cwa, .bin, .gt3x) are recognised by their content"
            )
        if first_line == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if partial and exc.start >= len(data) - 4:
                return data[: exc.start].decode("utf-8")  # a character cut by the read size
            line = first_line + data.count(b"\n", 0, exc.start)
            raise InputError(
                f"{self.path}, line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                "save the file as UTF-8"
            ) from exc

    def _sniff(self, lines: list[str]) -> _Layout:
        best: tuple[int, int, str, list[str], dict[str, int]] | None = None
        for i, line in enumerate(lines[:_PREAMBLE_LINES]):
            if not line.strip():
                continue
            for d in (",", ";", "\t"):
                fields = [f.strip() for f in next(csv.reader([line], delimiter=d))]
                if len(fields) < 2:
                    continue
                roles = self._roles(fields, i + 1)
                score = sum(r in roles for r in SAMPLE_COLUMNS)
                if score == 4:
                    dec = self._decimal(d, lines[i + 1 : i + 4])
                    return _Layout(i + 1, d, dec, fields, roles)
                if score >= 2 and (best is None or score > best[0]):
                    best = (score, i, d, fields, roles)
        first = next((ln for ln in lines if ln.strip()), "")
        for d in (",", ";", "\t"):
            fields = [f.strip() for f in first.split(d)]
            dec = self._decimal(d, [first])
            if (
                len(fields) >= 4
                and all(_is_number(f, dec) for f in fields[1:4])
                and (_is_number(fields[0], dec) or _is_datetime(fields[0]))
            ):
                names = ["time", "x", "y", "z", *(f"c{k}" for k in range(4, len(fields)))]
                return _Layout(0, d, dec, names, {"t": 0, "ax": 1, "ay": 2, "az": 3})
        if best is not None:
            _, i, _, fields, roles = best
            missing = [c for c in SAMPLE_COLUMNS if c not in roles]
            raise InputError(
                f"{self.path}, line {i + 1}: missing column "
                f"{', '.join(repr(m) for m in missing)} (header is {','.join(fields)}; "
                "expected t,ax,ay,az or aliases such as time, timestamp, x, acc_x)"
            )
        raise InputError(
            f"{self.path}, line 1: no header naming a time and x, y, z columns (first line "
            f"is {first[:60]!r}; expected t,ax,ay,az or aliases such as time, timestamp, x, "
            "acc_x, Accelerometer X)"
        )

    def _roles(self, fields: list[str], line: int) -> dict[str, int]:
        roles: dict[str, int] = {}
        for j, f in enumerate(fields):
            role = HEADER_ALIASES.get(_key(f))
            if role is None:
                continue
            if role in roles:
                prev = fields[roles[role]]
                if _key(prev) == role:  # the canonical name wins
                    continue
                if _key(f) != role:
                    raise InputError(
                        f"{self.path}, line {line}: columns {prev!r} and {f!r} both read as "
                        f"{role!r}; rename one"
                    )
            roles[role] = j
        return roles

    @staticmethod
    def _decimal(delim: str, data_lines: Sequence[str]) -> str:
        if delim == ",":
            return "."
        for ln in data_lines:
            if re.search(
                r"(^|" + re.escape(delim) + r")\s*-?\d+,\d+\s*($|" + re.escape(delim) + ")", ln
            ):
                return ","
        return "."

    # ------------------------------------------------------------------ units
    def _detect_time(self, t_raw: pd.Series, forced: str | None) -> str:
        name = self.layout.names[self.layout.roles["t"]]
        cells = t_raw.dropna()
        cells = cells[cells.astype(str).str.strip() != ""]
        num = self._to_number(cells)
        numeric = bool(num.notna().all())
        if forced == "iso" or (forced is None and not numeric):
            parsed = _parse_iso(cells)
            isna = parsed.isna().to_numpy()
            if forced is None and isna.all():  # a numeric column with a bad cell
                k = int(np.flatnonzero(num.isna().to_numpy())[0])
                raise InputError(
                    f"{self.path}, line {self._line_of(cells, k)}: column {name!r} is not a "
                    f"number: {cells.iloc[k]!r}"
                )
            bad = np.flatnonzero(isna)
            if bad.size:
                k = int(bad[0])
                raise InputError(
                    f"{self.path}, line {self._line_of(cells, k)}: column {name!r} is neither "
                    f"a number nor an ISO 8601 time: {cells.iloc[k]!r}"
                )
            zone = "with a time zone" if _has_zone(str(cells.iloc[0])) else "no zone: read as UTC"
            self.notes.append(f"time: ISO 8601 datetimes ({zone}), as s since the Unix epoch")
            return "iso"
        return self._numeric_time_unit(num.to_numpy(dtype=np.float64), forced)

    def _numeric_time_unit(self, v: FloatArray, forced: str | None) -> str:
        """The unit of a numeric time column from its values ``v`` (n,) (or ``forced``)."""
        name = self.layout.names[self.layout.roles["t"]]
        hint = _time_hint(name)
        steps = np.diff(v[np.isfinite(v)])
        steps = steps[steps > 0]
        if forced is not None:
            unit, how = forced, "as given"
        elif steps.size == 0:
            unit, how = hint or "s", "too few rows to tell"
        else:
            m = float(np.median(steps))
            fits = [
                u
                for u, s in TIME_UNITS.items()
                if _RATE_BAND_HZ[0] <= 1 / (m * s) < _RATE_BAND_HZ[1]
            ]
            if hint is not None and hint not in fits and fits:
                raise InputError(
                    f"{self.path}: column {name!r} says {hint} but its median step "
                    f"{m:.6g} reads as {1 / (m * TIME_UNITS[hint]):.4g} Hz; pass --time-unit"
                )
            if not fits and hint is None:
                raise InputError(
                    f"{self.path}: cannot tell the unit of column {name!r}: its median step "
                    f"{m:.6g} is no sample rate of {_RATE_BAND_HZ[0]:g}-{_RATE_BAND_HZ[1]:g} Hz "
                    "in s, ms, us or ns; pass --time-unit s|ms|us|ns|iso"
                )
            unit = hint if hint is not None else fits[0]
            how = "from the column name" if hint is not None else f"median step {m:.6g}"
        first = float(v[np.isfinite(v)][0]) * TIME_UNITS[unit] if np.isfinite(v).any() else 0.0
        base = (
            "since the Unix epoch"
            if _EPOCH_BAND_S[0] <= first < _EPOCH_BAND_S[1]
            else "since the start of the recording"
        )
        word = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
        self.notes.append(f"time: {word[unit]} {base} ({how})")
        return unit

    def _detect_units(self, acc: FloatArray, forced: str | None) -> str:
        ok = np.isfinite(acc).all(axis=1)
        if forced is not None:
            self.notes.append(f"acceleration: {forced} (as given)")
            return forced
        if not ok.any():
            raise InputError(
                f"{self.path}: no complete acceleration row among the first {len(acc)} to tell "
                "the unit; pass --units g|mg|m/s2"
            )
        with np.errstate(over="ignore"):  # absurd values are refused row by row later
            med = float(np.median(np.linalg.norm(acc[ok], axis=1)))
        for unit, (lo, hi) in _GRAVITY_BANDS.items():
            if lo <= med <= hi:
                self.notes.append(f"acceleration: {unit} (median |a| {med:.4g} {unit})")
                return unit
        raise InputError(
            f"{self.path}: cannot tell the acceleration unit: the median vector magnitude of "
            f"the first {int(ok.sum())} rows is {med:.4g} (gravity reads near 1 g, 1000 mg or "
            "9.81 m/s^2); pass --units g|mg|m/s2"
        )

    def _to_number(self, cells: pd.Series) -> pd.Series:
        """Text cells as numbers (NaN where not a number), with the file's decimal mark."""
        import pandas as pd

        if self.layout.decimal == ",":
            cells = cells.astype(str).str.replace(",", ".", regex=False)
        return pd.to_numeric(cells, errors="coerce")

    def _line_of(self, cells: pd.Series, k: int) -> int:
        return int(cells.index[k])

    # ------------------------------------------------------------------ reading
    def _blocks(self, rows: int | None = None) -> Iterator[_Block]:
        """Blocks of about ``rows`` (default :data:`_CHUNK_ROWS`) whole lines after the
        header, parsed."""
        rows = _CHUNK_ROWS if rows is None else rows
        lay = self.layout
        need = max(lay.roles.values()) + 1
        used = sorted(lay.roles.values())
        # Read by size, cut at the last newline (whole lines, no per-line Python objects).
        size = max(256, int(rows * self.bytes_per_row))
        plain = self._plain_spec()
        with self.path.open("rb") as fb:
            for _ in range(lay.header_line):
                fb.readline()
            line = lay.header_line + 1
            rest = b""
            while True:
                piece = fb.read(size)
                data = rest + piece
                if not data:
                    return
                cut = data.rfind(b"\n") + 1 if piece else len(data)
                if cut == 0:  # a line longer than the read size: read on
                    rest = data
                    continue
                data, rest = data[:cut], data[cut:]
                fast = self._plain_block(data, line, plain) if plain is not None else None
                if fast is not None:
                    yield fast
                else:  # anything not plain, and every error, the general way
                    self._decode(data, line)  # UTF-8, no NUL: or a clear error
                    self._check_fields(data, line, len(lay.names))
                    yield self._parse(data, line, need, used)
                line += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
                if not piece:
                    return

    def _plain_spec(
        self,
    ) -> tuple[npt.NDArray[np.intc], npt.NDArray[np.uint8], int] | None:
        """What :func:`collector._csvparse.parse_block` needs when this file can be plain:
        numeric times (of a known unit, or, for the first block, of a unit still to be
        told and not forced to ISO), a decimal point, no sensor column.  Else None."""
        lay = self.layout
        unit = self.time_unit if self.time_unit is not None else self._forced_time
        if unit == "iso" or lay.decimal != "." or "sensor" in lay.roles:
            return None
        slot = np.full(len(lay.names), -1, dtype=np.intc)
        nan_ok = np.zeros(len(lay.names), dtype=np.uint8)
        for k, role in enumerate(("t", "ax", "ay", "az")):
            slot[lay.roles[role]] = k
            nan_ok[lay.roles[role]] = role != "t"  # an empty acceleration cell is missing
        return slot, nan_ok, ord(lay.delimiter)

    def _plain_block(
        self,
        data: bytes,
        line: int,
        spec: tuple[npt.NDArray[np.intc], npt.NDArray[np.uint8], int],
    ) -> _Block | None:
        """``data`` read by the compiled reader, or None when it is not plain (quotes,
        blank or odd lines, text, non-finite times: the general reader words the error)."""
        if line == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if b'"' in data:
            return None
        slot, nan_ok, delim = spec
        vals, _ = _csvparse.parse_block(data, len(slot), slot, nan_ok, delim)
        if vals is None:
            return None
        t = vals[:, 0]
        if not np.isfinite(t).all():
            return None
        unit = self.time_unit  # (None in the first block: numbers as written)
        t_s = t.copy() if unit in (None, "s") else t * TIME_UNITS[unit]
        return _Block(line, None, np.ascontiguousarray(vals[:, 1:4]), None, t_s)

    def _check_fields(self, data: bytes, line: int, expected: int) -> None:
        """Every line of ``data`` has ``expected`` fields (vectorised delimiter count)."""
        buf = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(buf == 10)
        if not data.endswith(b"\n"):
            ends = np.append(ends, buf.size)
        if b'"' in data:  # quoted fields may hold delimiters: count them the slow way
            lines = data.decode("utf-8", "replace").splitlines()
            counts = np.array(
                [len(next(csv.reader([ln], delimiter=self.layout.delimiter), [])) for ln in lines]
            )
        else:
            delims = np.flatnonzero(buf == ord(self.layout.delimiter))
            counts = np.diff(np.searchsorted(delims, np.concatenate(([-1], ends)))) + 1
        bad = np.flatnonzero(counts != expected)
        if bad.size:
            k = int(bad[0])
            start = 0 if k == 0 else int(ends[k - 1]) + 1
            blank = not data[start : int(ends[k])].strip()
            what = (
                "empty line"
                if blank
                else f"{'short' if counts[k] < expected else 'long'} row: {int(counts[k])} "
                f"fields, expected {expected}"
            )
            raise InputError(f"{self.path}, line {line + k}: {what}")

    def _parse(self, data: bytes, line: int, need: int, used: list[int]) -> _Block:
        """``data`` (whole lines, already checked to be UTF-8) as a block."""
        import pandas as pd

        lay = self.layout
        names = [f"c{j}" for j in range(max(need, len(lay.names)))]
        sens_col = lay.roles.get("sensor")
        # Times stay text until their kind is known (and for ISO 8601).
        t_col = lay.roles["t"] if self.time_unit in (None, "iso") else None
        try:
            # The C parser reads the bytes directly (2x faster than from the decoded text).
            df = pd.read_csv(
                io.BytesIO(data[3:] if data.startswith(b"\xef\xbb\xbf") else data),
                sep=lay.delimiter,
                decimal=lay.decimal,
                header=None,
                names=names,
                usecols=[names[j] for j in used],
                dtype={names[j]: str for j in (t_col, sens_col) if j is not None},
                skipinitialspace=True,
                skip_blank_lines=False,
                index_col=False,
                keep_default_na=False,
                na_values=["", "nan", "NaN", "NA", "null", "NULL"],
            )
        except pd.errors.ParserError as exc:
            m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
            if m:
                raise InputError(
                    f"{self.path}, line {line + int(m.group(2)) - 1}: {m.group(3)} fields, "
                    f"expected {m.group(1)}"
                ) from exc
            raise InputError(f"{self.path}: cannot parse as CSV near line {line}: {exc}") from exc
        df.index = pd.RangeIndex(line, line + len(df))
        acc_cols = [names[lay.roles[a]] for a in ("ax", "ay", "az")]
        acc = np.column_stack([self._numeric(df, c) for c in acc_cols])
        t_raw = df[names[lay.roles["t"]]]
        sens = df[names[sens_col]].astype(str) if sens_col is not None else None
        return _Block(line, t_raw, acc, sens)

    def _numeric(self, df: pd.DataFrame, col: str) -> FloatArray:
        import pandas as pd

        s = df[col]
        if s.dtype.kind not in "fi":
            num = pd.to_numeric(s, errors="coerce")
            bad = np.flatnonzero(num.isna().to_numpy() & s.notna().to_numpy())
            if bad.size:
                k = int(bad[0])
                raise InputError(
                    f"{self.path}, line {int(df.index[k])}: column {self._name(col)!r} is not a "
                    f"number: {s.iloc[k]!r}"
                )
            s = num
        return s.to_numpy(dtype=np.float64)

    def _name(self, col: str) -> str:
        return self.layout.names[int(col[1:])]

    def _time_s(self, t_raw: pd.Series) -> FloatArray:
        import pandas as pd

        name = self.layout.names[self.layout.roles["t"]]
        empty = t_raw.isna().to_numpy().copy()
        if t_raw.dtype.kind not in "fi":
            empty |= (t_raw.astype(str).str.strip() == "").to_numpy()
        if empty.any():
            k = int(np.flatnonzero(empty)[0])
            raise InputError(
                f"{self.path}, line {int(t_raw.index[k])}: column {name!r} is empty or not a number"
            )
        if self.time_unit == "iso":
            parsed = _parse_iso(t_raw)
            bad = np.flatnonzero(parsed.isna().to_numpy())
            if bad.size:
                k = int(bad[0])
                raise InputError(
                    f"{self.path}, line {int(t_raw.index[k])}: column {name!r} is not an ISO "
                    f"8601 time: {t_raw.iloc[k]!r}"
                )
            secs = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
            return np.asarray(secs.to_numpy(), dtype=np.float64)
        num = t_raw if t_raw.dtype.kind in "fi" else self._to_number(t_raw)
        v = num.to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            k = int(bad[0])
            raise InputError(
                f"{self.path}, line {int(t_raw.index[k])}: column {name!r} is not a finite "
                f"number: {t_raw.iloc[k]!r}"
            )
        unit = self.time_unit or "s"
        return v if unit == "s" else v * TIME_UNITS[unit]

    def _check_acc(self, acc: FloatArray, first_line: int, idx: npt.NDArray[np.intp]) -> None:
        bad = np.isinf(acc) | (np.abs(acc) > MAX_ABS_G)
        if bad.any():
            k, j = (int(v) for v in np.argwhere(bad)[0])
            name = self.layout.names[self.layout.roles[("ax", "ay", "az")[j]]]
            val = acc[k, j] / self._g_per_unit
            what = (
                "is infinite"
                if np.isinf(val)
                else (
                    f"is {_num(val)} {self.units}: beyond {MAX_ABS_G:g} g, not a wrist acceleration"
                    + (" (wrong --units?)" if self.units != "g" or abs(val) < 1e4 else "")
                )
            )
            raise InputError(
                f"{self.path}, line {first_line + int(idx[k])}: column {name!r} {what}"
            )

    def __iter__(self) -> Iterator[SampleChunk]:
        last_t: dict[str | None, float] = {}
        seen: set[str] = set()
        rows = 0
        for b in self._blocks():
            if b.t_s is not None:
                t = b.t_s
            else:
                assert b.t_raw is not None
                t = self._time_s(b.t_raw)
            acc = b.acc if self._g_per_unit == 1.0 else b.acc * self._g_per_unit
            self._check_acc(acc, b.first_line, np.arange(len(t)))
            if b.sensor is None:
                groups: list[tuple[str | None, npt.NDArray[np.intp] | None]] = [(None, None)]
            else:
                seen.update(b.sensor.unique().tolist())
                if self.sensor is None and len(seen) > 1:
                    names = ", ".join(sorted(seen))
                    raise InputError(
                        f"{self.path}: holds several sensors ({names}); pick one with --sensor"
                    )
                if self.sensor == ALL_SENSORS:
                    import pandas as pd

                    codes, uniq = pd.factorize(b.sensor, sort=True)
                    groups = [(str(s), np.flatnonzero(codes == i)) for i, s in enumerate(uniq)]
                elif self.sensor is None:
                    groups = [(None, None)]
                else:
                    groups = [(self.sensor, np.flatnonzero((b.sensor == self.sensor).to_numpy()))]
            for name, idx in groups:
                tt, aa = (t, acc) if idx is None else (t[idx], acc[idx])
                lines = b.first_line + (np.arange(len(tt)) if idx is None else idx)
                if not tt.size:
                    continue
                prev = np.concatenate(([last_t.get(name, -math.inf)], tt[:-1]))
                back = np.flatnonzero(tt <= prev)
                if back.size:
                    k = int(back[0])
                    raise InputError(
                        f"{self.path}, line {int(lines[k])}: time goes backwards or repeats "
                        f"(t = {_num(tt[k])} s after {_num(prev[k])} s)"
                    )
                last_t[name] = float(tt[-1])
                rows += tt.size
                yield SampleChunk(
                    int(lines[0]), tt, aa, name if self.sensor == ALL_SENSORS else self.sensor
                )
        if rows == 0:
            what = (
                f"no rows for sensor {self.sensor!r}"
                if self.sensor not in (None, ALL_SENSORS)
                else "no data rows"
            )
            raise InputError(f"{self.path}: {what}")

    def progress_bytes(self, chunk: SampleChunk) -> int:
        """Bytes of the file that ``chunk`` stands for (for a progress bar in bytes)."""
        return int(chunk.t.size * self.bytes_per_row)


def _is_number(s: str, decimal: str) -> bool:
    try:
        float(s.replace(decimal, ".") if decimal != "." else s)
    except ValueError:
        return False
    return True


def _is_datetime(s: str) -> bool:
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", s.strip()))


def _has_zone(s: str) -> bool:
    return bool(re.search(r"(Z|[+-]\d{2}:?\d{2})$", s.strip()))


def _parse_iso(cells: pd.Series) -> pd.Series:
    """ISO 8601 cells as UTC timestamps (NaT where not ISO 8601; naive ones read as UTC)."""
    import pandas as pd

    s = cells.astype(str).str.strip()
    ok = s.str.match(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
    out = pd.Series(pd.NaT, index=cells.index, dtype="datetime64[ns, UTC]")
    if ok.any():
        out[ok] = pd.to_datetime(s[ok], format="ISO8601", utc=True).dt.as_unit("ns")
    return out


def infer_rate_hz(t: FloatArray) -> float:
    """Nominal sample rate from (n,) times, s: the median step, rounded sensibly."""
    if t.size < 3:
        raise InputError("too few samples to infer the sample rate; pass --rate")
    step = float(np.median(np.diff(t)))
    if step <= 0:
        raise InputError("cannot infer the sample rate from the times; pass --rate")
    rate = 1.0 / step
    return round(rate) if abs(rate - round(rate)) < 0.02 * rate else rate


def write_events_csv(
    path: str | Path,
    events: Sequence[JerkEvent],
    sensors: Sequence[str] | None = None,
    bilateral: Sequence[bool] | None = None,
) -> None:
    """Write events, one row per jerk, columns :data:`EVENT_COLUMNS`; with ``sensors`` (one
    per event, several wrists) a leading ``sensor`` and a trailing ``bilateral`` column."""
    with Path(path).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(EVENT_COLUMNS if sensors is None else ("sensor", *EVENT_COLUMNS, "bilateral"))
        for k, e in enumerate(events):
            row = [
                f"{e.onset:.4f}",
                f"{e.duration:.4f}",
                f"{e.peak_jerk_g_per_s:.3f}",
                f"{e.peak_acc_g:.4f}",
                e.kind,
                "" if e.series is None else e.series,
                f"{e.confidence:.3f}",
                int(e.clipped),
                e.state,
            ]
            if sensors is not None:
                row = [sensors[k], *row, int(bool(bilateral[k])) if bilateral else 0]
            w.writerow(row)


def write_episodes_csv(events_path: str | Path, episodes: Sequence[EpisodeEvent]) -> Path:
    """Write convulsive episodes beside an events file (``X.csv`` -> ``X.episodes.csv``):
    ``start,duration_s,dominant_hz,peak_g,bilateral``.  Returns the path written."""
    p = Path(events_path)
    out = p.with_name(p.stem + ".episodes.csv")
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("start", "duration_s", "dominant_hz", "peak_g", "bilateral"))
        for e in episodes:
            w.writerow(
                [
                    f"{e.start:.2f}",
                    f"{e.duration_s:.2f}",
                    f"{e.dominant_hz:.2f}",
                    f"{e.peak_g:.3f}",
                    int(e.bilateral),
                ]
            )
    return out


def read_event_onsets(path: str | Path, sensor: str | None = None) -> tuple[FloatArray, list[str]]:
    """Onsets (n,) s and kinds of an events CSV written by :func:`write_events_csv` (with a
    ``sensor`` column: only ``sensor``'s rows, when given)."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        df = pd.read_csv(p)
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{p}: empty file (expected a header with 'onset')") from exc
    if "onset" not in df.columns:
        raise InputError(f"{p}, line 1: missing column 'onset'")
    if sensor is not None and "sensor" in df.columns:
        df = df[df["sensor"].astype(str) == sensor].reset_index(drop=True)
    onset = pd.to_numeric(df["onset"], errors="coerce")
    bad = np.flatnonzero(onset.isna().to_numpy())
    if bad.size:
        raise InputError(f"{p}, line {int(bad[0]) + 2}: column 'onset' is not a number")
    kinds = df["kind"].astype(str).tolist() if "kind" in df.columns else ["myoclonic"] * len(df)
    return onset.to_numpy(dtype=np.float64), kinds
