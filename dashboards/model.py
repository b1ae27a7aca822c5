"""Building blocks for Grafana 10+ dashboard JSON (schemaVersion 39), InfluxQL only.

A :class:`DashboardBuilder` lays panels out left to right on Grafana's 24-column grid, numbers
them (unique ``id``), points every query at the datasource by ``uid`` and emits the JSON
Grafana provisions.  Only the panel types and options jerkmon uses are modelled; the output
is plain ``dict``/``list`` data (``json.dumps``-ready).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from detector.errors import ConfigError

__all__ = [
    "DATASOURCE_TYPE",
    "SCHEMA_VERSION",
    "DashboardBuilder",
    "DashboardOptions",
    "Json",
]

Json = dict[str, Any]

#: Grafana 10.4 / 11.x dashboard schema version.
SCHEMA_VERSION = 39
DATASOURCE_TYPE = "influxdb"
_UID_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")
_DURATION_RE = re.compile(r"[1-9]\d*[smhd]")


@dataclass(frozen=True)
class DashboardOptions:
    """What can be tuned when exporting the dashboards (validated at construction).

    Attributes:
        datasource_uid: uid of the InfluxDB (InfluxQL) datasource every query uses.
        raw_measurement: fully qualified raw-acceleration measurement: ``"raw"."imu"`` on
            1.x (retention policy ``raw``), ``"<bucket>_raw"."autogen"."imu"`` on 2.x.
        cluster_threshold: jerks (all sensors of a subject) within ``cluster_window_s`` that
            make a cluster in progress; the alert fires at or above it.
        cluster_window_s: s, look-back of the cluster alert.
        alert_interval_s: s between alert evaluations.
        change_default: initial value of the Trends ``change`` variable (RFC 3339, UTC).
        folder: Grafana folder title (and uid) for the dashboards and the alert rule.
    """

    datasource_uid: str = "jerkmon-influxdb"
    raw_measurement: str = '"raw"."imu"'
    cluster_threshold: int = 4
    cluster_window_s: int = 120
    alert_interval_s: int = 60
    change_default: str = "2025-01-01T00:00:00Z"
    folder: str = "jerkmon"

    def __post_init__(self) -> None:
        if not _UID_RE.fullmatch(self.datasource_uid):
            raise ConfigError(
                f"datasource uid {self.datasource_uid!r} must be 1-40 letters, digits, - or _"
            )
        if not re.fullmatch(r'("[^"\\\n]+"\.){1,2}"[^"\\\n]+"', self.raw_measurement):
            raise ConfigError(
                f"raw measurement {self.raw_measurement!r} must be quoted and qualified, "
                'e.g. "raw"."imu" (1.x) or "jerkmon_raw"."autogen"."imu" (2.x)'
            )
        if not 2 <= self.cluster_threshold <= 1000:
            raise ConfigError(
                f"cluster threshold must be 2..1000 jerks, got {self.cluster_threshold}"
            )
        if not 10 <= self.cluster_window_s <= 3600:
            raise ConfigError(f"cluster window must be 10..3600 s, got {self.cluster_window_s}")
        if not 10 <= self.alert_interval_s <= 3600 or self.alert_interval_s % 10:
            raise ConfigError(
                f"alert interval must be a multiple of 10 s within 10..3600, "
                f"got {self.alert_interval_s}"
            )
        if not re.fullmatch(r"\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\dZ)?", self.change_default):
            raise ConfigError(
                f"change default {self.change_default!r} must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"
            )
        if not self.folder.strip() or len(self.folder) > 40:
            raise ConfigError(f"folder {self.folder!r} must be 1-40 characters")

    @property
    def datasource(self) -> Json:
        """The datasource reference used everywhere (by uid, as Grafana 10+ expects)."""
        return {"type": DATASOURCE_TYPE, "uid": self.datasource_uid}

    @property
    def folder_uid(self) -> str:
        return re.sub(r"[^A-Za-z0-9_-]", "-", self.folder)[:40]


def _thresholds(steps: Sequence[tuple[float | None, str]] | None) -> Json:
    steps = steps or [(None, "green")]
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


class DashboardBuilder:
    """Accumulates variables, annotations, links and panels of one dashboard."""

    def __init__(
        self,
        uid: str,
        title: str,
        options: DashboardOptions,
        *,
        description: str,
        time_from: str,
        time_to: str = "now",
        refresh: str = "",
        tags: Sequence[str] = ("jerkmon",),
    ) -> None:
        if not _UID_RE.fullmatch(uid):
            raise ConfigError(f"dashboard uid {uid!r} must be 1-40 letters, digits, - or _")
        self.uid = uid
        self.title = title
        self.options = options
        self.description = description
        self.time_from = time_from
        self.time_to = time_to
        self.refresh = refresh
        self.tags = list(tags)
        self.panels: list[Json] = []
        self.variables: list[Json] = []
        self.annotations: list[Json] = [
            {
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True,
                "hide": True,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            }
        ]
        self.links: list[Json] = []
        self._next_id = 1
        self._x = 0
        self._y = 0
        self._row_h = 0

    # ------------------------------------------------------------------ layout
    def _place(self, panel: Json, w: int, h: int) -> Json:
        if not 1 <= w <= 24 or h < 1:
            raise ConfigError(f"panel size {w}x{h} outside Grafana's 24-column grid")
        if self._x + w > 24:
            self._x = 0
            self._y += self._row_h
            self._row_h = 0
        panel["id"] = self._next_id
        self._next_id += 1
        panel["gridPos"] = {"h": h, "w": w, "x": self._x, "y": self._y}
        self._x += w
        self._row_h = max(self._row_h, h)
        self.panels.append(panel)
        return panel

    def row(self, title: str) -> None:
        """A (non-collapsed) row header across the full width."""
        if self._x:
            self._x = 0
            self._y += self._row_h
            self._row_h = 0
        self._place({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self._x = 0
        self._y += 1
        self._row_h = 0

    # ------------------------------------------------------------------ queries
    def target(
        self,
        ref: str,
        query: str,
        *,
        fmt: str = "time_series",
        alias: str | None = None,
    ) -> Json:
        """A raw InfluxQL query (``resultFormat`` ``time_series`` or ``table``)."""
        t: Json = {
            "refId": ref,
            "datasource": self.options.datasource,
            "query": " ".join(query.split()),
            "rawQuery": True,
            "resultFormat": fmt,
        }
        if alias:
            t["alias"] = alias
        return t

    def _panel(
        self,
        kind: str,
        title: str,
        description: str,
        targets: Sequence[Json],
        *,
        unit: str = "none",
        decimals: int | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
        no_value: str | None = None,
        custom: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        thresholds: Sequence[tuple[float | None, str]] | None = None,
        mappings: Sequence[Json] | None = None,
        links: Sequence[Json] | None = None,
        overrides: Sequence[Json] | None = None,
        max_data_points: int | None = None,
        interval: str | None = None,
        time_from: str | None = None,
        transformations: Sequence[Json] | None = None,
    ) -> Json:
        defaults: Json = {
            "unit": unit,
            "color": {"mode": "palette-classic" if kind != "stat" else "thresholds"},
            "thresholds": _thresholds(thresholds),
            "mappings": list(mappings or []),
        }
        for key, value in (
            ("decimals", decimals),
            ("min", minimum),
            ("max", maximum),
            ("noValue", no_value),
        ):
            if value is not None:
                defaults[key] = value
        if custom:
            defaults["custom"] = dict(custom)
        if links:
            defaults["links"] = list(links)
        panel: Json = {
            "type": kind,
            "title": title,
            "description": description,
            "datasource": self.options.datasource,
            "targets": list(targets),
            "fieldConfig": {"defaults": defaults, "overrides": list(overrides or [])},
            "options": dict(options or {}),
        }
        if max_data_points is not None:
            panel["maxDataPoints"] = max_data_points
        if interval is not None:
            panel["interval"] = interval
        if time_from is not None:
            panel["timeFrom"] = time_from
            panel["hideTimeOverride"] = False
        if transformations:
            panel["transformations"] = list(transformations)
        return panel

    def timeseries(
        self,
        w: int,
        h: int,
        title: str,
        description: str,
        targets: Sequence[Json],
        *,
        style: str = "line",
        stack: bool = False,
        legend_calcs: Sequence[str] = (),
        axis_label: str = "",
        **kw: Any,
    ) -> Json:
        """A time series panel; ``style`` ``line``, ``bars`` (bucket starts at its time) or
        ``points``."""
        custom = {
            "drawStyle": "bars" if style == "bars" else "line",
            "lineWidth": 0 if style == "points" else 1,
            "fillOpacity": 70 if style == "bars" else 10,
            "pointSize": 7,
            "showPoints": "always" if style == "points" else "never",
            "barAlignment": 1,
            "spanNulls": False,
            "axisLabel": axis_label,
            "axisPlacement": "auto",
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        }
        options = {
            "legend": {
                "showLegend": True,
                "displayMode": "table" if legend_calcs else "list",
                "placement": "bottom",
                "calcs": list(legend_calcs),
            },
            "tooltip": {"mode": "multi", "sort": "none"},
        }
        panel = self._panel("timeseries", title, description, targets, custom=custom, **kw)
        panel["options"] = options
        return self._place(panel, w, h)

    def stat(
        self,
        w: int,
        h: int,
        title: str,
        description: str,
        targets: Sequence[Json],
        *,
        calc: str = "lastNotNull",
        **kw: Any,
    ) -> Json:
        """A single-number panel reducing each series with ``calc``."""
        options = {
            "reduceOptions": {"calcs": [calc], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
            "showPercentChange": False,
        }
        panel = self._panel("stat", title, description, targets, options=options, **kw)
        return self._place(panel, w, h)

    def table(
        self, w: int, h: int, title: str, description: str, targets: Sequence[Json], **kw: Any
    ) -> Json:
        """A table; the series of each query are merged into one table."""
        options = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
        kw.setdefault("transformations", [{"id": "merge", "options": {}}])
        panel = self._panel("table", title, description, targets, options=options, **kw)
        return self._place(panel, w, h)

    def histogram(
        self,
        w: int,
        h: int,
        title: str,
        description: str,
        targets: Sequence[Json],
        *,
        bucket_size: float,
        **kw: Any,
    ) -> Json:
        """A histogram of all values of the queries (one colour per series, stacked)."""
        options = {
            "bucketSize": bucket_size,
            "bucketOffset": 0,
            "combine": False,
            "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"},
        }
        custom = {"fillOpacity": 70, "lineWidth": 1, "stacking": {"mode": "normal"}}
        panel = self._panel(
            "histogram", title, description, targets, options=options, custom=custom, **kw
        )
        return self._place(panel, w, h)

    def barchart(
        self,
        w: int,
        h: int,
        title: str,
        description: str,
        targets: Sequence[Json],
        *,
        x_field: str,
        **kw: Any,
    ) -> Json:
        """Bars per row of a table query, grouped by ``x_field``."""
        options = {
            "xField": x_field,
            "orientation": "auto",
            "groupWidth": 0.7,
            "barWidth": 0.9,
            "showValue": "auto",
            "stacking": "none",
            "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "multi", "sort": "none"},
        }
        kw.setdefault("transformations", [{"id": "merge", "options": {}}])
        panel = self._panel("barchart", title, description, targets, options=options, **kw)
        return self._place(panel, w, h)

    def state_timeline(
        self, w: int, h: int, title: str, description: str, targets: Sequence[Json], **kw: Any
    ) -> Json:
        """Coloured bands of a state over time."""
        options = {
            "showValue": "never",
            "mergeValues": True,
            "rowHeight": 0.8,
            "alignValue": "left",
            "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "single", "sort": "none"},
        }
        custom = {"fillOpacity": 80, "lineWidth": 0}
        panel = self._panel(
            "state-timeline", title, description, targets, options=options, custom=custom, **kw
        )
        return self._place(panel, w, h)

    def alert_list(self, w: int, h: int, title: str, description: str) -> Json:
        """Grafana-managed alert states (no query)."""
        panel: Json = {
            "type": "alertlist",
            "title": title,
            "description": description,
            "options": {
                "viewMode": "list",
                "groupMode": "default",
                "groupBy": [],
                "maxItems": 20,
                "sortOrder": 1,
                "dashboardAlerts": False,
                "alertName": "",
                "alertInstanceLabelFilter": "",
                "folder": {"title": self.options.folder, "uid": self.options.folder_uid},
                "stateFilter": {
                    "firing": True,
                    "pending": True,
                    "noData": False,
                    "normal": True,
                    "error": True,
                },
            },
        }
        return self._place(panel, w, h)

    # ------------------------------------------------------------------ templating
    def query_variable(
        self,
        name: str,
        label: str,
        query: str,
        *,
        multi: bool = False,
        include_all: bool = False,
        sort: int = 1,
        hide: int = 0,
        refresh: int = 1,
        description: str = "",
    ) -> None:
        """A variable filled by an InfluxQL query (``refresh`` 1 = on load, 2 = on time range
        change; ``sort`` 1 = alphabetical ascending, 2 = descending; ``hide`` 2 = hidden)."""
        query = " ".join(query.split())
        current: Json = (
            {"selected": True, "text": ["All"], "value": ["$__all"]} if (include_all) else {}
        )
        self.variables.append(
            {
                "type": "query",
                "name": name,
                "label": label,
                "description": description,
                "datasource": self.options.datasource,
                "query": query,
                "definition": query,
                "refresh": refresh,
                "regex": "",
                "sort": sort,
                "multi": multi,
                "includeAll": include_all,
                "current": current,
                "options": [],
                "hide": hide,
                "skipUrlSync": False,
            }
        )

    def textbox_variable(self, name: str, label: str, default: str, description: str) -> None:
        """A free-text variable with an initial value."""
        self.variables.append(
            {
                "type": "textbox",
                "name": name,
                "label": label,
                "description": description,
                "query": default,
                "current": {"selected": False, "text": default, "value": default},
                "options": [{"selected": True, "text": default, "value": default}],
                "hide": 0,
                "skipUrlSync": False,
            }
        )

    def annotation(self, name: str, query: str, color: str, *, enable: bool = True) -> None:
        """An InfluxQL annotation query; the ``text`` column becomes the annotation text."""
        query = " ".join(query.split())
        self.annotations.append(
            {
                "name": name,
                "datasource": self.options.datasource,
                "enable": enable,
                "hide": False,
                "iconColor": color,
                "target": {
                    "refId": "Anno",
                    "query": query,
                    "rawQuery": True,
                    "fromAnnotations": True,
                    "queryType": "tags",
                    "textColumn": "text",
                    "titleColumn": "",
                    "tagsColumn": "",
                    "timeEndColumn": "",
                    "limit": 100,
                    "matchAny": False,
                    "tags": [],
                    "type": "",
                },
            }
        )

    def link(self, title: str, url: str, tooltip: str) -> None:
        """A link in the dashboard header (``url`` may use variables)."""
        self.links.append(
            {
                "title": title,
                "type": "link",
                "url": url,
                "tooltip": tooltip,
                "icon": "dashboard",
                "asDropdown": False,
                "includeVars": False,
                "keepTime": False,
                "targetBlank": False,
                "tags": [],
            }
        )

    def dashboards_link(self) -> None:
        """A drop-down of the other jerkmon dashboards, carrying the variables along."""
        self.links.append(
            {
                "title": "jerkmon",
                "type": "dashboards",
                "tags": ["jerkmon"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": False,
                "targetBlank": False,
                "icon": "external link",
                "tooltip": "",
                "url": "",
            }
        )

    # ------------------------------------------------------------------ output
    def build(self) -> Json:
        """The dashboard JSON (without ``id``: Grafana assigns it)."""
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": self.tags,
            "timezone": "browser",
            "editable": True,
            "graphTooltip": 1,
            "fiscalYearStartMonth": 0,
            "liveNow": False,
            "weekStart": "",
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "refresh": self.refresh,
            "time": {"from": self.time_from, "to": self.time_to},
            "timepicker": {},
            "links": self.links,
            "annotations": {"list": self.annotations},
            "templating": {"list": self.variables},
            "panels": self.panels,
        }
