"""Test helpers around a real InfluxDB 1.x (``influxd``) and a recording HTTP stand-in.

The real server is started by the fixtures in ``conftest.py``
(:class:`storage.influxd.LocalInfluxd`).  :class:`RecordingServer` is a small
local HTTP server that pretends to be InfluxDB 2.x: there is no 2.x server in this
environment, so it is the one stand-in the storage tests use, only to check the requests the
v2 code path builds.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def influx_query(
    url: str,
    q: str,
    db: str | None = None,
    *,
    user: str | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """Run InfluxQL against ``url``; return the JSON answer (raise on HTTP errors)."""
    form = {"q": q}
    if db:
        form["db"] = db
    req = urllib.request.Request(
        f"{url}/query", data=urllib.parse.urlencode(form).encode(), method="POST"
    )
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
    for result in doc.get("results", []):
        if "error" in result:
            raise AssertionError(f"InfluxQL {q!r} failed: {result['error']}")
    return doc


def rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten the first result of a query answer into dicts (column -> value)."""
    out = []
    for series in doc["results"][0].get("series", []):
        cols = series["columns"]
        for values in series["values"]:
            row = dict(zip(cols, values, strict=True))
            row.update(series.get("tags", {}))
            out.append(row)
    return out


def count_points(
    url: str, db: str, measurement: str, field_name: str, rp: str | None = None
) -> int:
    """``SELECT count(field) FROM [rp.]measurement`` (0 when there is nothing)."""
    source = f'"{rp}"."{measurement}"' if rp else f'"{measurement}"'
    doc = influx_query(url, f'SELECT count("{field_name}") FROM {source}', db)
    found = rows(doc)
    return int(found[0]["count"]) if found else 0


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        data = self.body
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            data = gzip.decompress(data)
        return data.decode()


@dataclass
class Reply:
    status: int = 204
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class RecordingServer:
    """A local HTTP server posing as InfluxDB 2.x: records every request.

    ``/ping`` answers 204 with ``X-Influxdb-Version: version``; ``GET /api/v2/buckets``
    lists one bucket of the requested name; every other request gets the next queued
    :class:`Reply` for its path (default 204).
    """

    def __init__(self, version: str | None = "v2.7.11") -> None:
        self.version = version
        self.requests: list[Recorded] = []
        self.replies: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urllib.parse.urlsplit(self.path)
                rec = Recorded(
                    self.command,
                    parts.path,
                    urllib.parse.parse_qs(parts.query),
                    {k: v for k, v in self.headers.items()},
                    body,
                )
                with owner._lock:
                    owner.requests.append(rec)
                    queue = owner.replies.get(parts.path, [])
                    reply = queue.pop(0) if queue else None
                if reply is None:
                    reply = owner.default_reply(rec)
                self.send_response(reply.status)
                if owner.version is not None:
                    self.send_header("X-Influxdb-Version", owner.version)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def default_reply(self, rec: Recorded) -> Reply:
        if rec.path == "/api/v2/buckets" and rec.method == "GET":
            name = rec.query.get("name", ["?"])[0]
            bucket = {"id": "0123456789abcdef", "name": name, "orgID": "0a", "retentionRules": []}
            doc = {"buckets": [bucket]}
            return Reply(200, json.dumps(doc).encode(), {"Content-Type": "application/json"})
        return Reply(204)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def queue(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self.replies.setdefault(path, []).extend(replies)

    def writes(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path in ("/api/v2/write", "/write")]

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class FaultProxy:
    """A local HTTP proxy in front of a real InfluxDB that misbehaves on ``/write`` as
    told by :attr:`mode`:

    * ``pass``: forward everything;
    * ``unavailable``: the next :attr:`count` writes get 503 with ``Retry-After:
      retry_after`` (then ``pass``);
    * ``limit``: writes whose (decompressed) body exceeds :attr:`limit_bytes` get 413;
    * ``trickle``: the answer's headers promise 100 bytes, then one byte every 0.5 s;
    * ``huge``: a 200 promising (and streaming) 1 GB.

    ``/ping`` and queries are always forwarded.  ``writes`` records (time, body size,
    status) of every write.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.mode = "pass"
        self.count = 0
        self.retry_after = "0"
        self.limit_bytes = 1 << 30
        self.writes: list[tuple[float, int, int]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self, body: bytes) -> tuple[int, bytes, dict[str, str]]:
                req = urllib.request.Request(
                    owner.target + self.path, data=body or None, method=self.command
                )
                for key in ("Content-Type", "Content-Encoding", "Authorization"):
                    if self.headers.get(key):
                        req.add_header(key, self.headers[key])
                try:
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        return resp.status, resp.read(), dict(resp.headers.items())
                except urllib.error.HTTPError as exc:
                    return exc.code, exc.read(), dict(exc.headers.items())

            def _handle(self) -> None:
                import time as _time

                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                is_write = self.path.startswith("/write")
                mode = owner.mode
                status = 0
                if is_write and mode == "unavailable":
                    with owner._lock:
                        owner.count -= 1
                        if owner.count <= 0:
                            owner.mode = "pass"
                    status = 503
                    self._reply(503, b'{"error":"busy"}', {"Retry-After": owner.retry_after})
                elif is_write and mode == "limit":
                    raw = body
                    if self.headers.get("Content-Encoding", "").lower() == "gzip":
                        raw = gzip.decompress(body)
                    if len(raw) > owner.limit_bytes:
                        status = 413
                        self._reply(413, b'{"error":"Request Entity Too Large"}', {})
                elif is_write and mode == "trickle":
                    status = 200
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    for _ in range(100):
                        if owner._stop.wait(0.5):
                            break
                        try:
                            self.wfile.write(b" ")
                            self.wfile.flush()
                        except OSError:
                            break
                    self.close_connection = True
                elif is_write and mode == "huge":
                    status = 200
                    self.send_response(200)
                    self.send_header("Content-Length", str(1 << 30))
                    self.end_headers()
                    chunk = b"\0" * (1 << 20)
                    try:
                        for _ in range(1024):
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                    self.close_connection = True
                if status == 0:
                    status, data, headers = self._forward(body)
                    keep = {k: v for k, v in headers.items() if k.lower().startswith("x-influxdb")}
                    if "Content-Type" in headers:
                        keep["Content-Type"] = headers["Content-Type"]
                    self._reply(status, data, keep)
                if is_write:
                    with owner._lock:
                        owner.writes.append((_time.monotonic(), len(body), status))

            do_GET = do_POST = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
