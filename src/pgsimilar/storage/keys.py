"""SQL of API keys: only a hash of each key is stored."""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

_COLUMNS = "id, name, prefix, namespace, scope, created_at, last_used_at, revoked_at"


def insert_key(
    conn: Connection[Any], *, name: str, prefix: str, key_hash: str, namespace: str | None, scope: str
) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"""
            INSERT INTO pgsimilar.api_keys (name, prefix, key_hash, namespace, scope)
            VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}
            """,  # noqa: S608
            (name, prefix, key_hash, namespace, scope),
        ).fetchone()
    assert row is not None
    return row


def list_keys(conn: Connection[Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {_COLUMNS} FROM pgsimilar.api_keys ORDER BY id").fetchall()  # noqa: S608


def revoke_key(conn: Connection[Any], key_id: int) -> bool:
    cur = conn.execute(
        "UPDATE pgsimilar.api_keys SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (key_id,)
    )
    return cur.rowcount == 1


def key_exists(conn: Connection[Any], key_id: int) -> bool:
    return conn.execute("SELECT 1 FROM pgsimilar.api_keys WHERE id = %s", (key_id,)).fetchone() is not None


def find_active_key(conn: Connection[Any], key_hash: str) -> dict[str, Any] | None:
    """The unrevoked key with this hash, its last use recorded."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""
            UPDATE pgsimilar.api_keys SET last_used_at = now()
            WHERE key_hash = %s AND revoked_at IS NULL RETURNING {_COLUMNS}
            """,  # noqa: S608
            (key_hash,),
        ).fetchone()
