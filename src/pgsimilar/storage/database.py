"""Connections: the database URL (embedded or external), the pool, and pgvector's type adapters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from ..config import Settings
from ..errors import ConfigurationError, DatabaseUnavailable
from . import session
from .embedded import EmbeddedPostgres
from .migrations import migrate

APPLICATION_NAME = "pgsimilar"


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable database URL>"
    if "password" in params:
        params["password"] = "***"
    return make_conninfo("", **params)


def resolve_database_url(settings: Settings) -> str:
    """``PGSIMILAR_DATABASE_URL`` if set, otherwise the embedded server's URL (starting it if needed)."""
    if settings.database_url is None:
        return EmbeddedPostgres(settings.data_dir).start()
    try:
        conninfo_to_dict(settings.database_url)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(f"PGSIMILAR_DATABASE_URL is not a valid libpq URL: {exc}") from exc
    return settings.database_url


_JSON_DECODER = json.JSONDecoder()


def _load_json(data: str | bytes) -> Any:
    """A json or jsonb value from the server, as ``json.loads`` reads it, but several times quicker for
    the small objects metadata usually is (no encoding detection, no whitespace scan): a search reads
    one per hit. Anything the quick way does not read whole goes to ``json.loads``."""
    text = data if isinstance(data, str) else data.decode()
    try:
        value, end = _JSON_DECODER.raw_decode(text)
    except json.JSONDecodeError:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def _configure(conn: Connection[Any]) -> None:
    # Binary dumpers/loaders for vector, halfvec, bit and sparsevec on every pooled connection.
    register_vector(conn)
    set_json_loads(_load_json, conn)


class _RecentFirstPool(ConnectionPool[Connection[Any]]):
    """Hands out the connection returned last. psycopg_pool hands idle connections out in turn, so
    one thread's consecutive searches each wake a different server process, whose caches have gone
    cold: about a tenth of a short search's time here. Taking the most recent one also leaves the
    least recently used at the front, which is where the pool closes idle connections from."""

    def _get_ready_connection(self, timeout: float | None) -> Connection[Any] | None:
        # Called under the pool's lock; the deque holds idle connections, oldest returned first.
        self._pool.rotate(1)
        return super()._get_ready_connection(timeout)


class Database:
    """A pool of connections to one PostgreSQL with pgvector, with the catalogue migrated.

    Opening connects once to check the server and apply migrations, so an unreachable URL fails here
    with :class:`DatabaseUnavailable` rather than on the first query.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = resolve_database_url(settings)
        self._check_and_migrate()
        self.pool: ConnectionPool[Connection[Any]] = _RecentFirstPool(
            self.url,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            kwargs=self._connect_kwargs(),
            configure=_configure,
            timeout=settings.connect_timeout,
            name="pgsimilar",
            open=True,
        )

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            "application_name": APPLICATION_NAME,
            "connect_timeout": max(1, round(self.settings.connect_timeout)),
        }

    def _check_and_migrate(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True, **self._connect_kwargs()) as conn:
                migrate(conn)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {redact(self.url)}: {str(exc).strip()}. Check "
                "PGSIMILAR_DATABASE_URL, or unset it to use the embedded database."
            ) from exc
        except psycopg.errors.FeatureNotSupported as exc:
            raise DatabaseUnavailable(f"the server at {redact(self.url)} lacks pgvector: {exc}") from exc
        except psycopg.errors.InsufficientPrivilege as exc:
            raise DatabaseUnavailable(
                f"cannot create the pgsimilar catalogue at {redact(self.url)}: {exc}. Ask an administrator "
                "to run CREATE EXTENSION vector, or grant CREATE on the database."
            ) from exc

    def connection(self, *, autocommit: bool = False) -> _Checkout:
        """A pooled connection, for a ``with`` block. By default in a transaction, which commits when
        the block ends without an exception (and rolls back with one). With ``autocommit=True`` every
        statement is its own transaction: what a search wants, which then saves the BEGIN and COMMIT
        round trips, and the mode switches (a pooled connection keeps the mode it was last used in,
        so a run of searches switches nothing)."""
        return _Checkout(self, autocommit)

    @contextmanager
    def autocommit_connection(self) -> Iterator[Connection[Any]]:
        """A pooled connection in autocommit mode, for statements that cannot run in a transaction block
        (``CREATE INDEX CONCURRENTLY``). Its session settings and advisory locks are reset before it goes
        back to the pool; a connection that cannot be reset is closed."""
        with self.connection(autocommit=True) as conn:
            try:
                yield conn
            finally:
                _restore(conn)

    def close(self) -> None:
        self.pool.close()


class _Checkout:
    """What :meth:`Database.connection` returns: a class rather than a generator-based context manager,
    which costs several times more, on every search."""

    __slots__ = ("_autocommit", "_conn", "_database")

    def __init__(self, database: Database, autocommit: bool) -> None:
        self._database = database
        self._autocommit = autocommit
        self._conn: Connection[Any] | None = None

    def __enter__(self) -> Connection[Any]:
        database = self._database
        try:
            conn = database.pool.getconn()
        except PoolTimeout as exc:
            raise DatabaseUnavailable(
                f"no database connection became free within {database.settings.connect_timeout}s "
                f"(pool size {database.settings.pool_max_size}); raise PGSIMILAR_POOL_MAX_SIZE"
            ) from exc
        try:
            if not self._autocommit and session.other_statements_need_reset(conn):
                _reset_plan_cache_mode(conn)
            if conn.autocommit is not self._autocommit:
                conn.autocommit = self._autocommit
        except BaseException:
            database.pool.putconn(conn)
            raise
        self._conn = conn
        return conn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self._conn
        assert conn is not None, "a checkout is entered before it is left"
        self._conn = None
        try:
            if not self._autocommit:
                conn.__exit__(exc_type, exc, tb)  # commits, or rolls back; a pooled connection stays open
        finally:
            self._database.pool.putconn(conn)


def _reset_plan_cache_mode(conn: Connection[Any]) -> None:
    """``plan_cache_mode`` back to its default at session level, outside any transaction (which could
    roll it back), for a connection that will serve other statements than searches."""
    default = session.SESSION_DEFAULTS[session.PLAN_CACHE_MODE]
    with autocommit(conn):
        conn.execute("SELECT set_config(%s, %s, false)", (session.PLAN_CACHE_MODE, default))
    session.applied(conn, {session.PLAN_CACHE_MODE: default})


def autocommit(conn: Connection[Any]) -> AbstractContextManager[Connection[Any]]:
    """``conn`` in autocommit mode for the block, then as it was: statements outside a transaction
    block save the BEGIN and COMMIT round trips. ``conn`` must not be in a transaction. A connection
    already in autocommit mode (:meth:`Database.connection` with ``autocommit=True``) is left as it is."""
    return nullcontext(conn) if conn.autocommit else _switched_to_autocommit(conn)


@contextmanager
def _switched_to_autocommit(conn: Connection[Any]) -> Iterator[Connection[Any]]:
    conn.autocommit = True
    try:
        yield conn
    finally:
        if not conn.closed:  # a broken connection is dropped by the pool anyway
            conn.autocommit = False


def _restore(conn: Connection[Any]) -> None:
    try:
        if not conn.closed:
            conn.execute("RESET ALL")
            session.forget(conn)
            conn.execute("SELECT pg_advisory_unlock_all()")
    except psycopg.Error:
        conn.close()  # the pool replaces a closed connection
