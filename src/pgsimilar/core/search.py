"""Running a search: check the request, make the query vector, run vector, keyword or hybrid search."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PIL.Image import Image as PILImage
from psycopg import Connection

from ..embedders.base import Modality
from ..errors import InvalidInput, RecordNotFound, UnsupportedModality
from ..media import load_image
from ..storage import records as record_sql
from ..storage.keyword import run_keyword_search
from ..storage.search import (
    KeywordRow,
    SearchPlan,
    SearchRun,
    VectorRow,
    count_matches,
    run_search,
)
from .filters import CompiledFilter, compile_filter
from .fusion import reciprocal_rank_fusion
from .types import (
    CollectionInfo,
    Explain,
    Filter,
    Hit,
    IndexKind,
    Metric,
    SearchMode,
    SearchResults,
    VectorLike,
)
from .validation import check_vector, storable_text

if TYPE_CHECKING:
    from .collection import Collection

MAX_K = 1000
MAX_RERANK = 100
HYBRID_DEPTH = 100
"""How many candidates each list gives hybrid fusion (at least k): the usual depth RRF is run over."""
EXACT_MATCHES_PER_HIT = 200
EXACT_SELECTIVITY = 0.05
"""A filtered search compares every match exactly when its filter is selective (at most 5% of the rows)
with few matches (at most 200 per hit wanted, counted: see :func:`..storage.search.count_matches`):
there the index would walk past 20 or more non-matching rows per match, which measured slower than
reading the matches through the metadata index (0.45x its queries/s at 1% of 100k rows), and less
exact (recall@10 0.92)."""
FILTERED_EF_SEARCH = 200
"""The least ef_search of a filtered HNSW search that does not set one: its iterative scan returns rows
in relaxed order, and a wider candidate list keeps recall@10 above 0.95 at 10% selectivity. On 100k
clustered vectors (bench/filtered.py), builds of the same index (parallel, so each differs) gave
0.92-0.98 at ef_search 100 and 0.964-0.986 at 200, at about the same queries/s."""


# Similarity from pgvector's distance, per metric: higher is better, and monotone in the distance.
_SCORES: dict[Metric, Callable[[float], float]] = {
    Metric.COSINE: lambda distance: 1.0 - distance,
    Metric.INNER_PRODUCT: lambda distance: -distance,  # pgvector's <#> is the negative inner product
    Metric.L2: lambda distance: 1.0 / (1.0 + distance),
}


def positive_int(value: object, name: str, upper: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= upper:
        raise InvalidInput(f"{name} must be an integer from 1 to {upper}, got {value!r}")
    return value


def storable(ids: Sequence[str]) -> list[str]:
    """The ids that could be stored: PostgreSQL text cannot hold NUL or a lone surrogate, so such ids
    are never found."""
    return [record_id for record_id in ids if isinstance(record_id, str) and storable_text(record_id)]


# The request and its checked parts are made once per search and never changed: plain slotted
# dataclasses, since a frozen one sets each field through object.__setattr__ (SearchRequest: 3.4 us a
# search against 0.4).
@dataclass(slots=True)
class SearchRequest:
    """Everything :meth:`Collection.search` was asked (see its docstring)."""

    text: str | None = None
    vector: VectorLike | None = None
    id: str | None = None
    image: bytes | Path | PILImage | None = None
    k: int = 10
    filter: Filter | None = None
    exact: bool = False
    ef_search: int | None = None
    probes: int | None = None
    rerank: int | None = None
    min_score: float | None = None
    metric: Metric | str | None = None
    mode: SearchMode | str = SearchMode.VECTOR
    rrf_k: int = 60
    weights: tuple[float, float] | None = None
    explain: bool = False


@dataclass(slots=True)
class _Checked:
    mode: SearchMode
    metric: Metric
    where: CompiledFilter


def _check(collection: Collection, request: SearchRequest) -> _Checked:
    queries = (request.text, request.vector, request.id, request.image)
    if sum(value is not None for value in queries) != 1:
        raise InvalidInput("search by exactly one of: text, vector, image or id (a stored record)")
    positive_int(request.k, "k", MAX_K)
    if request.ef_search is not None:
        positive_int(request.ef_search, "ef_search", 1000)
    if request.probes is not None:
        positive_int(request.probes, "probes", 32768)
    if request.rerank is not None:
        positive_int(request.rerank, "rerank", MAX_RERANK)
    positive_int(request.rrf_k, "rrf_k", 10_000)
    if request.min_score is not None and not (
        isinstance(request.min_score, int | float) and np.isfinite(request.min_score)
    ):
        raise InvalidInput(f"min_score must be a finite number, got {request.min_score!r}")
    try:
        mode = SearchMode(request.mode)
    except ValueError:
        raise InvalidInput(
            f"unknown search mode {request.mode!r}; choose vector, keyword or hybrid"
        ) from None
    try:
        metric = collection.info.metric if request.metric is None else Metric(request.metric)
    except ValueError:
        raise InvalidInput(f"unknown metric {request.metric!r}; choose cosine, l2 or inner_product") from None
    if mode is not SearchMode.VECTOR and request.text is None:
        raise InvalidInput(f"{mode.value} search needs a text query")
    if request.weights is not None and (
        len(request.weights) != 2 or not all(isinstance(w, int | float) and w >= 0 for w in request.weights)
    ):
        raise InvalidInput("weights are two numbers >= 0: for the vector list, then the keyword list")
    if request.text is not None:
        _check_text(collection, request.text)
    return _Checked(mode=mode, metric=metric, where=compile_filter(request.filter))


def _check_text(collection: Collection, text: object) -> None:
    limit = collection._client.settings.max_content_chars
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("the search text is empty")
    if len(text) > limit:
        raise InvalidInput(f"the search text is longer than {limit} characters")
    if not storable_text(text):
        raise InvalidInput("the search text is not valid Unicode text (it holds NUL or a lone surrogate)")


def query_vector(collection: Collection, request: SearchRequest) -> npt.NDArray[np.float32]:
    info = collection.info
    if request.image is not None:
        if not collection.embedder.supports(Modality.IMAGE):
            raise UnsupportedModality(
                f"the {info.embedder!r} embedder of {info.qualified_name} does not embed images; "
                "search it by text or vector"
            )
        settings = collection._client.settings
        image = load_image(
            request.image,
            max_bytes=settings.max_image_bytes,
            max_pixels=settings.max_image_pixels,
            name="query image",
        )
        vectors = collection._checked_vectors(collection.embedder.embed_images([image.working]), 1)
        return np.asarray(vectors[0], dtype=np.float32)
    if request.text is not None:
        return np.asarray(collection._embed_texts([request.text])[0], dtype=np.float32)
    if request.vector is not None:
        return check_vector(request.vector, info.dimensions, info.metric, info.storage)
    assert request.id is not None
    with collection._client.database.connection(autocommit=True) as conn:
        stored = record_sql.read_vector(conn, info, request.id) if storable([request.id]) else None
    if stored is None:
        raise RecordNotFound(f"no record with id {request.id!r} in {info.qualified_name}")
    return stored


def _vector_search(
    collection: Collection, request: SearchRequest, checked: _Checked, k: int
) -> tuple[SearchRun[VectorRow], SearchPlan, bool, float]:
    started = time.perf_counter()
    vector = query_vector(collection, request)
    embed_seconds = time.perf_counter() - started
    info = collection.info
    defaults = info.search_defaults  # what Collection.tune stored, for queries that do not say
    plan = SearchPlan(
        vector=vector,
        k=k,
        where=checked.where,
        filtered=bool(request.filter),
        exclude_id=request.id,
        exact=request.exact or info.index.kind is IndexKind.NONE or checked.metric is not info.metric,
        metric=checked.metric,
        ef_search=request.ef_search or _default_ef_search(defaults.get("ef_search"), bool(request.filter)),
        probes=request.probes or defaults.get("probes"),
        rerank=request.rerank or defaults.get("rerank"),
    )
    fell_back = False
    with collection._client.database.connection(autocommit=True) as conn:
        if plan.filtered and not plan.exact and _selective(conn, info, plan.where, k):
            plan = dataclasses.replace(plan, exact=True)  # the exact scan is quicker, and exact
        run = run_search(conn, info, plan, explain=request.explain)
        if len(run.rows) < k and not plan.exact:
            # The index gave up before finding k matches (a selective filter): compare every match.
            plan = dataclasses.replace(plan, exact=True)
            run = run_search(conn, info, plan, explain=request.explain)
            fell_back = True
    return run, plan, fell_back, embed_seconds


def _selective(conn: Connection[Any], info: CollectionInfo, where: CompiledFilter, k: int) -> bool:
    most = EXACT_MATCHES_PER_HIT * k
    matches, rows = count_matches(conn, info, where, cap=most + 1)
    return matches <= most and matches <= EXACT_SELECTIVITY * rows


def _default_ef_search(tuned: int | None, filtered: bool) -> int | None:
    """What ``tune()`` stored (or pgvector's default), raised to :data:`FILTERED_EF_SEARCH` for filters."""
    if not filtered:
        return tuned
    return max(tuned or 0, FILTERED_EF_SEARCH)


def _keyword_search(
    collection: Collection, request: SearchRequest, checked: _Checked, k: int
) -> SearchRun[KeywordRow]:
    assert request.text is not None
    with collection._client.database.connection(autocommit=True) as conn:
        return run_keyword_search(
            conn,
            collection.info,
            request.text,
            k=k,
            where=checked.where,
            exclude_id=request.id,
            explain=request.explain,
        )


def _hit(row: VectorRow | KeywordRow, score: float, distance: float | None) -> Hit:
    return Hit.of(row.id, score, distance, row.metadata, row.content, row.has_image)


def _vector_hits(rows: list[VectorRow], metric: Metric) -> list[Hit]:
    score, hit = _SCORES[metric], Hit.of
    # Unpacked in the statements' column order: a search's hits are a good part of its Python work.
    return [
        hit(id, score(distance), distance, metadata, content, has_image)
        for id, content, metadata, has_image, distance in rows
    ]


def run_request(collection: Collection, request: SearchRequest) -> SearchResults:
    """Run a search request against ``collection``."""
    checked = _check(collection, request)
    if checked.mode is SearchMode.KEYWORD:
        keyword_run = _keyword_search(collection, request, checked, request.k)
        hits = [_hit(row, row.rank, None) for row in keyword_run.rows]
        details = (
            _explain(keyword_run, exact=True, embed_seconds=0.0, fell_back=False) if request.explain else None
        )
        return SearchResults(_above(hits, request.min_score), details)
    if checked.mode is SearchMode.VECTOR:
        run, plan, fell_back, embed_seconds = _vector_search(collection, request, checked, request.k)
        hits = _vector_hits(run.rows, plan.metric)
        details = _explain(run, plan.exact, embed_seconds, fell_back) if request.explain else None
        return SearchResults(_above(hits, request.min_score), details)
    return _hybrid(collection, request, checked)


def _hybrid(collection: Collection, request: SearchRequest, checked: _Checked) -> SearchResults:
    depth = max(request.k, HYBRID_DEPTH)
    vector_run, plan, fell_back, embed_seconds = _vector_search(collection, request, checked, depth)
    keyword_run = _keyword_search(collection, request, checked, depth)
    rows: dict[str, VectorRow | KeywordRow] = {row.id: row for row in keyword_run.rows}
    rows |= {row.id: row for row in vector_run.rows}
    distances = {row.id: row.distance for row in vector_run.rows}
    fused = reciprocal_rank_fusion(
        [[row.id for row in vector_run.rows], [row.id for row in keyword_run.rows]],
        k=request.rrf_k,
        weights=request.weights,
    )
    hits = [_hit(rows[record_id], score, distances.get(record_id)) for record_id, score in fused[: request.k]]
    details = None
    if request.explain:
        combined = dataclasses.replace(
            vector_run,
            sql=f"-- vector list\n{vector_run.sql}\n\n-- keyword list\n{keyword_run.sql}",
            seconds=vector_run.seconds + keyword_run.seconds,
            plan=f"{vector_run.plan}\n\n{keyword_run.plan}",
        )
        details = _explain(combined, plan.exact, embed_seconds, fell_back)
    return SearchResults(_above(hits, request.min_score), details)


def _above(hits: list[Hit], min_score: float | None) -> list[Hit]:
    return hits if min_score is None else [hit for hit in hits if hit.score >= min_score]


def _explain(run: SearchRun[Any], exact: bool, embed_seconds: float, fell_back: bool) -> Explain:
    return Explain(
        sql=run.sql,
        settings=run.settings,
        embed_ms=embed_seconds * 1000,
        search_ms=run.seconds * 1000,
        exact=exact,
        fell_back_to_exact=fell_back,
        plan=run.plan,
        rerank=run.rerank,
    )
