"""API keys: random secrets shown once, stored as SHA-256 hashes, scoped to a namespace or admin."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, NotFound
from ..storage import catalog
from ..storage import keys as key_sql
from .validation import check_name

if TYPE_CHECKING:
    from ..storage.database import Database

KEY_PREFIX = "psk_"


class Scope(StrEnum):
    """What a key may do: read one namespace, read and write it, or everything (admin)."""

    READ = "read"
    READ_WRITE = "read_write"
    ADMIN = "admin"


@dataclass(frozen=True)
class ApiKey:
    """A key as the catalogue describes it (never the secret itself)."""

    id: int
    name: str
    prefix: str
    namespace: str | None
    scope: Scope
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def can_read(self, namespace: str) -> bool:
        """Whether the key may see ``namespace`` at all."""
        return self.scope is Scope.ADMIN or self.namespace == namespace

    def can_write(self, namespace: str) -> bool:
        """Whether the key may change records and collections of ``namespace``."""
        return self.scope is Scope.ADMIN or (self.namespace == namespace and self.scope is Scope.READ_WRITE)

    @classmethod
    def _from_row(cls, row: dict[str, Any]) -> ApiKey:
        return cls(**{**row, "scope": Scope(row["scope"])})


def hash_key(secret: str) -> str:
    # Keys are 256-bit random strings, so a plain SHA-256 is enough (no password-hashing stretch needed).
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ApiKeys:
    """Create, list, revoke and check API keys (``client.keys``)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def create(
        self, scope: Scope | str, *, namespace: str | None = None, name: str = ""
    ) -> tuple[ApiKey, str]:
        """A new key and its secret; the secret is shown only here and cannot be recovered."""
        try:
            scope = Scope(scope)
        except ValueError:
            raise InvalidInput(f"unknown scope {scope!r}; choose read, read_write or admin") from None
        if (scope is Scope.ADMIN) != (namespace is None):
            raise InvalidInput("an admin key has no namespace; read and read_write keys need one")
        if len(name) > 200:
            raise InvalidInput("a key name is at most 200 characters")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._database.connection() as conn:
            if namespace is not None:
                catalog.require_namespace(conn, check_name(namespace, "namespace"))
            row = key_sql.insert_key(
                conn,
                name=name,
                prefix=secret[:12],
                key_hash=hash_key(secret),
                namespace=namespace,
                scope=scope,
            )
        return ApiKey._from_row(row), secret

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included."""
        with self._database.connection() as conn:
            return [ApiKey._from_row(row) for row in key_sql.list_keys(conn)]

    def revoke(self, key_id: int) -> None:
        """Revoke a key for good (revoking it twice is fine)."""
        with self._database.connection() as conn:
            if not key_sql.key_exists(conn, key_id):
                raise NotFound(f"no API key with id {key_id}")
            key_sql.revoke_key(conn, key_id)

    def authenticate(self, secret: str) -> ApiKey | None:
        """The active key whose secret this is, or None."""
        if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
            return None
        with self._database.connection() as conn:
            row = key_sql.find_active_key(conn, hash_key(secret))
        return None if row is None else ApiKey._from_row(row)
