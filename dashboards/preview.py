"""Draw a dashboard run as a PNG with matplotlib, laid out on Grafana's grid.

The data are exactly what :func:`dashboards.runner.run_dashboard` got from InfluxDB for the
dashboard's own queries; the drawing approximates Grafana's panels (time series as lines,
bars or points, stats as big numbers, tables, histograms, bar charts, state timelines) so a
reviewer without Grafana sees what a clinician will see.  Times are shown in local time.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

from detector.errors import InputError

from .alerts import AlertState, evaluate_cluster_alert
from .definitions import COHORT_UID, LIVE_UID, NIGHT_UID, TRENDS_UID, all_dashboards
from .grafana_macros import Mode, TimeRange
from .influxql import InfluxQLClient
from .model import DashboardOptions
from .runner import (
    DashboardRun,
    PanelResult,
    frame_name,
    resolve_variables,
    run_dashboard,
)

__all__ = ["preview_dashboards", "render_run"]

_COL_IN = 18.0 / 24  # inches per grid column
_ROW_IN = 0.42  # inches per grid row
_FIXED = {"orange": "#ff9830", "blue": "#5794f2", "green": "#73bf69", "red": "#f2495c"}
#: One colour per wrist, the same in every panel (by the sensors' order in the run).
_WRIST_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
#: Within one wrist's colour: line style per raw axis, marker per kind of point.
_AXIS_STYLES = {"ax": "-", "ay": "--", "az": ":"}
_UNIT_SYMBOLS = {"accG": "g", "percent": "%", "h": "h", "s": "s"}


def _sensors(run: DashboardRun) -> list[str]:
    """The run's sensors (the ``sensor`` variable's options), in a stable order."""
    var = run.variables.get("sensor")
    if var is None:
        return []
    values = var.options or ((var.value,) if isinstance(var.value, str) else var.value)
    return sorted(v for v in values if v and not v.startswith("$"))


def _wrist_style(run: DashboardRun, name: str) -> tuple[str | None, str, str]:
    """(colour, line style, marker) of a series named ``<sensor> ...``: the sensor's colour,
    the raw axis's line style, a marker per kind of point."""
    sensors = _sensors(run)
    first, _, rest = name.partition(" ")
    if first not in sensors:
        return None, "-", "o"
    colour = _WRIST_COLOURS[sensors.index(first) % len(_WRIST_COLOURS)]
    marker = "x" if "series" in rest else "^" if "hypnic" in rest else "o"
    return colour, _AXIS_STYLES.get(rest.strip(), "-"), marker


def _event_window(p: PanelResult, run: DashboardRun) -> tuple[float, float, float] | None:
    """For a panel that shows the seconds around the chosen jerk (its query uses
    ``${event}``): that window and the jerk's onset, ms, from the query's own bounds."""
    queries = " ".join(t.get("query", "") for t in p.panel.get("targets", []))
    var = run.variables.get("event")
    if "${event}" not in queries or var is None or not isinstance(var.value, str):
        return None
    try:
        at = float(var.value)
    except ValueError:
        return None
    before = re.search(r"\$\{event\}ms - (\d+)s", queries)
    after = re.search(r"\$\{event\}ms \+ (\d+)s", queries)
    b = float(before.group(1)) if before else 2.0
    a = float(after.group(1)) if after else 3.0
    return at - b * 1000.0, at + a * 1000.0, at


def _hhmm(fmt: str) -> Any:
    return mdates.DateFormatter(fmt)  # type: ignore[no-untyped-call]


def _num(t: _dt.datetime) -> float:
    return float(mdates.date2num(t))  # type: ignore[no-untyped-call]


def _t(text: str) -> str:
    """Text for matplotlib: a ``$`` would start math mode."""
    return text.replace("$", r"\$")


def _local(ms: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ms / 1000).astimezone()


