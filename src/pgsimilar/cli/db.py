"""``pgsimilar db``: the embedded PostgreSQL."""

from __future__ import annotations

import typer

from ..config import Settings
from ..errors import ConfigurationError
from ..storage.database import Database, redact
from ..storage.embedded import EmbeddedPostgres
from .common import JsonOption, console, print_fields, reports_errors

app = typer.Typer(help="Manage the embedded PostgreSQL (used when PGSIMILAR_DATABASE_URL is unset).")


def _embedded(settings: Settings) -> EmbeddedPostgres:
    if not settings.uses_embedded_database:
        raise ConfigurationError(
            "PGSIMILAR_DATABASE_URL is set, so pgsimilar uses that server; unset it to manage the embedded one"
        )
    return EmbeddedPostgres(settings.data_dir)


@app.command()
@reports_errors
def start() -> None:
    """Start the embedded server (or find it running), and create the pgsimilar catalogue."""
    settings = Settings()
    _embedded(settings)
    Database(settings).close()  # starts the server, applies migrations
    console.print(f"embedded PostgreSQL running, data in {EmbeddedPostgres(settings.data_dir).pgdata}")


@app.command()
@reports_errors
def stop() -> None:
    """Stop the embedded server."""
    stopped = _embedded(Settings()).stop()
    console.print("stopped" if stopped else "not running")


@app.command()
@reports_errors
def status(as_json: JsonOption = False) -> None:
    """Say whether the database is running, where its data is, and its URL."""
    settings = Settings()
    if not settings.uses_embedded_database:
        assert settings.database_url is not None
        info = {"embedded": False, "url": redact(settings.database_url)}
    else:
        state = EmbeddedPostgres(settings.data_dir).status()
        info = {
            "embedded": True,
            "running": state.running,
            "initialised": state.initialised,
            "pid": state.pid,
            "data_dir": str(state.pgdata),
            "url": state.url,
        }
    print_fields(info, as_json)


@app.command()
@reports_errors
def url() -> None:
    """Print the connection URL (starting the embedded server if needed), e.g. for psql "$(pgsimilar db url)"."""
    settings = Settings()
    if settings.database_url is not None:
        typer.echo(settings.database_url)
        return
    typer.echo(EmbeddedPostgres(settings.data_dir).start())
