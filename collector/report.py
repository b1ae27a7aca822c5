"""A self-contained HTML night report (charts as embedded PNG), readable without Grafana."""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from detector import JerkEvent, NightSummary, SleepPeriod
from detector import __version__ as detector_version

if TYPE_CHECKING:
    from collector.pipeline import NightPipeline


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def night_figures(
    sensors: Mapping[str, tuple[str, list[JerkEvent], list[SleepPeriod]]],
    start_s: float,
    end_s: float,
) -> list[tuple[str, str]]:
    """(title, base64 PNG) charts: timeline over the sleep estimate, and jerks per hour."""
    hours = max((end_s - start_s) / 3600.0, 1e-3)
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.8 * len(sensors)))
    for row, (_sensor, (side, events, periods)) in enumerate(sensors.items()):
        for p in periods:
            ax.axvspan(
                (p.onset - start_s) / 3600,
                (p.end - start_s) / 3600,
                ymin=row / len(sensors),
                ymax=(row + 1) / len(sensors),
                color="#cfe3f7",
                lw=0,
            )
        for kind, colour in (("myoclonic", "#c0392b"), ("hypnic", "#8e44ad")):
            xs = [(e.onset - start_s) / 3600 for e in events if e.kind == kind]
            ax.scatter(
                xs,
                [row + 0.5] * len(xs),
                marker="|",
                s=300,
                color=colour,
                label=kind if row == 0 else None,
            )
        ax.text(-0.01 * hours, row + 0.5, side, ha="right", va="center")
    ax.set_xlim(0, hours)
    ax.set_ylim(0, len(sensors))
    ax.set_yticks([])
    ax.set_xlabel(f"hours since {_clock(start_s)} (blue: estimated sleep)")
    ax.legend(loc="upper right", fontsize=8)
    charts = [("Jerks over the night", _png(fig))]

    fig, ax = plt.subplots(figsize=(10, 3))
    n_h = int(hours) + 1
    width = 0.8 / max(1, len(sensors))
    for i, (_sensor, (side, events, _)) in enumerate(sensors.items()):
        counts = [0] * n_h
        hyp = [0] * n_h
        for e in events:
            h = min(n_h - 1, int((e.onset - start_s) // 3600))
            counts[h] += 1
            hyp[h] += e.kind == "hypnic"
        xs = [h + i * width for h in range(n_h)]
        ax.bar(xs, counts, width=width, color="#c0392b", label=f"{side}: myoclonic")
        ax.bar(xs, hyp, width=width, color="#8e44ad", label=f"{side}: hypnic")
    ax.set_xlabel("hour of the recording")
    ax.set_ylabel("jerks per hour")
    ax.legend(fontsize=8)
    charts.append(("Jerks per hour", _png(fig)))
    return charts


def write_night_report(
    path: Path,
    subject: str,
    pipeline: NightPipeline,
    summaries: Mapping[str, NightSummary],
) -> Path:
    """Write the report of one pipeline run; returns the path."""
    specs = pipeline.sensors
    data = {
        s.sensor: (
            s.side,
            pipeline.events(s.sensor),
            pipeline._ch[s.sensor].detector.sleep_periods(),
        )
        for s in specs
    }
    starts = [c.t_first for c in pipeline._ch.values() if c.t_first is not None]
    ends = [c.t_last for c in pipeline._ch.values() if c.t_last is not None]
    start_s, end_s = (min(starts), max(ends)) if starts else (0.0, 0.0)
    charts = night_figures(data, start_s, end_s)
    rows = []
    for s in specs:
        sm = summaries[s.sensor]
        rate = "–" if sm.jerks_per_hour_sleep is None else f"{sm.jerks_per_hour_sleep:.1f}"
        onset = "–" if sm.sleep_onset is None else _clock(sm.sleep_onset)
        rows.append(
            f"<tr><td>{html.escape(s.side)}</td><td>{sm.jerks}</td><td>{rate}</td>"
            f"<td>{sm.hypnic}</td><td>{sm.series}</td><td>{onset}</td>"
            f"<td>{sm.sleep_hours:.2f}</td>"
            f"<td>{sm.covered_hours:.2f} / {sm.recording_hours:.2f}</td></tr>"
        )
    ev_rows = []
    for s in specs:
        for e in pipeline.events(s.sensor)[:2000]:
            ev_rows.append(
                f"<tr><td>{_clock(e.onset)}</td><td>{html.escape(s.side)}</td><td>{e.kind}</td>"
                f"<td>{e.duration * 1000:.0f}</td><td>{e.peak_acc_g:.2f}</td>"
                f"<td>{'' if e.series is None else e.series}</td><td>{e.confidence:.2f}</td></tr>"
            )
    imgs = "".join(
        f"<h2>{html.escape(t)}</h2><img alt='{html.escape(t)}' src='data:image/png;base64,{b}'>"
        for t, b in charts
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>jerkmon night report {html.escape(subject)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
img{{max-width:100%}}</style></head><body>
<h1>Night report — subject {html.escape(subject)}</h1>
<p>{_clock(start_s)} to {_clock(end_s)}. Detector {detector_version}.</p>
<table><tr><th>side</th><th>jerks</th><th>per hour of sleep</th><th>hypnic</th><th>series</th>
<th>sleep onset</th><th>sleep h</th><th>signal h / recorded h</th></tr>{"".join(rows)}</table>
{imgs}
<h2>Events</h2><table><tr><th>onset</th><th>side</th><th>kind</th><th>duration ms</th>
<th>peak g</th><th>series</th><th>confidence</th></tr>{"".join(ev_rows)}</table>
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
