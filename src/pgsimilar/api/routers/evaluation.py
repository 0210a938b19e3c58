"""``POST .../collections/{name}/evaluate``: retrieval measures of a collection for judged queries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ...core.client import Client
from ...core.evaluation import evaluate
from ...core.types import SearchMode
from ..deps import ClientDep, ReadNamespace, run_blocking
from .search import CollectionName

router = APIRouter(prefix="/v1/namespaces/{ns}/collections/{name}", tags=["evaluation"])

Id = Annotated[str, Field(min_length=1, max_length=512)]


class EvaluationRequest(BaseModel):
    queries: dict[Id, Annotated[str, Field(min_length=1)]] = Field(
        max_length=10_000, description="id -> text"
    )
    qrels: dict[Id, dict[Id, int]] = Field(
        description="query id -> {document id: grade}; grade > 0 is relevant"
    )
    mode: SearchMode = SearchMode.VECTOR
    exact: bool = False
    ef_search: int | None = Field(default=None, ge=1, le=1000)
    depth: int = Field(default=100, ge=10, le=1000, description="Hits per query (recall@100 needs 100)")


class EvaluationPublic(BaseModel):
    metrics: dict[str, float] = Field(description="ndcg@10, map@10, mrr@10, recall@10, recall@100")
    queries: int
    mode: str
    exact: bool
    ef_search: int | None
    seconds: float


def _evaluate(client: Client, ns: str, name: str, body: EvaluationRequest) -> dict[str, Any]:
    collection = client.get_collection(name, namespace=ns)
    report = evaluate(
        collection,
        body.queries,
        body.qrels,
        mode=body.mode.value,
        exact=body.exact,
        ef_search=body.ef_search,
        depth=body.depth,
    )
    return report.to_dict()


@router.post("/evaluate", response_model=EvaluationPublic)
async def evaluate_collection(
    request: Request, ns: ReadNamespace, name: CollectionName, body: EvaluationRequest, client: ClientDep
) -> Any:
    """Search for every judged query and score the rankings (trec_eval conventions)."""
    return await run_blocking(request, _evaluate, client, ns, name, body)
