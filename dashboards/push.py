"""Upload the dashboards and the alert rule to an existing Grafana over its HTTP API.

Plain ``urllib`` calls, no client library: the customer's ``grafana-api`` package has not
been released since 2020 and is unmaintained; its maintained fork ``grafana-client`` pulls in
``niquests``, which replaces ``urllib3`` in the environment that ``influxdb-client`` (our
InfluxDB writer) depends on.  Four endpoints are all jerkmon needs:

* ``POST /api/folders`` — the folder (an existing one answers 409/412 and is kept);
* ``POST /api/dashboards/db`` with ``overwrite: true`` — each dashboard;
* ``PUT /api/v1/provisioning/alert-rules/{uid}``, or ``POST /api/v1/provisioning/alert-rules``
  when it does not exist yet — the cluster alert (``X-Disable-Provenance`` keeps it editable).

Authentication: a service-account token, ``Authorization: Bearer <token>``, read from the
``GRAFANA_TOKEN`` environment variable (never from the command line).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from detector.errors import ConfigError, TransportError

from .alerts import alert_rules
from .definitions import all_dashboards
from .model import DashboardOptions, Json

__all__ = ["GrafanaClient", "PushResult", "push_all"]


@dataclass(frozen=True)
class GrafanaClient:
    """Grafana HTTP API access: base URL (a sub-path is kept) and a service-account token."""

    url: str
    token: str = field(repr=False)
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"Grafana url {self.url!r} must look like http://host:3000")
        if not self.token or any(c in self.token for c in "\r\n "):
            raise ConfigError("GRAFANA_TOKEN is empty or malformed (a service-account token)")

    def request(self, method: str, path: str, body: Any | None = None) -> tuple[int, Any]:
        """One API call; returns (status, parsed JSON or None).  4xx answers are returned,
        not raised; 5xx and connection failures raise TransportError."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        req.add_header("X-Disable-Provenance", "true")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
            if status >= 500:
                raise TransportError(
                    f"Grafana {method} {path}: HTTP {status}: {raw[:300]!r}"
                ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise TransportError(f"Grafana at {self.url} unreachable: {exc}") from exc
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return status, parsed


@dataclass(frozen=True)
class PushResult:
    """What was uploaded: dashboard uid -> URL, and the alert rule's uid (or None)."""

    dashboards: dict[str, str]
    alert_rule: str | None


def _check(status: int, what: str, body: Any) -> None:
    if status == 401 or status == 403:
        raise ConfigError(f"Grafana refused the token for {what} (HTTP {status}): {body}")
    if not 200 <= status < 300:
        raise TransportError(f"Grafana refused {what} (HTTP {status}): {body}")


def push_all(client: GrafanaClient, opts: DashboardOptions, *, alerts: bool = True) -> PushResult:
    """Create the folder, upload every dashboard (overwriting) and the alert rule."""
    status, body = client.request(
        "POST", "/api/folders", {"uid": opts.folder_uid, "title": opts.folder}
    )
    if status not in (409, 412):  # already there: keep it
        _check(status, f"folder {opts.folder!r}", body)
    urls: dict[str, str] = {}
    for uid, board in all_dashboards(opts).items():
        payload: Json = {
            "dashboard": {**board, "id": None},
            "folderUid": opts.folder_uid,
            "overwrite": True,
            "message": "jerkmon dashboards push",
        }
        status, body = client.request("POST", "/api/dashboards/db", payload)
        _check(status, f"dashboard {uid}", body)
        urls[uid] = str(body.get("url", "")) if isinstance(body, dict) else ""
    rule_uid = None
    if alerts:
        group = alert_rules(opts)["groups"][0]
        rule = dict(group["rules"][0])
        rule.update({"folderUID": opts.folder_uid, "ruleGroup": group["name"], "orgID": 1})
        path = f"/api/v1/provisioning/alert-rules/{rule['uid']}"
        status, body = client.request("PUT", path, rule)
        if status == 404:
            status, body = client.request("POST", "/api/v1/provisioning/alert-rules", rule)
        _check(status, f"alert rule {rule['uid']}", body)
        interval = {"interval": opts.alert_interval_s}
        path = f"/api/v1/provisioning/folder/{opts.folder_uid}/rule-groups/{group['name']}"
        status, body = client.request("GET", path)
        if status == 200 and isinstance(body, dict):
            body.update(interval)
            status, body = client.request("PUT", path, body)
            _check(status, f"rule group {group['name']}", body)
        rule_uid = str(rule["uid"])
    return PushResult(urls, rule_uid)
