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
    Jerk,
    NightData,
    NightSource,
    in_periods,
    load_nights,
)
from storage.local import StoredEvent

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
    "negative": "negative myoclonus: lapses of tone, not jerks; bilateral once [count]",
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
    "kind": "myoclonic | hypnic | negative (negative myoclonus: a lapse of tone, not a jerk)",
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


#: ``jerkmon export --format`` choices.
EXPORT_FORMATS = ("csv", "parquet", "edf", "bids")


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
    "negative": "Int64",
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
    """One row per sensor event (columns :data:`EVENT_COLUMNS`): the jerks, numbered, and
    negative myoclonus (no jerk number), in onset order."""
    rows: list[dict[str, Any]] = []
    for nd in nights:
        numbered: list[tuple[int | None, Jerk]] = list(enumerate(nd.jerks, 1))
        numbered += [(None, lapse) for lapse in nd.negative]
        night = [_event_row(nd, k, e) for k, group in numbered for e in group.events]
        rows += sorted(night, key=lambda row: (row["onset_s"], row["sensor"]))
    return _frame(rows, EVENT_COLUMNS, _EVENT_DTYPES)


def _event_row(nd: NightData, jerk_id: int | None, e: StoredEvent) -> dict[str, Any]:
    r, ev = nd.record, e.event
    return {
        "subject": r.subject,
        "night": r.night.isoformat(),
        "jerk_id": jerk_id,
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
        "in_sleep": in_periods(ev.onset, nd.periods) if r.sleep_source != "none" else None,
        "detector_version": r.detector_version,
    }


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
        fmt: ``csv`` or ``parquet``; ``edf`` / ``bids`` write the tables as CSV plus one
            EDF+ annotation file per night (``edf/<subject>_<night>.edf``) or a BIDS events
            file with its sidecar per night
            (``sub-<subject>/ses-<night>/motion/sub-<subject>_ses-<night>_task-sleep_events.tsv``).
        subjects: default every subject of the source.
        first / last: evening dates of the first / last night (inclusive; None = all).
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
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
    table_fmt = "parquet" if fmt == "parquet" else "csv"
    np_, ep = out_dir / f"nights.{table_fmt}", out_dir / f"events.{table_fmt}"
    mp = out_dir / "metadata.json"
    if fmt in ("edf", "bids"):
        for nd in nights:
            _write_night_file(out_dir, nd, fmt)
    if table_fmt == "csv":
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


# ---------------------------------------------------------------------- one night's events
#: Per-night event files (``jerkmon batch``): columns and their meaning (units in brackets).
NIGHT_EVENT_COLUMNS: dict[str, str] = {
    "sensor": "wrist (side) or 'wrist' for a single unnamed one",
    "onset_s": "onset [s since the Unix epoch, UTC]",
    "duration_s": "onset to end of the main acceleration lobe [s]",
    "kind": "myoclonic | hypnic | negative (negative myoclonus: a lapse of tone, not a jerk)",
    "peak_acc_g": "peak dynamic acceleration [g]",
    "peak_jerk_g_per_s": "peak rate of change of acceleration [g/s]",
    "series": "series id of this sensor's detector (empty: lone jerk)",
    "confidence": "how clearly the transient stands out [0..1]",
    "clipped": "the sensor saturated during the jerk (peak is a lower bound)",
    "bilateral": "the other wrist jerked within 0.1 s",
    "detector_version": "version of the detector that produced the event",
    "detector_config": "detector configuration, JSON",
}


