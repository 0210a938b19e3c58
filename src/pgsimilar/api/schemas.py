"""Request and response bodies of the API, split by role (``...Create``, ``...Public``, list envelopes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..core.types import IndexKind, Metric, Quantization, SearchMode, Storage

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", examples=["docs"])]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class ErrorDetail(BaseModel):
    code: str = Field(examples=["collection_not_found"])
    message: str
    details: list[dict[str, Any]] | None = Field(default=None, description="Per-field problems (422 only)")


class ErrorBody(BaseModel):
    """Every error answer."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "Invalid input"),
        (401, "No API key, or an unknown or revoked one"),
        (403, "The key may not do this"),
        (404, "Not found (or not visible to the key)"),
        (409, "Exists already"),
        (413, "Request body or batch too large"),
        (422, "The body does not fit the schema"),
        (502, "The embedding service failed"),
        (503, "The database or the embedding service is unreachable"),
    )
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NamespaceCreate(Strict):
    name: Name


class NamespacePublic(BaseModel):
    name: str


class NamespaceList(BaseModel):
    data: list[NamespacePublic]
    count: int


class IndexSpec(Strict):
    kind: IndexKind = IndexKind.HNSW
    m: int | None = Field(default=None, ge=2, le=100, description="HNSW links per node (default 16)")
    ef_construction: int | None = Field(
        default=None, ge=4, le=1000, description="HNSW build list (default 64)"
    )
    lists: int | None = Field(default=None, ge=1, le=32768, description="IVFFlat lists (default rows/1000)")


class CollectionCreate(Strict):
    name: Name
    text_language: str = Field(default="english", max_length=63, description="Full-text search language")
    embedder: str = Field(default="minilm", max_length=100, examples=["minilm", "openai", "none"])
    dimensions: int | None = Field(default=None, ge=1, le=16000, description="Required for embedder 'none'")
    metric: Metric = Metric.COSINE
    storage: Storage = Storage.VECTOR
    index: IndexKind | IndexSpec = Field(
        default=IndexKind.HNSW, description="'hnsw', 'ivfflat', 'none' or a spec"
    )
    quantization: Quantization = Field(
        default=Quantization.NONE,
        description="'binary': an HNSW index over one bit per dimension, re-ranked at full precision",
    )


class IndexState(BaseModel):
    kind: IndexKind
    m: int | None = None
    ef_construction: int | None = None
    lists: int | None = None
    built: bool = Field(description="False for an IVFFlat index that waits for the first rows")
    search_defaults: dict[str, int] = Field(
        default_factory=dict, description="ef_search, probes or rerank stored by tuning"
    )


class CollectionPublic(BaseModel):
    namespace: str
    name: str
    embedder: str
    model: str
    dimensions: int
    metric: Metric
    storage: Storage
    quantization: Quantization = Quantization.NONE
    index: IndexState
    text_language: str
    count: int
    created_at: datetime


class CollectionList(BaseModel):
    data: list[CollectionPublic]
    count: int


class IndexBuildPublic(BaseModel):
    index: IndexState
    seconds: float = Field(description="How long the build took")
    size_bytes: int = Field(description="The index's size on disk")


class TuneRequest(Strict):
    target_recall: float = Field(default=0.95, gt=0, le=1, description="Recall@k to reach")
    k: int = Field(default=10, ge=1, le=1000)
    sample: int = Field(default=200, ge=1, le=10_000, description="Stored records used as queries")


class TunePointPublic(BaseModel):
    value: int
    recall: float = Field(description="Mean recall@k")
    recall_low: float = Field(description="Lower end of the 95% confidence interval of the mean")
    latency_ms: float = Field(description="Median SQL time of one query")


class TunePublic(BaseModel):
    parameter: Literal["ef_search", "probes", "rerank"]
    value: int = Field(description="Stored as the collection's default")
    recall: float
    recall_low: float
    latency_ms: float
    reached: bool = Field(description="False if no value reached the target (the largest tried is stored)")
    target_recall: float
    k: int
    queries: int
    curve: list[TunePointPublic]


class RecordIn(Strict):
    id: str | None = Field(
        default=None, min_length=1, max_length=512, description="Derived from the text if absent"
    )
    text: str | None = Field(default=None, description="Content to embed and store")
    image: str | None = Field(
        default=None, description="Base64 image, for collections with an image embedder"
    )
    vector: list[FiniteFloat] | None = Field(default=None, max_length=16000, description="Your own vector")
    metadata: dict[str, Any] = Field(default_factory=dict)


class RecordsUpsert(Strict):
    records: list[RecordIn] = Field(min_length=1)


class UpsertPublic(BaseModel):
    inserted: int
    updated: int
    unchanged: int
    embedded: int


