"""Structural checks of dashboard JSON for Grafana 10+ (what provisioning would trip over).

:func:`validate_dashboard` returns a list of problems (empty = valid): schema version, uid
and title, unique positive panel ids inside the 24-column grid without overlaps, every
datasource referenced by ``{"type", "uid"}`` (never by name), raw InfluxQL targets with unique
refIds, known variable types and every ``$variable`` a query mentions defined.
"""

from __future__ import annotations

import json
from typing import Any

from .grafana_macros import VARIABLE_RE
from .model import DATASOURCE_TYPE, SCHEMA_VERSION, Json

__all__ = ["BUILTIN_NAMES", "validate_dashboard"]

#: Names Grafana (or its InfluxDB backend) substitutes itself.
BUILTIN_NAMES = frozenset(
    {
        "timeFilter",
        "interval",
        "__interval",
        "__interval_ms",
        "__from",
        "__to",
        "__url_time_range",
        "__value",
        "__data",
        "__series",
        "__field",
        "__all_variables",
        "col",
        "m",
        "measurement",
    }
)
_PANEL_TYPES = frozenset(
    {"row", "timeseries", "stat", "table", "histogram", "barchart", "state-timeline", "alertlist"}
)
_VARIABLE_TYPES = frozenset({"query", "textbox", "custom", "constant", "interval"})


def _check_ds(where: str, ds: Any, uid: str, problems: list[str]) -> None:
    if not isinstance(ds, dict) or set(ds) != {"type", "uid"}:
        problems.append(f"{where}: datasource must be {{type, uid}}, got {ds!r}")
        return
    if ds["type"] != DATASOURCE_TYPE or ds["uid"] != uid:
        problems.append(f"{where}: datasource {ds} is not {DATASOURCE_TYPE}/{uid}")


def _names(text: str) -> set[str]:
    out = set()
    for m in VARIABLE_RE.finditer(text):
        name = m.group(1) or m.group(2) or m.group(4)
        if name and not name.startswith("tag_"):
            out.add(name)
    return out


def validate_dashboard(board: Json, datasource_uid: str) -> list[str]:
    """Problems that would make Grafana 10+ reject or mis-show ``board``."""
    problems: list[str] = []
    try:
        json.dumps(board, allow_nan=False)
    except (TypeError, ValueError) as exc:
        problems.append(f"not JSON-serialisable: {exc}")
    if board.get("schemaVersion") != SCHEMA_VERSION:
        problems.append(f"schemaVersion {board.get('schemaVersion')} != {SCHEMA_VERSION}")
    uid = board.get("uid")
    if not isinstance(uid, str) or not 1 <= len(uid) <= 40:
        problems.append(f"uid {uid!r} must be a string of 1-40 characters")
    if not board.get("title"):
        problems.append("title missing")
    if "id" in board and board["id"] is not None:
        problems.append("a provisioned dashboard must not carry an id (Grafana assigns it)")
    variables = board.get("templating", {}).get("list", [])
    defined: set[str] = set()
    for var in variables:
        name = var.get("name")
        if name in defined:
            problems.append(f"variable {name!r} defined twice")
        defined.add(name)
        if var.get("type") not in _VARIABLE_TYPES:
            problems.append(f"variable {name!r}: unknown type {var.get('type')!r}")
        if var.get("type") == "query":
            _check_ds(f"variable {name}", var.get("datasource"), datasource_uid, problems)
            if not var.get("query"):
                problems.append(f"variable {name!r} has no query")
    known = defined | BUILTIN_NAMES
    texts: list[tuple[str, str]] = [
        (f"variable {v.get('name')}", v.get("query", "")) for v in variables
    ]
    seen_ids: set[int] = set()
    cells: dict[tuple[int, int], int] = {}
    for panel in board.get("panels", []):
        pid = panel.get("id")
        where = f"panel {pid} {panel.get('title')!r}"
        if not isinstance(pid, int) or isinstance(pid, bool) or pid < 1:
            problems.append(f"{where}: id must be a positive integer")
        elif pid in seen_ids:
            problems.append(f"{where}: duplicate panel id {pid}")
        else:
            seen_ids.add(pid)
        if panel.get("type") not in _PANEL_TYPES:
            problems.append(f"{where}: unknown panel type {panel.get('type')!r}")
        pos = panel.get("gridPos", {})
        try:
            x, y, w, h = (int(pos[k]) for k in ("x", "y", "w", "h"))
        except (KeyError, TypeError, ValueError):
            problems.append(f"{where}: gridPos needs integer x, y, w, h")
            continue
        if x < 0 or y < 0 or w < 1 or h < 1 or x + w > 24:
            problems.append(f"{where}: gridPos {pos} outside the 24-column grid")
        for cx in range(x, min(x + w, 24)):
            for cy in range(y, y + h):
                if (cx, cy) in cells:
                    problems.append(f"{where}: overlaps panel {cells[(cx, cy)]}")
                    break
                cells[(cx, cy)] = pid
            else:
                continue
            break
        texts.append((f"{where} title", panel.get("title", "")))
        targets = panel.get("targets", [])
        if panel.get("type") not in ("row", "alertlist"):
            _check_ds(where, panel.get("datasource"), datasource_uid, problems)
            if not targets:
                problems.append(f"{where}: no queries")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs):
            problems.append(f"{where}: duplicate refIds {refs}")
        for t in targets:
            _check_ds(
                f"{where} target {t.get('refId')}", t.get("datasource"), datasource_uid, problems
            )
            if t.get("rawQuery") is not True or not t.get("query"):
                problems.append(f"{where} target {t.get('refId')}: needs rawQuery and a query")
            if t.get("resultFormat") not in ("time_series", "table"):
                problems.append(f"{where}: resultFormat {t.get('resultFormat')!r}")
            texts.append((f"{where} target {t.get('refId')}", t.get("query", "")))
        for link in panel.get("fieldConfig", {}).get("defaults", {}).get("links", []):
            texts.append((f"{where} link", link.get("url", "")))
    for anno in board.get("annotations", {}).get("list", []):
        if anno.get("builtIn"):
            continue
        _check_ds(
            f"annotation {anno.get('name')}", anno.get("datasource"), datasource_uid, problems
        )
        texts.append((f"annotation {anno.get('name')}", anno.get("target", {}).get("query", "")))
    for link in board.get("links", []):
        texts.append((f"link {link.get('title')}", link.get("url", "")))
        texts.append((f"link {link.get('title')} title", link.get("title", "")))
    for where, text in texts:
        unknown = _names(text) - known
        if unknown:
            problems.append(f"{where}: undefined variables {sorted(unknown)}")
    return problems
