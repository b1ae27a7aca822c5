"""The provisioned Grafana alert rule "jerk cluster in progress", and its evaluation.

Grafana evaluates the rule every ``alert_interval_s``: query A counts each subject's jerks
(all sensors) in the last ``cluster_window_s`` (``relativeTimeRange``; ``$timeFilter``
becomes ``time >= now-window and time <= now`` in the backend), B reduces each series to its
last value (no jerks = no series = no alert), C fires where B > threshold - 1, i.e. at
``cluster_threshold`` jerks or more.  Alert rules cannot use dashboard variables, so the
threshold is fixed at export time (``jerkmon dashboards export --cluster-threshold N``).
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.schema import JERKS

from .definitions import LIVE_UID
from .grafana_macros import QueryContext, TimeRange, render_query
from .influxql import InfluxQLClient
from .model import DashboardOptions, Json

__all__ = [
    "ALERT_UID",
    "EPISODE_ALERT_UID",
    "NOT_WORN_ALERT_UID",
    "AlertState",
    "alert_query",
    "alert_rules",
    "episode_alert_query",
    "evaluate_cluster_alert",
    "not_worn_alert_query",
]

ALERT_UID = "jerkmon-cluster"
EPISODE_ALERT_UID = "jerkmon-episode"
NOT_WORN_ALERT_UID = "jerkmon-not-worn"
#: Window of the episode and not-worn rules, s: each status point or episode alerts this long.
CONTEXT_WINDOW_S = 600


def alert_query() -> str:
    """Query A of the rule (raw InfluxQL, one series per subject)."""
    return (
        f'SELECT count("duration_s") FROM "jerk_event" WHERE {JERKS} AND $timeFilter '
        'GROUP BY "subject"'
    )


def episode_alert_query() -> str:
    """Convulsive episodes per subject in the window (``jerk_episode``): any one alerts."""
    return 'SELECT count("duration_s") FROM "jerk_episode" WHERE $timeFilter GROUP BY "subject"'


def not_worn_alert_query() -> str:
    """``not_worn`` warnings of the live run (``sensor_status``) per subject and sensor."""
    return (
        'SELECT count("connected") FROM "sensor_status" WHERE "state" = \'not_worn\' '
        'AND $timeFilter GROUP BY "subject", "sensor"'
    )


def _context_rule(
    opts: DashboardOptions, uid: str, title: str, query: str, summary: str, severity: str
) -> Json:
    """A rule that fires while query A has at least one point in the last
    :data:`CONTEXT_WINDOW_S` seconds (same A/B/C structure as the cluster rule)."""
    return {
        "uid": uid,
        "title": title,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": CONTEXT_WINDOW_S, "to": 0},
                "datasourceUid": opts.datasource_uid,
                "model": {
                    "refId": "A",
                    "datasource": opts.datasource,
                    "query": query,
                    "rawQuery": True,
                    "resultFormat": "time_series",
                    "intervalMs": 1000,
                    "maxDataPoints": 43200,
                },
            },
            {
                "refId": "B",
                "relativeTimeRange": {"from": 0, "to": 0},
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "B",
                    "type": "reduce",
                    "datasource": {"type": "__expr__", "uid": "__expr__"},
                    "expression": "A",
                    "reducer": "last",
                    "settings": {"mode": "dropNN"},
                },
            },
            {
                "refId": "C",
                "relativeTimeRange": {"from": 0, "to": 0},
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "C",
                    "type": "threshold",
                    "datasource": {"type": "__expr__", "uid": "__expr__"},
                    "expression": "B",
                    "conditions": [{"evaluator": {"type": "gt", "params": [0]}}],
                },
            },
        ],
        "noDataState": "OK",
        "execErrState": "Error",
        "for": "0s",
        "isPaused": False,
        "annotations": {"summary": summary, "__dashboardUid__": LIVE_UID},
        "labels": {"app": "jerkmon", "severity": severity},
    }


def alert_rules(opts: DashboardOptions) -> Json:
    """The alerting provisioning file (``apiVersion: 1``, one group): the jerk cluster rule,
    a convulsive episode rule and a sensor-not-worn rule."""
    n = opts.cluster_threshold
    window = opts.cluster_window_s
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "jerkmon-live",
                "folder": opts.folder,
                "interval": f"{opts.alert_interval_s}s",
                "rules": [
                    {
                        "uid": ALERT_UID,
                        "title": "Jerk cluster in progress",
                        "condition": "C",
                        "data": [
                            {
                                "refId": "A",
                                "relativeTimeRange": {"from": window, "to": 0},
                                "datasourceUid": opts.datasource_uid,
                                "model": {
                                    "refId": "A",
                                    "datasource": opts.datasource,
                                    "query": alert_query(),
                                    "rawQuery": True,
                                    "resultFormat": "time_series",
                                    "intervalMs": 1000,
                                    "maxDataPoints": 43200,
                                },
                            },
                            {
                                "refId": "B",
                                "relativeTimeRange": {"from": 0, "to": 0},
                                "datasourceUid": "__expr__",
                                "model": {
                                    "refId": "B",
                                    "type": "reduce",
                                    "datasource": {"type": "__expr__", "uid": "__expr__"},
                                    "expression": "A",
                                    "reducer": "last",
                                    "settings": {"mode": "dropNN"},
                                },
                            },
                            {
                                "refId": "C",
                                "relativeTimeRange": {"from": 0, "to": 0},
                                "datasourceUid": "__expr__",
                                "model": {
                                    "refId": "C",
                                    "type": "threshold",
                                    "datasource": {"type": "__expr__", "uid": "__expr__"},
                                    "expression": "B",
                                    "conditions": [
                                        {"evaluator": {"type": "gt", "params": [n - 1]}}
                                    ],
                                },
                            },
                        ],
                        "noDataState": "OK",
                        "execErrState": "Error",
                        "for": "0s",
                        "isPaused": False,
                        "annotations": {
                            "summary": "Jerk cluster in progress: {{ $labels.subject }}",
                            "description": (
                                f"{{{{ $values.B }}}} jerks in the last {window} s (threshold {n})."
                            ),
                            "__dashboardUid__": LIVE_UID,
                        },
                        "labels": {"app": "jerkmon", "severity": "warning"},
                    },
                    _context_rule(
                        opts,
                        EPISODE_ALERT_UID,
                        "Convulsive episode",
                        episode_alert_query(),
                        "Convulsive episode: {{ $labels.subject }} (sustained rhythmic movement)",
                        "critical",
                    ),
                    _context_rule(
                        opts,
                        NOT_WORN_ALERT_UID,
                        "Sensor not worn",
                        not_worn_alert_query(),
                        "Sensor not worn: {{ $labels.subject }} {{ $labels.sensor }}",
                        "warning",
                    ),
                ],
            }
        ],
    }


@dataclass(frozen=True)
class AlertState:
    """One alert instance: subject, jerks counted in the window, whether it fires."""

    subject: str
    jerks: float
    firing: bool


def evaluate_cluster_alert(
    client: InfluxQLClient, opts: DashboardOptions, now_ms: int
) -> list[AlertState]:
    """Evaluate the rule as Grafana would at ``now_ms``: A over [now - window, now], B = last
    value per series, C = B > threshold - 1."""
    rng = TimeRange(now_ms - opts.cluster_window_s * 1000, now_ms)
    text = render_query(alert_query(), QueryContext({}, rng, interval_ms=1000))
    states = []
    for series in client.query_one(text):
        values = [v for v in series.column("count") if v is not None]
        if not values:
            continue
        last = float(values[-1])
        subject = series.tags.get("subject", "")
        states.append(AlertState(subject, last, last > opts.cluster_threshold - 1))
    return states
