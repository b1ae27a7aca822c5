"""The four jerkmon dashboards: Night, Trends, Cohort and Live (InfluxQL only).

Every query is raw InfluxQL that runs unchanged on InfluxDB 1.x, 2.x (DBRP mapping) and 3.x:
no ``tz()``, ``SLIMIT`` or ``INTO``.  Template variables are always matched as
``=~ /^$var$/`` because Grafana regex-escapes every variable value for InfluxDB (see
:mod:`dashboards.grafana_macros`); where a value is used outside a regex (a time), the
query asks for ``${var:raw}`` or the value is digits only.

Measurements: see :mod:`storage.schema`, plus ``sensor_night`` from
:mod:`dashboards.nights` (one point per subject, sensor and night).
"""

from __future__ import annotations

from storage.schema import COUNTED, JERKS, NEGATIVE

from .model import DashboardBuilder, DashboardOptions, Json

__all__ = [
    "COHORT_UID",
    "LIVE_UID",
    "NIGHT_UID",
    "TRENDS_UID",
    "all_dashboards",
    "cohort_dashboard",
    "live_dashboard",
    "night_dashboard",
    "trends_dashboard",
]

NIGHT_UID = "jerkmon-night"
TRENDS_UID = "jerkmon-trends"
COHORT_UID = "jerkmon-cohort"
LIVE_UID = "jerkmon-live"

SUBJ = '"subject" =~ /^$subject$/'
SENS = '"sensor" =~ /^$sensor$/'
WHERE = f"{SUBJ} AND {SENS}"
NIGHT_SEL = '"night" =~ /^$night$/'

_SUBJECTS = 'SHOW TAG VALUES FROM "jerk_count" WITH KEY = "subject"'
_SENSORS = f'SHOW TAG VALUES FROM "jerk_count" WITH KEY = "sensor" WHERE {SUBJ}'
_NIGHT_SUBJECTS = 'SHOW TAG VALUES FROM "sensor_night" WITH KEY = "subject"'

_KIND_COLORS: list[Json] = [
    {
        "matcher": {"id": "byRegexp", "options": ".*hypnic.*"},
        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "orange"}}],
    },
    {
        "matcher": {"id": "byRegexp", "options": ".*myoclonic.*"},
        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "blue"}}],
    },
    {
        "matcher": {"id": "byRegexp", "options": ".*negative.*"},
        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "purple"}}],
    },
]
_CONNECTED_MAPPING: list[Json] = [
    {
        "type": "value",
        "options": {
            "true": {"text": "connected", "color": "green", "index": 0},
            "false": {"text": "disconnected", "color": "red", "index": 1},
        },
    }
]


def _decimals(name: str, decimals: int) -> Json:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": "decimals", "value": decimals}],
    }


def _sensor_variables(b: DashboardBuilder, *, subject_multi: bool = False) -> None:
    b.query_variable(
        "subject",
        "Subject",
        _SUBJECTS,
        multi=subject_multi,
        include_all=subject_multi,
        description="Pseudonymous subject id",
    )
    b.query_variable(
        "sensor",
        "Sensor",
        _SENSORS,
        multi=True,
        include_all=True,
        description="Wrist sensor(s) of the subject",
    )


def _counts_per(b: DashboardBuilder, w: int, h: int, bucket: str, title: str, desc: str) -> None:
    b.timeseries(
        w,
        h,
        title,
        desc,
        [
            b.target(
                "A",
                f'SELECT sum("myoclonic") AS "myoclonic", sum("hypnic") AS "hypnic" '
                f'FROM "jerk_count" WHERE {WHERE} AND $timeFilter '
                f"GROUP BY time({bucket}) fill(none)",
                alias="$col",
            )
        ],
        style="bars",
        stack=True,
        legend_calcs=("sum",),
        axis_label=f"jerks per {bucket}",
        unit="none",
        decimals=0,
        minimum=0,
        overrides=_KIND_COLORS,
    )


