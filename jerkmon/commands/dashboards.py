"""``jerkmon dashboards``: Grafana dashboards built from code.

* ``export DIR`` — write Grafana's provisioning tree (datasource, dashboard provider,
  dashboards JSON, alert rule) into DIR, to be mounted as ``/etc/grafana/provisioning``;
* ``push --grafana-url URL`` — upload dashboards and alert rule to a running Grafana
  (service-account token in ``$GRAFANA_TOKEN``);
* ``preview --out DIR`` — run every dashboard's queries against InfluxDB and draw PNGs
  (``--demo``: a private InfluxDB 1.x with simulated nights, no server needed);
* ``nights`` — publish the ``sensor_night`` points of the recorded nights (local store ->
  InfluxDB) that the Night/Trends/Cohort dashboards read.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal

from detector.errors import ConfigError
from jerkmon.storage_args import add_storage_arguments, storage_settings_from_args, subject_arg

__all__ = ["register", "run"]


def _add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dashboard options")
    g.add_argument("--datasource-uid", default="jerkmon-influxdb", help="InfluxDB datasource uid")
    g.add_argument(
        "--raw-measurement",
        default=None,
        help='raw acceleration, quoted and qualified: "raw"."imu" (1.x) or '
        '"<bucket>_raw"."autogen"."imu" (2.x); default: where the writer puts it, from the '
        "same storage settings (--url/--db/--bucket, $JERKMON_INFLUX_*) and the server's "
        "version when it can be reached",
    )
    g.add_argument(
        "--dbrp-bucket",
        default="jerkmon",
        help="2.x bucket the dashboards read (raw data: <bucket>_raw; default jerkmon)",
    )
    g.add_argument(
        "--cluster-threshold",
        type=int,
        default=4,
        help="alert when a subject has at least this many jerks in the window (default 4)",
    )
    g.add_argument(
        "--cluster-window", type=int, default=120, help="cluster alert window, s (default 120)"
    )
    g.add_argument("--folder", default="jerkmon", help="Grafana folder (default jerkmon)")
    g.add_argument(
        "--change-default",
        default="2025-01-01T00:00:00Z",
        help="initial 'change' date of the Trends dashboard",
    )
    g.add_argument(
        "--influx-flavour",
        choices=("1", "2"),
        default=None,
        help="datasource auth: 2 = 2.x/3.x token header, 1 = 1.x user/password (default: "
        "the configured server's version, else 2)",
    )


def _flavour(args: argparse.Namespace) -> Literal["1", "2"]:
    """--influx-flavour, or the configured server's major version (once per command)."""
    if args.influx_flavour is None:
        from storage.setup import server_major

        _data_dir, influx, _opts = storage_settings_from_args(args)
        major = server_major(influx) if influx is not None else None
        args.influx_flavour = "1" if major == 1 else "2"
    return "1" if args.influx_flavour == "1" else "2"


def _options(args: argparse.Namespace) -> Any:
    from dashboards.model import DashboardOptions
    from storage.setup import raw_measurement

    raw = args.raw_measurement
    if raw is None:
        _data_dir, influx, _opts = storage_settings_from_args(args)
        major = 1 if _flavour(args) == "1" else 2
        raw = raw_measurement(influx, major, args.dbrp_bucket)
    kw: dict[str, Any] = {
        "datasource_uid": args.datasource_uid,
        "cluster_threshold": args.cluster_threshold,
        "cluster_window_s": args.cluster_window,
        "folder": args.folder,
        "change_default": args.change_default,
    }
    if raw is not None:
        kw["raw_measurement"] = raw
    return DashboardOptions(**kw)


