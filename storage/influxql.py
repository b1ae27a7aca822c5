"""A minimal InfluxQL client: ``/query`` over HTTP, as Grafana's InfluxDB datasource calls it.

Works with InfluxDB 1.x (optional user/password), 2.x through the DBRP mapping and 3.x (token
as ``Authorization: Token …``).  Results are returned as :class:`Series` per statement, in
the JSON shape InfluxDB sends with ``epoch=<epoch>`` (time columns are integers in that unit,
ms by default).  With ``chunked=True`` the server streams the answer as one JSON document per
chunk (no row limit on long ranges); the chunks of a statement are merged back together.

Used by the dashboards (previews, alerts, checks) and by
:class:`~storage.influxread.InfluxReader` (reports from a server).
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

__all__ = ["InfluxQLClient", "Series", "quote_ident"]

#: Time units InfluxDB accepts as ``epoch``.
_EPOCHS = ("ns", "u", "µ", "ms", "s", "m", "h")
#: Rows per chunk when ``chunked``.
_CHUNK_SIZE = 10000


def quote_ident(name: str) -> str:
    """``name`` as a double-quoted InfluxQL identifier (database, RP, measurement, key)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


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
        epoch: unit of the time column (``ns``, ``u``, ``ms``, ``s``, ``m``, ``h``).
        chunked: let the server stream the answer in chunks (long ranges, no row limit).
    """

    url: str
    db: str
    token: str | None = field(default=None, repr=False)
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    epoch: str = "ms"
    chunked: bool = False

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"InfluxDB url {self.url!r} must look like http://host:8086")
        if not self.db:
            raise ConfigError("InfluxQL needs a database (bucket name on 2.x)")
        if (self.user is None) != (self.password is None):
            raise ConfigError("InfluxDB user and password must be given together")
        if self.epoch not in _EPOCHS:
            raise ConfigError(f"InfluxQL epoch {self.epoch!r} must be one of {_EPOCHS}")

    def query(self, q: str) -> list[list[Series]]:
        """Run ``q`` (one or more ``;``-separated statements); per statement its series.

        Raises StorageError with InfluxDB's message when a statement fails, and
        InfluxUnavailableError (a StorageError) when the server cannot be reached or answers
        429/5xx.
        """
        form = {"q": q, "db": self.db, "epoch": self.epoch}
        if self.chunked:
            form.update(chunked="true", chunk_size=str(_CHUNK_SIZE))
        req = urllib.request.Request(
            self.url.rstrip("/") + "/query",
            data=urllib.parse.urlencode(form).encode(),
            method="POST",
        )  # POST: Grafana's httpMode default for InfluxQL
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        if self.token is not None:
            req.add_header("Authorization", f"Token {self.token}")
        elif self.user is not None and self.password is not None:
            cred = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {cred}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                body: bytes = resp.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")[:500]
            if exc.code == 429 or exc.code >= 500:
                raise InfluxUnavailableError(
                    f"InfluxDB at {self.url} answered HTTP {exc.code}: {text}: {q}"
                ) from exc
            raise StorageError(f"InfluxQL query failed (HTTP {exc.code}): {text}: {q}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise InfluxUnavailableError(f"InfluxDB at {self.url} unreachable: {exc}") from exc
        return self._statements(body, q)

    def query_one(self, q: str) -> list[Series]:
        """The series of a single statement."""
        results = self.query(q)
        return results[0] if results else []

    def _statements(self, body: bytes, q: str) -> list[list[Series]]:
        """Per statement its series; with ``chunked``, one JSON document per line, the chunks
        of a statement (same ``statement_id``) merged and a series continued across chunks
        (same name, tags and columns) joined."""
        docs: list[dict[str, Any]] = (
            [json.loads(line) for line in body.splitlines() if line.strip()]
            if self.chunked
            else [json.loads(body)]
        )
        # Per statement: [name, tags, columns, rows] of each series, rows still growing.
        out: list[list[tuple[str, dict[str, str], tuple[str, ...], list[tuple[Any, ...]]]]] = []
        index: dict[Any, int] = {}
        for doc in docs:
            if "error" in doc:
                raise StorageError(f"InfluxQL query failed: {doc['error']}: {q}")
            for result in doc.get("results", []):
                if "error" in result:
                    raise StorageError(f"InfluxQL query failed: {result['error']}: {q}")
                sid = result.get("statement_id")
                if self.chunked and sid is not None and sid in index:
                    statement = out[index[sid]]
                else:
                    index[sid] = len(out)
                    statement = []
                    out.append(statement)
                for s in result.get("series", []):
                    name = s.get("name", "")
                    tags = dict(s.get("tags") or {})
                    columns = tuple(s.get("columns", []))
                    rows = [tuple(row) for row in s.get("values", [])]
                    last = statement[-1] if statement else None
                    if self.chunked and last is not None and last[:3] == (name, tags, columns):
                        last[3].extend(rows)
                    else:
                        statement.append((name, tags, columns, rows))
        return [
            [Series(name, columns, tuple(rows), tags) for name, tags, columns, rows in statement]
            for statement in out
        ]