def night_events_frame(
    events: Sequence[tuple[str, Any, bool]], detector_version: str, detector_config: str
) -> pd.DataFrame:
    """One row per (sensor, :class:`~detector.JerkEvent`, bilateral) in onset order
    (columns :data:`NIGHT_EVENT_COLUMNS`)."""
    rows = [
        {
            "sensor": s,
            "onset_s": e.onset,
            "duration_s": e.duration,
            "kind": e.kind,
            "peak_acc_g": e.peak_acc_g,
            "peak_jerk_g_per_s": e.peak_jerk_g_per_s,
            "series": e.series,
            "confidence": e.confidence,
            "clipped": e.clipped,
            "bilateral": b,
            "detector_version": detector_version,
            "detector_config": detector_config,
        }
        for s, e, b in events
    ]
    dtypes = {
        "sensor": "string",
        "onset_s": "float64",
        "duration_s": "float64",
        "kind": "string",
        "peak_acc_g": "float64",
        "peak_jerk_g_per_s": "float64",
        "series": "Int64",
        "confidence": "float64",
        "clipped": "boolean",
        "bilateral": "boolean",
        "detector_version": "string",
        "detector_config": "string",
    }
    return _frame(rows, NIGHT_EVENT_COLUMNS, dtypes)


def _series_spans(frame: pd.DataFrame) -> list[tuple[float, float, str]]:
    """(first onset, last onset, sensor) of each sensor's series."""
    out = []
    sub = frame.dropna(subset=["series"])
    for (sensor, _), g in sub.groupby(["sensor", "series"], sort=True):
        out.append((float(g["onset_s"].min()), float(g["onset_s"].max()), str(sensor)))
    return sorted(out)


Periods = Mapping[str, Sequence[tuple[float, float]]]
#: (sensor, start s, duration s) of a signal gap.
GapSpan = tuple[str, float, float]


def night_annotations(
    frame: pd.DataFrame, periods: Periods, start_s: float, gaps: Sequence[GapSpan] = ()
) -> list[tuple[float, float, str, dict[str, Any]]]:
    """(onset s from ``start_s``, duration s, label, extra columns) of every jerk, series,
    sleep onset and wake (per sensor's sleep periods, or ``subject`` for the union) and
    signal gap, sorted: what EDF+ and BIDS files carry."""
    ann: list[tuple[float, float, str, dict[str, Any]]] = []
    for r in frame.to_dict("records"):
        name = "negative myoclonus" if r["kind"] == "negative" else f"jerk {r['kind']}"
        label = name + (" bilateral" if bool(r["bilateral"]) else "")
        ann.append(
            (
                float(r["onset_s"]) - start_s,
                float(r["duration_s"]),
                label,
                {
                    "sensor": r["sensor"],
                    "peak_acc_g": float(r["peak_acc_g"]),
                    "peak_jerk_g_per_s": float(r["peak_jerk_g_per_s"]),
                    "confidence": float(r["confidence"]),
                    "series": None if pd.isna(r["series"]) else int(r["series"]),
                    "bilateral": bool(r["bilateral"]),
                    "clipped": bool(r["clipped"]),
                },
            )
        )
    for a, b, sensor in _series_spans(frame):
        ann.append((a - start_s, b - a, "jerk series", {"sensor": sensor}))
    for sensor, ps in periods.items():
        for a, b in ps:
            ann.append((a - start_s, 0.0, "sleep onset", {"sensor": sensor}))
            ann.append((b - start_s, 0.0, "wake", {"sensor": sensor}))
    for sensor, a, dur in gaps:
        ann.append((a - start_s, dur, "signal gap", {"sensor": sensor}))
    ann.sort(key=lambda x: (x[0], x[2]))
    return ann


