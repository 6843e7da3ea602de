"""Workspaces, API keys (random, shown once, stored as sha256) and the first-start bootstrap."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from sightlog.errors import BadRequest, Forbidden, NotFound, Unauthorized
from sightlog.models.records import SCOPE_ADMIN, SCOPES, ApiKey, Workspace
from sightlog.store.base import EventStore

DEFAULT_WORKSPACE = "default"
# Top-level paths a workspace slug would shadow (SPEC §4).
RESERVED_SLUGS = {"ui", "docs", "openapi.json", "health", "metrics", "vision-events", "v2", "static"}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
KEY_PREFIX_LEN = 12


def hash_key(key: str) -> str:
    # Keys carry 256 bits of entropy, so a fast unsalted hash cannot be brute-forced; it keeps lookups O(1).
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    while True:
        key = "sl_" + secrets.token_urlsafe(32)
        # The roboflow SDK treats a key without lowercase letters as a placeholder.
        if any(c.islower() for c in key[3:]):
            return key


@dataclass(frozen=True, slots=True)
class Bootstrap:
    workspace: Workspace
    key: str
    key_file: Path


class AuthService:
    blocking = True  # a store query: callers on an event loop run it in a worker thread

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def authenticate(self, key: str | None) -> ApiKey:
        if not key:
            raise Unauthorized(
                "An API key is required: send 'Authorization: Bearer <key>', "
                "'X-API-Key: <key>' or ?api_key=<key>."
            )
        found = self.store.find_key(hash_key(key))
        if found is None:
            raise Unauthorized("The API key is not valid (unknown or revoked).")
        return found

    @staticmethod
    def require(key: ApiKey, scope: str) -> None:
        if not key.allows(scope):
            raise Forbidden(f"This API key lacks the '{scope}' scope.")

    def create_workspace(self, slug: str, name: str | None = None) -> Workspace:
        if not _SLUG.match(slug) or slug in RESERVED_SLUGS:
            raise BadRequest(
                f"'{slug}' cannot name a workspace: use lower-case letters, digits and dashes "
                f"(not one of {', '.join(sorted(RESERVED_SLUGS))})."
            )
        return self.store.create_workspace(slug, name or slug)

    def workspace(self, slug: str) -> Workspace:
        found = self.store.get_workspace(slug)
        if found is None:
            raise NotFound(f"No workspace '{slug}'.")
        return found

    def create_key(
        self, workspace: Workspace, scopes: set[str], name: str | None = None, key: str | None = None
    ) -> str:
        unknown = scopes - set(SCOPES)
        if unknown or not scopes:
            raise BadRequest(
                f"Scopes must be some of {', '.join(SCOPES)}; got {', '.join(sorted(scopes)) or 'none'}."
            )
        key = key or new_key()
        self.store.create_key(workspace.pk, hash_key(key), key[:KEY_PREFIX_LEN], frozenset(scopes), name)
        return key

    def revoke(self, prefix: str) -> int:
        if len(prefix) < KEY_PREFIX_LEN:
            raise BadRequest(
                f"Give the key's first {KEY_PREFIX_LEN} characters (as `keys list` shows) or the whole key."
            )
        return self.store.revoke_key(prefix[:KEY_PREFIX_LEN])

    def bootstrap(self, data_dir: Path, preset_key: str | None) -> Bootstrap | None:
        """On an empty store: workspace ``default`` and one admin key, written to ``bootstrap-key`` (0600)."""
        key = preset_key or new_key()
        scopes = frozenset({SCOPE_ADMIN})
        workspace = self.store.create_first_workspace(
            DEFAULT_WORKSPACE, "Default", hash_key(key), key[:KEY_PREFIX_LEN], scopes
        )
        if workspace is None:
            return None
        key_file = data_dir / "bootstrap-key"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key + "\n")
        os.chmod(key_file, 0o600)
        return Bootstrap(workspace=workspace, key=key, key_file=key_file)
