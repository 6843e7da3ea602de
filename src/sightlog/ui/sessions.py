"""Dashboard sessions: a stateless, HMAC-signed cookie that names an API key by its hash.

Why this shape:

- The cookie never holds the key. It holds ``sha256(key)`` — the one-way value the keys table already
  stores — and an expiry, signed with HMAC-SHA256 under a secret that never leaves the server. Without the
  secret nobody can mint or alter a cookie, and a leaked cookie reveals nothing usable against the API.
- Every request looks the key up again by that hash, so revoking a key ends its sessions at once. Nothing is
  written per session, so it works alike on every backend and with several workers, which share the secret
  through the data directory (``SIGHTLOG_SESSION_SECRET`` gives replicas that do not share one the same).
- Sign-out deletes the cookie in the browser; a copy taken before then stays valid until it expires
  (:data:`SESSION_SECONDS`, renewed while a dashboard tab is open). Revoking the key, or deleting the
  secret file and restarting, cuts such copies off.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

import orjson
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from sightlog.errors import Unauthorized
from sightlog.models.records import ApiKey
from sightlog.store.base import EventStore

SESSION_COOKIE = "sightlog_session"
SESSION_SECONDS = 12 * 3600
SECRET_FILE = "ui-session-secret"
_VERSION = "v1"
_MIN_SECRET_CHARS = 32


class SessionSettings(BaseSettings):
    """Read apart from :class:`sightlog.config.Settings` because only the dashboard needs it."""

    model_config = SettingsConfigDict(env_prefix="SIGHTLOG_", env_file=".env", extra="ignore")

    session_secret: SecretStr | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_secret(data_dir: Path, configured: str | None = None) -> bytes:
    """The configured secret, else the one in ``<data_dir>/ui-session-secret``, created (mode 0600) if
    missing. Creation is atomic, so workers starting together all end up with the first one written."""
    if configured:
        if len(configured) < _MIN_SECRET_CHARS:
            raise ValueError(f"SIGHTLOG_SESSION_SECRET must be at least {_MIN_SECRET_CHARS} characters")
        return configured.encode()
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        staged = data_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(staged, path)  # fails if another worker got there first; theirs wins
        except FileExistsError:
            pass
        finally:
            staged.unlink()
    return path.read_text().strip().encode()


class SessionCodec:
    """Issues and reads ``v1.<payload>.<mac>`` cookies; the payload is ``{"k": key hash, "e": expiry}``."""

    def __init__(self, secret: bytes, lifetime: int = SESSION_SECONDS) -> None:
        self._secret = secret
        self.lifetime = lifetime

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> SessionCodec:
        configured = SessionSettings().session_secret
        return cls(load_secret(data_dir, configured.get_secret_value() if configured else None))

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, f"{_VERSION}.{payload}".encode(), hashlib.sha256).digest())

    def issue(self, key_hash: str, now: float | None = None) -> str:
        expires = int(now if now is not None else time.time()) + self.lifetime
        payload = _b64(orjson.dumps({"k": key_hash, "e": expires}))
        return f"{_VERSION}.{payload}.{self._mac(payload)}"

    def read(self, value: str, now: float | None = None) -> str | None:
        """The key hash of a genuine, unexpired cookie; None for anything else."""
        version, _, rest = value.partition(".")
        payload, _, mac = rest.partition(".")
        if version != _VERSION or not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return None
        try:
            claims = orjson.loads(_unb64(payload))
        except (binascii.Error, orjson.JSONDecodeError, ValueError):
            return None
        if not isinstance(claims, dict):
            return None
        key_hash, expires = claims.get("k"), claims.get("e")
        if not isinstance(key_hash, str) or not isinstance(expires, int):
            return None
        return key_hash if expires > (now if now is not None else time.time()) else None


def authenticate(store: EventStore, codec: SessionCodec, value: str) -> ApiKey:
    """The live key a session cookie names; 401 when the cookie is forged, expired or its key revoked."""
    key_hash = codec.read(value)
    found = store.find_key(key_hash) if key_hash else None
    if found is None:
        raise Unauthorized("The dashboard session has expired or its key was revoked; sign in again.")
    return found