def _fmt(value: Any, panel: dict[str, Any], name: str = "") -> str:
    if value is None:
        return str(panel["fieldConfig"]["defaults"].get("noValue", "No data"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, int | float):
        return str(value)
    d = panel["fieldConfig"]["defaults"]
    unit = d.get("unit", "none")
    if unit.startswith("time:"):
        return _local(float(value)).strftime("%H:%M")
    dec = d.get("decimals")
    for o in panel["fieldConfig"].get("overrides", []):
        if o["matcher"].get("id") == "byName" and o["matcher"].get("options") == name:
            for prop in o["properties"]:
                if prop["id"] == "decimals":
                    dec = prop["value"]
    text = f"{value:.{dec}f}" if dec is not None else f"{value:.3g}"
    suffix = {"h": " h", "percent": " %", "accG": " g", "s": " s"}.get(unit, "")
    if unit.startswith("suffix:"):
        suffix = unit[len("suffix:") :]
    return text + suffix


def _color(panel: dict[str, Any], name: str) -> str | None:
    for o in panel["fieldConfig"].get("overrides", []):
        m = o["matcher"]
        pattern = str(m.get("options", ""))
        if m.get("id") == "byRegexp" and _regex_match(pattern, name):
            for prop in o["properties"]:
                if prop["id"] == "color":
                    return _FIXED.get(prop["value"].get("fixedColor", ""))
    return None


def _regex_match(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None


def _bucket_ms(p: PanelResult, times: Sequence[float]) -> float:
    """Bar width: the query's GROUP BY time() bucket, else 40 % of the closest spacing."""
    for t in p.targets:
        m = re.search(r"GROUP BY time\((\d+)(ms|s|m|h|d)\)", t.query)
        if m:
            unit = {"ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6, "d": 8.64e7}[m.group(2)]
            return int(m.group(1)) * unit
    gaps = np.diff(sorted(times)) if len(times) > 1 else np.array([p.interval_ms / 0.4])
    return float(max(float(gaps.min()), 1.0) * 0.4)


def _series_lines(p: PanelResult) -> list[tuple[str, list[float], list[Any]]]:
    out = []
    for t in p.targets:
        for s in t.series:
            for col in s.columns:
                if col == "time":
                    continue
                name = frame_name(s, col, t.alias)
                out.append((name, s.column("time"), s.column(col)))
    return out


def _draw_timeseries(ax: Any, p: PanelResult, run: DashboardRun) -> None:
    custom = p.panel["fieldConfig"]["defaults"].get("custom", {})
    style = custom.get("drawStyle", "line")
    points = custom.get("showPoints") == "always" and custom.get("lineWidth", 1) == 0
    stacked = custom.get("stacking", {}).get("mode") == "normal"
    lines = _series_lines(p)
    bottom: dict[float, float] = {}
    for name, times, values in lines:
        xs = [_local(t) for t in times]
        ys = [math.nan if v is None else float(v) for v in values]
        # A wrist's series keep the wrist's colour everywhere (kind: marker); the others
        # (myoclonic/hypnic totals) the panel's own colours.
        color, linestyle, marker = _wrist_style(run, name)
        if color is None:
            color = _color(p.panel, name)
        if style == "bars":
            width = _bucket_ms(p, times)
            base = [bottom.get(t, 0.0) if stacked else 0.0 for t in times]
            ax.bar(
                xs,
                ys,
                width=width / 86400000 * 0.9,
                bottom=base,
                align="edge",
                label=_t(name),
                color=color,
                alpha=0.85,
            )
            if stacked:
                for t, y, b in zip(times, ys, base, strict=True):
                    bottom[t] = b + (0.0 if math.isnan(y) else y)
        elif points:
            ax.scatter(xs, ys, s=14, label=_t(name), color=color, marker=marker)
        else:
            ax.plot(xs, ys, lw=1.2, label=_t(name), color=color, ls=linestyle)
    for anno in run.annotations:
        for t, text in anno.events:
            if p.time_range.from_ms <= t <= p.time_range.to_ms:
                ax.axvline(_local(t), color="#b877d9", ls="--", lw=1)
                ax.text(
                    _local(t),
                    1.0,
                    " " + text,
                    transform=ax.get_xaxis_transform(),
                    fontsize=7,
                    color="#8f3bb8",
                    va="top",
                )
    window = _event_window(p, run)
    if window is not None:
        # Zoomed on the chosen jerk (in Grafana: the data link's time range).
        ax.set_xlim(_local(window[0]), _local(window[1]))
        ax.xaxis.set_major_formatter(_hhmm("%H:%M:%S"))
        ax.axvline(_local(window[2]), color="#888", lw=0.8, ls="--")
    else:
        ax.set_xlim(_local(p.time_range.from_ms), _local(p.time_range.to_ms))
    if window is None and p.time_range.to_ms - p.time_range.from_ms <= 2 * 86400000:
        ax.xaxis.set_major_formatter(_hhmm("%H:%M"))
    elif window is None:
        ax.xaxis.set_major_locator(mdates.DayLocator())  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(_hhmm("%d %b"))
    d = p.panel["fieldConfig"]["defaults"]
    if d.get("min") is not None:
        ax.set_ylim(bottom=d["min"])
    if d.get("max") is not None:
        ax.set_ylim(top=d["max"])
    symbol = _UNIT_SYMBOLS.get(d.get("unit", ""), "")
    label = custom.get("axisLabel") or symbol
    if symbol and label != symbol and f"({symbol})" not in label:
        label += f" ({symbol})"  # units on every axis
    ax.set_ylabel(label, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    legend = p.panel.get("options", {}).get("legend", {})
    if lines:
        handles, labels = ax.get_legend_handles_labels()
        if "sum" in legend.get("calcs", []):
            sums = {
                n: np.nansum([math.nan if v is None else v for v in vals]) for n, _, vals in lines
            }
            labels = [f"{lab}  (sum {sums.get(lab.replace(chr(92), ''), 0):.0f})" for lab in labels]
        ax.legend(handles, labels, fontsize=7, loc="upper left", ncol=3, framealpha=0.7)
    else:
        ax.text(0.5, 0.5, "No data", transform=ax.transAxes, ha="center", color="grey")


def _draw_stat(ax: Any, p: PanelResult) -> None:
    calc = p.panel["options"]["reduceOptions"]["calcs"][0]
    items: list[tuple[str, Any]] = []
    for t in p.targets:
        for s in t.series:
            for col in s.columns:
                if col == "time":
                    continue
                vals = [v for v in s.column(col) if v is not None]
                value = (sum(vals) if calc == "sum" else vals[-1]) if vals else None
                items.append((frame_name(s, col, t.alias) if t.alias else "", value))
    if not items:
        items = [("", None)]
    ax.axis("off")
    steps = p.panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    for i, (name, value) in enumerate(items):
        x = (i + 0.5) / len(items)
        color = "#37872d"
        if isinstance(value, int | float):
            for step in steps:
                if step["value"] is None or value >= step["value"]:
                    color = {"green": "#37872d", "orange": "#e0752d", "red": "#c4162a"}.get(
                        step["color"], "#37872d"
                    )
        size = 22 if len(items) <= 2 else 15
        ax.text(
            x,
            0.45,
            _fmt(value, p.panel),
            ha="center",
            va="center",
            fontsize=size,
            color=color,
            weight="bold",
            transform=ax.transAxes,
        )
        if name:
            ax.text(x, 0.08, _t(name), ha="center", fontsize=7, transform=ax.transAxes)


def _table_rows(p: PanelResult) -> tuple[list[str], list[list[str]]]:
    header: list[str] = []
    rows: list[list[str]] = []
    hidden = {
        name.lower()
        for tr in p.panel.get("transformations", [])
        if tr["id"] == "organize"
        for name, off in tr["options"].get("excludeByName", {}).items()
        if off
    }
    for t in p.targets:
        for s in t.series:
            cols = [*sorted(s.tags), *[c for c in s.columns if c != "time"]]
            if "time" not in hidden:
                cols.insert(0, "time")
            for c in cols:
                if c not in header:
                    header.append(c)
            for row in s.values:
                rec = dict(zip(s.columns, row, strict=True)) | dict(s.tags)
                rows.append(
                    [
                        _local(rec["time"]).strftime("%d %b %H:%M:%S")
                        if c == "time" and rec.get("time")
                        else _fmt(rec.get(c), p.panel, c)
                        if c in rec
                        else ""
                        for c in header
                    ]
                )
    rows.sort(key=lambda r: r[0])
    return header, rows


def _draw_table(ax: Any, p: PanelResult, max_rows: int) -> None:
    ax.axis("off")
    header, rows = _table_rows(p)
    if not rows:
        ax.text(0.5, 0.5, "No data", ha="center", color="grey", transform=ax.transAxes)
        return
    shown = rows[:max_rows]
    if len(rows) > max_rows:
        shown.append([f"… {len(rows) - max_rows} more"] + [""] * (len(header) - 1))
    table = ax.table(cellText=shown, colLabels=header, loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    # Columns as wide as their longest cell (header included), so neither times nor
    # headers are cut; a table wider than its panel is shrunk as a whole.
    chars = sum(max(len(str(row[i])) for row in [header, *shown]) + 2 for i in range(len(header)))
    room_pt = ax.get_position().width * ax.figure.get_figwidth() * 72
    needed_pt = chars * 7 * 0.62  # a 7 pt character is ~4.3 pt wide
    if needed_pt > room_pt > 0:
        table.set_fontsize(max(4.0, 7 * room_pt / needed_pt))
    table.auto_set_column_width(col=list(range(len(header))))
    table.scale(1, 1.05)


def _draw_histogram(ax: Any, p: PanelResult) -> None:
    size = float(p.panel["options"]["bucketSize"])
    data, names = [], []
    for name, _, values in _series_lines(p):
        data.append([float(v) for v in values if v is not None])
        names.append(name)
    flat = [v for d in data for v in d]
    if not flat:
        ax.text(0.5, 0.5, "No data", ha="center", color="grey", transform=ax.transAxes)
        return
    bins = np.arange(0, max(flat) + 2 * size, size)
    ax.hist(data, bins=bins, stacked=True, label=[_t(n) for n in names], alpha=0.85)
    ax.set_ylabel("participant-nights", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def _draw_barchart(ax: Any, p: PanelResult) -> None:
    x_field = p.panel["options"]["xField"]
    groups: dict[str, dict[str, float]] = {}
    for t in p.targets:
        for s in t.series:
            key = s.tags.get(x_field, s.name)
            for col in s.columns:
                if col != "time":
                    groups.setdefault(key, {})[col] = float(s.column(col)[0] or 0)
    if not groups:
        ax.text(0.5, 0.5, "No data", ha="center", color="grey", transform=ax.transAxes)
        return
    keys = sorted(groups)
    cols = sorted({c for g in groups.values() for c in g})
    width = 0.8 / len(cols)
    for i, c in enumerate(cols):
        vals = [groups[k].get(c, 0.0) for k in keys]
        xs = np.arange(len(keys)) + i * width
        bars = ax.bar(xs, vals, width=width, label=c)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(np.arange(len(keys)) + 0.4 - width / 2, keys)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7)


def _draw_state(ax: Any, p: PanelResult) -> None:
    lines = _series_lines(p)
    for i, (_name, times, values) in enumerate(lines):
        for j, (t, v) in enumerate(zip(times, values, strict=True)):
            end = times[j + 1] if j + 1 < len(times) else p.time_range.to_ms
            color = "#cccccc" if v is None else ("#73bf69" if v else "#f2495c")
            ax.barh(i, (end - t) / 86400000, left=_num(_local(t)), color=color, height=0.7)
    ax.set_yticks(range(len(lines)), [n for n, _, _ in lines], fontsize=7)
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(_hhmm("%H:%M"))
    ax.set_xlim(_local(p.time_range.from_ms), _local(p.time_range.to_ms))
    ax.tick_params(labelsize=7)
    ax.set_title("green = connected, red = disconnected, grey = no report", fontsize=7, loc="right")


def _draw_alerts(ax: Any, alerts: Sequence[AlertState], rule: str) -> None:
    ax.axis("off")
    lines = [rule, ""]
    if not alerts:
        lines.append("Normal: no subject above the threshold")
    for a in alerts:
        state = "FIRING" if a.firing else "Normal"
        lines.append(f"{state:7s} subject={a.subject}: {a.jerks:.0f} jerks in the window")
    ax.text(
        0.02,
        0.95,
        "\n".join(lines),
        va="top",
        fontsize=8,
        family="monospace",
        transform=ax.transAxes,
    )


def render_run(
    run: DashboardRun,
    path: Path,
    *,
    alerts: Sequence[AlertState] = (),
    alert_rule: str = "",
    max_table_rows: int = 14,
) -> Path:
    """Draw every panel of ``run`` at its grid position and save a PNG at ``path``."""
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in run.dashboard["panels"])
    header = 2.0
    fig_w, fig_h = 24 * _COL_IN, bottom * _ROW_IN + header * _ROW_IN
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=90)
    variables = ", ".join(
        f"{k}={'All' if v.is_all else v.value if isinstance(v.value, str) else '|'.join(v.value)}"
        for k, v in run.variables.items()
        if not k.startswith("night_") and k != "sleep_onset"
    )
    t0, t1 = _local(run.time_range.from_ms), _local(run.time_range.to_ms)
    span = f"{t0:%Y-%m-%d %H:%M} – {t1:%Y-%m-%d %H:%M}"
    fig.text(
        0.01,
        1 - 0.6 / (fig_h / _ROW_IN),
        f"{run.dashboard['title']}   ({span})",
        fontsize=14,
        weight="bold",
        va="top",
    )
    fig.text(0.01, 1 - 1.4 / (fig_h / _ROW_IN), _t(variables), fontsize=9, va="top", color="#444")
    results = {p.panel["id"]: p for p in run.panels}
    total_rows = bottom + header
    for panel in run.dashboard["panels"]:
        g = panel["gridPos"]
        left = g["x"] / 24 + 0.006
        width = g["w"] / 24 - 0.012
        top = 1 - (g["y"] + header) / total_rows
        height = g["h"] / total_rows
        if panel["type"] == "row":
            fig.text(
                left,
                top - height / 2,
                panel["title"],
                fontsize=11,
                weight="bold",
                va="center",
                color="#1f60c4",
            )
            continue
        title_h = 0.55 / total_rows
        ax = fig.add_axes(
            (
                left + 0.025,
                top - height + 0.35 / total_rows,
                width - 0.03,
                height - title_h - 0.45 / total_rows,
            )
        )
        result = results.get(panel["id"])
        title = result.title if result else panel["title"]
        if result is not None and result.time_range != run.time_range:
            title += f"  (last {panel.get('timeFrom')})"
        # Wrapped to the panel's width, as Grafana does not let a title run into the next.
        chars = max(8, int(width * fig_w * 72 / (9 * 0.62)))
        fig.text(
            left,
            top - 0.05 / total_rows,
            _t(textwrap.fill(title, chars)),
            fontsize=9 if len(title) <= chars else 8,
            weight="bold",
            va="top",
        )
        kind = panel["type"]
        if kind == "alertlist":
            _draw_alerts(ax, alerts, alert_rule)
        elif result is None:
            ax.axis("off")
        elif kind == "timeseries":
            _draw_timeseries(ax, result, run)
        elif kind == "stat":
            _draw_stat(ax, result)
        elif kind == "table":
            _draw_table(ax, result, max_table_rows if g["h"] >= 8 else 4)
        elif kind == "histogram":
            _draw_histogram(ax, result)
        elif kind == "barchart":
            _draw_barchart(ax, result)
        elif kind == "state-timeline":
            _draw_state(ax, result)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _first(run: DashboardRun, title: str, column: str) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    for t in run.panel(title).targets:
        for s in t.series:
            if column in s.columns:
                out.extend(zip(s.column("time"), s.column(column), strict=True))
    return out


def preview_dashboards(
    client: InfluxQLClient,
    out_dir: Path,
    opts: DashboardOptions,
    *,
    subject: str | None = None,
    night: str | None = None,
    change: str | None = None,
    now_ms: int | None = None,
    live_now_ms: int | None = None,
    mode: Mode = "backend",
) -> list[Path]:
    """Render all four dashboards to ``out_dir/<uid>.png`` with the data in InfluxDB.

    Night: the selected (default: latest) night of ``subject`` (default: the first), over
    its own time range as the "Show night" link sets it, with the raw acceleration around
    the night's largest jerk.  Trends and Cohort: from a day before the first night to
    ``now_ms``; the change defaults to the subject's first annotation.  Live: the 12 h before
    ``live_now_ms`` (default ``now_ms``, else the end of the latest night), with the cluster
    alert evaluated then.
    """
    boards = all_dashboards(opts)
    wide = TimeRange(0, now_ms or int(time.time() * 1000))
    sel: dict[str, str | Sequence[str]] = {}
    if subject:
        sel["subject"] = subject
    if night:
        sel["night"] = night
    probe = resolve_variables(boards[NIGHT_UID], client, wide, sel, mode)[0]
    start = int(str(probe["night_start"].value or 0))
    end = int(str(probe["night_end"].value or 0))
    if not end:
        raise InputError("no sensor_night points: run `jerkmon dashboards nights` first")
    subj = str(probe["subject"].value)
    sel = {"subject": subj, "night": str(probe["night"].value)}
    night_range = TimeRange(start, end)
    run = run_dashboard(boards[NIGHT_UID], client, night_range, sel, mode=mode)
    jerks = [(t, v) for t, v in _first(run, "Jerk events", "peak_acc_g") if v is not None]
    if jerks:
        sel["event"] = str(max(jerks, key=lambda tv: float(tv[1]))[0])
        run = run_dashboard(boards[NIGHT_UID], client, night_range, sel, mode=mode)
    paths = [render_run(run, out_dir / f"{NIGHT_UID}.png")]

    now = now_ms or end
    first_night = min(
        (
            int(s.column("min")[0])
            for s in client.query_one('SELECT min("start_ms") FROM "sensor_night"')
        ),
        default=start,
    )
    long_range = TimeRange(first_night - 86400000, now)
    notes = client.query_one(
        f'SELECT "text" FROM "annotation" WHERE "subject" = \'{subj}\' ORDER BY time ASC'
    )
    if change is None:
        times = [t for s in notes for t in s.column("time")]
        change = (
            _dt.datetime.fromtimestamp(times[0] / 1000, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if times
            else opts.change_default
        )
    trends = run_dashboard(
        boards[TRENDS_UID], client, long_range, {"subject": subj, "change": change}, mode=mode
    )
    paths.append(render_run(trends, out_dir / f"{TRENDS_UID}.png"))
    cohort = run_dashboard(boards[COHORT_UID], client, long_range, mode=mode)
    paths.append(render_run(cohort, out_dir / f"{COHORT_UID}.png"))
    live_now = live_now_ms or now
    live_range = TimeRange(live_now - 12 * 3600000, live_now)
    live = run_dashboard(boards[LIVE_UID], client, live_range, mode=mode)
    alerts = evaluate_cluster_alert(client, opts, live_now)
    rule = (
        f"Jerk cluster in progress: >= {opts.cluster_threshold} jerks in "
        f"{opts.cluster_window_s} s, evaluated at {_local(live_now):%H:%M:%S}"
    )
    paths.append(render_run(live, out_dir / f"{LIVE_UID}.png", alerts=alerts, alert_rule=rule))
    return paths
