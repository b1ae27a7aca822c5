"""InfluxDB line protocol: a generic encoder with correct escaping.

One line is ``measurement[,tag=value...] field=value[,field=value...] time_ns``.  The rules,
checked against InfluxDB 1.6.7 and the 2.x documentation:

* measurement: commas and spaces are escaped with a backslash; it must not start with ``#``
  (that would make the line a comment);
* tag keys, tag values and field keys: commas, equals signs and spaces are escaped;
* a backslash in a name or tag value is kept literally, except where a reader would take it for
  an escape (before a comma, equals sign, space or backslash, or at the very end): InfluxDB 1.x
  has no way to write those, so they raise :class:`~detector.errors.InputError`;
* string field values are double-quoted; ``"`` and ``\\`` inside are backslash-escaped;
* integers get an ``i`` suffix (signed 64-bit range), booleans are ``true``/``false``,
  floats are written with Python's shortest round-trip ``repr`` and must be finite;
* a newline or carriage return can appear nowhere (not even in a string field): the spool
  and the batch splitter rely on one point per line, so they raise ``InputError``;
* tags with an empty value are left out (InfluxDB has no empty tag values); tags are sorted
  by key, which is what InfluxDB stores and is fastest to parse;
* time is an integer in nanoseconds since the Unix epoch (precision ``ns``); converted from
  float seconds it is rounded to the whole µs (see :func:`seconds_to_ns`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from detector.errors import InputError

__all__ = [
    "FieldValue",
    "Point",
    "encode_line",
    "encode_lines",
    "escape_key",
    "escape_measurement",
    "escape_string_field",
    "format_field_value",
    "seconds_to_ns",
]

FieldValue = bool | int | float | str

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_KEY_TRANSLATION = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_MEASUREMENT_TRANSLATION = str.maketrans({",": r"\,", " ": r"\ "})
_STRING_TRANSLATION = str.maketrans({"\\": "\\\\", '"': '\\"'})


def _check_text(what: str, text: str, *, specials: str) -> None:
    if not text:
        raise InputError(f"line protocol: {what} must not be empty")
    if "\n" in text or "\r" in text:
        raise InputError(f"line protocol: {what} {text!r} contains a newline")
    if "\\" in text:
        if text.endswith("\\"):
            raise InputError(f"line protocol: {what} {text!r} ends with a backslash")
        for i, ch in enumerate(text[:-1]):
            if ch == "\\" and text[i + 1] in specials + "\\":
                raise InputError(
                    f"line protocol: {what} {text!r} has a backslash before "
                    f"{text[i + 1]!r}, which InfluxDB would read as an escape"
                )


def escape_measurement(name: str) -> str:
    """Escape a measurement name (commas, spaces)."""
    _check_text("measurement", name, specials=", ")
    if name.startswith("#"):
        raise InputError(f"line protocol: measurement {name!r} must not start with '#'")
    return name.translate(_MEASUREMENT_TRANSLATION)


def escape_key(text: str, what: str = "tag or field key") -> str:
    """Escape a tag key, tag value or field key (commas, equals signs, spaces)."""
    _check_text(what, text, specials=", =")
    return text.translate(_KEY_TRANSLATION)


def escape_string_field(value: str) -> str:
    """Quote a string field value, escaping ``"`` and ``\\``."""
    if "\n" in value or "\r" in value:
        raise InputError(f"line protocol: string field {value[:40]!r} contains a newline")
    return '"' + value.translate(_STRING_TRANSLATION) + '"'


def format_field_value(value: object, key: str = "?") -> str:
    """Format one field value: bool, int (``i`` suffix), finite float or str.

    numpy scalars are accepted.  Raises :class:`InputError` for anything else, for a
    non-finite float and for an integer outside the signed 64-bit range.
    """
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        ivalue = int(value)
        if not _INT64_MIN <= ivalue <= _INT64_MAX:
            raise InputError(f"line protocol: field {key!r}={ivalue} is outside int64")
        return f"{ivalue}i"
    if isinstance(value, float | np.floating):
        fvalue = float(value)
        if not math.isfinite(fvalue):
            raise InputError(f"line protocol: field {key!r} is {fvalue}, not a finite number")
        return repr(fvalue)
    if isinstance(value, str):
        return escape_string_field(value)
    raise InputError(f"line protocol: field {key!r} has unsupported type {type(value).__name__}")


def seconds_to_ns(t_s: float) -> int:
    """Convert a time in s since the Unix epoch to integer ns, rounded to the whole µs.

    A float64 Unix time has ~0.24 µs resolution at today's dates, so digits below the µs are
    noise; whole and fractional seconds are converted separately (exactly), so ``t0 + 1.25``
    gives ``...250000000`` ns.  Deterministic: the same float always gives the same ns, so a
    replayed point overwrites itself.
    """
    if not math.isfinite(t_s):
        raise InputError(f"time {t_s} s is not a finite number")
    whole = math.floor(t_s)
    return whole * 1_000_000_000 + round((t_s - whole) * 1e6) * 1000


def encode_line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, object],
    time_ns: int,
) -> str:
    """Encode one point as a line (without the trailing newline).

    Args:
        measurement: measurement name.
        tags: tag key -> value; empty values are left out; sorted by key.
        fields: field key -> bool/int/float/str value; ``None`` values are left out; at
            least one field must remain.
        time_ns: timestamp, integer ns since the Unix epoch.
    """
    parts = [escape_measurement(measurement)]
    for key in sorted(tags):
        value = tags[key]
        if value == "":
            continue
        parts.append(f",{escape_key(key, 'tag key')}={escape_key(value, 'tag value')}")
    field_parts = [
        f"{escape_key(key, 'field key')}={format_field_value(value, key)}"
        for key, value in fields.items()
        if value is not None
    ]
    if not field_parts:
        raise InputError(f"line protocol: point of {measurement!r} has no fields")
    if isinstance(time_ns, bool) or not isinstance(time_ns, int | np.integer):
        raise InputError(f"line protocol: time must be integer ns, got {time_ns!r}")
    parts.append(" ")
    parts.append(",".join(field_parts))
    parts.append(f" {int(time_ns)}")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Point:
    """A generic point: measurement, tags, fields and time in integer ns since the epoch."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, object]
    time_ns: int

    def to_line(self) -> str:
        return encode_line(self.measurement, self.tags, self.fields, self.time_ns)


def encode_lines(points: Iterable[Point]) -> list[str]:
    """Encode points to lines (no newlines)."""
    return [p.to_line() for p in points]
