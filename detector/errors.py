"""The one exception tree of jerkmon.

Every error jerkmon raises on purpose derives from :class:`JerkmonError`, so callers (the CLI,
the bedside service) can catch it in one place and show its message, which always names the
problem.  The detector is the lowest layer of the package graph, so the tree lives here and
the other packages import it.
"""

from __future__ import annotations


class JerkmonError(Exception):
    """Base class of all errors raised deliberately by jerkmon."""


class ConfigError(JerkmonError, ValueError):
    """A configuration value is out of range or inconsistent."""


class InputError(JerkmonError, ValueError):
    """Input data is malformed (wrong shape, time going backwards, bad file)."""


class ProtocolError(JerkmonError):
    """A device sent bytes that do not decode under its protocol."""


class TransportError(JerkmonError):
    """A transport (BLE link, HTTP connection) failed."""


class StorageError(JerkmonError):
    """The spool or a time-series database refused or lost data."""


class DiskFullError(StorageError):
    """The disk holding the data directory has no space left for data that must be kept
    (events, minute counts, status), even after raw data was given up."""


class StoreDamagedError(StorageError):
    """The local SQLite store is damaged (not a database, malformed pages); the message
    names the file and how to recover."""


class InfluxUnavailableError(StorageError, TransportError):
    """InfluxDB could not be reached or asked us to come back later (connection error, 429,
    5xx); the data stays in the spool and is sent again.  ``retry_after_s`` carries the
    server's Retry-After, if any."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InfluxRejectedError(StorageError):
    """InfluxDB refused a write for good (a 4xx other than 429: bad data, bad credentials,
    unknown database/bucket).  ``status`` is the HTTP status, ``server_message`` the server's
    own words."""

    def __init__(self, message: str, status: int, server_message: str) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message


class FrameDecodeError(ProtocolError):
    """A sensor data frame does not decode (truncated, unknown frame type, bad delta block,
    impossible timestamp).  ``kind`` is a short stable tag (e.g. ``"truncated"``) used to
    count bad frames by cause."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class ControlPointError(ProtocolError):
    """A sensor rejected a control command or answered with bytes that do not parse.
    ``status`` is the device's numeric status code (``None`` when the answer was garbled) and
    ``status_name`` its protocol name (e.g. ``"INVALID_SAMPLE_RATE"``)."""

    def __init__(self, message: str, status: int | None = None, status_name: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.status_name = status_name


class DeviceCapabilityError(ProtocolError):
    """A sensor lacks a feature or setting the configuration asks for (e.g. no accelerometer
    stream, unsupported sample rate); retrying will not help."""


class SensorNotFoundError(TransportError):
    """A scan finished without seeing the requested sensor."""
