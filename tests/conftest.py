"""Shared fixtures: one real embedded PostgreSQL for the whole test session, in a temporary data directory."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgsimilar import Client, Collection
from pgsimilar.config import Settings
from pgsimilar.core.evaluation import BeirData, load_beir_collection, read_beir
from pgsimilar.storage.database import Database
from pgsimilar.storage.embedded import EmbeddedPostgres

from .cli_helpers import cli, name  # noqa: F401  (fixtures for the command-line tests)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SCIFACT = SHARED_DATA / "scifact"


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    """The embedded server's directory; the server is stopped and the directory removed at the end.

    Not under pytest's numbered temp dirs: pytest prunes old ones, which would pull the data out from
    under a server of another test session running at the same time."""
    path = Path(tempfile.mkdtemp(prefix="pgsimilar-test-"))
    yield path
    EmbeddedPostgres(path).stop()
    shutil.rmtree(path, ignore_errors=True)


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


@pytest.fixture(scope="session")
def scifact(client: Client) -> tuple[Collection, BeirData]:
    """The whole BEIR SciFact corpus (5,183 documents) embedded by minilm, and its test queries and
    judgements: loaded once for the session, because embedding it is the longest step of the suite."""
    if not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip(f"no SciFact data at {SCIFACT}")
    collection, _ = load_beir_collection(client, SCIFACT)
    return collection, read_beir(SCIFACT)
