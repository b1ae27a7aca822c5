"""Grafana's substitution of template variables and InfluxQL macros, reproduced exactly.

What Grafana does to a raw InfluxQL query before InfluxDB sees it, in order:

1. **Frontend, template variables** (``templateSrv.replace(query, scopedVars, 'regex')``,
   ``public/app/plugins/datasource/influxdb/datasource.ts`` ``applyVariables`` /
   ``InfluxQueryModel.render``; ``public/app/features/templating/template_srv.ts``
   ``_evaluateVariableExpression``).  References are found with Grafana's ``variableRegex``
   (``public/app/features/variables/utils.ts``): ``$var``, ``[[var]]``, ``[[var:fmt]]``,
   ``${var}``, ``${var:fmt}``.  The InfluxDB datasource passes the **regex** format, so every
   value is escaped with ``kbn.regexEscape`` (``[\\^$*+?.()|[]{}/]`` get a backslash) and a
   multi-value or *All* selection becomes ``(a|b|c)``; an explicit ``${var:raw}`` (or other
   format) wins over it.  *All* without a custom ``allValue`` expands to every option's value;
   a custom ``allValue`` is inserted unformatted.  Unknown names are left as they are.
   ``$__from``/``$__to`` are the range in epoch ms.
2. **Backend, macros** (``pkg/tsdb/influxdb/models/query.go`` ``Build``): with
   ``strings.ReplaceAll``, in this order: ``$timeFilter`` -> ``time >= <from>ms and time <=
   <to>ms``; ``$interval`` -> the interval as text; ``$__interval_ms`` -> integer ms;
   ``$__interval`` -> the interval as text.  The text comes from ``gtime.FormatInterval``
   (grafana-plugin-sdk-go ``backend/gtime``: the largest whole unit, ``y d h m s ms``).
   In backend mode the frontend removes ``__interval``/``__interval_ms`` from the scoped
   variables so that these reach the backend unsubstituted.
3. **The interval** (``@grafana/data`` ``rangeutil.calculateInterval``): ``roundInterval((to
   - from) / resolution)`` with ``resolution`` = the panel's ``maxDataPoints`` (else its
   width in pixels), raised to the panel's minimum interval (``interval``), text by
   ``secondsToHms``.

Grafana 11 runs InfluxQL through the backend (``influxdbBackendMigration``); older versions
("classic" mode here) substitute ``$timeFilter`` in the browser (``getTimeFilter``:
``now() - 6h`` for relative ranges, ``<epoch>ms`` otherwise) and ``$__interval``/``$interval``
from the scoped variables.  Both modes are implemented; ``backend`` is the default.

Times are epoch milliseconds (``int``) throughout.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from detector.errors import ConfigError, InputError

__all__ = [
    "ALL_VALUE",
    "Mode",
    "QueryContext",
    "TimeRange",
    "Variable",
    "backend_build",
    "calculate_interval",
    "format_interval",
    "interpolate",
    "js_string",
    "regex_escape",
    "render_query",
    "round_interval",
    "seconds_to_hms",
    "unresolved",
]

Mode = Literal["backend", "classic"]

#: The value Grafana stores for the *All* option (``ALL_VARIABLE_VALUE``).
ALL_VALUE = "$__all"

# public/app/features/variables/utils.ts `variableRegex` (JS \w is ASCII-only: re.ASCII).
VARIABLE_RE = re.compile(
    r"\$(\w+)|\[\[([\s\S]+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}",
    re.ASCII,
)
# app/core/utils/kbn.ts `regexEscape`.
_REGEX_SPECIALS = re.compile(r"[\\^$*+?.()|\[\]{}/]")
# datasource.ts getInfluxTime: `now-<n><unit>` becomes an InfluxQL relative time.
_NOW_MINUS = re.compile(r"^now-(\d+)([dhms])$")


def regex_escape(value: str) -> str:
    """``kbn.regexEscape``: backslash before ``\\ ^ $ * + ? . ( ) | [ ] { } /``."""
    return _REGEX_SPECIALS.sub(lambda m: "\\" + m.group(0), value)


def js_string(value: object) -> str:
    """``'' + value`` in JavaScript, for values coming from a query (numbers, bools, text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if value is None:
        return "null"
    return str(value)


@dataclass(frozen=True)
class Variable:
    """A dashboard variable as the template service sees it.

    Attributes:
        name: variable name (referenced as ``$name``).
        value: current value: one string, or a list for a multi-value selection;
            :data:`ALL_VALUE` (or ``[ALL_VALUE]``) for *All*.
        text: current text (what the picker shows); defaults to the value.
        options: the option values (without *All*), used to expand *All*.
        all_value: the variable's custom ``allValue`` (inserted unformatted), or None.
    """

    name: str
    value: str | tuple[str, ...]
    text: str | tuple[str, ...] | None = None
    options: tuple[str, ...] = ()
    all_value: str | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"\w+", self.name, re.ASCII):
            raise ConfigError(f"variable name {self.name!r} must be letters, digits or _")
        value: object = self.value
        if isinstance(value, list):  # tolerate lists from callers
            object.__setattr__(self, "value", tuple(value))

    @property
    def is_all(self) -> bool:
        v = self.value
        return v == ALL_VALUE or (isinstance(v, tuple) and len(v) > 0 and v[0] == ALL_VALUE)

    def expanded(self) -> str | tuple[str, ...]:
        """The value with *All* replaced by ``allValue`` or every option (getAllValue)."""
        if not self.is_all:
            return self.value
        if self.all_value:
            return self.all_value
        return tuple(self.options)