def night_dashboard(opts: DashboardOptions) -> Json:
    """Night: one subject's night in detail (variables subject, sensor, night, event)."""
    b = DashboardBuilder(
        NIGHT_UID,
        "jerkmon – Night",
        opts,
        description="One night of one subject: every jerk, counts per 5 min and per hour, "
        "hypnic jerks at sleep onset, clusters, bilateral jerks, sensor link, battery and the "
        "raw acceleration around a chosen jerk.",
        time_from="now-12h",
    )
    _sensor_variables(b)
    b.query_variable(
        "night",
        "Night",
        f'SHOW TAG VALUES FROM "sensor_night" WITH KEY = "night" WHERE {SUBJ}',
        sort=2,
        description="Recorded night (date of its evening); 'Show night' sets the time range",
    )
    for name, agg, field in (
        ("night_start", "min", "start_ms"),
        ("night_end", "max", "end_ms"),
        ("sleep_onset", "min", "sleep_onset_ms"),
    ):
        b.query_variable(
            name,
            name.replace("_", " "),
            f'SELECT {agg}("{field}") FROM "sensor_night" WHERE {SUBJ} AND {NIGHT_SEL}',
            hide=2,
            sort=0,
            description=f"epoch ms, {field} of the selected night",
        )
    b.textbox_variable(
        "event",
        "Event (epoch ms)",
        "0",
        "Onset of the jerk whose raw acceleration is shown: click a time in 'Jerk events'",
    )
    b.link(
        "Show night $night",
        "/d/jerkmon-night/jerkmon-night?from=${night_start}&to=${night_end}"
        "&${subject:queryparam}&${night:queryparam}",
        "Set the time range to the selected night",
    )
    b.dashboards_link()
    b.annotation(
        "Notes",
        f'SELECT "text" FROM "annotation" WHERE {SUBJ} AND $timeFilter',
        "purple",
    )

    b.row("Summary")
    jc = f'FROM "jerk_count" WHERE {WHERE} AND $timeFilter'
    b.stat(
        3,
        4,
        "Jerks (per wrist, summed)",
        "Jerks detected in the time range, counted per wrist and summed: a jerk seen on both "
        "wrists counts twice (the night report counts the subject's jerks, once each).",
        [b.target("A", f'SELECT sum("count") {jc}')],
        decimals=0,
        no_value="0",
    )
    b.stat(
        3,
        4,
        "Hypnic (per wrist, summed)",
        "Jerks at the transition to sleep (sleep starts), counted per wrist and summed.",
        [b.target("A", f'SELECT sum("hypnic") {jc}')],
        decimals=0,
        no_value="0",
    )
    b.stat(
        3,
        4,
        "Per hour of sleep (wrist mean)",
        "Jerks inside the estimated sleep periods per hour of sleep, for the selected night "
        "(from the night record); with two wrists, the mean of the wrists' rates.",
        [
            b.target(
                "A",
                f'SELECT sum("jerks_in_sleep") / sum("sleep_s") * 3600 FROM "sensor_night" '
                f"WHERE {WHERE} AND {NIGHT_SEL}",
            )
        ],
        decimals=1,
        unit="suffix: /h",
    )
    b.stat(
        3,
        4,
        "Sleep onset",
        "Estimated sleep onset of the selected night.",
        [
            b.target(
                "A",
                f'SELECT min("sleep_onset_ms") FROM "sensor_night" WHERE {SUBJ} AND {NIGHT_SEL}',
            )
        ],
        unit="time:HH:mm",
    )
    b.stat(
        3,
        4,
        "Sleep",
        "Total estimated sleep of the selected night, hours.",
        [
            b.target(
                "A",
                f'SELECT max("sleep_s") / 3600 FROM "sensor_night" WHERE {SUBJ} AND {NIGHT_SEL}',
            )
        ],
        unit="h",
        decimals=1,
    )
    b.stat(
        3,
        4,
        "Hypnic ±30 min (per wrist)",
        "Hypnic jerks in the hour centred on the selected night's sleep onset, counted per "
        "wrist and summed.",
        [
            b.target(
                "A",
                f'SELECT sum("hypnic") FROM "jerk_count" WHERE {WHERE} '
                "AND time >= ${sleep_onset}ms - 30m AND time < ${sleep_onset}ms + 30m",
            )
        ],
        decimals=0,
        no_value="0",
    )
    b.stat(
        3,
        4,
        "Bilateral (per wrist, summed)",
        "Jerks seen on both wrists at the same time (generalised myoclonus), counted on each "
        "wrist: one bilateral jerk counts twice here, once in the night report.",
        [
            b.target(
                "A",
                f'SELECT count("duration_s") FROM "jerk_event" WHERE {WHERE} AND {JERKS} '
                'AND "bilateral" = true AND $timeFilter',
            )
        ],
        decimals=0,
        no_value="0",
    )
    b.stat(
        3,
        4,
        "Series (clusters) per wrist",
        "Clusters of jerks closer than the detector's series gap, per wrist.",
        [
            b.target(
                "A",
                f'SELECT count(distinct("series")) FROM "jerk_event" WHERE {WHERE} AND {JERKS} '
                'AND "series" > 0 AND $timeFilter GROUP BY "sensor"',
                alias="$tag_sensor",
            )
        ],
        decimals=0,
        no_value="0",
    )

    b.stat(
        3,
        4,
        "Negative myoclonus (per wrist)",
        "Lapses of tone (the held arm drops, then a corrective burst restores it), counted "
        "per wrist and summed; not jerks, and not in the jerk counts.",
        [b.target("A", f'SELECT sum("negative") {jc}')],
        decimals=0,
        no_value="0",
    )

    b.row("Jerks")
    b.timeseries(
        24,
        8,
        "Jerk timeline",
        "Every detected jerk at its onset; height = peak acceleration (g).  Negative "
        "myoclonus (a lapse of tone: the held arm drops, then a corrective burst) is shown "
        "apart, at the start of the drop.",
        # ``kind`` is a field (a provisional point is replaced when its kind settles, see
        # storage.schema): one query per kind instead of GROUP BY.
        [
            b.target(
                ref,
                f'SELECT "peak_acc_g" FROM "jerk_event" WHERE {WHERE} AND "kind" = \'{kind}\' '
                'AND $timeFilter GROUP BY "sensor"',
                alias=f"$tag_sensor {kind}",
            )
            for ref, kind in (("A", "myoclonic"), ("B", "hypnic"), ("C", "negative"))
        ],
        style="points",
        unit="accG",
        minimum=0,
        axis_label="peak acceleration",
        overrides=_KIND_COLORS,
    )
    _counts_per(b, 12, 8, "5m", "Jerks per 5 min", "Jerks per 5-minute bin, hypnic on top.")
    _counts_per(b, 12, 8, "1h", "Jerks per hour", "Jerks per clock hour, hypnic on top.")
    b.timeseries(
        12,
        8,
        "Around sleep onset",
        "Jerks per minute in the hour centred on the selected night's sleep onset.",
        [
            b.target(
                "A",
                'SELECT sum("myoclonic") AS "myoclonic", sum("hypnic") AS "hypnic" '
                f'FROM "jerk_count" WHERE {WHERE} '
                "AND time >= ${sleep_onset}ms - 30m AND time < ${sleep_onset}ms + 30m "
                "GROUP BY time(1m) fill(none)",
                alias="$col",
            )
        ],
        style="bars",
        stack=True,
        legend_calcs=("sum",),
        unit="none",
        decimals=0,
        minimum=0,
        overrides=_KIND_COLORS,
    )
    b.timeseries(
        12,
        8,
        "Bilateral jerks and series",
        "Peak acceleration of jerks seen on both wrists, and of jerks belonging to a series.",
        [
            b.target(
                "A",
                f'SELECT "peak_acc_g" AS "bilateral" FROM "jerk_event" WHERE {WHERE} AND {JERKS} '
                'AND "bilateral" = true AND $timeFilter GROUP BY "sensor"',
                alias="$tag_sensor bilateral (g)",
            ),
            b.target(
                "B",
                f'SELECT "peak_acc_g" AS "in series" FROM "jerk_event" WHERE {WHERE} AND {JERKS} '
                'AND "series" > 0 AND $timeFilter GROUP BY "sensor"',
                alias="$tag_sensor in a series (g)",
            ),
        ],
        style="points",
        unit="accG",
        minimum=0,
    )
    b.table(
        12,
        9,
        "Jerk events",
        "Every jerk; click a time to show its raw acceleration below.  Provisional: the "
        "kind, series and bilateral flag are not final yet (the live run publishes a jerk "
        "at once and settles it later).",
        [
            b.target(
                "A",
                'SELECT "kind", "peak_acc_g", "peak_jerk_g_per_s", "duration_s", "confidence", '
                '"series", "bilateral", "clipped", "provisional" FROM "jerk_event" '
                f'WHERE {WHERE} AND {COUNTED} AND $timeFilter GROUP BY "sensor"',
                fmt="table",
            )
        ],
        links=[
            {
                "title": "Show raw acceleration around this jerk",
                "url": "/d/jerkmon-night/jerkmon-night?${__url_time_range}"
                "&${subject:queryparam}&${night:queryparam}&var-event=${__value.time}",
            }
        ],
    )
    b.timeseries(
        12,
        9,
        "Raw acceleration around the chosen jerk",
        "x, y, z acceleration from 2 s before to 3 s after the jerk in the 'event' variable.",
        [
            b.target(
                "A",
                f'SELECT "ax", "ay", "az" FROM {opts.raw_measurement} WHERE {WHERE} '
                'AND time >= ${event}ms - 2s AND time <= ${event}ms + 3s GROUP BY "sensor"',
                alias="$tag_sensor $col",
            )
        ],
        unit="accG",
        axis_label="acceleration",
    )

    b.row("Sensors")
    b.timeseries(
        12,
        7,
        "Signal coverage",
        "Share of each 5 minutes with valid signal; 0 % = no data (gap or sensor off).",
        [
            b.target(
                "A",
                f'SELECT mean("covered_s") / 60 * 100 FROM "jerk_count" WHERE {WHERE} '
                'AND $timeFilter GROUP BY time(5m), "sensor" fill(0)',
                alias="$tag_sensor",
            )
        ],
        unit="percent",
        minimum=0,
        maximum=100,
    )
    b.timeseries(
        12,
        7,
        "Gaps",
        "Seconds of signal lost per 5 minutes (BLE packet loss, disconnections).",
        [
            b.target(
                "A",
                f'SELECT sum("gap_s") FROM "sensor_status" WHERE {WHERE} AND $timeFilter '
                'GROUP BY time(5m), "sensor" fill(none)',
                alias="$tag_sensor",
            )
        ],
        style="bars",
        unit="s",
        minimum=0,
        legend_calcs=("sum",),
    )
    b.state_timeline(
        12,
        5,
        "Link",
        "Sensor link state reported by the collector.",
        [
            b.target(
                "A",
                f'SELECT last("connected") FROM "sensor_status" WHERE {WHERE} AND $timeFilter '
                'GROUP BY time(1m), "sensor" fill(previous)',
                alias="$tag_sensor",
            )
        ],
        mappings=_CONNECTED_MAPPING,
    )
    b.timeseries(
        12,
        5,
        "Battery",
        "Sensor battery level.",
        [
            b.target(
                "A",
                f'SELECT last("battery_pct") FROM "sensor_status" WHERE {WHERE} '
                'AND $timeFilter GROUP BY time($__interval), "sensor" fill(none)',
                alias="$tag_sensor",
            )
        ],
        unit="percent",
        minimum=0,
        maximum=100,
        max_data_points=200,
        interval="1m",
    )
    b.timeseries(
        24,
        6,
        "Movement",
        "Mean ENMO (acceleration above 1 g): turning over and awakenings show as peaks.",
        [
            b.target(
                "A",
                f'SELECT mean("enmo_g") FROM "activity" WHERE {WHERE} AND $timeFilter '
                'GROUP BY time($__interval), "sensor" fill(none)',
                alias="$tag_sensor",
            )
        ],
        unit="accG",
        minimum=0,
        max_data_points=600,
        interval="5s",
    )
    return b.build()


