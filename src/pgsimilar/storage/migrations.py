"""Numbered schema migrations of the ``pgsimilar`` catalogue.

Each migration is applied in the same transaction as its record in ``pgsimilar.migrations``, under an
advisory lock, so concurrent starts apply it once and a failed migration leaves nothing behind.
Append new migrations to :data:`MIGRATIONS`; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg import Connection, sql

SCHEMA = "pgsimilar"
# Any constant works; it only has to be the same for every pgsimilar process.
_MIGRATION_LOCK_KEY = 0x70677369  # "pgsi"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection[Any]], None]


def m001_create_catalog(conn: Connection[Any]) -> None:
    """Namespaces, collections, API keys and jobs."""
    conn.execute(
        """
        CREATE TABLE pgsimilar.namespaces (
            name text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        INSERT INTO pgsimilar.namespaces (name) VALUES ('default');

        CREATE TABLE pgsimilar.collections (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            namespace text NOT NULL REFERENCES pgsimilar.namespaces (name),
            name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
            table_name text NOT NULL UNIQUE,
            embedder text NOT NULL,
            embedder_options jsonb NOT NULL DEFAULT '{}',
            dimensions integer NOT NULL CHECK (dimensions BETWEEN 1 AND 16000),
            metric text NOT NULL CHECK (metric IN ('cosine', 'l2', 'inner_product')),
            storage text NOT NULL CHECK (storage IN ('vector', 'halfvec')),
            index_kind text NOT NULL CHECK (index_kind IN ('none', 'hnsw', 'ivfflat')),
            index_options jsonb NOT NULL DEFAULT '{}',
            search_defaults jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (namespace, name)
        );

        CREATE TABLE pgsimilar.api_keys (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL DEFAULT '',
            prefix text NOT NULL,
            key_hash text NOT NULL UNIQUE,
            namespace text REFERENCES pgsimilar.namespaces (name) ON DELETE CASCADE,
            scope text NOT NULL CHECK (scope IN ('read', 'read_write', 'admin')),
            created_at timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz,
            revoked_at timestamptz,
            CHECK ((scope = 'admin') = (namespace IS NULL))
        );

        CREATE TABLE pgsimilar.jobs (
            id uuid PRIMARY KEY,
            namespace text NOT NULL REFERENCES pgsimilar.namespaces (name) ON DELETE CASCADE,
            collection_id bigint REFERENCES pgsimilar.collections (id) ON DELETE CASCADE,
            kind text NOT NULL,
            status text NOT NULL DEFAULT 'queued' CHECK (status IN (
                'queued', 'running', 'succeeded', 'partially_failed', 'failed', 'cancelled')),
            total integer NOT NULL DEFAULT 0,
            done integer NOT NULL DEFAULT 0,
            failed integer NOT NULL DEFAULT 0,
            cancel_requested boolean NOT NULL DEFAULT false,
            options jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX jobs_namespace_created_idx ON pgsimilar.jobs (namespace, created_at DESC);

        CREATE TABLE pgsimilar.job_items (
            job_id uuid NOT NULL REFERENCES pgsimilar.jobs (id) ON DELETE CASCADE,
            position integer NOT NULL,
            name text NOT NULL,
            status text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'done', 'failed', 'cancelled')),
            payload bytea,
            metadata jsonb NOT NULL DEFAULT '{}',
            error text,
            attempts integer NOT NULL DEFAULT 0,
            claimed_by text,
            claim_expires_at timestamptz,
            PRIMARY KEY (job_id, position)
        );
        CREATE INDEX job_items_pending_idx ON pgsimilar.job_items (job_id, position) WHERE status = 'pending';
        """
    )


def m002_image_columns(conn: Connection[Any]) -> None:
    """Collection tables made before images were supported get the image columns."""
    rows = conn.execute("SELECT table_name FROM pgsimilar.collections").fetchall()
    for (table_name,) in rows:
        conn.execute(
            sql.SQL(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS media_type text, "
                "ADD COLUMN IF NOT EXISTS image bytea, ADD COLUMN IF NOT EXISTS thumbnail bytea"
            ).format(sql.Identifier(SCHEMA, table_name))
        )


def m003_full_text_search(conn: Connection[Any]) -> None:
    """A text-search language per collection, and a generated tsvector column with a GIN index."""
    from .tables import content_tsv_column, create_content_tsv_index

    conn.execute("ALTER TABLE pgsimilar.collections ADD COLUMN text_language text NOT NULL DEFAULT 'english'")
    for collection_id, table_name in conn.execute(
        "SELECT id, table_name FROM pgsimilar.collections"
    ).fetchall():
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(
                sql.Identifier(SCHEMA, table_name), content_tsv_column("english")
            )
        )
        create_content_tsv_index(conn, table_name, collection_id, only_with_content=False)  # as shipped


def m004_upload_jobs(conn: Connection[Any]) -> None:
    """Job items get a kind (what their payload is) and the id of the record they became; an archive or
    records file that was unpacked into items of its own is 'expanded'."""
    conn.execute(
        """
        ALTER TABLE pgsimilar.job_items
            ADD COLUMN kind text NOT NULL DEFAULT 'image'
                CHECK (kind IN ('image', 'record', 'archive', 'records_file', 'url')),
            ADD COLUMN record_id text,
            ADD COLUMN source text,
            DROP CONSTRAINT job_items_status_check,
            ADD CONSTRAINT job_items_status_check
                CHECK (status IN ('pending', 'done', 'failed', 'cancelled', 'expanded'));
        ALTER TABLE pgsimilar.job_items ALTER COLUMN kind DROP DEFAULT;
        CREATE INDEX jobs_active_idx ON pgsimilar.jobs (created_at) WHERE status IN ('queued', 'running');
        CREATE INDEX job_items_failed_idx ON pgsimilar.job_items (job_id, position) WHERE status = 'failed';
        """
    )


def m005_quantization(conn: Connection[Any]) -> None:
    """A collection may index its vectors binary-quantized (one bit per dimension)."""
    conn.execute(
        "ALTER TABLE pgsimilar.collections ADD COLUMN quantization text NOT NULL DEFAULT 'none' "
        "CHECK (quantization IN ('none', 'binary'))"
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "m001_create_catalog", m001_create_catalog),
    Migration(2, "m002_image_columns", m002_image_columns),
    Migration(3, "m003_full_text_search", m003_full_text_search),
    Migration(4, "m004_upload_jobs", m004_upload_jobs),
    Migration(5, "m005_quantization", m005_quantization),
)


def migrate(conn: Connection[Any]) -> list[int]:
    """Create the vector extension and the catalogue, apply pending migrations, return their versions.

    Running it again is a no-op. ``conn`` must not be inside a transaction.
    """
    applied_now: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE SCHEMA IF NOT EXISTS pgsimilar")
        conn.execute(
            """
            CREATE TABLE IF NOT EXISTS pgsimilar.migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
    for migration in MIGRATIONS:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))
            done = conn.execute(
                "SELECT 1 FROM pgsimilar.migrations WHERE version = %s", (migration.version,)
            ).fetchone()
            if done:
                continue
            migration.apply(conn)
            conn.execute(
                "INSERT INTO pgsimilar.migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            applied_now.append(migration.version)
    return applied_now


def applied_versions(conn: Connection[Any]) -> list[int]:
    rows = conn.execute("SELECT version FROM pgsimilar.migrations ORDER BY version").fetchall()
    return [int(row[0]) for row in rows]
