"""Research export: events and per-night summaries of a cohort (``jerkmon export``).

Writes ``nights.csv`` and ``events.csv`` (or ``.parquet``) and ``metadata.json`` into
``--out``.  One row per subject-night (subject, night, sleep onset, hours of sleep, jerks,
hypnic jerks, series, rate per hour of sleep, ...) and one row per detected event (per
sensor; ``jerk_id`` ties together the two wrists' events of a bilateral jerk).  Every
night row carries the detector version and configuration (JSON) that produced it;
``metadata.json`` (and the Parquet files' key-value metadata under ``jerkmon``) lists them
with column descriptions and units.  Times are UTC; the night date is the evening's date in
``--tz`` (default: the system's time zone).  Source: the local store, or InfluxDB with
``--influx-url``/``--influx-db``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, tzinfo
from pathlib import Path
from typing import Any

import pandas as pd

from detector import __version__ as JERKMON_VERSION
from detector.errors import ConfigError, InputError
from reports.nightdata import (
    BILATERAL_WINDOW_S,
    NightData,
    NightSource,
    in_periods,
    load_nights,
)

__all__ = [
    "EVENT_COLUMNS",
    "NIGHT_COLUMNS",
    "ExportResult",
    "events_frame",
    "export_cohort",
    "nights_frame",
]

#: Night table columns and their meaning (units in brackets).
NIGHT_COLUMNS: dict[str, str] = {
    "subject": "pseudonymous subject id",
    "night": "date of the night's evening (YYYY-MM-DD, local time)",
    "start_utc": "first sample [UTC]",
    "end_utc": "last sample [UTC]",
    "sleep_onset_utc": "first estimated sleep onset [UTC]",
    "wake_utc": "end of the last estimated sleep period [UTC]",
    "sleep_h": "estimated sleep, union of the wrists' sleep periods [h]",
    "sleep_source": "detector | onset-wake (span only) | none (no sleep estimate)",
    "recording_h": "first to last sample [h]",
    "signal_h": "time with signal from at least one wrist [h]",
    "sensors": "sensors with data [count]",
    "gaps": "signal gaps, all sensors [count]",
    "gap_h": "total duration of the gaps [h]",
    "jerks": "distinct jerks; a bilateral jerk counts once [count]",
    "jerks_in_sleep": "of which during estimated sleep [count]",
    "hypnic": "hypnic jerks (at a sleep onset) [count]",
    "myoclonic": "other jerks [count]",
    "series": "distinct series (clusters of jerks) [count]",
    "bilateral": "jerks seen on both wrists [count]",
    "rate_per_h_sleep": "jerks_in_sleep / sleep_h [jerks per hour of sleep]",
    "detector_version": "version of the detector that produced the events",
    "detector_config": "detector configuration, JSON",
}

#: Event table columns and their meaning (units in brackets).
EVENT_COLUMNS: dict[str, str] = {
    "subject": "pseudonymous subject id",
    "night": "date of the night's evening (YYYY-MM-DD, local time)",
    "jerk_id": "subject-level jerk number within the night (shared by bilateral events)",
    "sensor": "sensor id",
    "side": "left | right | unknown",
    "onset_utc": "onset [UTC]",
    "onset_s": "onset [s since the Unix epoch]",
    "kind": "myoclonic | hypnic",
    "duration_s": "onset to end of the main acceleration lobe [s]",
    "peak_acc_g": "peak dynamic acceleration [g]",
    "peak_jerk_g_per_s": "peak rate of change of acceleration [g/s]",
    "series": "series id of this sensor's detector (empty: lone jerk)",
    "confidence": "how clearly the transient stands out [0..1]",
    "bilateral": "the other wrist jerked at the same time",
    "clipped": "the sensor saturated during the jerk (peak is a lower bound)",
    "in_sleep": "onset during estimated sleep (empty: no sleep estimate)",
    "detector_version": "version of the detector that produced the event",
}


@dataclass(frozen=True, slots=True)
class ExportResult:
    """Files written and row counts."""

    nights_path: Path
    events_path: Path
    metadata_path: Path
    nights: int
    events: int


def _utc(values: Sequence[float | None]) -> pd.Series:
    return pd.Series(
        pd.to_datetime(
            [float("nan") if v is None else v for v in values], unit="s", utc=True
        ).as_unit("us")
    )


def _frame(
    rows: Sequence[Mapping[str, Any]], columns: Iterable[str], dtypes: Mapping[str, str]
) -> pd.DataFrame:
    """``columns`` in order from ``rows``: a ``NAME_utc`` column holds the UTC timestamps of
    the rows' ``NAME_s`` (s since the epoch); every other column has its dtype in ``dtypes``."""
    return pd.DataFrame(
        {
            name: _utc([x[name.removesuffix("_utc") + "_s"] for x in rows])
            if name.endswith("_utc")
            else pd.Series([x[name] for x in rows], dtype=dtypes[name])
            for name in columns
        }
    )


#: pandas dtypes of the night columns (the ``*_utc`` ones are UTC timestamps).
_NIGHT_DTYPES: dict[str, str] = {
    "subject": "string",
    "night": "string",
    "sleep_h": "Float64",
    "sleep_source": "string",
    "recording_h": "float64",
    "signal_h": "Float64",
    "sensors": "Int64",
    "gaps": "Int64",
    "gap_h": "float64",
    "jerks": "Int64",
    "jerks_in_sleep": "Int64",
    "hypnic": "Int64",
    "myoclonic": "Int64",
    "series": "Int64",
    "bilateral": "Int64",
    "rate_per_h_sleep": "Float64",
    "detector_version": "string",
    "detector_config": "string",
}

