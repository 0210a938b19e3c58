"""What a search request costs besides its embedding and its SQL: no route dependency hops to a worker
thread (FastAPI runs a plain ``def`` dependency on one), and the catalogue lookup of the collection is
one autocommit statement that leaves pooled connections as it found them."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from pgsimilar import Client
from pgsimilar.api.routers import (
    collections,
    compat,
    evaluation,
    health,
    indexes,
    jobs,
    namespaces,
    records,
    search,
)
from pgsimilar.config import Settings
from pgsimilar.errors import CollectionNotFound, NamespaceNotFound

from .api_helpers import new_name, variant

ROUTERS = [
    namespaces.router,
    collections.router,
    indexes.router,
    records.router,
    search.router,
    evaluation.router,
    compat.router,
    jobs.router,
    jobs.uploads_router,
    health.router,
]


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def test_route_dependencies_run_on_the_event_loop() -> None:
    checked = 0
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            for dependency in _dependencies(route.dependant):
                assert inspect.iscoroutinefunction(dependency.call), (
                    f"{route.path}: dependency {dependency.call!r} is a plain function, so FastAPI runs "
                    "it on a worker thread for every request; make it async def"
                )
                checked += 1
    assert checked > 0


@pytest.fixture
def one_connection(settings: Settings) -> Iterator[Client]:
    """A client whose pool holds a single connection, so the next checkout sees what the last one left."""
    with Client(settings=variant(settings, pool_min_size=1, pool_max_size=1)) as single:
        yield single


def test_collection_lookup_restores_the_pooled_connection(one_connection: Client) -> None:
    name = new_name()
    one_connection.create_collection(name, embedder="minilm", dimensions=384, exist_ok=True)
    try:
        assert one_connection.get_collection(name).name == name
        with pytest.raises(CollectionNotFound):
            one_connection.get_collection(new_name())
        with pytest.raises(NamespaceNotFound):
            one_connection.get_collection(name, namespace=new_name())
        with one_connection.database.connection() as conn:
            assert conn.autocommit is False  # other users of the pool expect transactions
    finally:
        one_connection.drop_collection(name)
