"""Shared fixtures: one real embedded PostgreSQL for the whole test session, in a temporary data directory."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgsimilar import Client, Collection
from pgsimilar.config import Settings
from pgsimilar.storage.database import Database
from pgsimilar.storage.embedded import EmbeddedPostgres

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The embedded server's directory; the server is stopped when the session ends."""
    path = tmp_path_factory.mktemp("pgsimilar-data")
    yield path
    EmbeddedPostgres(path).stop()


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    # Built explicitly so that a developer's PGSIMILAR_* variables never point tests at their own data.
    return Settings(database_url=os.environ.get("PGSIMILAR_TEST_DATABASE_URL"), data_dir=data_dir)


@pytest.fixture(scope="session")
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings)
    yield db
    db.close()


@pytest.fixture
def unique_name() -> str:
    """A collection or namespace name no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def client(settings: Settings, database: Database) -> Iterator[Client]:
    with Client(settings=settings) as pgsimilar_client:
        yield pgsimilar_client


@pytest.fixture
def text_collection(client: Client, unique_name: str) -> Iterator[Collection]:
    """An empty minilm collection (cosine, HNSW), dropped after the test."""
    collection = client.create_collection(unique_name)
    yield collection
    client.drop_collection(unique_name, missing_ok=True)
