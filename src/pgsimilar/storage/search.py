"""SQL of nearest-neighbour search: per-query settings with ``set_config(..., is_local)``, the ordered
scan, and its plan when asked."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from psycopg import Connection, sql
from psycopg.rows import dict_row

from ..core.filters import CompiledFilter
from ..core.types import CollectionInfo, IndexKind, Metric
from .records import to_db_vector
from .tables import OPERATORS, table

HNSW_DEFAULT_EF_SEARCH = 40
HNSW_MAX_EF_SEARCH = 1000
IVFFLAT_DEFAULT_PROBES = 1


@dataclass(frozen=True)
class SearchPlan:
    """One search as the database will run it."""

    vector: npt.NDArray[np.float32]
    k: int
    where: CompiledFilter
    filtered: bool  # a metadata filter is present (``where`` is not just TRUE)
    exclude_id: str | None
    exact: bool
    metric: Metric  # the collection's, unless the query asked for another (then exact)
    ef_search: int | None
    probes: int | None


@dataclass(frozen=True)
class SearchRun:
    rows: list[dict[str, Any]]
    sql: str
    settings: dict[str, str]
    seconds: float
    plan: str


def query_settings(info: CollectionInfo, plan: SearchPlan) -> dict[str, str]:
    """The planner and index settings for this query, applied with SET LOCAL semantics."""
    filtered = plan.filtered or plan.exclude_id is not None
    if plan.exact or info.index.kind is IndexKind.NONE:
        # A sequential (or metadata-bitmap) scan and a sort: every candidate is compared, recall is 1.
        return {"enable_indexscan": "off"}
    if info.index.kind is IndexKind.HNSW:
        ef_search = min(max(plan.ef_search or HNSW_DEFAULT_EF_SEARCH, plan.k), HNSW_MAX_EF_SEARCH)
        settings = {"hnsw.ef_search": str(ef_search)}
        if filtered:
            # Keep walking the graph until k rows pass the filter, instead of filtering one batch.
            settings["hnsw.iterative_scan"] = "relaxed_order"
        return settings
    settings = {"ivfflat.probes": str(plan.probes or IVFFLAT_DEFAULT_PROBES)}
    if filtered:
        settings["ivfflat.iterative_scan"] = "relaxed_order"
    return settings


def _statement(info: CollectionInfo, plan: SearchPlan) -> sql.Composed:
    conditions: list[sql.Composable] = [plan.where.sql]
    if plan.exclude_id is not None:
        conditions.append(sql.SQL("id <> %(exclude_id)s"))
    # Relaxed-order iterative scans may return rows slightly out of order: the materialised CTE takes
    # the k rows, the outer query puts them in exact distance order.
    return sql.SQL(
        """WITH nearest AS MATERIALIZED (
    SELECT id, content, metadata, image IS NOT NULL AS has_image, embedding {op} %(query_vector)b AS distance
    FROM {table}
    WHERE {where}
    ORDER BY embedding {op} %(query_vector)b
    LIMIT %(k)s
)
SELECT id, content, metadata, has_image, distance FROM nearest ORDER BY distance, id"""
    ).format(op=sql.SQL(OPERATORS[plan.metric]), table=table(info), where=sql.SQL(" AND ").join(conditions))


def readable_sql(statement: sql.Composed, conn: Connection[Any]) -> str:
    """The statement as text, placeholders shown as ``:name``."""
    return re.sub(r"%\((\w+)\)[sb]", r":\1", statement.as_string(conn))


def run_search(conn: Connection[Any], info: CollectionInfo, plan: SearchPlan, *, explain: bool) -> SearchRun:
    """Run one search in its own transaction (so the settings end with it)."""
    settings = query_settings(info, plan)
    statement = _statement(info, plan)
    params: dict[str, Any] = {
        **plan.where.params,
        "query_vector": to_db_vector(info, plan.vector),
        "k": plan.k,
        "exclude_id": plan.exclude_id,
    }
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        for name, value in settings.items():
            cur.execute("SELECT set_config(%s, %s, true)", (name, value))
        started = time.perf_counter()
        rows = cur.execute(statement, params).fetchall()
        seconds = time.perf_counter() - started
        plan_text = ""
        if explain:
            explained = cur.execute(sql.SQL("EXPLAIN (ANALYZE, COSTS OFF) ") + statement, params).fetchall()
            plan_text = "\n".join(str(next(iter(row.values()))) for row in explained)
    return SearchRun(
        rows=rows,
        sql=readable_sql(statement, conn),
        settings=settings,
        seconds=seconds,
        plan=plan_text,
    )


# Plain words match any of them (ranked, as BM25-style engines do); a query using web-search syntax
# (quotes, "or", a leading "-") keeps websearch_to_tsquery's meaning.
_WEBSEARCH_SYNTAX = re.compile(r'"|(^|\s)-\S|\sor\s', re.IGNORECASE)


def keyword_query(text: str) -> sql.Composable:
    if _WEBSEARCH_SYNTAX.search(text):
        return sql.SQL("websearch_to_tsquery(%(language)s::regconfig, %(query_text)s)")
    return sql.SQL(
        "(SELECT string_agg(quote_literal(lexeme), ' | ') FROM unnest(tsvector_to_array("
        "to_tsvector(%(language)s::regconfig, %(query_text)s))) AS lexeme)::tsquery"
    )


def run_keyword_search(
    conn: Connection[Any],
    info: CollectionInfo,
    text: str,
    *,
    k: int,
    where: CompiledFilter,
    exclude_id: str | None,
    explain: bool,
) -> SearchRun:
    """Full-text search over ``content``, ranked by ``ts_rank_cd`` (normalised by document length)."""
    conditions: list[sql.Composable] = [sql.SQL("content_tsv @@ q.query"), where.sql]
    if exclude_id is not None:
        conditions.append(sql.SQL("id <> %(exclude_id)s"))
    statement = sql.SQL(
        """WITH q AS (SELECT {query} AS query)
SELECT id, content, metadata, image IS NOT NULL AS has_image, ts_rank_cd(content_tsv, q.query, 1) AS rank
FROM {table}, q
WHERE {where}
ORDER BY rank DESC, id
LIMIT %(k)s"""
    ).format(query=keyword_query(text), table=table(info), where=sql.SQL(" AND ").join(conditions))
    params: dict[str, Any] = {
        **where.params,
        "language": info.text_language,
        "query_text": text,
        "k": k,
        "exclude_id": exclude_id,
    }
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        started = time.perf_counter()
        rows = cur.execute(statement, params).fetchall()
        seconds = time.perf_counter() - started
        plan_text = ""
        if explain:
            explained = cur.execute(sql.SQL("EXPLAIN (ANALYZE, COSTS OFF) ") + statement, params).fetchall()
            plan_text = "\n".join(str(next(iter(row.values()))) for row in explained)
    return SearchRun(
        rows=rows, sql=readable_sql(statement, conn), settings={}, seconds=seconds, plan=plan_text
    )
