"""A minimal InfluxQL client: ``/query`` over HTTP, as Grafana's InfluxDB datasource calls it.

Works with InfluxDB 1.x (optional user/password), 2.x through the DBRP mapping and 3.x (token
as ``Authorization: Token …``).  Results are returned as :class:`Series` per statement, in
the JSON shape InfluxDB sends with ``epoch=ms`` (time columns are integer ms).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from detector.errors import ConfigError, InfluxUnavailableError, StorageError

__all__ = ["InfluxQLClient", "Series"]


@dataclass(frozen=True)
class Series:
    """One series of a statement's result: name, tags, column names and rows."""

    name: str
    columns: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    tags: Mapping[str, str] = field(default_factory=dict)

    def column(self, name: str) -> list[Any]:
        """All values of column ``name`` (``KeyError`` if absent)."""
        i = self.columns.index(name) if name in self.columns else -1
        if i < 0:
            raise KeyError(f"no column {name!r} in {self.columns}")
        return [row[i] for row in self.values]


@dataclass(frozen=True)
class InfluxQLClient:
    """Runs InfluxQL through the v1 ``/query`` endpoint.

    Attributes:
        url: base URL, ``http://host:8086``.
        db: database (on 2.x: the bucket name, through its DBRP mapping).
        token: 2.x/3.x token, sent as ``Authorization: Token …`` (Grafana's
            ``httpHeaderName1``/``httpHeaderValue1`` provisioning does the same).
        user, password: 1.x credentials (basic auth).
        timeout_s: s per request.
    """

    url: str
    db: str
    token: str | None = field(default=None, repr=False)
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"InfluxDB url {self.url!r} must look like http://host:8086")
        if not self.db:
            raise ConfigError("InfluxQL needs a database (bucket name on 2.x)")
        if (self.user is None) != (self.password is None):
            raise ConfigError("InfluxDB user and password must be given together")

    def query(self, q: str) -> list[list[Series]]:
        """Run ``q`` (one or more ``;``-separated statements); per statement its series.

        Raises StorageError with InfluxDB's message when a statement fails, and
        InfluxUnavailableError when the server cannot be reached.
        """
        body = urllib.parse.urlencode({"q": q, "db": self.db, "epoch": "ms"}).encode()
        req = urllib.request.Request(
            self.url.rstrip("/") + "/query", data=body, method="POST"
        )  # POST: Grafana's httpMode default for InfluxQL
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        if self.token is not None:
            req.add_header("Authorization", f"Token {self.token}")
        elif self.user is not None and self.password is not None:
            cred = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {cred}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                payload: dict[str, Any] = json.load(resp)
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")[:500]
            raise StorageError(f"InfluxQL query failed (HTTP {exc.code}): {text}: {q}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise InfluxUnavailableError(f"InfluxDB at {self.url} unreachable: {exc}") from exc
        if "error" in payload:
            raise StorageError(f"InfluxQL query failed: {payload['error']}: {q}")
        out: list[list[Series]] = []
        for result in payload.get("results", []):
            if "error" in result:
                raise StorageError(f"InfluxQL query failed: {result['error']}: {q}")
            out.append(
                [
                    Series(
                        name=s.get("name", ""),
                        columns=tuple(s.get("columns", [])),
                        values=tuple(tuple(row) for row in s.get("values", [])),
                        tags=dict(s.get("tags") or {}),
                    )
                    for s in result.get("series", [])
                ]
            )
        return out

    def query_one(self, q: str) -> list[Series]:
        """The series of a single statement."""
        results = self.query(q)
        return results[0] if results else []