#: pandas dtypes of the event columns (``onset_utc`` is a UTC timestamp).
_EVENT_DTYPES: dict[str, str] = {
    "subject": "string",
    "night": "string",
    "jerk_id": "Int64",
    "sensor": "string",
    "side": "string",
    "onset_s": "float64",
    "kind": "string",
    "duration_s": "float64",
    "peak_acc_g": "float64",
    "peak_jerk_g_per_s": "float64",
    "series": "Int64",
    "confidence": "float64",
    "bilateral": "boolean",
    "clipped": "boolean",
    "in_sleep": "boolean",
    "detector_version": "string",
}


def nights_frame(nights: Sequence[NightData]) -> pd.DataFrame:
    """One row per night (columns :data:`NIGHT_COLUMNS`)."""
    rows = [
        {
            **{f.name: getattr(n.record, f.name) for f in fields(n.record)},
            "night": n.record.night.isoformat(),
        }
        for n in nights
    ]
    return _frame(rows, NIGHT_COLUMNS, _NIGHT_DTYPES)


def events_frame(nights: Sequence[NightData]) -> pd.DataFrame:
    """One row per sensor event (columns :data:`EVENT_COLUMNS`)."""
    rows: list[dict[str, Any]] = []
    for nd in nights:
        r = nd.record
        has_sleep = r.sleep_source != "none"
        for k, jerk in enumerate(nd.jerks, 1):
            for e in jerk.events:
                ev = e.event
                rows.append(
                    {
                        "subject": r.subject,
                        "night": r.night.isoformat(),
                        "jerk_id": k,
                        "sensor": e.sensor,
                        "side": e.side,
                        "onset_s": ev.onset,
                        "kind": ev.kind,
                        "duration_s": ev.duration,
                        "peak_acc_g": ev.peak_acc_g,
                        "peak_jerk_g_per_s": ev.peak_jerk_g_per_s,
                        "series": ev.series,
                        "confidence": ev.confidence,
                        "bilateral": e.bilateral,
                        "clipped": ev.clipped,
                        "in_sleep": in_periods(ev.onset, nd.periods) if has_sleep else None,
                        "detector_version": r.detector_version,
                    }
                )
    return _frame(rows, EVENT_COLUMNS, _EVENT_DTYPES)


def export_cohort(
    source: NightSource,
    out_dir: Path,
    fmt: str = "csv",
    subjects: Sequence[str] | None = None,
    first: date | None = None,
    last: date | None = None,
    tz: tzinfo | None = None,
    source_label: str = "",
) -> ExportResult:
    """Write ``nights.<fmt>``, ``events.<fmt>`` and ``metadata.json`` into ``out_dir``.

    Args:
        fmt: ``csv`` or ``parquet``.  subjects: default every subject of the source.
        first / last: evening dates of the first / last night (inclusive; None = all).
    """
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"export format must be csv or parquet, got {fmt!r}")
    chosen = list(subjects) if subjects else source.subjects()
    nights: list[NightData] = []
    for subject in chosen:
        nights.extend(load_nights(source, subject, first, last, tz))
    if not nights:
        raise InputError(
            f"nothing to export: no recorded night of {', '.join(chosen) or 'any subject'}"
            + (f" between {first or 'the start'} and {last or 'the end'}" if first or last else "")
        )
    nf, ef = nights_frame(nights), events_frame(nights)
    configs: dict[str, Any] = {}
    for r in (n.record for n in nights):
        if r.detector_config:
            configs.setdefault(r.detector_config, {"version": r.detector_version, "nights": 0})
            configs[r.detector_config]["nights"] += 1
    meta = {
        "exported_by": f"jerkmon {JERKMON_VERSION}",
        "exported_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": source_label,
        "subjects": chosen,
        "first_night": None if first is None else first.isoformat(),
        "last_night": None if last is None else last.isoformat(),
        "time_zone_of_night_dates": str(tz) if tz is not None else "system local time",
        "nights": len(nf),
        "events": len(ef),
        "detector_versions": sorted({v for v in nf["detector_version"].dropna()}),
        "detector_configs": [
            {"version": v["version"], "nights": v["nights"], "config": json.loads(k)}
            for k, v in configs.items()
        ],
        "counting": f"a jerk seen on both wrists within {BILATERAL_WINDOW_S:g} s counts once "
        "(jerk_id); sleep is the union of the wrists' sleep estimates",
        "columns": {"nights": NIGHT_COLUMNS, "events": EVENT_COLUMNS},
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    np_, ep = out_dir / f"nights.{fmt}", out_dir / f"events.{fmt}"
    mp = out_dir / "metadata.json"
    if fmt == "csv":
        stamp = "%Y-%m-%dT%H:%M:%S.%fZ"
        nf.to_csv(np_, index=False, date_format=stamp)
        ef.to_csv(ep, index=False, date_format=stamp)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        blob = json.dumps(meta).encode()
        for frame, path in ((nf, np_), (ef, ep)):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            table = table.replace_schema_metadata(
                {**(table.schema.metadata or {}), b"jerkmon": blob}
            )
            pq.write_table(table, path)
    mp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return ExportResult(np_, ep, mp, len(nf), len(ef))
