"""The embedded server, the catalogue migrations and database errors."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import psycopg
import pytest

from pgsimilar import Client, DatabaseUnavailable, Settings
from pgsimilar.storage.database import Database, _load_json, redact
from pgsimilar.storage.embedded import SERVER_SETTINGS_FILE, EmbeddedPostgres, server_settings
from pgsimilar.storage.migrations import MIGRATIONS, applied_versions, migrate


def test_embedded_server_runs_postgres_18_with_pgvector(database: Database) -> None:
    with database.connection() as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        extension = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    assert version is not None and int(version[0]) >= 180000
    assert extension is not None and tuple(int(part) for part in extension[0].split(".")[:2]) >= (0, 8)


def test_migrations_are_recorded_and_running_them_again_is_a_no_op(database: Database) -> None:
    with psycopg.connect(database.url, autocommit=True) as conn:
        assert migrate(conn) == []
        assert applied_versions(conn) == [migration.version for migration in MIGRATIONS]
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'pgsimilar'"
            ).fetchall()
        }
    assert {"migrations", "namespaces", "collections", "api_keys", "jobs", "job_items"} <= tables


def test_pooled_connections_exchange_vectors_in_binary(database: Database) -> None:
    import numpy as np

    with database.connection() as conn, conn.cursor(binary=True) as cur:
        row = cur.execute("SELECT %b::vector", (np.array([1.5, -2.0, 3.25], dtype=np.float32),)).fetchone()
    assert row is not None
    assert row[0].to_list() == [1.5, -2.0, 3.25]


def test_the_pool_hands_out_the_connection_returned_last(database: Database) -> None:
    """One thread's consecutive statements go to one server process, whose caches are warm, however
    many connections the pool has made; the least recently used wait at the front, to be closed."""
    with database.connection() as first, database.connection() as second, database.connection() as third:
        pids = [conn.info.backend_pid for conn in (first, second, third)]
    assert len(set(pids)) == 3
    # The three went back third, second, first (the blocks close inside out): first is the most recent.
    for _ in range(4):
        with database.connection() as conn:
            assert conn.info.backend_pid == pids[0]
    with database.connection() as again, database.connection() as next_one:
        assert (again.info.backend_pid, next_one.info.backend_pid) == (pids[0], pids[1])


def test_a_connection_used_in_autocommit_mode_comes_back_in_a_transaction(database: Database) -> None:
    """Searches leave their pooled connection in autocommit mode (so a run of them switches nothing);
    the next ordinary use of it must still be one transaction: all of the block, or none of it."""
    with database.connection() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.mode_test (n int)")
        conn.execute("TRUNCATE public.mode_test")
    with database.connection(autocommit=True) as conn:
        pid = conn.info.backend_pid
        assert conn.autocommit
        conn.execute("INSERT INTO public.mode_test VALUES (1)")  # committed at once, whatever follows
    with pytest.raises(RuntimeError), database.connection() as conn:
        assert conn.info.backend_pid == pid and not conn.autocommit  # the same connection, switched back
        conn.execute("INSERT INTO public.mode_test VALUES (2)")
        raise RuntimeError("the block fails: its insert is rolled back")
    with pytest.raises(RuntimeError), database.connection(autocommit=True) as conn:
        assert conn.info.backend_pid == pid
        conn.execute("INSERT INTO public.mode_test VALUES (3)")
        raise RuntimeError("in autocommit mode the insert has already been committed")
    with database.connection() as conn:
        assert conn.execute("SELECT array_agg(n ORDER BY n) FROM public.mode_test").fetchone() == ([1, 3],)
        conn.execute("DROP TABLE public.mode_test")


def test_a_pool_with_no_free_connection_is_a_clear_error(settings: Settings) -> None:
    small = Database(
        settings.model_copy(update={"pool_min_size": 1, "pool_max_size": 1, "connect_timeout": 0.5})
    )
    try:
        with (
            small.connection(autocommit=True) as held,
            pytest.raises(DatabaseUnavailable, match="PGSIMILAR_POOL_MAX_SIZE"),
            small.connection(),
        ):
            pass
        with small.connection() as again:  # the held one went back, and is the one handed out
            assert again is held and not again.autocommit
    finally:
        small.close()


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '{"big": 123456789012345678901234567890, "neg": -9223372036854775809}',
        r'{"é": "\\u0000 is six characters", "emoji": "\ud83d\ude00", "nested": [{"x": null}]}',
        ' {"leading": true}',
        '{"trailing": true}  ',
        '"a string"',
        "[1, 2.5, 1e3, -0.5]",
    ],
)
def test_json_from_the_server_reads_as_the_json_module_reads_it(database: Database, text: str) -> None:
    """Metadata is read with a quicker decoder; it must give what ``json.loads`` gives, for jsonb
    (as the server writes it back) and for json (kept as it was written, spaces and all)."""
    with database.connection() as conn:
        row = conn.execute("SELECT %s::jsonb, %s::json", (text, text)).fetchone()
    assert row is not None
    expected = json.loads(text)
    assert row[0] == expected and row[1] == expected
    assert _load_json(text.encode()) == expected
    with pytest.raises(json.JSONDecodeError):
        _load_json(b'{"a": 1} trailing')


def test_embedded_server_stop_start_and_status(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "data")
    assert not server.status().running
    url = server.start()
    try:
        status = server.status()
        assert status.running and status.initialised and status.pid
        assert status.url == url
        assert server.start() == url  # reuses the running server
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        assert server.stop()
    assert not server.status().running
    assert not server.stop()


def test_embedded_server_settings_are_sized_for_the_machine() -> None:
    gib = 1024**3
    laptop = server_settings(16 * gib)
    assert laptop["shared_buffers"] == "4096MB" and laptop["effective_cache_size"] == "8192MB"
    assert laptop["jit"] == "off"
    assert server_settings(1 * gib)["shared_buffers"] == "256MB"
    assert server_settings(256 * 1024**2)["shared_buffers"] == "128MB"  # never below initdb's default
    assert server_settings(256 * gib)["shared_buffers"] == "8192MB"  # nor above 8 GB


def test_embedded_server_starts_with_its_settings_and_keeps_them_across_restarts(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "data")
    wanted = server_settings(psutil.virtual_memory().total)
    for _ in range(2):
        url = server.start()
        try:
            with psycopg.connect(url) as conn:
                assert conn.execute("SHOW jit").fetchone() == ("off",)
                for name in ("shared_buffers", "work_mem", "max_wal_size", "effective_cache_size"):
                    row = conn.execute(
                        "SELECT pg_size_bytes(current_setting(%s)) = pg_size_bytes(%s)", (name, wanted[name])
                    ).fetchone()
                    assert row == (True,), name
        finally:
            server.stop()
    conf = (server.pgdata / "postgresql.conf").read_text()
    assert conf.count(f"include_if_exists = '{SERVER_SETTINGS_FILE}'") == 1


def test_unreachable_database_url_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql://someone:s3cret@127.0.0.1:1/nowhere", data_dir=tmp_path, connect_timeout=2
    )
    with pytest.raises(DatabaseUnavailable) as caught:
        Client(settings=settings)
    message = str(caught.value)
    assert "127.0.0.1" in message and "PGSIMILAR_DATABASE_URL" in message
    assert "s3cret" not in message


def test_redact_hides_passwords() -> None:
    assert "hunter2" not in redact("postgresql://user:hunter2@db.example.com:5432/app?sslmode=require")
    assert "sslmode=require" in redact("postgresql://user:hunter2@db.example.com:5432/app?sslmode=require")


def test_an_external_url_is_used_as_given(database: Database, tmp_path: Path) -> None:
    """PGSIMILAR_DATABASE_URL wins over the embedded server (here: the same server, by its URL)."""
    other_dir = tmp_path / "unused"
    with Client(database.url, settings=Settings(data_dir=other_dir)) as client:
        assert "default" in client.list_namespaces()
    assert not other_dir.exists()  # no embedded server was started for it
