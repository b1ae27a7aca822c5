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
