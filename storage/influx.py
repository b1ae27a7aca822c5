"""Writing line protocol to InfluxDB: server probe, API pick, v1 and v2 writers.

API pick (``api="auto"``), from the ``X-Influxdb-Version`` header of ``GET /ping``:

* 1.x → v1 ``/write`` (database ``db``, or the bucket name when only v2 settings are given);
* 2.x/3.x with org + bucket + token → v2 ``/api/v2/write`` through ``influxdb-client``;
* 2.x/3.x with a database only → v1 compatibility ``/write`` (``Authorization: Token``);
* no version header → with v2 settings, an empty ``POST /api/v2/write`` is tried: a plain
  ``404 page not found`` (InfluxDB 1.x has no such endpoint) selects v1.

Raw IMU points go to a separate place with short retention: RP ``raw_rp`` of ``db`` on 1.x
(created with ``CREATE RETENTION POLICY``), database/bucket ``<db>_raw`` through 2.x/3.x v1
compatibility, bucket ``<bucket>_raw`` on the v2 API (created with the raw retention when the
token may).

Every answer is classified: 2xx accepted; 429, 5xx and connection errors raise
:class:`~detector.errors.InfluxUnavailableError` (retry later, honouring Retry-After); any
other 4xx raises :class:`~detector.errors.InfluxRejectedError` with the server's message.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import gzip
import http.client
import json
import logging
import re
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from detector.errors import InfluxRejectedError, InfluxUnavailableError, StorageError

from .config import InfluxConfig
from .influxql import quote_ident

__all__ = [
    "HttpClient",
    "InfluxLink",
    "ServerInfo",
    "Stream",
    "V1Writer",
    "V2Writer",
    "Writer",
    "parse_retry_after",
    "pick_api",
]

log = logging.getLogger(__name__)

Stream = Literal["events", "raw"]
_RETENTION_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _server_message(body: bytes, headers: http.client.HTTPMessage | dict[str, str]) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        for key in ("error", "message"):
            if isinstance(doc.get(key), str):
                return str(doc[key])
    header = headers.get("X-Influxdb-Error")
    return text[:2000] or (header or "")


#: Largest answer read from the server; InfluxDB's answers to writes and set-up queries are
#: a few hundred bytes, so a bigger one is a broken server or proxy (not read into memory).
MAX_RESPONSE_BYTES = 8 * 1024 * 1024


class HttpClient:
    """A keep-alive HTTP/1.1 connection to one server (not thread-safe: one per thread).

    ``timeout_s`` bounds each socket operation; ``deadline_s`` (default 3 x ``timeout_s``)
    bounds a whole request, so a server trickling its answer a byte at a time cannot hold
    a forwarder (or shutdown); answers over ``max_response_bytes`` are refused unread.
    """

    def __init__(
        self,
        url: str,
        timeout_s: float,
        verify_tls: bool = True,
        *,
        deadline_s: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self.deadline_s = 3.0 * timeout_s if deadline_s is None else deadline_s
        self.max_response_bytes = max_response_bytes
        self._ssl: ssl.SSLContext | None = None
        if self.scheme == "https":
            self._ssl = ssl.create_default_context()
            if not verify_tls:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._ssl is not None:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout_s, context=self._ssl
                )
            else:
                self._conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout_s
                )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """Send one request; return (status, headers, body).

        A connection the server closed while idle is reopened once (writes are idempotent).
        Raises InfluxUnavailableError for connection failures and timeouts.
        """
        where = f"InfluxDB at {self.host}:{self.port}"
        for attempt in (0, 1):
            reused = self._conn is not None
            conn = self._connect()
            expired = threading.Event()

            def abort(
                conn: http.client.HTTPConnection = conn, expired: threading.Event = expired
            ) -> None:
                expired.set()
                sock = conn.sock
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

            timer = threading.Timer(self.deadline_s, abort)
            timer.daemon = True
            timer.start()
            try:
                conn.request(method, self.prefix + path, body=body, headers=headers or {})
                resp = conn.getresponse()
                length = resp.getheader("Content-Length")
                if length and length.isdigit() and int(length) > self.max_response_bytes:
                    self.close()
                    raise InfluxUnavailableError(
                        f"{where} sent a {int(length)}-byte answer (more than "
                        f"{self.max_response_bytes}): not read; a proxy or a broken server?"
                    )
                data = resp.read(self.max_response_bytes + 1)
                if len(data) > self.max_response_bytes:
                    self.close()
                    raise InfluxUnavailableError(
                        f"{where} sent more than {self.max_response_bytes} bytes: not read"
                    )
                if expired.is_set():
                    raise OSError("deadline passed")
                if not resp.isclosed() or resp.getheader("Connection", "").lower() == "close":
                    self.close()
                return resp.status, resp.headers, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if expired.is_set():
                    raise self._late(where) from exc
                if reused and attempt == 0:
                    continue
                raise InfluxUnavailableError(f"{where}: {exc}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if expired.is_set():
                    raise self._late(where) from exc
                raise InfluxUnavailableError(f"{where} unreachable: {exc}") from exc
            finally:
                timer.cancel()
        raise AssertionError("unreachable")

    def _late(self, where: str) -> InfluxUnavailableError:
        return InfluxUnavailableError(
            f"{where} gave no complete answer within {self.deadline_s:g} s (request deadline)"
        )


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What ``/ping`` told: the version string (None if absent) and its major number."""

    version: str | None

    @property
    def major(self) -> int | None:
        if self.version is None:
            return None
        m = re.match(r"v?(\d+)", self.version.strip())
        return int(m.group(1)) if m else None


