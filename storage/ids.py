"""Subject and sensor ids: what is allowed, and pseudonymous sensor ids.

Ids are tags in InfluxDB, keys in the local store and parts of file names (reports,
exports), so they are checked where they enter (the command line, the pipeline): 1-64
characters of ``[A-Za-z0-9._-]``, not ``.`` or ``..`` - no path separator, no whitespace, no
quote or backslash.  A sensor id may also be a BLE address (``AA:BB:CC:DD:EE:FF``).

A BLE address is a persistent device identifier; :func:`sensor_pseudonym` replaces it by a
keyed hash (HMAC-SHA-256) with a secret kept in the data directory (``sensor-key``, created
0600 on first use), so the same sensor gets the same pseudonym night after night while the
stored data does not reveal its address.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from detector.errors import ConfigError, StorageError

__all__ = ["check_id", "check_sensor_id", "sensor_pseudonym"]

MAX_ID_LENGTH = 64
_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MAC_RE = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")
KEY_FILE = "sensor-key"


def check_id(what: str, value: str) -> str:
    """``value`` if it is a valid subject/sensor id, else ConfigError naming the problem."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what} must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise ConfigError(f"{what} is {len(value)} characters long; at most {MAX_ID_LENGTH}")
    if value in (".", ".."):
        raise ConfigError(f"{what} must not be {value!r}")
    if not _ID_RE.fullmatch(value):
        bad = next(c for c in value if not _ID_RE.fullmatch(c))
        raise ConfigError(
            f"{what} {value!r} has the character {bad!r}: use letters, digits, '.', '_' "
            "and '-' only (no path separators, spaces or quotes)"
        )
    return value


def check_sensor_id(value: str) -> str:
    """A sensor id: an id as :func:`check_id` allows, or a BLE address."""
    if isinstance(value, str) and _MAC_RE.fullmatch(value):
        return value
    return check_id("sensor id", value)


def _key(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise StorageError(f"sensor pseudonym key {path}: {exc.strerror or exc}") from None
    if len(key) < 32:
        raise StorageError(
            f"sensor pseudonym key {path} is too short ({len(key)} bytes): it was damaged; "
            "restore it from a backup (a new key gives every sensor a new pseudonym)"
        )
    return key


def sensor_pseudonym(data_dir: Path, address: str) -> str:
    """The pseudonymous id of the sensor with BLE ``address``: ``sensor-`` and 16 hex digits
    of HMAC-SHA-256(data directory's key, address), stable across nights."""
    digest = hmac.new(_key(Path(data_dir)), address.upper().encode(), hashlib.sha256)
    return "sensor-" + digest.hexdigest()[:16]
