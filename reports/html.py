"""Self-contained HTML reports (charts as embedded PNG), readable without Grafana.

One night: the timeline of jerks over the sleep estimate, jerks per hour, hypnic jerks at
sleep onset, series, bilateral jerks, data coverage (gaps) and a table of jerks.  Several
nights: a trend chart, a per-night table and the treatment response around each dose change
(see :mod:`reports.stats`), then the latest night in detail.

Everything is read from a :class:`~reports.nightdata.NightSource` (the local store or
InfluxDB), so ``jerkmon report`` and the report written at the end of ``jerkmon run``
(:func:`write_night_report`) are the same page.  Counts are the subject's jerks: a bilateral
jerk (both wrists) counts once.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta, tzinfo
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from detector import NightSummary
from detector import __version__ as DETECTOR_VERSION
from detector.errors import ConfigError, InputError
from reports.nightdata import (
    BILATERAL_WINDOW_S,
    NightData,
    NightRecord,
    NightSource,
    in_periods,
    load_nights,
    local_time,
    minute_coverage,
    night_date,
    series_periods,
)
from reports.stats import (
    ResponseOptions,
    TreatmentResponse,
    poisson_rate_ci,
    treatment_responses,
)
from storage.local import Annotation, LocalStore

__all__ = [
    "ReportOptions",
    "WrittenReport",
    "night_figures",
    "render_report",
    "report_responses",
    "trend_figure",
    "write_night_report",
    "write_report",
]

C_MYO = "#c0392b"
C_HYP = "#8e44ad"
C_SLEEP = "#cfe3f7"
C_GAP = "#7f8c8d"
C_NEG = "#16a085"  # negative myoclonus
C_BIL = "#e67e22"
C_SIGNAL = "#27ae60"


@dataclass(frozen=True)
class ReportOptions:
    """What a report shows.

    Attributes:
        response: windows and rules of the treatment-response comparisons.
        max_event_rows: rows of the jerk table (the rest is counted, not listed).
        onset_before_s / onset_after_s: s shown before / after each sleep onset in the
            hypnic-jerk chart.
        max_onsets: up to this many sleep onsets, all are drawn in the hypnic section;
            with more, those with a hypnic jerk (however many) and a count of the others.
        dpi: resolution of the PNG charts.
    """

    response: ResponseOptions = field(default_factory=ResponseOptions)
    max_event_rows: int = 2000
    onset_before_s: float = 600.0
    onset_after_s: float = 900.0
    max_onsets: int = 6
    dpi: int = 100

    def __post_init__(self) -> None:
        if not isinstance(self.response, ResponseOptions):
            raise ConfigError("ReportOptions.response must be a ResponseOptions")
        for name in ("max_event_rows", "max_onsets", "dpi"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"ReportOptions.{name} must be an integer >= 1, got {v!r}")
        for name in ("onset_before_s", "onset_after_s"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ConfigError(f"ReportOptions.{name} must be > 0 s, got {v!r}")


# ---------------------------------------------------------------------- helpers
def _png(fig: Figure, dpi: int) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _clock(t: float | None, tz: tzinfo | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "–" if t is None else local_time(t, tz).strftime(fmt)


def _num(x: float | int | None, fmt: str = ".1f") -> str:
    return "–" if x is None else format(x, fmt)


def _esc(x: object) -> str:
    return html.escape(str(x))


def _clock_axis(ax: Axes, start_s: float, end_s: float, tz: tzinfo | None) -> None:
    """x in hours since ``start_s``; ticks on whole clock hours, labelled HH:MM."""
    hours = (end_s - start_s) / 3600.0
    ax.set_xlim(0, hours)
    first = local_time(start_s, tz)
    if hours < 2.5:
        step_s = 900.0 if hours < 1.2 else 1800.0
        to_next = (step_s - (first.minute * 60 + first.second) % step_s) % step_s
        ticks = [(to_next + k * step_s) / 3600 for k in range(int(hours * 3600 / step_s) + 2)]
    else:
        to_next = (60 - first.minute) % 60 * 60 - first.second - first.microsecond * 1e-6
        step = 1 if hours <= 12 else 2
        ticks = [to_next / 3600 + k * step for k in range(int(hours) + 2)]
    ax.set_xticks([x for x in ticks if 0 <= x <= hours])
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda x, _pos: local_time(start_s + x * 3600, tz).strftime("%H:%M"))
    )


def _h(t: float, start_s: float) -> float:
    return (t - start_s) / 3600.0


def _no_data_figure(text: str, height: float = 1.0) -> Figure:
    fig, ax = plt.subplots(figsize=(10, height))
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color="#555")
    ax.set_axis_off()
    return fig


# ---------------------------------------------------------------------- night charts
def timeline_figure(nd: NightData, tz: tzinfo | None) -> Figure:
    """Jerks of each sensor over the night on the estimated sleep (blue), with gaps."""
    sensors = nd.sensors or {"(no sensor)": "?"}
    start, end = nd.night.start_s, nd.night.end_s
    rows = list(sensors)
    fig, ax = plt.subplots(figsize=(10, 1.3 + 0.9 * len(rows)))
    n = len(rows)
    for a, b in nd.periods:
        ax.axvspan(_h(a, start), _h(b, start), color=C_SLEEP, lw=0, zorder=0)
    min_w = (end - start) / 3600 / 900  # about one pixel
    for i, sensor in enumerate(rows):
        y = n - 1 - i
        for g in nd.gaps:
            if g.sensor == sensor:
                ax.add_patch(
                    Rectangle(
                        (_h(g.start_s, start), y + 0.04),
                        max(g.duration_s / 3600, min_w),
                        0.14,
                        facecolor=C_GAP,
                        lw=0,
                        zorder=1,
                    )
                )
        for kind, colour in (("myoclonic", C_MYO), ("hypnic", C_HYP), ("negative", C_NEG)):
            xs = [
                _h(e.event.onset, start)
                for e in (*nd.events, *nd.negative_events)
                if e.sensor == sensor and e.event.kind == kind
            ]
            ax.scatter(xs, [y + 0.5] * len(xs), marker="|", s=260, color=colour, lw=1.2, zorder=3)
        ax.text(
            -0.01,
            y + 0.5,
            sensors[sensor],
            ha="right",
            va="center",
            transform=ax.get_yaxis_transform(),
        )
    for y in range(1, n):
        ax.axhline(y, color="#95a5a6", lw=0.6, zorder=2)
    bil = [_h(j.onset_s, start) for j in nd.jerks if j.bilateral]
    if bil and n > 1:
        ax.scatter(bil, [n - 1] * len(bil), marker="D", s=14, color=C_BIL, zorder=4)
    if nd.record.sleep_onset_s is not None:
        ax.axvline(_h(nd.record.sleep_onset_s, start), color="#2c3e50", ls="--", lw=1)
    _clock_axis(ax, start, end, tz)
    ax.set_ylim(0, n)
    ax.set_yticks([])
    ax.set_xlabel(f"time of night ({local_time(start, tz).strftime('%Z') or 'local'})")
    handles = [
        Patch(color=C_SLEEP, label="estimated sleep"),
        Patch(color=C_GAP, label="no signal (gap, row bottom)"),
        Line2D([], [], color=C_MYO, marker="|", ls="", ms=12, label="myoclonic jerk"),
        Line2D([], [], color=C_HYP, marker="|", ls="", ms=12, label="hypnic jerk"),
        Line2D([], [], color="#2c3e50", ls="--", label="sleep onset"),
    ]
    if nd.negative_events:
        handles.insert(
            4, Line2D([], [], color=C_NEG, marker="|", ls="", ms=12, label="negative myoclonus")
        )
    if n > 1:
        handles.append(Line2D([], [], color=C_BIL, marker="D", ls="", ms=5, label="bilateral"))
    ax.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=len(handles),
        fontsize=8,
        frameon=False,
    )
    return fig


def _hour_slots(start_s: float, end_s: float, tz: tzinfo | None) -> list[float]:
    """Start times of the clock hours that overlap [start_s, end_s)."""
    first = local_time(start_s, tz).replace(minute=0, second=0, microsecond=0).timestamp()
    slots = []
    t = first
    while t < end_s:
        slots.append(t)
        t += 3600.0
    return slots


def _slot(t: float, slots: Sequence[float]) -> int:
    """Index of the clock hour of ``t`` among ``slots`` (clamped to the first / last)."""
    return min(len(slots) - 1, max(0, int((t - slots[0]) // 3600)))


def _overlap(a: float, b: float, c: float, d: float) -> float:
    return max(0.0, min(b, d) - max(a, c))


def hourly_figure(nd: NightData, tz: tzinfo | None) -> Figure:
    """Jerks per clock hour (myoclonic and hypnic stacked) with the minutes of sleep and of
    signal in each hour."""
    start, end = nd.night.start_s, nd.night.end_s
    slots = _hour_slots(start, end, tz)
    myo = [0] * len(slots)
    hyp = [0] * len(slots)
    for j in nd.jerks:
        (hyp if j.kind == "hypnic" else myo)[_slot(j.onset_s, slots)] += 1
    sleep_min = [sum(_overlap(s, s + 3600, a, b) for a, b in nd.periods) / 60 for s in slots]
    signal = minute_coverage(nd.counts)
    signal_min = [sum(v for m, v in signal.items() if s <= m < s + 3600) / 60 for s in slots]
    x = list(range(len(slots)))
    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.bar(x, myo, width=0.7, color=C_MYO, label="myoclonic", zorder=2)
    ax.bar(x, hyp, width=0.7, bottom=myo, color=C_HYP, label="hypnic", zorder=2)
    totals = [m + h for m, h in zip(myo, hyp, strict=True)]
    for xi, total in enumerate(totals):
        if total:
            ax.text(
                xi,
                total * 0.97,
                str(total),
                ha="center",
                va="top",
                fontsize=8,
                color="white",
                fontweight="bold",
                zorder=4,
            )
    ax.set_ylabel("jerks in the hour")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max([*totals, 1]) * 1.3)
    ax.set_xticks(x)
    ax.set_xticklabels([local_time(s, tz).strftime("%H:00") for s in slots])
    ax.set_xlim(-0.6, len(slots) - 0.4)
    ax2 = ax.twinx()
    ax2.hlines(
        sleep_min,
        [xi - 0.45 for xi in x],
        [xi + 0.45 for xi in x],
        color="#2980b9",
        lw=2.5,
        label="minutes asleep",
        zorder=3,
    )
    if signal:
        ax2.hlines(
            signal_min,
            [xi - 0.45 for xi in x],
            [xi + 0.45 for xi in x],
            color=C_SIGNAL,
            lw=1.5,
            ls=(0, (2, 2)),
            label="minutes with signal",
            zorder=3,
        )
    ax2.set_ylim(0, 78)
    ax2.set_yticks([0, 15, 30, 45, 60])
    ax2.set_ylabel("minutes of the hour")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(
        h1 + h2,
        l1 + l2,
        fontsize=8,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=4,
        frameon=False,
    )
    ax.set_xlabel("clock hour")
    return fig


def hypnic_rule(nd: NightData) -> str:
    """The labelling rule behind "hypnic", with the night's recorded parameters."""
    cfg = nd.detector_config()
    hb = float(cfg.get("hypnic_before_s", 120.0))  # type: ignore[arg-type]
    ha = float(cfg.get("hypnic_after_s", 300.0))  # type: ignore[arg-type]
    g = float(cfg.get("hypnic_min_peak_g", 0.5))  # type: ignore[arg-type]
    return (
        f"Rule: a jerk is hypnic when its onset lies from {hb / 60:g} min before to "
        f"{ha / 60:g} min after an estimated sleep onset of the wrist that saw it, it is not "
        f"part of a series, and its peak dynamic acceleration is at least {g:g} g. Every "
        f"other jerk is counted as other (myoclonic) - including a jerk inside the window "
        f"that is smaller than {g:g} g or belongs to a series (a small jerk near a sleep "
        "onset is more likely the ongoing myoclonus than a sleep start)."
    )