_NIGHT_FROM = f'FROM "sensor_night" WHERE {WHERE} AND $timeFilter'


def trends_dashboard(opts: DashboardOptions) -> Json:
    """Trends: one subject over weeks, with medication annotations and a before/after
    comparison around a chosen change."""
    b = DashboardBuilder(
        TRENDS_UID,
        "jerkmon – Trends",
        opts,
        description="Jerks per night and per hour of sleep, hypnic jerks per night, "
        "medication and dose notes, and the rate before vs after a chosen change.",
        time_from="now-8w",
    )
    b.query_variable("subject", "Subject", _NIGHT_SUBJECTS, description="Pseudonymous id")
    b.query_variable(
        "sensor",
        "Sensor",
        f'SHOW TAG VALUES FROM "sensor_night" WITH KEY = "sensor" WHERE {SUBJ}',
        multi=True,
        include_all=True,
    )
    b.textbox_variable(
        "change",
        "Change at (UTC)",
        opts.change_default,
        "Date of a medication or dose change, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
    )
    b.dashboards_link()
    b.annotation(
        "Medication and dose changes",
        f'SELECT "text" FROM "annotation" WHERE {SUBJ} AND $timeFilter',
        "purple",
    )
    b.timeseries(
        12,
        8,
        "Jerks per night, per wrist",
        "All jerks of each night, per wrist (a jerk seen on both wrists counts on each; the "
        "night report counts the subject's jerks once).",
        [b.target("A", f'SELECT "jerks" {_NIGHT_FROM} GROUP BY "sensor"', alias="$tag_sensor")],
        style="bars",
        unit="none",
        decimals=0,
        minimum=0,
    )
    b.timeseries(
        12,
        8,
        "Jerks per hour of sleep, per wrist",
        "Jerks inside the estimated sleep per hour of sleep, per night and wrist.",
        [
            b.target(
                "A",
                f'SELECT "jerks_per_hour_sleep" {_NIGHT_FROM} GROUP BY "sensor"',
                alias="$tag_sensor",
            )
        ],
        style="points",
        unit="suffix: /h",
        decimals=1,
        minimum=0,
    )
    b.timeseries(
        12,
        8,
        "Hypnic jerks per night, per wrist",
        "Jerks at the transition to sleep, per night and wrist.",
        [b.target("A", f'SELECT "hypnic" {_NIGHT_FROM} GROUP BY "sensor"', alias="$tag_sensor")],
        style="bars",
        unit="none",
        decimals=0,
        minimum=0,
    )
    b.timeseries(
        12,
        8,
        "Sleep per night",
        "Total estimated sleep, hours.",
        [
            b.target(
                "A",
                f'SELECT "sleep_s" / 3600 {_NIGHT_FROM} GROUP BY "sensor"',
                alias="$tag_sensor",
            )
        ],
        style="points",
        unit="h",
        decimals=1,
        minimum=0,
    )
    change = "'${change:raw}'"
    b.stat(
        12,
        6,
        "Jerks per hour of sleep before vs after ${change}",
        "Pooled over the nights in the time range before and from the change on "
        "(jerks in sleep / hours of sleep), and how many nights each side has.",
        [
            b.target(
                "A",
                f'SELECT sum("jerks_in_sleep") / sum("sleep_s") * 3600 AS "before" '
                f"{_NIGHT_FROM} AND time < {change}",
                alias="rate before",
            ),
            b.target(
                "B",
                f'SELECT sum("jerks_in_sleep") / sum("sleep_s") * 3600 AS "after" '
                f"{_NIGHT_FROM} AND time >= {change}",
                alias="rate after",
            ),
            b.target(
                "C",
                f'SELECT count("jerks") AS "nights" {_NIGHT_FROM} AND time < {change}',
                alias="nights before",
            ),
            b.target(
                "D",
                f'SELECT count("jerks") AS "nights" {_NIGHT_FROM} AND time >= {change}',
                alias="nights after",
            ),
        ],
        overrides=[_decimals(f"rate {side}", 1) for side in ("before", "after")],
    )
    b.table(
        12,
        6,
        "Medication and dose notes",
        "Written with: jerkmon annotate --subject ID --at TIME --text '...'",
        [
            b.target(
                "A",
                f'SELECT "text" FROM "annotation" WHERE {SUBJ} AND $timeFilter',
                fmt="table",
            )
        ],
    )
    return b.build()