class RecordPublic(BaseModel):
    id: str
    text: str | None
    metadata: dict[str, Any]
    vector: list[float] | None = None
    created_at: datetime | None
    updated_at: datetime | None


class RecordsDelete(Strict):
    ids: list[Annotated[str, Field(min_length=1, max_length=512)]] | None = Field(
        default=None, max_length=10000
    )
    filter: dict[str, Any] | None = Field(default=None, description="Delete every match ({} deletes all)")


class DeletedPublic(BaseModel):
    deleted: int


Include = Literal["metadata", "content", "vector"]


class SearchRequest(Strict):
    text: str | None = Field(default=None, min_length=1)
    vector: list[FiniteFloat] | None = Field(default=None, min_length=1, max_length=16000)
    id: str | None = Field(default=None, min_length=1, max_length=512, description="More like this record")
    image: str | None = Field(default=None, description="Base64 image (collections with an image embedder)")
    k: int = Field(default=10, ge=1, le=1000)
    filter: dict[str, Any] | None = None
    exact: bool = False
    ef_search: int | None = Field(default=None, ge=1, le=1000)
    probes: int | None = Field(default=None, ge=1, le=32768)
    rerank: int | None = Field(
        default=None, ge=1, le=100, description="Binary quantization: candidates per hit to re-rank (4)"
    )
    min_score: FiniteFloat | None = None
    include: list[Include] = Field(default=["metadata", "content"], description="Fields of each hit")
    mode: SearchMode = Field(default=SearchMode.VECTOR, description="vector, keyword (full-text) or hybrid")
    rrf_k: int = Field(default=60, ge=1, le=10_000, description="Hybrid: reciprocal rank fusion constant")
    weights: (
        tuple[
            Annotated[float, Field(ge=0, allow_inf_nan=False)],
            Annotated[float, Field(ge=0, allow_inf_nan=False)],
        ]
        | None
    ) = Field(default=None, description="Hybrid: weights of the vector and keyword lists")
    explain: bool = False


class HitPublic(BaseModel):
    id: str
    score: float
    distance: float | None = Field(default=None, description="Left out for keyword-only hits")
    metadata: dict[str, Any] | None = None
    content: str | None = None
    vector: list[float] | None = None
    image_url: str | None = Field(default=None, description="The record's image, for image records")
    thumbnail_url: str | None = None


class ExplainPublic(BaseModel):
    sql: str
    settings: dict[str, str]
    embed_ms: float
    search_ms: float
    exact: bool
    fell_back_to_exact: bool
    plan: str
    rerank: int | None = Field(default=None, description="Binary quantization: candidates re-ranked per hit")


class SearchResponse(BaseModel):
    data: list[HitPublic]
    count: int
    explain: ExplainPublic | None = None


class EmbedRequest(BaseModel):
    chunkId: str = Field(min_length=1, max_length=512)
    text: str = Field(min_length=1)


class EmbedResponse(BaseModel):
    chunkId: str
    dimensions: int
    model: str


class PgvectorSearchRequest(BaseModel):
    query: str = Field(min_length=1)
    limit: int = Field(default=5, ge=1, le=1000)
    distance: Metric = Metric.COSINE


class PgvectorHit(BaseModel):
    chunkId: str
    score: float = Field(description="The distance (smaller is closer), ascending")


class PgvectorSearchResponse(BaseModel):
    results: list[PgvectorHit]


class HealthPublic(BaseModel):
    status: Literal["ok", "unavailable"]
    database: str
    models: dict[str, bool] = Field(
        description="Embedders this process built, and whether their model is loaded"
    )


# ---- upload jobs -------------------------------------------------------------------------------------


class UrlIn(Strict):
    url: str = Field(max_length=2048, description="http(s) URL of an image or a text document")
    id: str | None = Field(default=None, description="Record id; by default derived from the content")
    metadata: dict[str, Any] = Field(default_factory=dict)


class UrlsUpload(Strict):
    urls: list[str | UrlIn] = Field(min_length=1, description="URLs, as strings or objects")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Metadata of every item")


class ItemErrorPublic(BaseModel):
    name: str = Field(description="File, archive member, file:line or URL")
    reason: str
    source: str | None = Field(default=None, description="The uploaded file the item came from")


class JobPublic(BaseModel):
    id: str
    namespace: str
    collection: str
    status: Literal["queued", "running", "succeeded", "partially_failed", "failed", "cancelled"]
    total: int = Field(
        description="Items (files, archive members, lines, URLs); grows as archives are unpacked"
    )
    done: int
    failed: int
    cancelled: int
    percent: float
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    errors: list[ItemErrorPublic] = Field(description="Failed items (the first 1,000), in upload order")


class JobList(BaseModel):
    data: list[JobPublic]
    count: int