def onset_selection(nd: NightData, options: ReportOptions) -> tuple[list[float], int]:
    """(sleep onsets drawn, onsets left out): every onset of the night when there are at
    most ``options.max_onsets``, otherwise those with a hypnic jerk near them (all of them,
    however many) and the number of the others."""
    onsets = [a for a, _ in nd.periods]
    if len(onsets) <= options.max_onsets:
        return onsets, 0
    cfg = nd.detector_config()
    # A jerk is labelled against its wrist's own onset, which may differ by minutes.
    hb = float(cfg.get("hypnic_before_s", 120.0)) + 180.0  # type: ignore[arg-type]
    ha = float(cfg.get("hypnic_after_s", 300.0)) + 180.0  # type: ignore[arg-type]
    hypnic = [j.onset_s for j in nd.jerks if j.kind == "hypnic"]
    chosen = [o for o in onsets if any(o - hb <= t <= o + ha for t in hypnic)]
    return chosen, len(onsets) - len(chosen)


def onset_figure(nd: NightData, options: ReportOptions, tz: tzinfo | None = None) -> Figure:
    """Jerks around the estimated sleep onsets (:func:`onset_selection`; peak acceleration
    against minutes from the onset), with the window in which the detector calls a jerk
    hypnic."""
    onsets, left_out = onset_selection(nd, options)
    if not onsets:
        return _no_data_figure(
            "no sleep onset was estimated this night"
            if not left_out
            else f"{left_out} sleep onsets, none with a hypnic jerk"
        )
    cfg = nd.detector_config()
    hb = float(cfg.get("hypnic_before_s", 120.0))  # type: ignore[arg-type]
    ha = float(cfg.get("hypnic_after_s", 300.0))  # type: ignore[arg-type]
    fig, axes = plt.subplots(
        len(onsets), 1, figsize=(10, 0.8 + 1.9 * len(onsets)), squeeze=False, sharex=True
    )
    lo, hi = -options.onset_before_s / 60, options.onset_after_s / 60
    for ax, onset in zip(axes[:, 0], onsets, strict=True):
        ax.axvspan(-hb / 60, ha / 60, color="#f5e6fa", lw=0)
        ax.axvline(0, color="#2c3e50", ls="--", lw=1)
        top = 0.5
        n_h = n_o = 0
        for j in nd.jerks:
            m = (j.onset_s - onset) / 60
            if lo <= m <= hi:
                colour = C_HYP if j.kind == "hypnic" else C_MYO
                ax.vlines(m, 0, j.peak_acc_g, color=colour, lw=1.5)
                ax.plot(m, j.peak_acc_g, "o", color=colour, ms=4)
                top = max(top, j.peak_acc_g)
                n_h += j.kind == "hypnic"
                n_o += j.kind != "hypnic"
        ax.set_ylim(0, top * 1.2)
        ax.set_xlim(lo, hi)
        ax.set_ylabel("peak g")
        ax.set_title(
            f"sleep onset {_clock(onset, tz, '%H:%M:%S')}: {n_h} hypnic, {n_o} other "
            f"jerk{'s' if n_o != 1 else ''} in view",
            fontsize=9,
            loc="left",
        )
    axes[-1, 0].set_xlabel("minutes from the estimated sleep onset (both wrists combined)")
    handles = [
        Patch(color="#f5e6fa", label=f"hypnic window (-{hb / 60:g} to +{ha / 60:g} min)"),
        Line2D([], [], color=C_HYP, marker="o", label="hypnic jerk"),
        Line2D([], [], color=C_MYO, marker="o", label="other jerk"),
    ]
    axes[0, 0].legend(
        handles=handles,
        fontsize=8,
        loc="lower center",
        ncol=3,
        bbox_to_anchor=(0.5, 1.12),
        frameon=False,
    )
    fig.tight_layout()
    return fig


