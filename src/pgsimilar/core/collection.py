"""A collection: records in, nearest neighbours out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PIL.Image import Image as PILImage
from psycopg import Connection

from ..embedders.base import Embedder, Modality
from ..errors import EmbedderError, InvalidInput, RecordExists, RecordNotFound, UnsupportedModality
from ..storage import indexes
from ..storage import records as record_sql
from . import bulk, indexing
from .filters import compile_filter
from .fusion import DEFAULT_RRF_K
from .search import SearchRequest, run_request, storable
from .tuning import Queries, TuneResult, tune_collection
from .types import (
    CollectionInfo,
    Filter,
    IndexBuild,
    IndexKind,
    IndexProgress,
    Metric,
    Record,
    SearchMode,
    SearchResults,
    UpsertResult,
    VectorLike,
)
from .validation import CheckedRecord, check_records
from .validation import choice as _choice

if TYPE_CHECKING:
    from .client import Client


class Collection:
    """Records of one collection, and search over them. Get one from :class:`pgsimilar.Client`."""

    def __init__(self, client: Client, info: CollectionInfo, embedder: Embedder) -> None:
        self._client = client
        self.info = info
        self.embedder = embedder

    def __repr__(self) -> str:
        return f"<Collection {self.info.qualified_name} {self.info.embedder} {self.info.dimensions}d>"

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def namespace(self) -> str:
        return self.info.namespace

    @property
    def dimensions(self) -> int:
        return self.info.dimensions

    @property
    def metric(self) -> Metric:
        return self.info.metric

    # ---- writing -------------------------------------------------------------------------------------

    def add(self, records: Iterable[Record | Mapping[str, Any]]) -> UpsertResult:
        """Insert new records; if any id is already stored, nothing is written and RecordExists is raised."""
        return self._write(records, replace=False)

    def upsert(self, records: Iterable[Record | Mapping[str, Any]]) -> UpsertResult:
        """Insert or replace records by id, all or nothing. Unchanged content is not embedded again."""
        return self._write(records, replace=True)

    def check(self, records: Iterable[Record | Mapping[str, Any]]) -> None:
        """Check records as a write would (ids, text, metadata, vectors), without writing or embedding."""
        self._check(records)

    def _check(self, records: Iterable[Record | Mapping[str, Any]]) -> list[CheckedRecord]:
        info = self.info
        checked = check_records(
            records,
            dimensions=info.dimensions,
            metric=info.metric,
            storage=info.storage,
            settings=self._client.settings,
        )
        for position, record in enumerate(checked):
            if record.vector is None:
                needed = Modality.IMAGE if record.checked_image is not None else Modality.TEXT
                if not self.embedder.supports(needed):
                    raise UnsupportedModality(
                        f"record {position} (id {record.id!r}): the {info.embedder!r} embedder of "
                        f"{info.qualified_name} does not embed {needed.value}s; give the record a vector"
                        + (
                            " or an image"
                            if needed is Modality.TEXT and self.embedder.supports(Modality.IMAGE)
                            else ""
                        )
                    )
        return checked

    def _write(self, records: Iterable[Record | Mapping[str, Any]], *, replace: bool) -> UpsertResult:
        info = self.info
        checked = self._check(records)
        if not checked:
            return UpsertResult(inserted=0, updated=0, unchanged=0, embedded=0)
        with self._client.database.connection() as conn:
            stored = record_sql.stored_hashes(conn, info, [record.id for record in checked])
        if not replace and stored:
            raise RecordExists(self._exists_message(list(stored)))
        # A record without a vector is embedded, unless its content is stored unchanged: then its vector
        # stays None, which keeps the stored one.
        to_embed = [
            record
            for record in checked
            if record.vector is None and (record.id not in stored or stored[record.id] != record.content_hash)
        ]
        embedded = self._embed_records(to_embed)
        for record in to_embed:
            record.vector = embedded[record.id]
        counts = self._store(checked, replace=replace, first_load=not stored)
        return UpsertResult(
            inserted=counts.inserted,
            updated=counts.updated,
            unchanged=len(checked) - counts.inserted - counts.updated,
            embedded=len(to_embed),
        )

    def _store(
        self, checked: list[CheckedRecord], *, replace: bool, first_load: bool
    ) -> record_sql.WriteCounts:
        """Write the checked (and embedded) records: a checked record is the row storage writes."""
        info = self.info

        def embed_late(ids: list[str]) -> dict[str, npt.NDArray[np.float32]]:
            wanted = set(ids)  # rare (content changed since its hash was read): looked up only then
            return self._embed_records([record for record in checked if record.id in wanted])

        def verify(conn: Connection[Any], counts: record_sql.WriteCounts) -> None:
            if not replace and counts.inserted < len(checked):
                taken = record_sql.existing_ids(conn, info, [record.id for record in checked])
                raise RecordExists(self._exists_message(taken))  # rolls the transaction back

        large = len(checked) >= bulk.BULK_LOAD_MIN_RECORDS
        if large and first_load:
            loaded = bulk.load_into_empty(
                self, checked, replace=replace, embed_late=embed_late, verify=verify
            )
            if loaded is not None:
                return loaded
        with self._client.database.connection() as conn:
            with conn.transaction():
                counts = record_sql.write_records(conn, info, checked, replace=replace, embed_late=embed_late)
                verify(conn, counts)
                if info.index.kind is IndexKind.IVFFLAT:
                    indexes.ensure_index(conn, info)  # built once the first rows are in
            if large:
                record_sql.analyze(conn, info)
        return counts

    def _exists_message(self, ids: Sequence[str]) -> str:
        shown = ", ".join(repr(record_id) for record_id in ids[:5])
        more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
        return f"ids already stored in {self.info.qualified_name}: {shown}{more}; use upsert to replace them"

    def _embed_records(self, records: list[CheckedRecord]) -> dict[str, npt.NDArray[np.float32]]:
        """Vectors by id: images through the embedder's image side, texts through its text side."""
        with_image = [record for record in records if record.checked_image is not None]
        text_only = [record for record in records if record.checked_image is None]
        vectors = dict(
            zip(
                [r.id for r in text_only],
                self._embed_texts([r.content or "" for r in text_only]),
                strict=True,
            )
        )
        if with_image:
            images = [
                record.checked_image.working for record in with_image if record.checked_image is not None
            ]
            embedded = self._checked_vectors(self.embedder.embed_images(images), len(images))
            vectors.update(zip([record.id for record in with_image], embedded, strict=True))
        return vectors

    def _embed_texts(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.empty((0, self.info.dimensions), dtype=np.float32)
        return self._checked_vectors(self.embedder.embed_texts(texts), len(texts))

    def _checked_vectors(self, vectors: npt.NDArray[np.float32], count: int) -> npt.NDArray[np.float32]:
        if vectors.shape != (count, self.info.dimensions) or not np.isfinite(vectors).all():
            raise EmbedderError(
                f"embedder {self.info.embedder!r} returned vectors of shape {vectors.shape} (or non-finite "
                f"values) for {count} inputs; expected ({count}, {self.info.dimensions})"
            )
        return vectors

    # ---- reading and deleting --------------------------------------------------------------------------

    def get(self, id: str, *, include_vector: bool = False) -> Record:
        """The record with this id, or RecordNotFound."""
        found = self.get_many([id], include_vectors=include_vector)
        if not found:
            raise RecordNotFound(f"no record with id {id!r} in {self.info.qualified_name}")
        return found[0]

    def get_many(self, ids: Sequence[str], *, include_vectors: bool = False) -> list[Record]:
        """The stored records among ``ids``, in the order given (missing ids are left out)."""
        with self._client.database.connection() as conn:
            return record_sql.read_records(conn, self.info, storable(ids), with_vectors=include_vectors)

    def delete(self, ids: Sequence[str] | None = None, *, filter: Filter | None = None) -> int:
        """Delete by ids, or every record matching ``filter`` (``filter={}``: all). Returns the count."""
        if (ids is None) == (filter is None):
            raise InvalidInput("delete needs either ids or a filter (filter={} deletes every record)")
        with self._client.database.connection() as conn:
            if ids is not None:
                if isinstance(ids, str):
                    raise InvalidInput("delete takes a list of ids; wrap a single id in a list")
                return record_sql.delete_ids(conn, self.info, storable(ids))
            return record_sql.delete_matching(conn, self.info, compile_filter(filter))

    def count(self, filter: Filter | None = None) -> int:
        """How many records there are, or match ``filter``."""
        with self._client.database.connection() as conn:
            return record_sql.count_matching(conn, self.info, compile_filter(filter))

    def get_image(self, id: str, *, thumbnail: bool = False) -> tuple[bytes, str]:
        """``(bytes, media type)`` of the record's original image, or of its WebP ``thumbnail``."""
        if not storable([id]):
            raise RecordNotFound(f"no record with id {id!r} in {self.info.qualified_name}")
        with self._client.database.connection() as conn:
            found = record_sql.read_image(conn, self.info, id, thumbnail=thumbnail)
            if found is None:
                if record_sql.record_exists(conn, self.info, id):
                    raise RecordNotFound(f"record {id!r} of {self.info.qualified_name} has no image")
                raise RecordNotFound(f"no record with id {id!r} in {self.info.qualified_name}")
        return found

    # ---- the approximate index -----------------------------------------------------------------------

    def index_built(self) -> bool:
        """Whether the approximate index exists (an IVFFlat index waits for the first rows)."""
        if self.info.index.kind is IndexKind.NONE:
            return False
        with self._client.database.connection() as conn:
            return indexes.index_exists(conn, self.info)

    def create_index(
        self,
        kind: IndexKind | str = IndexKind.HNSW,
        *,
        m: int | None = None,
        ef_construction: int | None = None,
        lists: int | None = None,
        on_progress: Callable[[IndexProgress], None] | None = None,
    ) -> IndexBuild:
        """Build the approximate index ``kind`` (``hnsw`` with ``m``, ``ef_construction``; ``ivfflat`` with
        ``lists``) with ``CREATE INDEX CONCURRENTLY``: writes go on meanwhile. An index the collection
        has is replaced once the new one is ready, so searches always have one. ``on_progress`` gets an
        :class:`IndexProgress` a few times a second. Search defaults tuned for the old index are cleared.
        A failed or interrupted build raises IndexBuildFailed and leaves no invalid index behind."""
        settings = indexing.index_settings(_choice(IndexKind, kind, "index"), m, ef_construction, lists)
        return indexing.create_index(self, settings, on_progress)

    def rebuild_index(self, *, on_progress: Callable[[IndexProgress], None] | None = None) -> IndexBuild:
        """Build the index again with the same settings (e.g. IVFFlat lists after the data changed),
        concurrently, and swap it in for the old one."""
        return indexing.rebuild_index(self, on_progress)

    def drop_index(self) -> None:
        """Drop the approximate index (concurrently); searches are exact from then on."""
        indexing.drop_index(self)

    def tune(
        self,
        target_recall: float = 0.95,
        *,
        k: int = 10,
        sample: int = 200,
        seed: int = 0,
        queries: Queries | None = None,
    ) -> TuneResult:
        """Find and store the smallest ``ef_search`` (HNSW), ``probes`` (IVFFlat) or ``rerank`` (binary
        quantization) whose recall@k reaches ``target_recall`` with a safety margin, measured against
        exact search on ``sample`` stored records (each query leaving itself out) or on your
        ``queries``. Searches that do not give the setting use the stored value."""
        return tune_collection(self, target_recall, k=k, sample=sample, seed=seed, queries=queries)

    # ---- search --------------------------------------------------------------------------------------

    def search(
        self,
        query: str | VectorLike | None = None,
        *,
        text: str | None = None,
        vector: VectorLike | None = None,
        id: str | None = None,
        image: bytes | Path | PILImage | None = None,
        k: int = 10,
        filter: Filter | None = None,
        exact: bool = False,
        ef_search: int | None = None,
        probes: int | None = None,
        rerank: int | None = None,
        min_score: float | None = None,
        metric: Metric | str | None = None,
        mode: SearchMode | str = SearchMode.VECTOR,
        rrf_k: int = DEFAULT_RRF_K,
        weights: tuple[float, float] | None = None,
        explain: bool = False,
    ) -> SearchResults:
        """The ``k`` best records for a text, a vector, an image (for collections with an image
        embedder) or a stored record (``id``, itself excluded).

        ``query`` is a shortcut: a string searches by text, anything else by vector. ``exact`` compares
        every candidate (perfect recall); otherwise the collection's index is used, with ``ef_search``
        (HNSW) or ``probes`` (IVFFlat) for this query only (default: the collection's tuned value, else
        pgvector's). With binary quantization, ``k * rerank`` candidates (``rerank`` default 4) come
        from the index by Hamming distance and are re-ranked by the full-precision distance. A filtered approximate search that finds
        fewer than ``k`` rows is run again exactly, so it never misses matches that exist.
        ``metric`` measures with another metric than the collection's, by an exact search (an index
        serves only its own metric).

        ``mode``: ``vector`` (the default), ``keyword`` (PostgreSQL full-text search over the content,
        ranked by BM25) or ``hybrid`` (both, fused by reciprocal rank with constant ``rrf_k``
        and optional ``weights`` for the vector and keyword lists). Keyword and hybrid need ``text``.
        Filters and ``min_score`` apply in every mode.
        """
        if query is not None:
            if isinstance(query, str):
                text = query if text is None else text
            else:
                vector = query if vector is None else vector
        request = SearchRequest(
            text=text,
            vector=vector,
            id=id,
            image=image,
            k=k,
            filter=filter,
            exact=exact,
            ef_search=ef_search,
            probes=probes,
            rerank=rerank,
            min_score=min_score,
            metric=metric,
            mode=mode,
            rrf_k=rrf_k,
            weights=weights,
            explain=explain,
        )
        return run_request(self, request)

    def similar(self, id: str, **options: Any) -> SearchResults:
        """More like this: the records nearest to the stored record ``id``, which is left out."""
        return self.search(id=id, **options)