def ping(client: HttpClient) -> ServerInfo:
    """``GET /ping``; raise InfluxUnavailableError if the server does not answer."""
    status, headers, _ = client.request("GET", "/ping")
    if status >= 500:
        raise InfluxUnavailableError(f"InfluxDB /ping answered {status}")
    return ServerInfo(headers.get("X-Influxdb-Version"))


def probe_v2_write(client: HttpClient, config: InfluxConfig) -> bool:
    """Whether the server has ``/api/v2/write`` (an empty write; 404 page-not-found = no)."""
    query = urllib.parse.urlencode({"org": config.org or "", "bucket": config.bucket or ""})
    headers = {"Authorization": f"Token {config.token}"} if config.token else {}
    status, _, body = client.request("POST", f"/api/v2/write?{query}", b"", headers)
    return not (status == 404 and b"page not found" in body)


def pick_api(config: InfluxConfig, server: ServerInfo, has_v2_write: bool | None) -> str:
    """``"v1"`` or ``"v2"`` for this configuration and server (see the module doc)."""
    if config.api != "auto":
        return config.api
    major = server.major
    if major == 1:
        return "v1"
    if not config.has_v2_credentials:
        return "v1"
    if major is not None and major >= 2:
        return "v2"
    return "v2" if has_v2_write else "v1"


class Writer(Protocol):
    """Sends line protocol to one place per stream; one instance per thread."""

    api: str

    def write(self, payload: bytes, stream: Stream) -> None:
        """Send newline-terminated lines; raise InfluxUnavailableError/InfluxRejectedError."""

    def describe(self, stream: Stream) -> str:
        """Human-readable destination, e.g. ``db=jerkmon rp=raw``."""

    def close(self) -> None: ...