def onset_caption(nd: NightData, options: ReportOptions) -> str:
    """What the hypnic section shows and leaves out, and the labelling rule."""
    onsets, left_out = onset_selection(nd, options)
    total = len(onsets) + left_out
    hypnic = sum(j.kind == "hypnic" for j in nd.jerks)
    shown = (
        f"All {total} estimated sleep onset{'s' if total != 1 else ''} of the night are drawn"
        if not left_out
        else f"The {len(onsets)} of the night's {total} estimated sleep onsets that have a "
        f"hypnic jerk near them are drawn; the other {left_out} have none"
    )
    return (
        f"{shown}. The night has {hypnic} hypnic jerk{'s' if hypnic != 1 else ''} (subject "
        f"count). {hypnic_rule(nd)} Each wrist's own sleep-onset estimate may differ by a "
        "minute or two from the combined onset drawn here; a labelled jerk can therefore lie "
        "just outside the shaded window."
    )


SeriesSpans = Sequence[tuple[float, float, int]]


def _in_series(t: float, a: float, b: float) -> bool:
    """``t`` within the series spanning ``a`` .. ``b`` (s, with the bilateral tolerance)."""
    return a - BILATERAL_WINDOW_S <= t <= b + BILATERAL_WINDOW_S


def series_spans(nd: NightData) -> list[tuple[float, float, int]]:
    """Series of the night as (first onset s, last onset s, jerks in it), subject level."""
    return [
        (a, b, sum(1 for j in nd.jerks if _in_series(j.onset_s, a, b)))
        for a, b in series_periods(nd.events, BILATERAL_WINDOW_S)
    ]


