"""The small value types of the public API: records in, hits out, and a collection's description."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt
from PIL.Image import Image as PILImage

VectorLike = Sequence[float] | npt.NDArray[np.floating[Any]]
Filter = Mapping[str, Any]


class Metric(StrEnum):
    """How distance is measured; fixed per collection and matched by its index's operator class."""

    COSINE = "cosine"
    L2 = "l2"
    INNER_PRODUCT = "inner_product"


class Storage(StrEnum):
    """Column type of the vectors: ``vector`` (float32) or ``halfvec`` (float16, half the size)."""

    VECTOR = "vector"
    HALFVEC = "halfvec"


class SearchMode(StrEnum):
    """``vector`` (nearest neighbours), ``keyword`` (PostgreSQL full-text search) or ``hybrid`` (both,
    fused by reciprocal rank)."""

    VECTOR = "vector"
    KEYWORD = "keyword"
    HYBRID = "hybrid"


class IndexKind(StrEnum):
    """The approximate index of a collection: none (exact search only), HNSW or IVFFlat."""

    NONE = "none"
    HNSW = "hnsw"
    IVFFLAT = "ivfflat"


class Quantization(StrEnum):
    """What the approximate index holds: the vectors themselves (``none``), or one bit per dimension
    (``binary``: an HNSW index over ``binary_quantize(embedding)``, whose candidates are re-ranked by the
    full-precision distance)."""

    NONE = "none"
    BINARY = "binary"


@dataclass
class Record:
    """One item of a collection: an id, optional text content, JSON metadata and (optionally) its vector.

    Give ``vector`` to store a vector you computed; otherwise the collection's embedder embeds the
    ``image`` (bytes, a path or a PIL image) if there is one, else ``content``. With an image,
    ``content`` is an optional caption.
    """

    id: str
    content: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    vector: VectorLike | None = None
    image: bytes | Path | PILImage | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Record:
        """A record from a dict with keys ``id``, ``content`` (or ``text``), ``metadata``, ``vector``, ``image``."""
        from ..errors import InvalidRecord

        unknown = set(data) - {"id", "content", "text", "metadata", "vector", "image"}
        if unknown:
            raise InvalidRecord(f"unknown record fields: {', '.join(sorted(unknown))}")
        if "content" in data and "text" in data:
            raise InvalidRecord("give a record 'content' or 'text', not both")
        content = data.get("content", data.get("text"))
        return cls(
            id=data.get("id"),  # type: ignore[arg-type]  # validated when written
            content=content,
            metadata=data.get("metadata") or {},
            vector=data.get("vector"),
            image=data.get("image"),
        )


@dataclass(frozen=True)
class Hit:
    """One search result.

    ``distance`` is exactly what pgvector's operator returned (smaller is closer); ``score`` is a
    similarity, higher is better: ``1 - distance`` for cosine, the inner product for inner_product, and
    ``1 / (1 + distance)`` for l2. In ``keyword`` mode ``score`` is the BM25 score and
    ``distance`` is None; in ``hybrid`` mode ``score`` is the reciprocal-rank-fusion score and
    ``distance`` the vector distance (None for a hit that only the keyword search found).
    """

    id: str
    score: float
    distance: float | None
    metadata: dict[str, Any]
    content: str | None
    has_image: bool = False

    @classmethod
    def of(
        cls,
        id: str,
        score: float,
        distance: float | None,
        metadata: dict[str, Any],
        content: str | None,
        has_image: bool,
    ) -> Hit:
        """``Hit(id, score, ...)``, made several times quicker for a search's hits: a frozen dataclass's
        ``__init__`` sets every field through ``object.__setattr__`` (1.3 us a hit here, against 0.37)."""
        hit = object.__new__(cls)
        hit.__dict__.update(
            id=id, score=score, distance=distance, metadata=metadata, content=content, has_image=has_image
        )
        return hit

    def to_dict(self) -> dict[str, Any]:
        """The hit as JSON-ready data (what ``pgsimilar search --json`` prints)."""
        return {
            "id": self.id,
            "score": self.score,
            "distance": self.distance,
            "metadata": self.metadata,
            "content": self.content,
        }


@dataclass(frozen=True)
class Explain:
    """How a search ran: the SQL (with placeholders), its settings, timings and the query plan."""

    sql: str
    settings: dict[str, str]
    embed_ms: float
    search_ms: float
    exact: bool
    fell_back_to_exact: bool
    plan: str
    rerank: int | None = None
    """Binary quantization: the index gave ``k * rerank`` candidates, re-ranked at full precision."""


@dataclass(frozen=True)
class SearchResults(Sequence[Hit]):
    """The hits of a search, best first, and (when asked with ``explain=True``) how it ran."""

    hits: list[Hit]
    explain: Explain | None = None

    @overload
    def __getitem__(self, index: int) -> Hit: ...
    @overload
    def __getitem__(self, index: slice) -> list[Hit]: ...
    def __getitem__(self, index: int | slice) -> Hit | list[Hit]:
        return self.hits[index]

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    @property
    def ids(self) -> list[str]:
        return [hit.id for hit in self.hits]


@dataclass(frozen=True)
class UpsertResult:
    """What a write did: rows inserted, updated, left as they were, and texts sent to the embedder."""

    inserted: int
    updated: int
    unchanged: int
    embedded: int


@dataclass(frozen=True)
class IndexSettings:
    """A collection's approximate index: its kind and build parameters (HNSW or IVFFlat)."""

    kind: IndexKind = IndexKind.HNSW
    m: int | None = None
    ef_construction: int | None = None
    lists: int | None = None

    def to_options(self) -> dict[str, int]:
        """The parameters that are set, as stored in the catalogue."""
        options = {"m": self.m, "ef_construction": self.ef_construction, "lists": self.lists}
        return {key: value for key, value in options.items() if value is not None}


@dataclass(frozen=True)
class IndexProgress:
    """How far an index build has come, from PostgreSQL's ``pg_stat_progress_create_index``.

    ``phase`` is PostgreSQL's (``building index: loading tuples``, ``waiting for old snapshots``...);
    ``percent`` is the share of the current phase done (blocks of the table scanned, or tuples), None
    when the phase does not say.
    """

    phase: str
    blocks_done: int
    blocks_total: int
    tuples_done: int
    tuples_total: int
    percent: float | None


@dataclass(frozen=True)
class IndexBuild:
    """What an index build made: the index's settings, whether it exists now (an IVFFlat index waits
    for the first rows), how long the build took and how large the index is on disk."""

    index: IndexSettings
    built: bool
    seconds: float
    size_bytes: int


@dataclass(frozen=True)
class CollectionInfo:
    """A collection as the catalogue describes it."""

    id: int
    namespace: str
    name: str
    table_name: str
    embedder: str
    embedder_options: dict[str, Any]
    dimensions: int
    metric: Metric
    storage: Storage
    index: IndexSettings
    created_at: datetime
    text_language: str = "english"
    quantization: Quantization = Quantization.NONE
    search_defaults: Mapping[str, int] = field(default_factory=dict)
    """Search settings used when a query gives none (``ef_search``, ``probes``, ``rerank``), as
    :meth:`Collection.tune` stored them."""

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}/{self.name}"
