"""Running the ``pgsimilar`` command line in-process, against the test session's database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Protocol

import pytest
from typer.testing import CliRunner, Result

from pgsimilar.cli import app
from pgsimilar.config import Settings
from pgsimilar.storage.database import Database


class Cli(Protocol):
    def __call__(self, *args: str, input: str | None = None) -> Result: ...


@pytest.fixture
def cli(settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Runs ``pgsimilar ARGS...`` in-process, configured (as the CLI is) only by the environment."""
    for key in list(os.environ):
        if key.startswith("PGSIMILAR_"):
            monkeypatch.delenv(key)  # a developer's own settings must not leak in
    monkeypatch.setenv("PGSIMILAR_DATA_DIR", str(settings.data_dir))
    if settings.database_url is None:
        monkeypatch.delenv("PGSIMILAR_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("PGSIMILAR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("COLUMNS", "80")  # what Rich assumes when output is not a terminal
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input)

    return run


@pytest.fixture
def name(cli: Cli, unique_name: str) -> Iterator[str]:
    """A fresh collection name; the collection, if a test created it, is dropped afterwards."""
    yield unique_name
    cli("collections", "drop", unique_name, "--yes")