def cohort_dashboard(opts: DashboardOptions) -> Json:
    """Cohort: a sleep study's participants, per night, as a table and distributions."""
    b = DashboardBuilder(
        COHORT_UID,
        "jerkmon – Cohort",
        opts,
        description="Hypnic jerks and jerk rate per participant per night.",
        time_from="now-30d",
    )
    b.query_variable("subject", "Participants", _NIGHT_SUBJECTS, multi=True, include_all=True)
    b.query_variable(
        "sensor",
        "Sensor",
        f'SHOW TAG VALUES FROM "sensor_night" WITH KEY = "sensor" WHERE {SUBJ}',
        multi=True,
        include_all=True,
    )
    b.dashboards_link()
    b.table(
        24,
        10,
        "Participants × nights (per wrist)",
        "One row per participant, night and wrist sensor: counts are per wrist.",
        [
            b.target(
                "A",
                'SELECT "hypnic", "jerks", "jerks_per_hour_sleep", "sleep_s" / 3600 AS "sleep_h", '
                f'"bilateral", "series" {_NIGHT_FROM} GROUP BY "subject", "night", "sensor"',
                fmt="table",
            )
        ],
        overrides=[_decimals(name, 1) for name in ("jerks_per_hour_sleep", "sleep_h")],
    )
    b.histogram(
        12,
        8,
        "Distribution: jerks per hour of sleep (per wrist)",
        "Participant-nights (one per wrist) by jerk rate.",
        [
            b.target(
                "A",
                f'SELECT "jerks_per_hour_sleep" {_NIGHT_FROM} GROUP BY "subject"',
                alias="$tag_subject",
            )
        ],
        bucket_size=2,
    )
    b.histogram(
        12,
        8,
        "Distribution: hypnic jerks per night (per wrist)",
        "Participant-nights (one per wrist) by number of hypnic jerks.",
        [b.target("A", f'SELECT "hypnic" {_NIGHT_FROM} GROUP BY "subject"', alias="$tag_subject")],
        bucket_size=1,
    )
    b.barchart(
        24,
        8,
        "Mean per participant",
        "Mean over the participant's nights in the time range.",
        [
            b.target(
                "A",
                'SELECT mean("jerks_per_hour_sleep") AS "jerks per hour of sleep", '
                f'mean("hypnic") AS "hypnic jerks per night" {_NIGHT_FROM} GROUP BY "subject"',
                fmt="table",
            )
        ],
        x_field="subject",
        decimals=1,
    )
    return b.build()


