"""Run a dashboard's JSON against InfluxDB the way Grafana does, without Grafana.

Given a time range and variable selections, :func:`run_dashboard` resolves the template
variables in order (running their queries, Grafana's option rules), then runs every panel
target and annotation query with the substitution of :mod:`dashboards.grafana_macros` and
returns the rendered query texts with InfluxDB's results.  The tests assert numbers on it and
``jerkmon dashboards preview`` draws it.

Simplifications (documented, not hidden): a panel's relative time override (``timeFrom``) is
taken relative to the dashboard range's end (Grafana uses the wall clock; they agree when the
dashboard ends at "now"); a panel without ``maxDataPoints`` gets ``width_px`` × its share of
the 24 columns as resolution, as a browser of that width would.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from detector.errors import ConfigError, InputError

from .grafana_macros import (
    ALL_VALUE,
    Mode,
    QueryContext,
    TimeRange,
    Variable,
    calculate_interval,
    interpolate,
    js_string,
    render_query,
)
from .influxql import InfluxQLClient, Series
from .model import Json

__all__ = [
    "AnnotationResult",
    "DashboardRun",
    "PanelResult",
    "TargetResult",
    "frame_name",
    "panel_time_range",
    "resolve_variables",
    "run_dashboard",
]

#: Data-link macros Grafana resolves when a link is clicked (not when a query runs).
LINK_MACROS = ("__url_time_range", "__value", "__data", "__series", "__field", "__all_variables")
_DURATION_RE = re.compile(r"^(\d+)([smhdw])$")
_DURATION_MS = {"s": 1000, "m": 60000, "h": 3600000, "d": 86400000, "w": 604800000}


@dataclass(frozen=True)
class TargetResult:
    """One query of a panel: its refId, the exact text sent to InfluxDB, the series."""

    ref_id: str
    query: str
    series: list[Series]
    alias: str = ""
    result_format: str = "time_series"


@dataclass(frozen=True)
class PanelResult:
    """A panel's JSON, its effective time range and interval, and its targets' results."""

    panel: Json
    time_range: TimeRange
    interval_ms: int
    targets: list[TargetResult]
    title: str = ""


@dataclass(frozen=True)
class AnnotationResult:
    """An annotation query: rendered text and the (time ms, text) events it returned."""

    name: str
    query: str
    events: list[tuple[int, str]]


@dataclass(frozen=True)
class DashboardRun:
    """Everything a dashboard showed for one time range and selection."""

    dashboard: Json
    time_range: TimeRange
    variables: dict[str, Variable]
    variable_queries: dict[str, str]
    panels: list[PanelResult]
    annotations: list[AnnotationResult]
    links: list[str] = field(default_factory=list)
    data_links: list[str] = field(default_factory=list)

    def panel(self, title: str) -> PanelResult:
        """The panel whose (unrendered) title is ``title``."""
        for p in self.panels:
            if p.panel.get("title") == title:
                return p
        raise KeyError(f"no panel titled {title!r} in {self.dashboard.get('uid')}")

    def queries(self) -> list[str]:
        """Every query text sent to InfluxDB (variables, panels, annotations)."""
        return (
            list(self.variable_queries.values())
            + [t.query for p in self.panels for t in p.targets]
            + [a.query for a in self.annotations]
        )


def _metric_find_values(series: list[Series]) -> list[str]:
    """Grafana's backend frame for the first series (``newFrameWithoutTimeField`` /
    ``newFrameWithTimeField``) through ``frameToMetricFindValue``."""
    if not series:
        return []
    first = series[0]
    if "time" not in [c.lower() for c in first.columns]:
        col = 1 if len(first.columns) >= 2 and first.columns[0] == "key" else 0
        return [js_string(row[col]) for row in first.values if row[col] is not None]
    # SELECT: one frame per non-time column; the first frame's Value field.
    cols = [i for i, c in enumerate(first.columns) if c != "time"]
    if not cols:
        return []
    return [js_string(row[cols[0]]) for row in first.values if row[cols[0]] is not None]


def _selection(value: str | Sequence[str]) -> str | tuple[str, ...]:
    return value if isinstance(value, str) else tuple(value)


def resolve_variables(
    dashboard: Json,
    client: InfluxQLClient,
    time_range: TimeRange,
    selections: Mapping[str, str | Sequence[str]] | None = None,
    mode: Mode = "backend",
) -> tuple[dict[str, Variable], dict[str, str]]:
    """Resolve the dashboard's variables in order; returns (variables, rendered queries).

    Query variables get their options from their query (deduplicated, sorted by ``sort``),
    *All* first when ``includeAll``; the current value is the selection if given (it must be
    an option, or ``$__all``), else the saved ``current`` if still valid, else the first
    option.  Textbox variables take the selection or their saved value.
    """
    selections = dict(selections or {})
    resolved: dict[str, Variable] = {}
    rendered: dict[str, str] = {}
    for var in dashboard.get("templating", {}).get("list", []):
        name = var["name"]
        kind = var.get("type")
        if kind == "textbox":
            value = selections.pop(name, var.get("query", ""))
            if not isinstance(value, str):
                raise InputError(f"textbox variable {name} takes one value, got {value!r}")
            resolved[name] = Variable(name, value)
            continue
        if kind != "query":
            raise ConfigError(f"variable {name}: type {kind!r} is not supported here")
        ctx = QueryContext(resolved, time_range, mode=mode)
        text = render_query(var["query"], ctx)
        rendered[name] = text
        options = list(dict.fromkeys(_metric_find_values(client.query_one(text))))
        if var.get("sort") in (1, 2):
            options.sort(reverse=var["sort"] == 2)
        include_all = bool(var.get("includeAll"))
        multi = bool(var.get("multi"))
        all_value = var.get("allValue") or None
        if name in selections:
            current = _selection(selections.pop(name))
            values = (current,) if isinstance(current, str) else current
            for v in values:
                if v != ALL_VALUE and v not in options:
                    raise InputError(f"variable {name}: {v!r} is not one of {options}")
                if v == ALL_VALUE and not include_all:
                    raise InputError(f"variable {name} has no All option")
            if isinstance(current, tuple) and len(current) > 1 and not multi:
                raise InputError(f"variable {name} is single-valued, got {current}")
        else:
            saved = var.get("current", {}).get("value")
            saved_values = [saved] if isinstance(saved, str) else list(saved or [])
            valid = saved_values and all(
                v in options or (v == ALL_VALUE and include_all) for v in saved_values
            )
            if valid:
                current = tuple(saved_values) if multi else saved_values[0]
            elif include_all:
                current = (ALL_VALUE,) if multi else ALL_VALUE
            else:
                current = options[0] if options else ""
        resolved[name] = Variable(name, current, options=tuple(options), all_value=all_value)
    if selections:
        raise InputError(f"no such variables: {sorted(selections)}")
    return resolved, rendered


def panel_time_range(panel: Json, dashboard_range: TimeRange) -> TimeRange:
    """The panel's range: a relative override (``timeFrom``, e.g. ``5m``) ends where the
    dashboard range ends."""
    override = panel.get("timeFrom")
    if not override:
        return dashboard_range
    m = _DURATION_RE.match(str(override))
    if m is None:
        raise ConfigError(f"panel {panel.get('title')!r}: timeFrom {override!r} not understood")
    span = int(m.group(1)) * _DURATION_MS[m.group(2)]
    return TimeRange(dashboard_range.to_ms - span, dashboard_range.to_ms)


def frame_name(series: Series, column: str, alias: str) -> str:
    """The display name Grafana's backend gives a series (``util.FormatFrameName``):
    alias patterns ``$m``, ``$measurement``, ``$col``, ``$tag_<key>``, ``[[...]]``; without
    an alias ``measurement.column {tag: value, ...}``."""
    if not alias:
        tags = ", ".join(f"{k}: {v}" for k, v in sorted(series.tags.items()))
        return f"{series.name}.{column}" + (f" {{{tags}}}" if tags else "")

    def sub(m: re.Match[str]) -> str:
        key = (m.group(1) or m.group(2) or "").strip()
        if key in ("m", "measurement"):
            return series.name
        if key == "col":
            return column
        if key.startswith("tag_"):
            return series.tags.get(key[4:], "")
        return m.group(0)

    return re.sub(r"\$(\s*\w+)|\[\[(\s*\w+)\]\]", sub, alias)


def run_dashboard(
    dashboard: Json,
    client: InfluxQLClient,
    time_range: TimeRange,
    selections: Mapping[str, str | Sequence[str]] | None = None,
    *,
    mode: Mode = "backend",
    width_px: int = 1600,
) -> DashboardRun:
    """Resolve variables, run every panel target and annotation query, render the links."""
    variables, var_queries = resolve_variables(dashboard, client, time_range, selections, mode)
    panels: list[PanelResult] = []
    data_links: list[str] = []
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            continue
        rng = panel_time_range(panel, time_range)
        resolution = panel.get("maxDataPoints") or max(
            1, round(panel["gridPos"]["w"] / 24 * width_px)
        )
        interval_ms, _ = calculate_interval(rng, int(resolution), panel.get("interval"))
        ctx = QueryContext(variables, rng, interval_ms=interval_ms, mode=mode)
        targets: list[TargetResult] = []
        for t in panel.get("targets", []):
            if t.get("hide"):
                continue
            text = render_query(t["query"], ctx)
            targets.append(
                TargetResult(
                    t["refId"],
                    text,
                    client.query_one(text),
                    interpolate(t.get("alias", ""), variables, None, None, rng),
                    t.get("resultFormat", "time_series"),
                )
            )
        for link in panel.get("fieldConfig", {}).get("defaults", {}).get("links", []):
            data_links.append(interpolate(link["url"], variables, None, None, rng))
        title = interpolate(panel.get("title", ""), variables, None, None, rng)
        panels.append(PanelResult(panel, rng, interval_ms, targets, title))
    annotations: list[AnnotationResult] = []
    for anno in dashboard.get("annotations", {}).get("list", []):
        target = anno.get("target") or {}
        if anno.get("builtIn") or not target.get("query"):
            continue
        # annotationEvents: templateSrv.replace(query, undefined, 'regex'), then the backend
        text = render_query(target["query"], QueryContext(variables, time_range, 1, mode))
        events: list[tuple[int, str]] = []
        column = target.get("textColumn") or "text"
        for s in client.query_one(text):
            for row in s.values:
                record: dict[str, Any] = dict(zip(s.columns, row, strict=True))
                events.append((int(record["time"]), str(record.get(column, ""))))
        annotations.append(AnnotationResult(anno["name"], text, sorted(events)))
    links = [
        interpolate(link.get("url", ""), variables, None, None, time_range)
        for link in dashboard.get("links", [])
        if link.get("type") == "link"
    ]
    return DashboardRun(
        dashboard, time_range, variables, var_queries, panels, annotations, links, data_links
    )
