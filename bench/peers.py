"""Nearest-neighbour searchers with one shape, so a benchmark can alternate them query set by query set.

Each has ``name``, ``set_ef(ef)`` (untimed: the search-breadth knob, ``ef_search``) and
``search(vector, k) -> list[int]`` (the ids of the k nearest, as ints). The peers' packages are
optional (``pip install -e '.[bench]'``): :func:`missing_peers` says which are absent.

- :class:`PgsimilarSearcher`: ``Collection.search(vector=..., k=..., ef_search=...)``.
- :class:`PsycopgSearcher`: the SQL pgsimilar runs (read from ``explain``), or any statement, through a
  bare psycopg connection: binary vector parameter, prepared statement, settings made once per session.
- :class:`HnswlibSearcher`: hnswlib in this process (the in-process limit).
- :class:`ChromaSearcher`: Chroma's embedded persistent client in this process.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from psycopg import sql

F32 = npt.NDArray[np.float32]
PEER_PACKAGES = {"hnswlib": "hnswlib", "chromadb": "chromadb"}


def missing_peers() -> list[str]:
    return [package for package, module in PEER_PACKAGES.items() if importlib.util.find_spec(module) is None]


class Searcher(Protocol):
    name: str

    def set_ef(self, ef: int) -> None: ...

    def search(self, vector: F32, k: int) -> list[int]: ...


def search_all(searcher: Searcher, queries: F32, k: int) -> list[list[int]]:
    return [searcher.search(q, k) for q in queries]


class PgsimilarSearcher:
    name = "pgsimilar"

    def __init__(self, collection: Any, *, filter: dict[str, Any] | None = None, exact: bool = False) -> None:
        self.collection = collection
        self.filter = filter
        self.exact = exact
        self.ef: int | None = None
        self.last_hits = 0

    def set_ef(self, ef: int) -> None:
        self.ef = ef

    def search(self, vector: F32, k: int) -> list[int]:
        hits = self.collection.search(
            vector=vector,
            k=k,
            ef_search=None if self.exact else self.ef,
            filter=self.filter,
            exact=self.exact,
        )
        return [int(hit.id) for hit in hits]


# ":name" placeholders of pgsimilar's readable SQL, but not the "::type" of a cast.
_PLACEHOLDER = re.compile(r"(?<![:\w]):(\w+)")


def executable_sql(readable: str, binary: set[str]) -> str:
    """pgsimilar's ``explain.sql`` (placeholders shown as ``:name``) as a psycopg statement."""
    escaped = readable.replace("%", "%%")
    return _PLACEHOLDER.sub(lambda m: f"%({m[1]})" + ("b" if m[1] in binary else "s"), escaped)


class PsycopgSearcher:
    """One statement through a bare psycopg connection, as a careful user would run it by hand: the
    settings made once for the session (``SET``, untimed, redone by ``set_ef``), then each query one
    round trip of a prepared statement with a binary vector. The engine's own limit from Python."""

    def __init__(
        self,
        name: str,
        conn: Any,
        statement: str,
        *,
        settings: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        ef_setting: str | None = "hnsw.ef_search",
    ) -> None:
        if not conn.autocommit:
            raise ValueError("PsycopgSearcher needs an autocommit connection (session-level settings)")
        self.name = name
        self.conn = conn
        self.statement = statement
        self.settings = dict(settings or {})
        self.params = dict(params or {})
        self.ef_setting = ef_setting
        self._apply_settings()

    def _apply_settings(self) -> None:
        # SET takes no bind parameters: the names are ours and the values are formatted as literals.
        for name, value in self.settings.items():
            self.conn.execute(sql.SQL("SET {} = {}").format(sql.SQL(name), sql.Literal(value)))

    def set_ef(self, ef: int) -> None:
        if self.ef_setting is not None:
            self.settings[self.ef_setting] = str(ef)
            self._apply_settings()

    def search(self, vector: F32, k: int) -> list[int]:
        params = {**self.params, "query_vector": vector, "k": k}
        rows = self.conn.execute(self.statement, params, prepare=True).fetchall()
        return [int(row[0]) for row in rows]


class HnswlibSearcher:
    name = "hnswlib"

    def __init__(
        self, base: F32, *, space: str, m: int, ef_construction: int, threads: int = 2, k: int = 10
    ) -> None:
        import hnswlib

        self.k = k
        self.index = hnswlib.Index(space=space, dim=base.shape[1])
        self.index.init_index(max_elements=len(base), M=m, ef_construction=ef_construction, random_seed=100)
        self.index.set_num_threads(threads)  # building uses every core, as pgvector's parallel build does
        self.index.add_items(base, np.arange(len(base)))
        self.index.set_num_threads(1)  # one query at a time, like the others

    def set_ef(self, ef: int) -> None:
        self.index.set_ef(max(ef, self.k))  # hnswlib refuses ef < k; pgsimilar raises it to k as well

    def search(self, vector: F32, k: int) -> list[int]:
        labels, _ = self.index.knn_query(vector, k=k)
        return [int(x) for x in labels[0]]


class ChromaSearcher:
    """Chroma's embedded client. Its ``ef_search`` is read when the index is loaded, so ``set_ef``
    modifies the collection's configuration and reopens the client (untimed)."""

    name = "chroma"

    def __init__(
        self,
        base: F32,
        *,
        space: str,
        m: int,
        ef_construction: int,
        ef_search: int = 10,
        directory: Path | None = None,
        metadatas: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        self._own_dir = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="pgsimilar-bench-chroma-"))
        self.client = self._open()
        self.collection = self.client.create_collection(
            "bench",
            embedding_function=None,
            configuration={
                "hnsw": {
                    "space": space,
                    "max_neighbors": m,
                    "ef_construction": ef_construction,
                    "ef_search": ef_search,
                }
            },
        )
        batch = self.client.get_max_batch_size()
        for start in range(0, len(base), batch):
            stop = min(len(base), start + batch)
            self.collection.add(
                ids=[str(i) for i in range(start, stop)],
                embeddings=base[start:stop],
                metadatas=list(metadatas[start:stop]) if metadatas is not None else None,
            )
        self.ef = ef_search
        self.where: dict[str, Any] | None = None

    def _open(self) -> Any:
        import chromadb
        from chromadb.config import Settings

        return chromadb.PersistentClient(
            path=str(self.directory), settings=Settings(anonymized_telemetry=False, allow_reset=True)
        )

    def set_ef(self, ef: int) -> None:
        if ef == self.ef:
            return
        self.collection.modify(configuration={"hnsw": {"ef_search": ef}})
        self.client.clear_system_cache()
        self.client = self._open()
        self.collection = self.client.get_collection("bench", embedding_function=None)
        self.ef = ef
        self.search(np.zeros(self._dimensions(), dtype=np.float32), 1)  # load the index, untimed

    def _dimensions(self) -> int:
        got = self.collection.get(limit=1, include=["embeddings"])
        return len(got["embeddings"][0])

    def search(self, vector: F32, k: int) -> list[int]:
        result = self.collection.query(
            query_embeddings=vector[None, :], n_results=k, where=self.where, include=[]
        )
        return [int(x) for x in result["ids"][0]]

    def close(self) -> None:
        self.client.clear_system_cache()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)