def register(sub: Any) -> None:
    """Add ``jerkmon dashboards`` and its subcommands."""
    p: argparse.ArgumentParser = sub.add_parser(
        "dashboards",
        help="Grafana dashboards: export provisioning files, push, preview as PNG",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dsub = p.add_subparsers(dest="dashboards_command", metavar="ACTION", required=True)

    e = dsub.add_parser("export", help="write Grafana provisioning files into DIR")
    e.add_argument("directory", type=Path, metavar="DIR")
    e.add_argument(
        "--grafana-path",
        default="/etc/grafana/provisioning",
        help="where DIR is mounted inside Grafana (default /etc/grafana/provisioning)",
    )
    add_storage_arguments(e)
    _add_options(e)
    e.set_defaults(func=run)

    u = dsub.add_parser("push", help="upload dashboards and alert rule to a running Grafana")
    u.add_argument("--grafana-url", required=True, help="e.g. http://localhost:3000")
    u.add_argument("--no-alerts", action="store_true", help="dashboards only")
    add_storage_arguments(u)
    _add_options(u)
    u.set_defaults(func=run)

    v = dsub.add_parser("preview", help="draw the dashboards with real data as PNG files")
    v.add_argument(
        "--out",
        type=Path,
        default=None,
        help="PNG directory (default: previews/ in the data directory)",
    )
    v.add_argument(
        "--demo",
        action="store_true",
        help="start a private InfluxDB 1.x, write simulated nights through the pipeline, "
        "draw them (needs Debian's influxd)",
    )
    v.add_argument(
        "--subject", default=None, type=subject_arg, help="subject of the Night/Trends previews"
    )
    v.add_argument("--night", default=None, help="night (YYYY-MM-DD) of the Night preview")
    v.add_argument("--change", default=None, help="Trends 'change' date (default: 1st note)")
    v.add_argument(
        "--classic",
        action="store_true",
        help="substitute as Grafana < 11 does in the browser (default: backend mode)",
    )
    add_storage_arguments(v)
    _add_options(v)
    v.set_defaults(func=run)

    n = dsub.add_parser("nights", help="publish sensor_night points from the local store")
    n.add_argument(
        "--subject", action="append", default=None, type=subject_arg, help="only this subject"
    )
    n.add_argument("--timeout", type=float, default=60.0, help="s to wait for InfluxDB")
    add_storage_arguments(n)
    n.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen action; returns the exit status."""
    action = args.dashboards_command
    if action == "export":
        return _export(args)
    if action == "push":
        return _push(args)
    if action == "preview":
        return _preview(args)
    return _nights(args)


def _export(args: argparse.Namespace) -> int:
    from dashboards.provisioning import export

    files = export(
        args.directory,
        _options(args),
        flavour=_flavour(args),
        grafana_path=args.grafana_path,
    )
    for f in files:
        print(f)
    return 0


def _push(args: argparse.Namespace) -> int:
    from dashboards.push import GrafanaClient, push_all

    token = os.environ.get("GRAFANA_TOKEN", "")
    if not token:
        raise ConfigError("set GRAFANA_TOKEN to a Grafana service-account token (Editor role)")
    result = push_all(
        GrafanaClient(args.grafana_url, token), _options(args), alerts=not args.no_alerts
    )
    for uid, url in result.dashboards.items():
        print(f"dashboard {uid}: {args.grafana_url.rstrip('/')}{url}")
    if result.alert_rule:
        print(f"alert rule {result.alert_rule}")
    return 0


def _client_from_args(args: argparse.Namespace) -> Any:
    from dashboards.influxql import InfluxQLClient

    _data_dir, influx, _opts = storage_settings_from_args(args)
    if influx is None:
        raise ConfigError("no InfluxDB configured: give --url/--db (or JERKMON_INFLUX_*) or --demo")
    db = influx.db or influx.bucket
    assert db is not None  # InfluxConfig guarantees a db or a bucket
    return InfluxQLClient(influx.url, db, influx.token, influx.user, influx.password)


def _preview(args: argparse.Namespace) -> int:
    from dashboards.preview import preview_dashboards

    if args.out is None:
        data_dir, _influx, _opts = storage_settings_from_args(args)
        args.out = data_dir / "previews"
    opts = _options(args)
    mode: Literal["backend", "classic"] = "classic" if args.classic else "backend"
    if not args.demo:
        paths = preview_dashboards(
            _client_from_args(args),
            args.out,
            opts,
            subject=args.subject,
            night=args.night,
            change=args.change,
            mode=mode,
        )
    else:
        paths = _preview_demo(args, opts, mode)
    for path in paths:
        print(path)
    return 0


def _preview_demo(args: argparse.Namespace, opts: Any, mode: Any) -> list[Path]:
    import dataclasses

    from dashboards.influxql import InfluxQLClient
    from dashboards.nights import night_label
    from dashboards.preview import preview_dashboards
    from jerkmon.demo import write_demo_nights
    from storage import Annotation, InfluxConfig, Storage
    from storage.influxd import LocalInfluxd

    opts = dataclasses.replace(opts, raw_measurement='"raw"."imu"')
    with (
        tempfile.TemporaryDirectory(prefix="jerkmon-demo-") as tmp,
        LocalInfluxd(Path(tmp) / "influxd") as server,
    ):
        print(f"demo: InfluxDB 1.x at {server.url}, simulating nights ...", file=sys.stderr)
        influx = InfluxConfig(url=server.url, db="jerkmon", api="v1", create=True)
        nights = write_demo_nights(Path(tmp) / "data", influx)
        first = min(n.night.start_s for n in nights if n.spec.subject == "s1")
        change_at = first + 1.5 * 86400
        with Storage(Path(tmp) / "data", influx) as storage:
            storage.add_annotation(Annotation("s1", change_at, "clonazepam 0.5 mg -> 1 mg"))
            storage.flush(timeout_s=30)
        last = max((n for n in nights if n.spec.subject == "s1"), key=lambda n: n.night.start_s)
        # Live: show the moment the densest cluster of the last night was in progress
        onsets = sorted(e.onset for n in nights if n.spec.nights_ago == 0 for e in n.all_events)
        window = opts.cluster_window_s
        busiest = max(onsets, key=lambda t: sum(1 for u in onsets if t - window < u <= t))
        return preview_dashboards(
            InfluxQLClient(server.url, "jerkmon"),
            args.out,
            opts,
            subject=args.subject or "s1",
            night=args.night or night_label(last.night.start_s),
            change=args.change,
            now_ms=int(last.night.end_s * 1000),
            live_now_ms=int((busiest + 1.0) * 1000),
            mode=mode,
        )


def _nights(args: argparse.Namespace) -> int:
    from dashboards.nights import publish_nights
    from storage import Storage

    data_dir, influx, options = storage_settings_from_args(args)
    if not data_dir.is_dir():
        raise ConfigError(f"data directory {data_dir} does not exist")
    with Storage(data_dir, influx, options, start_forwarder=False) as storage:
        storage.check_influx_target(raw=False)  # never created here
        storage.start_forwarders()
        n = publish_nights(storage, args.subject)
        done = storage.flush(timeout_s=args.timeout)
    where = "InfluxDB" if influx is not None and done else "the spool"
    print(f"{n} sensor_night points written to {where}")
    return 0 if influx is None or done else 1