class V1Writer:
    """InfluxDB v1 ``/write`` (1.x, and 2.x/3.x v1 compatibility), gzip, precision ns."""

    api = "v1"

    def __init__(self, config: InfluxConfig, server: ServerInfo) -> None:
        self.config = config
        self.server = server
        self.client = HttpClient(config.url, config.timeout_s, config.verify_tls)
        db = config.db or (config.bucket or "").split("/")[0]
        self.db = db
        self._headers: dict[str, str] = {"Content-Type": "text/plain; charset=utf-8"}
        if config.gzip:
            self._headers["Content-Encoding"] = "gzip"
        if config.token is not None:
            self._headers["Authorization"] = f"Token {config.token}"
        elif config.user is not None and config.password is not None:
            basic = base64.b64encode(f"{config.user}:{config.password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {basic}"
        is_1x = server.major == 1 or server.major is None
        params_events: dict[str, str] = {"db": db, "precision": "ns"}
        if config.rp:
            params_events["rp"] = config.rp
        if is_1x:
            params_raw = {"db": db, "rp": config.raw_rp, "precision": "ns"}
        else:
            params_raw = {"db": f"{db}_raw", "precision": "ns"}
        self._params: dict[str, dict[str, str]] = {"events": params_events, "raw": params_raw}
        self._paths = {s: "/write?" + urllib.parse.urlencode(p) for s, p in self._params.items()}

    def describe(self, stream: Stream) -> str:
        p = self._params[stream]
        rp = f" rp={p['rp']}" if "rp" in p else ""
        return f"v1 /write db={p['db']}{rp}"

    def query(self, q: str, db: str | None = None) -> dict[str, Any]:
        """Run InfluxQL through ``POST /query``; return the decoded JSON.

        Raises InfluxRejectedError (4xx or a statement error) or InfluxUnavailableError.
        """
        form = {"q": q}
        if db is not None:
            form["db"] = db
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if "Authorization" in self._headers:
            headers["Authorization"] = self._headers["Authorization"]
        status, resp_headers, body = self.client.request(
            "POST", "/query", urllib.parse.urlencode(form).encode(), headers
        )
        self._raise_for(status, resp_headers, body, f"query {q!r}")
        doc: dict[str, Any] = json.loads(body)
        for result in doc.get("results", []):
            if "error" in result:
                raise InfluxRejectedError(
                    f"InfluxDB refused {q!r}: {result['error']}", 400, str(result["error"])
                )
        return doc

    def setup(self) -> None:
        """On 1.x: create the database and the raw retention policy when missing."""
        if not self.config.create or self.server.major not in (1, None):
            return
        self.query(f"CREATE DATABASE {quote_ident(self.db)}")
        doc = self.query(f"SHOW RETENTION POLICIES ON {quote_ident(self.db)}")
        series = doc["results"][0].get("series", [])
        names = {row[0] for s in series for row in s.get("values", [])}
        if self.config.raw_rp not in names:
            self.query(
                f"CREATE RETENTION POLICY {quote_ident(self.config.raw_rp)} ON "
                f"{quote_ident(self.db)} DURATION {self.config.raw_retention} REPLICATION 1"
            )
            log.info(
                "created retention policy %s on %s (duration %s)",
                self.config.raw_rp,
                self.db,
                self.config.raw_retention,
            )

    def missing(self, raw: bool) -> list[str]:
        """What the writes need that the server lacks: the database and, when raw points
        are written, the raw retention policy (1.x) or ``<db>_raw`` (2.x/3.x)."""
        doc = self.query("SHOW DATABASES")
        series = doc["results"][0].get("series", [])
        names = {row[0] for s in series for row in s.get("values", [])}
        out = [] if self.db in names else [f"database {self.db!r}"]
        if raw and self.server.major not in (1, None):
            raw_db = self._params["raw"]["db"]
            if raw_db not in names:
                out.append(f"database {raw_db!r} (raw acceleration)")
        elif raw and not out:
            doc = self.query(f"SHOW RETENTION POLICIES ON {quote_ident(self.db)}")
            series = doc["results"][0].get("series", [])
            if self.config.raw_rp not in {row[0] for s in series for row in s.get("values", [])}:
                out.append(f"retention policy {self.config.raw_rp!r} on {self.db!r}")
        return out

    def _raise_for(
        self, status: int, headers: http.client.HTTPMessage, body: bytes, what: str
    ) -> None:
        if 200 <= status < 300:
            return
        message = _server_message(body, headers)
        if status == 429 or status >= 500:
            raise InfluxUnavailableError(
                f"InfluxDB answered {status} to {what}: {message}",
                parse_retry_after(headers.get("Retry-After")),
            )
        raise InfluxRejectedError(
            f"InfluxDB refused {what} with {status}: {message}", status, message
        )

    def write(self, payload: bytes, stream: Stream) -> None:
        body = gzip.compress(payload, compresslevel=1) if self.config.gzip else payload
        path = self._paths[stream]
        status, headers, data = self.client.request("POST", path, body, self._headers)
        self._raise_for(status, headers, data, f"write to {self.describe(stream)}")

    def close(self) -> None:
        self.client.close()


class V2Writer:
    """InfluxDB v2 ``/api/v2/write`` through ``influxdb-client``'s synchronous WriteApi.

    Why synchronous mode and not the client's batching: its batching WriteApi buffers points
    in memory only, retries a few times (at most 180 s) and then drops the batch through an
    error callback, and drops 4xx answers at once; points still buffered at a crash or without
    ``close()`` are lost.  Our spool already buffers durably on disk, batches, retries without
    a deadline and quarantines rejected lines, so the client only has to send one request per
    batch and report the answer, which is what SYNCHRONOUS does.
    """

    api = "v2"

    def __init__(self, config: InfluxConfig, server: ServerInfo) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        if config.org is None or config.bucket is None or config.token is None:
            raise StorageError("the v2 API needs org, bucket and token")
        self.config = config
        self.server = server
        self._client = InfluxDBClient(
            url=config.url,
            token=config.token,
            org=config.org,
            timeout=int(config.timeout_s * 1000),
            enable_gzip=config.gzip,
            verify_ssl=config.verify_tls,
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._buckets: dict[str, str] = {"events": config.bucket, "raw": f"{config.bucket}_raw"}

    def describe(self, stream: Stream) -> str:
        return f"v2 /api/v2/write org={self.config.org} bucket={self._buckets[stream]}"

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            status = int(exc.status or 0)
            body = exc.body if isinstance(exc.body, bytes) else str(exc.body or "").encode()
            resp_headers: dict[str, str] = {str(k): str(v) for k, v in (exc.headers or {}).items()}
            message = _server_message(body, resp_headers)
            if status == 429 or status >= 500 or status == 0:
                retry = parse_retry_after(resp_headers.get("Retry-After"))
                raise InfluxUnavailableError(
                    f"InfluxDB answered {status} to {what}: {message}", retry
                ) from None
            if status == 404 and "page not found" in message:
                message += " (no /api/v2/write here: an InfluxDB 1.x server? use db=...)"
            raise InfluxRejectedError(
                f"InfluxDB refused {what} with {status}: {message}", status, message
            ) from None
        except (Urllib3Error, OSError) as exc:
            raise InfluxUnavailableError(f"InfluxDB unreachable ({what}): {exc}") from None

    def setup(self) -> None:
        """Create the main bucket (no expiry) and ``<bucket>_raw`` (raw retention) if missing."""
        if not self.config.create:
            return
        from influxdb_client.domain.bucket_retention_rules import BucketRetentionRules

        api = self._client.buckets_api()
        raw_s = 0
        if self.config.raw_retention != "INF":
            unit = self.config.raw_retention[-1]
            raw_s = int(self.config.raw_retention[:-1]) * _RETENTION_S[unit]
        for stream, every_s in (("events", 0), ("raw", raw_s)):
            name = self._buckets[stream]
            try:
                found = self._call(f"find bucket {name}", api.find_bucket_by_name, name)
                if found is None:
                    rules = BucketRetentionRules(  # type: ignore[no-untyped-call]
                        type="expire", every_seconds=every_s
                    )
                    self._call(
                        f"create bucket {name}",
                        api.create_bucket,
                        bucket_name=name,
                        retention_rules=rules,
                        org=self.config.org,
                    )
                    log.info("created bucket %s (retention %s s, 0 = forever)", name, every_s)
            except InfluxRejectedError as exc:
                log.warning("cannot check or create bucket %s: %s", name, exc.server_message)

    def missing(self, raw: bool) -> list[str]:
        """Buckets the writes need that the server lacks (a token that may not list
        buckets cannot tell: nothing is reported)."""
        api = self._client.buckets_api()
        out: list[str] = []
        for stream in ("events", "raw") if raw else ("events",):
            name = self._buckets[stream]
            try:
                if self._call(f"find bucket {name}", api.find_bucket_by_name, name) is None:
                    out.append(f"bucket {name!r}")
            except InfluxRejectedError:
                pass
        return out

    def write(self, payload: bytes, stream: Stream) -> None:
        from influxdb_client.domain.write_precision import WritePrecision

        self._call(
            f"write to {self.describe(stream)}",
            self._write_api.write,
            bucket=self._buckets[stream],
            org=self.config.org,
            record=payload,
            write_precision=WritePrecision.NS,
        )

    def close(self) -> None:
        self._write_api.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]


class InfluxLink:
    """The connection decision shared by the forwarders of one Storage (thread-safe).

    :meth:`connect` pings the server, picks the API and creates the database/retention policy
    or buckets once; :meth:`new_writer` then gives each thread its own writer.
    """

    def __init__(self, config: InfluxConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self.server: ServerInfo | None = None
        self.api: str | None = None
        self._setup_done = False

    def connect(self) -> tuple[ServerInfo, str]:
        """Ping, pick the API and set up the target (once); raise InfluxUnavailableError."""
        with self._lock:
            if self.server is not None and self.api is not None and self._setup_done:
                return self.server, self.api
            client = HttpClient(self.config.url, self.config.timeout_s, self.config.verify_tls)
            try:
                server = ping(client)
                has_v2 = None
                if server.major is None and self.config.has_v2_credentials:
                    has_v2 = probe_v2_write(client, self.config)
            finally:
                client.close()
            api = pick_api(self.config, server, has_v2)
            self.server, self.api = server, api
            log.info(
                "InfluxDB %s at %s: using the %s API",
                server.version or "(unknown version)",
                self.config.url,
                api,
            )
            writer = self._make(server, api)
            try:
                assert isinstance(writer, V1Writer | V2Writer)
                try:
                    writer.setup()
                except InfluxRejectedError as exc:
                    log.error("InfluxDB set-up failed: %s", exc)
                except InfluxUnavailableError:
                    raise
                except Exception:  # set-up is best effort; the writes will tell
                    log.exception("InfluxDB set-up failed unexpectedly")
                self._setup_done = True
            finally:
                writer.close()
            return server, api

    def _make(self, server: ServerInfo, api: str) -> Writer:
        if api == "v2":
            return V2Writer(self.config, server)
        return V1Writer(self.config, server)

    def new_writer(self) -> Writer:
        server, api = self.connect()
        return self._make(server, api)

    def missing(self, raw: bool) -> list[str]:
        """Database, retention policy or buckets the writes need that the server does not
        have (see :meth:`V1Writer.missing`, :meth:`V2Writer.missing`); raises
        InfluxUnavailableError when the server cannot be asked."""
        writer = self.new_writer()
        try:
            assert isinstance(writer, V1Writer | V2Writer)
            return writer.missing(raw)
        finally:
            writer.close()

    def reset(self, *, redo_setup: bool = True) -> None:
        """Forget the decision (after a 404 database-not-found, for instance)."""
        with self._lock:
            self._setup_done = not redo_setup and self._setup_done
            self.server = None
            self.api = None