def write_edf_annotations(
    path: Path,
    frame: pd.DataFrame,
    periods: Periods,
    start_s: float,
    end_s: float,
    meta: Mapping[str, Any],
    subject: str = "X",
    gaps: Sequence[GapSpan] = (),
) -> None:
    """An EDF+ file (``edfio``) of the night's events as annotations (onset, duration,
    label: ``jerk myoclonic|hypnic [bilateral]``, ``negative myoclonus [bilateral]``,
    ``jerk series``, ``sleep onset``,
    ``wake``), with one signal, jerks per minute, so PSG software has a time axis to show
    them on.  The start is the first sample's UTC clock; the equipment field and the first
    annotation name the detector version; the next ones (``jerkmon config k/n ...``) hold
    its configuration as JSON in pieces (EDF readers cut annotations at 512 characters)."""
    import datetime as dt

    import numpy as np
    from edfio import Edf, EdfAnnotation, EdfSignal, Patient, Recording

    clock = start_s >= _EDF_EPOCH_S
    # EDF dates start in 1985: a recording timed from its own start (no clock) is placed at
    # 1985-01-01 00:00:00 and says so, which is EDF+'s convention for an unknown start.
    base = start_s if clock else _EDF_EPOCH_S + (start_s % 1.0)
    start = dt.datetime.fromtimestamp(base, dt.UTC)
    start_whole = start.replace(microsecond=0)
    shift = base - start_whole.timestamp()  # EDF starts on whole seconds
    end_s = end_s - start_s + base
    minutes = max(1, int(np.ceil((end_s - start_whole.timestamp()) / 60.0)))
    counts = np.zeros(minutes)
    jerk_rows = frame[frame["kind"] != "negative"] if len(frame) else frame
    if len(jerk_rows):
        rel = jerk_rows["onset_s"].to_numpy(float) - start_s + shift
        k = (rel // 60).astype(int)
        np.add.at(counts, np.clip(k, 0, minutes - 1), 1.0)
    signal = EdfSignal(
        counts,
        sampling_frequency=1 / 60,
        label="Jerks/min",
        physical_dimension="count",
        physical_range=(0, 65535),  # one digital step per jerk: counts stay exact
        digital_range=(-32768, 32767),
        transducer_type="wrist accelerometer (jerkmon)",
    )
    code = _edf_field(subject)
    # EDF readers keep at most 512 characters of an annotation (EDFlib, EDFbrowser): the
    # configuration goes in numbered pieces, "jerkmon config k/n <json piece>".
    blob = json.dumps(json.loads(meta["detector_config"]), sort_keys=True, separators=(",", ":"))
    pieces = [blob[i : i + _EDF_TEXT] for i in range(0, len(blob), _EDF_TEXT)]
    anns = [EdfAnnotation(0.0, None, f"jerkmon {meta['detector_version']} detector")]
    anns += [
        EdfAnnotation(0.0, None, f"jerkmon config {k}/{len(pieces)} {p}")
        for k, p in enumerate(pieces, 1)
    ]
    for onset, dur, label, _ in night_annotations(frame, periods, start_s, gaps):
        anns.append(EdfAnnotation(max(0.0, onset + shift), dur or None, label))
    Edf(
        [signal],
        patient=Patient(code=code),
        recording=Recording(
            startdate=start_whole.date(),
            equipment_code=_edf_field(f"jerkmon_{meta['detector_version']}"),
            additional=() if clock else ("clock_unknown",),
        ),
        starttime=start_whole.time(),
        data_record_duration=60.0,
        annotations=anns,
    ).write(path)


#: characters of the configuration per EDF+ annotation.
_EDF_TEXT = 400

#: 1985-01-01 00:00:00 UTC, the earliest start an EDF header can hold, s since the epoch.
_EDF_EPOCH_S = 473_385_600.0


def _edf_field(text: str) -> str:
    """EDF+ header subfields: printable ASCII, no spaces."""
    return "".join(c if 33 <= ord(c) < 127 else "_" for c in str(text)) or "X"


#: BIDS events.tsv columns beyond onset, duration and trial_type.
BIDS_COLUMNS: dict[str, dict[str, Any]] = {
    "onset": {"Description": "onset from the first sample of the recording", "Units": "s"},
    "duration": {"Description": "duration (0 for instants)", "Units": "s"},
    "trial_type": {
        "Description": "event type",
        "Levels": {
            "jerk myoclonic": "a myoclonic jerk",
            "jerk hypnic": "a hypnic jerk (at a sleep onset)",
            "jerk myoclonic bilateral": "a myoclonic jerk seen on both wrists",
            "jerk hypnic bilateral": "a hypnic jerk seen on both wrists",
            "negative myoclonus": "a lapse of tone: the held arm drops, then a corrective "
            "burst restores it (not a jerk)",
            "negative myoclonus bilateral": "negative myoclonus seen on both wrists",
            "jerk series": "a series (cluster) of jerks, first to last onset",
            "sleep onset": "estimated sleep onset",
            "wake": "end of an estimated sleep period",
            "signal gap": "no signal from this sensor (lost link, device not recording)",
        },
    },
    "sensor": {"Description": "wrist that saw the event"},
    "peak_acc_g": {"Description": "peak dynamic acceleration", "Units": "g"},
    "peak_jerk_g_per_s": {"Description": "peak rate of change of acceleration", "Units": "g/s"},
    "confidence": {"Description": "how clearly the transient stands out, 0..1"},
    "series": {"Description": "series id of this sensor's detector (n/a: lone jerk)"},
    "bilateral": {"Description": "the other wrist jerked within 0.1 s (true/false)"},
    "clipped": {"Description": "the sensor saturated: the peak is a lower bound"},
}


def write_bids_events(
    path: Path,
    frame: pd.DataFrame,
    periods: Periods,
    start_s: float,
    meta: Mapping[str, Any],
    gaps: Sequence[GapSpan] = (),
) -> None:
    """BIDS ``events.tsv`` (onset, duration, trial_type and our columns; ``n/a`` for
    missing) and its ``events.json`` sidecar describing every column and unit, with the
    detector version and configuration."""
    cols = list(BIDS_COLUMNS)
    rows = []
    for onset, dur, label, extra in night_annotations(frame, periods, start_s, gaps):
        row: dict[str, Any] = {
            "onset": f"{onset:.4f}",
            "duration": f"{dur:.4f}",
            "trial_type": label,
        }
        for c in cols[3:]:
            v = extra.get(c)
            row[c] = (
                "n/a"
                if v is None
                else (
                    str(v).lower()
                    if isinstance(v, bool)
                    else (f"{v:.4f}" if isinstance(v, float) else str(v))
                )
            )
        rows.append(row)
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        fh.write("\t".join(cols) + "\n")
        for r in rows:
            fh.write("\t".join(r[c] for c in cols) + "\n")
    sidecar = {
        **BIDS_COLUMNS,
        "StimulusPresentation": {},
        "GeneratedBy": [
            {
                "Name": "jerkmon",
                "Version": meta["detector_version"],
                "Description": "myoclonic jerk detector",
                "Configuration": json.loads(meta["detector_config"]),
            }
        ],
        "RecordingStart": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start_s))
        + f".{int(start_s % 1 * 1e6):06d}Z",
    }
    sidecar.pop("StimulusPresentation")
    Path(path).with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")