def series_figure(
    nd: NightData, tz: tzinfo | None, max_series: int = 20, *, spans: SeriesSpans | None = None
) -> Figure:
    """Where the series fall in the night (top) and each series jerk by jerk (bottom:
    seconds from its first jerk, marker height = peak acceleration).  ``spans``: the
    night's :func:`series_spans`, when already computed."""
    if spans is None:
        spans = series_spans(nd)
    if not spans:
        return _no_data_figure("no series (clusters of jerks) this night")
    shown = spans[:max_series]
    start, end = nd.night.start_s, nd.night.end_s
    fig, (ax, ax2) = plt.subplots(
        2, 1, figsize=(10, 1.9 + 0.32 * len(shown)), height_ratios=(1.2, 0.4 + 0.3 * len(shown))
    )
    for a, b in nd.periods:
        ax.axvspan(_h(a, start), _h(b, start), color=C_SLEEP, lw=0, zorder=0)
    xs = [_h((a + b) / 2, start) for a, b, _ in shown]
    ax.scatter(
        xs,
        [0.5] * len(xs),
        s=[30 + 12 * n for _, _, n in shown],
        color="#34495e",
        marker="v",
        zorder=3,
    )
    hours = (end - start) / 3600
    level, prev = 0, -math.inf
    for k, x in enumerate(xs, 1):
        level = (level + 1) % 3 if x - prev < 0.03 * hours else 0  # stagger close labels
        prev = x
        ax.text(x, 0.75 + 0.15 * level, f"#{k}", ha="center", va="bottom", fontsize=8)
    _clock_axis(ax, start, end, tz)
    ax.set_ylim(0, 1.3)
    ax.set_yticks([])
    more = f" (first {max_series} shown)" if len(spans) > max_series else ""
    ax.set_title(f"{len(spans)} series{more}; blue: estimated sleep", fontsize=9, loc="left")
    longest = max(b - a for a, b, _ in shown)
    for i, (a, b, n) in enumerate(shown):
        y = len(shown) - 1 - i
        ax2.hlines(y, 0, b - a, color="#bdc3c7", lw=1)
        for j in nd.jerks:
            if _in_series(j.onset_s, a, b):
                colour = C_HYP if j.kind == "hypnic" else C_MYO
                ax2.vlines(
                    j.onset_s - a, y, y + min(0.8, 0.25 + j.peak_acc_g), color=colour, lw=1.5
                )
        ax2.text(
            longest * 1.01 + 0.5,
            y + 0.2,
            f"#{i + 1} {_clock(a, tz, '%H:%M:%S')}: {n} jerks in {b - a:.0f} s",
            fontsize=8,
            va="center",
        )
    ax2.set_xlim(-0.02 * longest - 0.5, longest * 1.35 + 6)
    ax2.set_ylim(-0.3, len(shown))
    ax2.set_yticks([])
    ax2.set_xlabel("seconds from the first jerk of the series (bar height: peak acceleration)")
    fig.tight_layout()
    return fig


def bilateral_figure(nd: NightData, tz: tzinfo | None) -> Figure:
    """Per clock hour: jerks on both wrists, on one only; and the onset lag between wrists."""
    sensors = nd.sensors
    if len(sensors) < 2:
        return _no_data_figure("one sensor worn: bilateral jerks cannot be told apart")
    ids = list(sensors)
    start, end = nd.night.start_s, nd.night.end_s
    slots = _hour_slots(start, end, tz)
    both = [0] * len(slots)
    only = {s: [0] * len(slots) for s in ids}
    lags: list[float] = []
    for j in nd.jerks:
        i = _slot(j.onset_s, slots)
        if j.bilateral:
            both[i] += 1
            by = {e.sensor: e.event.onset for e in j.events}
            if ids[0] in by and ids[1] in by:
                lags.append((by[ids[1]] - by[ids[0]]) * 1000)
        else:
            only[j.sensors[0]][i] += 1
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3), width_ratios=(2.2, 1))
    x = list(range(len(slots)))
    ax.bar(x, both, color=C_BIL, label="both wrists")
    bottom = list(both)
    for sensor, colour in zip(ids, ("#5d6d7e", "#aab7b8", "#d5dbdb"), strict=False):
        ax.bar(x, only[sensor], bottom=bottom, color=colour, label=f"{sensors[sensor]} only")
        bottom = [b + o for b, o in zip(bottom, only[sensor], strict=True)]
    ax.set_xticks(x)
    ax.set_xticklabels([local_time(s, tz).strftime("%H:00") for s in slots], fontsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("jerks in the hour")
    ax.legend(fontsize=8)
    n_b = sum(both)
    ax.set_title(f"{n_b} of {len(nd.jerks)} jerks seen on both wrists", fontsize=9, loc="left")
    if lags:
        ax2.hist(
            lags,
            bins=15,
            range=(-BILATERAL_WINDOW_S * 1000, BILATERAL_WINDOW_S * 1000),
            color=C_BIL,
        )
        ax2.set_xlabel(f"onset {sensors[ids[1]]} − {sensors[ids[0]]}, ms")
        ax2.set_ylabel("bilateral jerks")
        ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax2.text(0.5, 0.5, "no bilateral jerk", ha="center", va="center", color="#555")
        ax2.set_axis_off()
    fig.tight_layout()
    return fig


def coverage_figure(nd: NightData, tz: tzinfo | None) -> Figure:
    """Share of each minute with signal, per sensor, and the gaps."""
    sensors = nd.sensors
    if not sensors:
        return _no_data_figure("no sensor data stored for this night")
    start, end = nd.night.start_s, nd.night.end_s
    ids = list(sensors)
    fig, axes = plt.subplots(
        len(ids), 1, figsize=(10, 0.5 + 1.0 * len(ids)), squeeze=False, sharex=True
    )
    for ax, sensor in zip(axes[:, 0], ids, strict=True):
        counts = sorted((c.count.start, c.count.covered_s) for c in nd.counts if c.sensor == sensor)
        if counts:
            xs: list[float] = []
            ys: list[float] = []
            for m, cov in counts:
                xs += [_h(m, start), _h(m + 60, start)]
                ys += [cov / 60, cov / 60]
            ax.fill_between(xs, ys, color=C_SIGNAL, alpha=0.6, lw=0, step=None)
        min_w = (end - start) / 3600 / 900  # about one pixel
        for g in nd.gaps:
            if g.sensor == sensor:
                x0, w = _h(g.start_s, start), max(g.duration_s / 3600, min_w)
                ax.add_patch(Rectangle((x0, -0.28), w, 0.2, facecolor="#e74c3c", lw=0))
                if g.duration_s >= 60:
                    ax.axvspan(x0, x0 + w, color="#e74c3c", alpha=0.25, lw=0)
        n_gap = sum(1 for g in nd.gaps if g.sensor == sensor)
        gap_s = sum(g.duration_s for g in nd.gaps if g.sensor == sensor)
        ax.set_ylim(-0.32, 1.05)
        ax.set_yticks([0, 1])
        ax.set_yticklabels(["0", "100%"], fontsize=7)
        ax.set_ylabel(sensors[sensor], rotation=0, ha="right", va="center")
        ax.set_title(
            f"{sensors[sensor]}: {n_gap} gap{'s' if n_gap != 1 else ''}, "
            f"{gap_s / 60:.1f} min without signal",
            fontsize=8,
            loc="left",
        )
        _clock_axis(ax, start, end, tz)
    handles = [
        Patch(color=C_SIGNAL, alpha=0.6, label="share of the minute with signal"),
        Patch(color="#e74c3c", label="gap (tick below; shaded when over 1 min)"),
    ]
    axes[0, 0].legend(
        handles=handles,
        fontsize=8,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.25),
        ncol=2,
        frameon=False,
    )
    fig.tight_layout()
    return fig