@dataclass(frozen=True)
class TimeRange:
    """A dashboard time range: resolved epoch ms plus the raw text (``now-12h``) if relative.

    ``raw_from``/``raw_to`` matter only in classic mode, where Grafana writes relative times
    as ``now() - 12h``.
    """

    from_ms: int
    to_ms: int
    raw_from: str | None = None
    raw_to: str | None = None

    def __post_init__(self) -> None:
        if self.to_ms < self.from_ms:
            raise ConfigError(f"time range ends ({self.to_ms}) before it starts ({self.from_ms})")

    @classmethod
    def from_seconds(cls, start_s: float, end_s: float) -> TimeRange:
        """Absolute range from epoch seconds (ms, truncated as ``valueOf()`` would)."""
        return cls(math.floor(start_s * 1000), math.floor(end_s * 1000))


# --------------------------------------------------------------------------- formats
def _fmt_regex(value: str | tuple[str, ...]) -> str:
    if isinstance(value, str):
        return regex_escape(value)
    escaped = [regex_escape(v) for v in value]
    if len(escaped) == 1:
        return escaped[0]
    return "(" + "|".join(escaped) + ")"


def _fmt_glob(value: str | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        return "{" + ",".join(value) + "}" if len(value) > 1 else "".join(value)
    return value


def _quote_each(value: str | tuple[str, ...], quote: Callable[[str], str]) -> str:
    if isinstance(value, tuple):
        return ",".join(quote(v) for v in value)
    return quote(value)


def _fmt_date(value: str | tuple[str, ...], args: Sequence[str]) -> str:
    text = value if isinstance(value, str) else (value[0] if value else "")
    arg = args[0] if args else "iso"
    if arg == "ms":
        return text
    ms = int(text)
    if arg == "seconds":
        return str(round(ms / 1000))
    if arg == "iso":
        stamp = _dt.datetime.fromtimestamp(ms / 1000, _dt.UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    raise InputError(f"date format {arg!r} (moment.js patterns) is not supported here")


def format_value(
    value: str | tuple[str, ...],
    fmt: str | None,
    text: str | tuple[str, ...] | None = None,
    name: str = "",
) -> str:
    """``formatVariableValue`` with Grafana's format registry (``formatRegistry.ts``)."""
    if not fmt:
        fmt = "glob"
    parts = fmt.split(":")
    fmt_id, args = parts[0], parts[1:]
    if fmt_id == "regex":
        return _fmt_regex(value)
    if fmt_id == "raw":
        return value if isinstance(value, str) else ",".join(value)
    if fmt_id == "pipe":
        return value if isinstance(value, str) else "|".join(value)
    if fmt_id == "csv":
        return value if isinstance(value, str) else ",".join(value)
    if fmt_id == "json":
        return json.dumps(value if isinstance(value, str) else list(value))
    if fmt_id == "singlequote":
        return _quote_each(value, lambda v: "'" + v.replace("'", "\\'") + "'")
    if fmt_id == "doublequote":
        return _quote_each(value, lambda v: '"' + v.replace('"', '\\"') + '"')
    if fmt_id == "sqlstring":
        return _quote_each(value, lambda v: "'" + v.replace("'", "''") + "'")
    if fmt_id == "percentencode":
        joined = value if isinstance(value, str) else "{" + ",".join(value) + "}"
        return urllib.parse.quote(joined, safe="-_.~")
    if fmt_id == "text":
        shown = text if text is not None else value
        return shown if isinstance(shown, str) else " + ".join(shown)
    if fmt_id == "queryparam":
        values = (value,) if isinstance(value, str) else value
        return "&".join(f"var-{name}={urllib.parse.quote(v, safe='-_.~')}" for v in values)
    if fmt_id == "date":
        return _fmt_date(value, args)
    # glob, and Grafana's fallback for an unknown format
    return _fmt_glob(value)


# --------------------------------------------------------------------------- templating
def interpolate(
    text: str,
    variables: Mapping[str, Variable],
    fmt: str | None = None,
    scoped: Mapping[str, str] | None = None,
    time_range: TimeRange | None = None,
) -> str:
    """``templateSrv.replace(text, scopedVars, fmt)``.

    Args:
        variables: the dashboard's variables by name.
        fmt: the default format (the InfluxDB datasource passes ``regex``).
        scoped: scoped variables (name -> value), e.g. ``__interval`` in classic mode.
        time_range: adds ``__from``/``__to`` (epoch ms) as Grafana's index does.
    """
    index: dict[str, Variable] = dict(variables)
    if time_range is not None:
        for name, ms in (("__from", time_range.from_ms), ("__to", time_range.to_ms)):
            index.setdefault(name, Variable(name, str(ms)))

    def replace(m: re.Match[str]) -> str:
        var1, var2, fmt2, var3, _field_path, fmt3 = m.groups()
        name = var1 or var2 or var3
        use_fmt = fmt2 or fmt3 or fmt
        if scoped is not None and name in scoped:
            return format_value(scoped[name], use_fmt, name=name)
        variable = index.get(name)
        if variable is None:
            return m.group(0)  # unknown: left as it is (data-link macros too)
        if use_fmt == "queryparam":
            return format_value(variable.value, use_fmt, variable.text, name)
        value = variable.value
        text = variable.text
        if variable.is_all:
            value = variable.expanded()
            text = "All"
            if variable.all_value and use_fmt not in ("text", "percentencode"):
                # "skip formatting of custom all values": this.replace(value)
                return interpolate(variable.all_value, variables, None, None, time_range)
        return format_value(value, use_fmt, text, name)

    return VARIABLE_RE.sub(replace, text)


# --------------------------------------------------------------------------- intervals
_ROUND_STEPS: tuple[tuple[float, int], ...] = (
    (10, 1),
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1500, 1000),
    (3500, 2000),
    (7500, 5000),
    (12500, 10000),
    (17500, 15000),
    (25000, 20000),
    (45000, 30000),
    (90000, 60000),
    (210000, 120000),
    (450000, 300000),
    (750000, 600000),
    (1050000, 900000),
    (1500000, 1200000),
    (2700000, 1800000),
    (5400000, 3600000),
    (9000000, 7200000),
    (16200000, 10800000),
    (32400000, 21600000),
    (86400000, 43200000),
    (604800000, 86400000),
    (1814400000, 604800000),
    (3628800000, 2592000000),
)


def round_interval(interval_ms: float) -> int:
    """``rangeutil.roundInterval``: a raw interval (ms) rounded to Grafana's ladder (ms)."""
    for limit, rounded in _ROUND_STEPS:
        if interval_ms < limit:
            return rounded
    return 31536000000


def seconds_to_hms(seconds: float) -> str:
    """``rangeutil.secondsToHms``: the largest whole unit, e.g. ``30s``, ``5m``, ``200ms``."""
    years = math.floor(seconds / 31536000)
    if years:
        return f"{years}y"
    days = math.floor((seconds % 31536000) / 86400)
    if days:
        return f"{days}d"
    hours = math.floor(((seconds % 31536000) % 86400) / 3600)
    if hours:
        return f"{hours}h"
    minutes = math.floor((((seconds % 31536000) % 86400) % 3600) / 60)
    if minutes:
        return f"{minutes}m"
    secs = math.floor((((seconds % 31536000) % 86400) % 3600) % 60)
    if secs:
        return f"{secs}s"
    millis = math.floor(seconds * 1000.0)
    if millis:
        return f"{millis}ms"
    return "less than a millisecond"


_DESCRIBE_RE = re.compile(r"(-?\d+(?:\.\d+)?)(ms|[Mwdhmsy])")
_UNIT_S = {
    "y": 31536000,
    "M": 2592000,
    "w": 604800,
    "d": 86400,
    "h": 3600,
    "m": 60,
    "s": 1,
    "ms": 0.001,
}


def interval_to_ms(text: str) -> float:
    """``rangeutil.intervalToMs`` (``"5s"`` -> 5000; a bare number means seconds)."""
    try:
        number = float(text)
    except ValueError:
        number = 0.0
    if number:  # `Number(str)` is truthy: unit-less, seconds (parseInt truncates)
        return 1000.0 * int(number)
    m = _DESCRIBE_RE.search(text)
    if m is None:
        raise ConfigError(f"invalid interval {text!r}: needs a unit of ms, s, m, h, d, w, M, y")
    return _UNIT_S[m.group(2)] * 1000 * int(float(m.group(1)))


def calculate_interval(
    time_range: TimeRange, resolution: int, low_limit: str | None = None
) -> tuple[int, str]:
    """``rangeutil.calculateInterval``: (interval ms, text) for ``resolution`` points."""
    if resolution <= 0:
        raise ConfigError(f"resolution must be > 0 points, got {resolution}")
    low_ms = interval_to_ms(low_limit) if low_limit else 1.0
    interval_ms = float(round_interval((time_range.to_ms - time_range.from_ms) / resolution))
    if low_ms > interval_ms:
        interval_ms = low_ms
    return int(interval_ms), seconds_to_hms(interval_ms / 1000)


def format_interval(interval_ms: int) -> str:
    """``gtime.FormatInterval`` for a duration in ms (the backend's ``$__interval`` text)."""
    for unit_ms, suffix in (
        (365 * 86400000, "y"),
        (86400000, "d"),
        (3600000, "h"),
        (60000, "m"),
        (1000, "s"),
        (1, "ms"),
    ):
        if interval_ms >= unit_ms:
            return f"{interval_ms // unit_ms}{suffix}"
    return "1ms"


# --------------------------------------------------------------------------- whole queries
def backend_build(query: str, time_range: TimeRange, interval_ms: int) -> str:
    """``models.Query.Build`` for a raw query: the backend's macro replacement."""
    interval_ms = max(interval_ms, 1)  # model_parser: "at least 1 millisecond"
    text = format_interval(interval_ms)
    out = query.replace(
        "$timeFilter", f"time >= {time_range.from_ms}ms and time <= {time_range.to_ms}ms"
    )
    out = out.replace("$interval", text)
    out = out.replace("$__interval_ms", str(interval_ms))
    return out.replace("$__interval", text)


def _influx_time(raw: str | None, ms: int) -> str:
    """datasource.ts ``getInfluxTime`` (classic mode)."""
    if raw == "now":
        return "now()"
    if raw is not None:
        m = _NOW_MINUS.match(raw)
        if m:
            return f"now() - {int(m.group(1))}{m.group(2)}"
    return f"{ms}ms"


def classic_time_filter(time_range: TimeRange) -> str:
    """datasource.ts ``getTimeFilter`` (classic mode)."""
    start = _influx_time(time_range.raw_from, time_range.from_ms)
    end = _influx_time(time_range.raw_to, time_range.to_ms)
    return f"time >= {start} and time <= {end}"


@dataclass(frozen=True)
class QueryContext:
    """Everything a query's substitution depends on.

    Attributes:
        variables: dashboard variables by name.
        time_range: the panel's time range (after any panel time override).
        interval_ms: the panel's ``$__interval`` in ms (see :func:`calculate_interval`).
        mode: ``backend`` (Grafana 11, 10.x with influxdbBackendMigration) or ``classic``.
    """

    variables: Mapping[str, Variable]
    time_range: TimeRange
    interval_ms: int = 1000
    mode: Mode = "backend"
    extra_scoped: Mapping[str, str] = field(default_factory=dict)


def render_query(query: str, ctx: QueryContext) -> str:
    """The query text InfluxDB receives for a raw InfluxQL panel, variable or annotation
    query (all three use the regex format)."""
    if ctx.mode == "backend":
        # applyTemplateVariables: `rest` = scopedVars without __interval/__interval_ms
        text = interpolate(query, ctx.variables, "regex", dict(ctx.extra_scoped), ctx.time_range)
        return backend_build(text, ctx.time_range, ctx.interval_ms)
    interval_text = seconds_to_hms(ctx.interval_ms / 1000)
    scoped = {
        **ctx.extra_scoped,
        "__interval": interval_text,
        "__interval_ms": str(ctx.interval_ms),
        "interval": interval_text,  # "backward compatibility" in classicQuery
    }
    text = interpolate(query, ctx.variables, "regex", scoped, ctx.time_range)
    scoped["timeFilter"] = classic_time_filter(ctx.time_range)
    return interpolate(text, ctx.variables, None, scoped, ctx.time_range)


def unresolved(text: str) -> list[str]:
    """Variable references or macros left in ``text`` (should be empty after rendering)."""
    return [m.group(0) for m in VARIABLE_RE.finditer(text)]
