"""The entry point of the library: a connection to one database, and its namespaces and collections."""

from __future__ import annotations

import json
import threading
from types import TracebackType
from typing import Any, Self

from ..config import Settings
from ..embedders.base import Embedder
from ..embedders.registry import create_embedder
from ..errors import CollectionExists, DimensionMismatch, InvalidInput
from ..storage import catalog, indexes, tables
from ..storage.database import Database
from .collection import Collection
from .indexing import check_indexable, index_settings
from .jobs import JobQueue
from .keys import ApiKeys
from .types import CollectionInfo, IndexKind, Metric, Quantization, Storage
from .validation import check_name, choice

DEFAULT_NAMESPACE = "default"


class Client:
    """pgsimilar on one PostgreSQL: the embedded server unless ``database_url`` (or the
    ``PGSIMILAR_DATABASE_URL`` setting) names another.

    >>> with Client() as client:
    ...     docs = client.create_collection("docs", embedder="minilm", exist_ok=True)
    ...     docs.upsert([{"id": "1", "text": "PostgreSQL is a database"}])
    ...     docs.search("which database?", k=1)
    """

    def __init__(self, database_url: str | None = None, *, settings: Settings | None = None) -> None:
        settings = settings or Settings()
        if database_url is not None:
            settings = settings.model_copy(update={"database_url": database_url})
        self.settings = settings
        self.database = Database(settings)
        self.keys = ApiKeys(self.database)
        """API keys of the service (see :class:`pgsimilar.core.keys.ApiKeys`)."""
        self.jobs = JobQueue(self.database, settings)
        """Upload jobs (see :class:`pgsimilar.core.jobs.JobQueue`)."""
        self._embedders: dict[tuple[str, str], Embedder] = {}
        self._embedders_lock = threading.Lock()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (the embedded server keeps running for other processes)."""
        self.database.close()

    def embedder(self, name: str, options: dict[str, Any] | None = None) -> Embedder:
        """The embedder ``name`` with ``options``, built once per client."""
        key = (name, json.dumps(options or {}, sort_keys=True))
        with self._embedders_lock:
            if key not in self._embedders:
                self._embedders[key] = create_embedder(name, self.settings, options)
            return self._embedders[key]

    def record_counts(self) -> dict[tuple[str, str], int]:
        """Records per ``(namespace, collection)``, read in one pass (collections dropped meanwhile are left out)."""
        with self.database.connection() as conn:
            return catalog.record_counts(conn)

    def loaded_models(self) -> dict[str, bool]:
        """The embedders this client has built, by name, and whether each has its model in memory."""
        with self._embedders_lock:
            embedders = list(self._embedders.items())
        loaded: dict[str, bool] = {}
        for (name, _), embedder in embedders:
            loaded[name] = loaded.get(name, False) or embedder.loaded()
        return loaded

    # ---- namespaces ----------------------------------------------------------------------------------

    def create_namespace(self, name: str) -> None:
        """Create an empty namespace; NamespaceExists if it is there already."""
        check_name(name, "namespace")
        with self.database.connection() as conn:
            catalog.create_namespace(conn, name)

    def list_namespaces(self) -> list[str]:
        """Names of every namespace, sorted."""
        with self.database.connection() as conn:
            return catalog.list_namespaces(conn)

    def drop_namespace(self, name: str, *, cascade: bool = False) -> None:
        """Drop a namespace; with ``cascade`` its collections too. The ``default`` namespace stays."""
        check_name(name, "namespace")
        if name == DEFAULT_NAMESPACE:
            raise InvalidInput("the default namespace cannot be dropped")
        with self.database.connection() as conn, conn.transaction():
            catalog.require_namespace(conn, name)
            collections = catalog.list_collections(conn, name)
            if collections and not cascade:
                raise InvalidInput(
                    f"namespace {name!r} holds {len(collections)} collections; drop them or pass cascade=True"
                )
            for info in collections:
                self._drop(conn, info)
            catalog.delete_namespace_row(conn, name)

    # ---- collections ---------------------------------------------------------------------------------

    def create_collection(
        self,
        name: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        embedder: str = "minilm",
        dimensions: int | None = None,
        metric: Metric | str = Metric.COSINE,
        storage: Storage | str = Storage.VECTOR,
        index: IndexKind | str = IndexKind.HNSW,
        m: int | None = None,
        ef_construction: int | None = None,
        lists: int | None = None,
        quantization: Quantization | str = Quantization.NONE,
        embedder_options: dict[str, Any] | None = None,
        text_language: str = "english",
        exist_ok: bool = False,
    ) -> Collection:
        """Create a collection: its catalogue entry and its table (with the index, for HNSW).

        ``dimensions`` comes from the embedder; give it for ``embedder="none"`` (your own vectors) or to
        ask a model that supports it (``openai``) for shorter vectors. ``storage="halfvec"`` stores
        float16 (half the size; needed to index more than 2,000 dimensions). ``quantization="binary"``
        indexes one bit per dimension (HNSW over ``binary_quantize(embedding)``, about 32 times smaller)
        and re-ranks its candidates by the full-precision distance. ``text_language`` is the
        PostgreSQL text-search configuration of keyword search (``english``, ``french``, ``simple``...).
        With ``exist_ok`` an existing
        collection of the same embedder, dimensions and metric is returned instead of an error.
        """
        check_name(name)
        check_name(namespace, "namespace")
        metric = choice(Metric, metric, "metric")
        storage = choice(Storage, storage, "storage")
        quantization = choice(Quantization, quantization, "quantization")
        spec = index_settings(choice(IndexKind, index, "index"), m, ef_construction, lists)
        options = dict(embedder_options or {})
        if dimensions is not None:
            options.setdefault("dimensions", dimensions)
        model = self.embedder(embedder, options)
        if dimensions is not None and model.dimensions != dimensions:
            raise DimensionMismatch(
                f"embedder {embedder!r} makes {model.dimensions}-dimensional vectors, not {dimensions}"
            )
        check_indexable(model.dimensions, storage, spec.kind, quantization)
        try:
            with self.database.connection() as conn, conn.transaction():
                if text_language not in catalog.text_search_configs(conn):
                    known = ", ".join(catalog.text_search_configs(conn))
                    raise InvalidInput(
                        f"unknown text-search language {text_language!r}; the server knows: {known}"
                    )
                info = catalog.insert_collection(
                    conn,
                    namespace=namespace,
                    name=name,
                    embedder=embedder,
                    embedder_options=model.options(),
                    dimensions=model.dimensions,
                    metric=metric,
                    storage=storage,
                    index=spec,
                    text_language=text_language,
                    quantization=quantization,
                )
                tables.create_table(conn, info)
                if spec.kind is IndexKind.HNSW:
                    indexes.create_index(conn, info)  # IVFFlat waits for the first rows
        except CollectionExists:
            if not exist_ok:
                raise
            existing = self.get_collection(name, namespace=namespace)
            if (existing.info.embedder, existing.dimensions, existing.metric) != (
                embedder,
                model.dimensions,
                metric,
            ):
                raise CollectionExists(
                    f"collection {name!r} exists with embedder {existing.info.embedder!r}, "
                    f"{existing.dimensions} dimensions and metric {existing.metric.value!r}"
                ) from None
            return existing
        return Collection(self, info, model)

    def get_collection(self, name: str, *, namespace: str = DEFAULT_NAMESPACE) -> Collection:
        """The collection ``name`` of ``namespace``; CollectionNotFound (or NamespaceNotFound) otherwise."""
        check_name(name)
        check_name(namespace, "namespace")
        # Every search through the API starts here: autocommit reads the row in one round trip, instead
        # of three (BEGIN, SELECT, COMMIT).
        with self.database.connection(autocommit=True) as conn:
            info = catalog.get_collection(conn, namespace, name)
        return Collection(self, info, self.embedder(info.embedder, info.embedder_options))

    def list_collections(self, namespace: str | None = None) -> list[CollectionInfo]:
        """Collections of one namespace, or of all namespaces when ``namespace`` is None."""
        if namespace is not None:
            check_name(namespace, "namespace")
        with self.database.connection() as conn:
            return catalog.list_collections(conn, namespace)

    def drop_collection(
        self, name: str, *, namespace: str = DEFAULT_NAMESPACE, missing_ok: bool = False
    ) -> bool:
        """Drop a collection and its records. Returns False if it did not exist and ``missing_ok``."""
        check_name(name)
        check_name(namespace, "namespace")
        with self.database.connection() as conn, conn.transaction():
            try:
                info = catalog.get_collection(conn, namespace, name)
            except LookupError:
                if missing_ok:
                    return False
                raise
            self._drop(conn, info)
        return True

    @staticmethod
    def _drop(conn: Any, info: CollectionInfo) -> None:
        catalog.delete_collection_row(conn, info.id)
        tables.drop_table(conn, info)