def night_figures(
    nd: NightData,
    tz: tzinfo | None = None,
    options: ReportOptions | None = None,
    *,
    spans: SeriesSpans | None = None,
) -> list[tuple[str, Figure]]:
    """(title, figure) of every chart of one night; ``spans``: the night's
    :func:`series_spans`, when already computed."""
    opt = options or ReportOptions()
    return [
        ("Jerks over the night", timeline_figure(nd, tz)),
        ("Jerks per hour", hourly_figure(nd, tz)),
        ("Hypnic jerks at sleep onset", onset_figure(nd, opt, tz)),
        ("Series", series_figure(nd, tz, spans=spans)),
        ("Bilateral jerks", bilateral_figure(nd, tz)),
        ("Data coverage", coverage_figure(nd, tz)),
    ]


# ---------------------------------------------------------------------- trend chart
def trend_figure(
    records: Sequence[NightRecord],
    responses: Sequence[TreatmentResponse],
    tz: tzinfo | None = None,
    level: float = 0.95,
) -> Figure:
    """Nightly jerks per hour of sleep (exact Poisson CI) with dose changes and the pooled
    rates before/after each; below, jerks and hours of sleep per night."""
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(10, 5.6), sharex=True, height_ratios=(1.6, 1))
    day0 = min(r.night for r in records)

    def xd(d: date) -> float:
        return float((d - day0).days)

    def xt(t: float) -> float:
        # a change during the day: between the previous evening's night and the next one
        lt = local_time(t, tz)
        return (lt.date() - day0).days + (lt.hour + lt.minute / 60 - 12) / 24

    xs, ys, lo, hi = [], [], [], []
    for r in records:
        if r.rate_per_h_sleep is None or r.sleep_h is None or r.jerks_in_sleep is None:
            continue
        a, b = poisson_rate_ci(r.jerks_in_sleep, r.sleep_h, level)
        xs.append(xd(r.night))
        ys.append(r.rate_per_h_sleep)
        lo.append(r.rate_per_h_sleep - a)
        hi.append(b - r.rate_per_h_sleep)
    ax.errorbar(
        xs,
        ys,
        yerr=[lo, hi],
        fmt="o",
        color=C_MYO,
        ecolor="#e6b0aa",
        capsize=3,
        label=f"jerks per hour of sleep ({round(level * 100)}% CI)",
    )
    for resp in responses:
        cmp = resp.comparison
        x = xt(resp.change.time_s)
        ax.axvline(x, color="#2c3e50", ls="--", lw=1)
        ax2.axvline(x, color="#2c3e50", ls="--", lw=1)
        ax.annotate(
            resp.change.text or "change",
            (x, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            va="top",
            fontsize=8,
            rotation=0,
            color="#2c3e50",
        )
        for side, rate in ((resp.before, cmp.rate_before), (resp.after, cmp.rate_after)):
            if side and rate is not None:
                ax.hlines(
                    rate,
                    xd(side[0].night) - 0.4,
                    xd(side[-1].night) + 0.4,
                    color="#2c3e50",
                    lw=2,
                    alpha=0.7,
                )
    if responses:
        ax.plot([], [], color="#2c3e50", lw=2, alpha=0.7, label="pooled rate of the window")
    ax.set_ylabel("jerks / h of sleep")
    tops = [y + h for y, h in zip(ys, hi, strict=True)]
    ax.set_ylim(0, max([*tops, 1.0]) * 1.3)
    ax.legend(fontsize=8, loc="upper left")
    nx = [xd(r.night) for r in records]
    hyp = [r.hypnic for r in records]
    other = [r.jerks - r.hypnic for r in records]
    ax2.bar(nx, other, color=C_MYO, label="myoclonic jerks")
    ax2.bar(nx, hyp, bottom=other, color=C_HYP, label="hypnic jerks")
    ax2.set_ylabel("jerks per night")
    ax2.set_ylim(0, max([r.jerks for r in records] + [1]) * 1.35)
    ax3 = ax2.twinx()
    sx = [xd(r.night) for r in records if r.sleep_h is not None]
    sy = [r.sleep_h for r in records if r.sleep_h is not None]
    ax3.plot(sx, sy, "s-", color="#2980b9", ms=4, lw=1, label="hours of sleep")
    ax3.set_ylim(0, max([*sy, 1.0]) * 1.3)
    ax3.set_ylabel("hours of sleep")
    h1, l1 = ax2.get_legend_handles_labels()
    h3, l3 = ax3.get_legend_handles_labels()
    ax2.legend(h1 + h3, l1 + l3, fontsize=8, loc="upper left", ncol=3)
    span = max(nx) if nx else 0
    step = max(1, math.ceil((span + 1) / 15))
    ticks = list(range(0, int(span) + 1, step))
    ax2.set_xticks(ticks)
    ax2.set_xticklabels([(day0 + timedelta(days=t)).strftime("%d %b") for t in ticks], fontsize=8)
    ax2.set_xlim(-0.7, span + 0.7)
    ax2.set_xlabel("night of")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------- HTML
_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:3px 7px}
td{text-align:right}td.l,th.l{text-align:left}th{background:#f4f6f7}
img{max-width:100%;display:block;margin:.3em 0 1em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.verdict{font-size:1.1em;background:#fef9e7;border-left:4px solid #f1c40f;padding:.5em .8em}
.muted{color:#666;font-size:.9em}"""


_CAPTIONS = {
    "Jerks over the night": "One row per wrist; a diamond on the line between the rows marks "
    "a jerk seen on both wrists. Grey ticks at the bottom of a row: signal gaps.",
    "Jerks per hour": "Jerks of the subject per clock hour, with how many minutes of that "
    "hour were estimated sleep and had signal (right axis).",
    "Series": "A series is a cluster of jerks with less than the detector's series gap "
    "between them.",
}


def _img(title: str, fig: Figure, dpi: int) -> str:
    return (
        f"<h3>{_esc(title)}</h3><img alt='{_esc(title)}' "
        f"src='data:image/png;base64,{_png(fig, dpi)}'>"
    )


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    th = "".join(f"<th{' class=l' if i < left else ''}>{_esc(h)}</th>" for i, h in enumerate(head))
    if not any(head):
        th = ""
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=l' if i < left else ''}>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table>{f'<tr>{th}</tr>' if th else ''}{body}</table>"


def _night_summary_table(nd: NightData, tz: tzinfo | None, level: float) -> str:
    r = nd.record
    rate = "–"
    if r.rate_per_h_sleep is not None and r.sleep_h and r.jerks_in_sleep is not None:
        a, b = poisson_rate_ci(r.jerks_in_sleep, r.sleep_h, level)
        rate = f"{r.rate_per_h_sleep:.1f} ({a:.1f}–{b:.1f})"
    sleep_note = {"detector": "", "onset-wake": " (onset to wake)", "none": ""}[r.sleep_source]
    rows = [
        (
            "recording",
            f"{_clock(r.start_s, tz)} to {_clock(r.end_s, tz, '%H:%M')} ({r.recording_h:.2f} h)",
        ),
        (
            "with signal",
            "–"
            if r.signal_h is None
            else f"{r.signal_h:.2f} h"
            f" ({r.gaps} gap{'s' if r.gaps != 1 else ''}, {r.gap_h * 60:.1f} min)",
        ),
        ("sleep onset", _clock(r.sleep_onset_s, tz, "%H:%M")),
        ("wake", _clock(r.wake_s, tz, "%H:%M")),
        (
            "hours of sleep",
            "no sleep estimate" if r.sleep_h is None else f"{r.sleep_h:.2f}{sleep_note}",
        ),
        ("jerks (subject)", f"{r.jerks} ({_num(r.jerks_in_sleep, 'd')} during sleep)"),
        (f"jerks per hour of sleep ({round(level * 100)}% CI)", rate),
        ("hypnic jerks (subject)", str(r.hypnic)),
        ("series (subject)", str(r.series)),
        ("bilateral jerks", str(r.bilateral) if r.sensors > 1 else "– (one sensor)"),
        ("negative myoclonus (lapses of tone, not jerks)", str(r.negative)),
    ]
    return _table(("", ""), [(_esc(a), _esc(b)) for a, b in rows], left=2)


def _sensor_table(nd: NightData) -> str:
    """Per-wrist counts of the stored night (every session of it), from the same events as
    the subject's counts; a bilateral jerk counts on each wrist that saw it."""
    rows = []
    sleep_h = nd.record.sleep_h
    for sensor, side in nd.sensors.items():
        evs = [e for e in nd.events if e.sensor == sensor]
        gaps = [g for g in nd.gaps if g.sensor == sensor]
        cov = sum(c.count.covered_s for c in nd.counts if c.sensor == sensor) / 3600
        in_sleep = sum(in_periods(e.event.onset, nd.periods) for e in evs)
        rate = in_sleep / sleep_h if sleep_h else None
        rows.append(
            [
                _esc(side),
                _esc(sensor),
                str(len(evs)),
                str(sum(e.event.kind == "hypnic" for e in evs)),
                str(sum(e.bilateral for e in evs)),
                str(sum(e.sensor == sensor for e in nd.negative_events)),
                str(len(gaps)),
                f"{cov:.2f}",
                _num(rate),
            ]
        )
    head = [
        "side",
        "sensor",
        "jerks (this wrist)",
        "hypnic (this wrist)",
        "bilateral",
        "negative myoclonus",
        "gaps",
        "signal h",
        "per h of sleep (this wrist)",
    ]
    return _table(head, rows, left=2)


def _events_table(nd: NightData, tz: tzinfo | None, max_rows: int, spans: SeriesSpans) -> str:
    sides = nd.sensors

    def series_no(t: float) -> str:
        for i, (a, b, _n) in enumerate(spans, 1):
            if _in_series(t, a, b):
                return str(i)
        return ""

    rows = []
    for k, j in enumerate(nd.jerks[:max_rows], 1):
        asleep = in_periods(j.onset_s, nd.periods)
        rows.append(
            [
                str(k),
                local_time(j.onset_s, tz).strftime("%H:%M:%S.%f")[:-5],
                _esc("+".join(sides.get(s, s) for s in j.sensors)),
                j.kind,
                "yes" if asleep else "",
                series_no(j.onset_s),
                f"{max(e.event.duration for e in j.events) * 1000:.0f}",
                " / ".join(f"{e.event.peak_acc_g:.2f}" for e in j.events),
                " / ".join(f"{e.event.peak_jerk_g_per_s:.0f}" for e in j.events),
                f"{max(e.event.confidence for e in j.events):.2f}",
            ]
        )
    more = len(nd.jerks) - max_rows
    note = f"<p class=muted>{more} more jerks not listed.</p>" if more > 0 else ""
    head = [
        "#",
        "time",
        "wrist",
        "kind",
        "asleep",
        "series",
        "ms",
        "peak g",
        "peak jerk g/s",
        "confidence",
    ]
    return _table(head, rows, left=1) + note


def _context_html(nd: NightData, tz: tzinfo | None) -> str:
    """Convulsive episodes (never hidden, never counted as jerks) and time not worn."""
    parts = []
    if nd.episodes:
        rows = [
            [
                _clock(e.start, tz, "%H:%M:%S"),
                _esc(side),
                f"{e.duration_s:.0f}",
                f"{e.dominant_hz:.1f}",
                f"{e.peak_g:.1f}",
                "yes" if e.bilateral else "no",
            ]
            for _, side, e in nd.episodes
        ]
        parts.append(
            "<h3 style='color:#b00'>Convulsive episodes</h3><p>Sustained rhythmic high-energy "
            "movement (e.g. the clonic phase of a seizure). Its beats are not counted as "
            "jerks; review the recording.</p>"
        )
        parts.append(_table(["start", "wrist", "s", "Hz", "peak g", "bilateral"], rows, left=2))
    if nd.not_worn_h > 0.0:
        parts.append(
            f"<p><b>Not worn:</b> {nd.not_worn_h:.2f} h of signal with the sensor off the "
            "wrist (van Hees criteria or idle mode): neither sleep nor coverage.</p>"
        )
    return "\n".join(parts)


def _gaps_table(nd: NightData, tz: tzinfo | None, min_s: float = 10.0, max_rows: int = 100) -> str:
    """Gaps of at least ``min_s`` listed; shorter ones (lost packets) only summed up."""
    if not nd.gaps:
        return "<p>No gaps in the signal.</p>"
    sides = nd.sensors
    long = [g for g in nd.gaps if g.duration_s >= min_s]
    short = [g for g in nd.gaps if g.duration_s < min_s]
    parts = []
    if long:
        rows = [
            [
                _clock(g.start_s, tz, "%H:%M:%S"),
                _esc(sides.get(g.sensor, g.side)),
                f"{g.duration_s:.1f}",
            ]
            for g in long[:max_rows]
        ]
        parts.append(_table(["start", "wrist", "duration s"], rows, left=2))
    if short:
        parts.append(
            f"<p class=muted>{len(short)} gap{'s' if len(short) != 1 else ''} shorter than "
            f"{min_s:g} s ({sum(g.duration_s for g in short):.1f} s in total) not listed.</p>"
        )
    return "\n".join(parts)


def _night_section(
    nd: NightData,
    tz: tzinfo | None,
    options: ReportOptions,
    summaries: Mapping[str, NightSummary] | None = None,
) -> str:
    r = nd.record
    parts = [
        f"<h2>Night of {r.night.isoformat()}</h2>",
        _night_summary_table(nd, tz, options.response.level),
        "<h3>Per wrist</h3>",
        "<p class=muted>The table above counts the subject's jerks (a jerk seen on both "
        "wrists counts once); this one counts per wrist (a bilateral jerk counts on each "
        "wrist), over the subject's hours of sleep.</p>",
        _sensor_table(nd),
        _context_html(nd, tz),
    ]
    if r.sleep_source == "none":
        parts.append(
            "<p class=muted>No sleep estimate is stored for this night (InfluxDB without the "
            "<code>night</code> measurement): jerks per hour of sleep cannot be given.</p>"
        )
    spans = series_spans(nd)
    for title, fig in night_figures(nd, tz, options, spans=spans):
        parts.append(_img(title, fig, options.dpi))
        if title == "Hypnic jerks at sleep onset":
            parts.append(f"<p class=muted>{_esc(onset_caption(nd, options))}</p>")
        elif title in _CAPTIONS:
            parts.append(f"<p class=muted>{_esc(_CAPTIONS[title])}</p>")
        if title == "Data coverage":
            parts.append(_gaps_table(nd, tz))
    parts.append("<h3>Jerks</h3>")
    parts.append(
        "<p class=muted>One row per jerk; a bilateral jerk lists both wrists (values per "
        "wrist separated by /).</p>"
    )
    parts.append(_events_table(nd, tz, options.max_event_rows, spans))
    return "\n".join(parts)


def _nights_table(records: Sequence[NightRecord], tz: tzinfo | None) -> str:
    rows = [
        [
            r.night.isoformat(),
            _clock(r.sleep_onset_s, tz, "%H:%M"),
            _num(r.sleep_h, ".2f"),
            str(r.jerks),
            _num(r.jerks_in_sleep, "d"),
            _num(r.rate_per_h_sleep),
            str(r.hypnic),
            str(r.series),
            str(r.bilateral),
            _num(r.signal_h, ".2f"),
            str(r.gaps),
        ]
        for r in records
    ]
    head = [
        "night",
        "sleep onset",
        "sleep h",
        "jerks",
        "in sleep",
        "per h sleep",
        "hypnic",
        "series",
        "bilateral",
        "signal h",
        "gaps",
    ]
    return _table(head, rows, left=1)


def _response_section(resp: TreatmentResponse, tz: tzinfo | None) -> str:
    c = resp.comparison

    def window(w: tuple[float, float]) -> str:
        a = "first night" if math.isinf(w[0]) else _clock(w[0], tz)
        b = "last night" if math.isinf(w[1]) else _clock(w[1], tz)
        return f"{a} to {b}"

    rows = [
        [
            "before",
            window(resp.window_before),
            str(c.nights_before),
            str(c.jerks_before),
            f"{c.hours_before:.1f}",
            _num(c.rate_before),
        ],
        [
            "after",
            window(resp.window_after),
            str(c.nights_after),
            str(c.jerks_after),
            f"{c.hours_after:.1f}",
            _num(c.rate_after),
        ],
    ]
    parts = [
        f"<h3>{_esc(resp.change.text or 'Change')} — {_clock(resp.change.time_s, tz)}</h3>",
        f"<p class=verdict>{_esc(resp.sentence)}</p>",
        _table(
            ["", "window", "nights", "jerks in sleep", "h of sleep", "per h of sleep"], rows, left=2
        ),
    ]
    if c.enough and c.rate_ratio is not None:
        method = (
            "quasi-Poisson GLM (log link, offset log hours of sleep), Wald interval with "
            f"Student's t, {c.df} df"
            if c.method == "quasi-poisson"
            else "exact conditional binomial (one side has no jerk), counts divided by the "
            "dispersion"
        )
        parts.append(
            f"<p class=muted>Rate ratio {c.rate_ratio:.3g} "
            f"({round(c.level * 100)}% CI {c.ci_low:.3g}–{c.ci_high:.3g}), "
            f"p = {c.p_value:.2g}; night-to-night dispersion {c.dispersion:.2f} "
            f"(Poisson = 1; interval uses {c.scale:.2f}). Method: {method}.</p>"
        )
    if resp.left_out:
        lst = ", ".join(f"{r.night.isoformat()} ({_esc(why)})" for r, why in resp.left_out)
        parts.append(f"<p class=muted>Left out: {lst}.</p>")
    return "\n".join(parts)


def report_responses(
    records: Sequence[NightRecord],
    changes: Sequence[Annotation],
    options: ResponseOptions | None = None,
    tz: tzinfo | None = None,
) -> list[TreatmentResponse]:
    """Treatment responses for the changes that fall after the first night's start and no
    later than the last night's start (so that nights can lie on both sides)."""
    if not records:
        return []
    lo, hi = records[0].start_s, records[-1].start_s
    relevant = [c for c in changes if lo < c.time_s <= hi]
    return treatment_responses(records, relevant, options, tz)


def render_report(
    nights: Sequence[NightData],
    subject: str,
    *,
    responses: Sequence[TreatmentResponse],
    tz: tzinfo | None = None,
    options: ReportOptions | None = None,
    source: str = "local store",
    summaries: Mapping[str, NightSummary] | None = None,
) -> str:
    """The HTML page for ``nights`` (oldest first) of ``subject``; the last night is shown
    in detail.

    Args:
        responses: the treatment responses of the nights (see :func:`report_responses`).
        source: where the data came from (shown in the header).
        summaries: per-sensor detector summaries of the detailed night (``jerkmon run``).
    """
    opt = options or ReportOptions()
    if not nights:
        raise InputError(f"no nights of subject {subject!r} to report")
    records = [n.record for n in nights]
    first, last = records[0], records[-1]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>jerkmon report {_esc(subject)} {first.night}</title>",
        f"<style>{_CSS}</style></head><body>",
    ]
    kind = "Night report" if len(records) == 1 else f"Night report and {len(records)}-night trend"
    parts.append(f"<h1>{kind} — subject {_esc(subject)}</h1>")
    span = (
        f"night of {first.night.isoformat()}"
        if len(records) == 1
        else f"{len(records)} nights, {first.night.isoformat()} to {last.night.isoformat()}"
    )
    versions = sorted({r.detector_version for r in records if r.detector_version})
    parts.append(
        f"<p>{_esc(span)}. Data: {_esc(source)}. Detector "
        f"{_esc(', '.join(versions) or 'version not recorded')} (report by jerkmon "
        f"{_esc(DETECTOR_VERSION)}). Times are local "
        f"({_esc(local_time(first.start_s, tz).strftime('%Z %z'))}).</p>"
    )
    if len(records) > 1:
        parts.append("<h2>Trend</h2>")
        parts.append(
            _img(
                "Jerks per hour of sleep, night by night",
                trend_figure(records, responses, tz, opt.response.level),
                opt.dpi,
            )
        )
        parts.append("<h2>Treatment response</h2>")
        if responses:
            parts.extend(_response_section(r, tz) for r in responses)
        else:
            parts.append(
                "<p>No dose change (annotation) between the first and the last "
                "night of this report.</p>"
            )
        parts.append("<h2>Nights</h2>")
        parts.append(_nights_table(records, tz))
    parts.append(_night_section(nights[-1], tz, opt, summaries))
    parts.append(
        "<p class=muted>Counts are the subject's jerks: a jerk seen on both wrists within "
        f"{BILATERAL_WINDOW_S * 1000:.0f} ms counts once. Sleep is the union of the wrists' "
        "sleep estimates. Rate confidence intervals are exact Poisson intervals.</p>"
    )
    parts.append("</body></html>\n")
    return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class WrittenReport:
    """What :func:`write_report` wrote: the file, the nights and the treatment responses."""

    path: Path
    nights: tuple[NightRecord, ...]
    responses: tuple[TreatmentResponse, ...]


def write_report(
    path: Path,
    source: NightSource,
    subject: str,
    first: date | None = None,
    last: date | None = None,
    *,
    changes: Sequence[Annotation] | None = None,
    tz: tzinfo | None = None,
    options: ReportOptions | None = None,
    source_label: str = "local store",
    summaries: Mapping[str, NightSummary] | None = None,
) -> WrittenReport:
    """Read the nights ``first`` .. ``last`` (evening dates, inclusive; None = unbounded)
    of ``subject`` and write the report to ``path``; ``changes`` default to the stored
    annotations."""
    nights = load_nights(source, subject, first, last, tz)
    if not nights:
        what = (
            ""
            if first is None and last is None
            else (f" between {first or 'the start'} and {last or 'the end'}")
        )
        raise InputError(f"subject {subject!r} has no recorded night{what} in {source_label}")
    if changes is None:
        changes = source.annotations(subject, nights[0].night.start_s, nights[-1].night.end_s)
    opt = options or ReportOptions()
    records = [n.record for n in nights]
    responses = report_responses(records, changes, opt.response, tz)
    page = render_report(
        nights,
        subject,
        responses=responses,
        tz=tz,
        options=opt,
        source=source_label,
        summaries=summaries,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return WrittenReport(path, tuple(records), tuple(responses))


def _no_night_page(subject: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>jerkmon report</title>"
        f"<style>{_CSS}</style></head><body><h1>Night report — subject {_esc(subject)}</h1>"
        "<p>No samples were recorded: there is no night to report.</p></body></html>\n"
    )


def write_night_report(
    path: Path,
    subject: str,
    store_path: Path,
    span_s: tuple[float, float] | None,
    summaries: Mapping[str, NightSummary],
    trend_days: int = 30,
) -> Path:
    """The report at the end of ``jerkmon run``: the night just recorded in detail, with the
    trend and dose changes of the subject's previous ``trend_days`` nights in the same data
    directory.  Reads the local store at ``store_path`` that the run wrote (reopened: the run
    may have closed its storage already); ``span_s`` is the run's first and last sample time
    (None: no sample was recorded).  Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if span_s is None:
        path.write_text(_no_night_page(subject), encoding="utf-8")
        return path
    start, _ = span_s
    store = LocalStore(store_path)
    try:
        day = night_date(start)
        return write_report(
            path,
            store,
            subject,
            day - timedelta(days=max(0, trend_days - 1)),
            day,
            summaries=summaries,
            source_label=f"local store {store_path}",
        ).path
    finally:
        store.close()