def live_dashboard(opts: DashboardOptions) -> Json:
    """Live: the current night of every subject, refreshed every 30 s, with the cluster
    alert's state."""
    b = DashboardBuilder(
        LIVE_UID,
        "jerkmon – Live",
        opts,
        description="Current night: jerks in the last 5 minutes, jerks so far, sensor state "
        "and the 'jerk cluster in progress' alert.",
        time_from="now-12h",
        refresh="30s",
    )
    _sensor_variables(b, subject_multi=True)
    b.dashboards_link()
    n = opts.cluster_threshold
    b.stat(
        6,
        5,
        "Jerks in the last 5 minutes",
        f"Orange from {n - 1}, red from {n} (the cluster alert's threshold).",
        [
            b.target(
                "A",
                f'SELECT count("duration_s") FROM "jerk_event" WHERE {WHERE} AND {JERKS} '
                'AND $timeFilter GROUP BY "subject"',
                alias="$tag_subject",
            )
        ],
        time_from="5m",
        decimals=0,
        no_value="0",
        thresholds=[(None, "green"), (n - 1, "orange"), (n, "red")],
    )
    b.stat(
        6,
        5,
        "Jerks tonight (per wrist, summed)",
        "All jerks in the time range (last 12 h), counted per wrist and summed; a jerk "
        "counts at once, while its kind is still provisional.",
        [
            b.target(
                "A",
                f'SELECT count("duration_s") FROM "jerk_event" WHERE {WHERE} AND {JERKS} '
                'AND $timeFilter GROUP BY "subject"',
                alias="$tag_subject",
            )
        ],
        calc="lastNotNull",
        decimals=0,
        no_value="0",
    )
    b.stat(
        6,
        5,
        "Negative myoclonus tonight (per wrist)",
        "Lapses of tone in the time range (last 12 h), counted per wrist and summed; not "
        "jerks, and not in the jerk counts or the cluster alert.",
        [
            b.target(
                "A",
                f'SELECT count("duration_s") FROM "jerk_event" WHERE {WHERE} '
                f'AND "kind" = \'{NEGATIVE}\' AND $timeFilter GROUP BY "subject"',
                alias="$tag_subject",
            )
        ],
        calc="lastNotNull",
        decimals=0,
        no_value="0",
    )
    b.table(
        6,
        5,
        "Sensor state",
        "Last reported link state, sample rate and battery of each sensor.",
        [
            b.target(
                "A",
                'SELECT last("connected") AS "connected", last("rate_hz") AS "rate_hz", '
                'last("battery_pct") AS "battery_pct" FROM "sensor_status" '
                f'WHERE {WHERE} AND $timeFilter GROUP BY "subject", "sensor"',
                fmt="table",
            )
        ],
        mappings=_CONNECTED_MAPPING,
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {"Time": True}}},
        ],
    )
    _counts_per(b, 16, 8, "5m", "Jerks per 5 min tonight", "Jerks per 5 minutes, hypnic on top.")
    b.alert_list(8, 8, "Alerts", "State of the 'jerk cluster in progress' alert per subject.")
    b.state_timeline(
        24,
        5,
        "Link",
        "Sensor link state tonight.",
        [
            b.target(
                "A",
                f'SELECT last("connected") FROM "sensor_status" WHERE {WHERE} AND $timeFilter '
                'GROUP BY time(1m), "subject", "sensor" fill(previous)',
                alias="$tag_subject $tag_sensor",
            )
        ],
        mappings=_CONNECTED_MAPPING,
    )
    return b.build()


def all_dashboards(opts: DashboardOptions | None = None) -> dict[str, Json]:
    """All dashboards by uid."""
    opts = opts or DashboardOptions()
    boards = [
        night_dashboard(opts),
        trends_dashboard(opts),
        cohort_dashboard(opts),
        live_dashboard(opts),
    ]
    return {d["uid"]: d for d in boards}