def _bids_label(text: str) -> str:
    """A BIDS entity label: alphanumerics only."""
    return "".join(c for c in text if c.isalnum()) or "x"


def _write_night_file(out_dir: Path, nd: NightData, fmt: str) -> Path:
    """One stored night as an EDF+ annotation file or a BIDS events file."""
    r = nd.record
    version = r.detector_version or "unknown"
    config = r.detector_config or json.dumps(nd.detector_config(), sort_keys=True)
    frame = night_events_frame(
        [
            (e.sensor, e.event, e.bilateral)
            for e in sorted((*nd.events, *nd.negative_events), key=lambda e: e.event.onset)
        ],
        version,
        config,
    )
    meta = {"subject": r.subject, "night": r.night.isoformat(), "detector_version": version,
            "detector_config": config}  # fmt: skip
    periods = {"subject": list(nd.periods)}
    gaps = [(g.sensor, g.start_s, g.duration_s) for g in nd.gaps]
    if fmt == "edf":
        path = out_dir / "edf" / f"{r.subject}_{r.night.isoformat()}.edf"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_edf_annotations(path, frame, periods, r.start_s, r.end_s, meta, r.subject, gaps)
        return path
    sub, ses = _bids_label(r.subject), _bids_label(r.night.isoformat())
    path = out_dir / f"sub-{sub}" / f"ses-{ses}" / "motion"
    path.mkdir(parents=True, exist_ok=True)
    path = path / f"sub-{sub}_ses-{ses}_task-sleep_events.tsv"
    write_bids_events(path, frame, periods, r.start_s, meta, gaps)
    return path
