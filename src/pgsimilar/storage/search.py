"""SQL of nearest-neighbour search: the settings each query needs (pgvector's kept per connection, see
:mod:`.session`), the ordered scan, and its plan when asked."""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
from psycopg import Connection, Cursor, sql
from psycopg.pq import TransactionStatus
from psycopg.rows import RowFactory, tuple_row

from ..core.filters import CompiledFilter
from ..core.types import CollectionInfo, IndexKind, Metric, Quantization
from . import session
from .database import autocommit
from .indexes import quantized
from .records import to_db_vector
from .tables import OPERATORS, table

HNSW_DEFAULT_EF_SEARCH = 40
HNSW_MAX_EF_SEARCH = 1000
IVFFLAT_DEFAULT_PROBES = 1
DEFAULT_RERANK = 4
"""Binary quantization: candidates taken from the index per hit wanted, re-ranked at full precision."""


@dataclass(slots=True)  # not frozen: made for every search, and a frozen dataclass is slow to make
class SearchPlan:
    """One search as the database will run it (changed only through ``dataclasses.replace``)."""

    vector: npt.NDArray[np.float32]
    k: int
    where: CompiledFilter
    filtered: bool  # a metadata filter is present (``where`` is not just TRUE)
    exclude_id: str | None
    exact: bool
    metric: Metric  # the collection's, unless the query asked for another (then exact)
    ef_search: int | None
    probes: int | None
    rerank: int | None = None

    def candidates(self) -> int:
        """Binary quantization: how many rows the index hands to the full-precision re-ranking."""
        return self.k * (self.rerank or DEFAULT_RERANK)


class VectorRow(NamedTuple):
    """A row of a nearest-neighbour search, in the order its statements select the columns."""

    id: str
    content: str | None
    metadata: dict[str, Any]
    has_image: bool
    distance: float


class KeywordRow(NamedTuple):
    """A row of a full-text search, in the order its statement selects the columns."""

    id: str
    content: str | None
    metadata: dict[str, Any]
    has_image: bool
    rank: float


Row = TypeVar("Row", VectorRow, KeywordRow)
T = TypeVar("T")


def _rows_of(kind: type[Row]) -> RowFactory[Row]:
    # Named tuples made straight from the values, by position: a third of the cost of dict rows, and
    # the statements are ours, so the order is known.
    return lambda cursor: kind._make


@dataclass(slots=True)  # not frozen, like SearchPlan
class SearchRun(Generic[Row]):
    rows: list[Row]
    sql: str  # readable text of the statement; composed only when the search is explained
    settings: dict[str, str]
    seconds: float
    plan: str
    rerank: int | None = None  # binary quantization: candidates per hit re-ranked at full precision


def _binary(info: CollectionInfo, plan: SearchPlan) -> bool:
    """Whether the search goes through the binary-quantized index (then re-ranks)."""
    return info.quantization is Quantization.BINARY and not plan.exact and info.index.kind is IndexKind.HNSW


CUSTOM_PLANS = {session.PLAN_CACHE_MODE: "force_custom_plan"}
"""For searches whose best plan depends on the query: exact ones (planned without the vector index),
and filtered ones (the filter's selectivity decides between the vector index and the metadata index).
psycopg prepares a statement run five times, and PostgreSQL may then reuse one generic plan for it,
made once under other settings or for other filter values."""

GENERIC_PLANS = {session.PLAN_CACHE_MODE: session.FORCE_GENERIC_PLAN}
"""For unfiltered approximate searches, whose plan is the same for every query vector: the index scan.
PostgreSQL would otherwise plan every run of the prepared statement anew (it never judged a generic
plan cheaper), which measured about 0.1 ms a search, a tenth of a short one. Their LIMIT is written into
the statement (k is the statement's, not a parameter): planned for an unknown LIMIT, the generic plan of
a table without statistics was a sequential scan and a sort of every row. Only these searches build
the generic plan, so it is always made under their settings; exact searches run the same statement
text, but with custom plans. The setting is kept on the connection like pgvector's (see
:mod:`.session`), which puts it back before the connection serves anything but a search."""


def query_settings(info: CollectionInfo, plan: SearchPlan) -> dict[str, str]:
    """The planner and index settings for this query (how :func:`_run` applies them: see there)."""
    filtered = plan.filtered or plan.exclude_id is not None
    if plan.exact or info.index.kind is IndexKind.NONE:
        # A sequential (or metadata-bitmap) scan and a sort: every candidate is compared, recall is 1.
        return {"enable_indexscan": "off", **CUSTOM_PLANS}
    custom = CUSTOM_PLANS if plan.filtered else GENERIC_PLANS
    if info.index.kind is IndexKind.HNSW:
        wanted = plan.candidates() if _binary(info, plan) else plan.k
        ef_search = min(max(plan.ef_search or HNSW_DEFAULT_EF_SEARCH, wanted), HNSW_MAX_EF_SEARCH)
        settings = {"hnsw.ef_search": str(ef_search)}
        if filtered or wanted > ef_search:
            # Keep walking the graph until enough rows pass the filter (or, with binary quantization,
            # until there are enough candidates), instead of stopping after one candidate list.
            settings["hnsw.iterative_scan"] = "relaxed_order"
        return {**settings, **custom}
    settings = {"ivfflat.probes": str(plan.probes or IVFFLAT_DEFAULT_PROBES)}
    if filtered:
        settings["ivfflat.iterative_scan"] = "relaxed_order"
    return {**settings, **custom}


MATCHES_SECONDS = 60.0
"""How long the count of one filter's matches on one collection is reused. It decides between two
plans that both return every hit (the exact scan of the matches, or the index walk: see
:func:`..core.search._selective`), so a count made stale by writes can only cost speed, for a minute.
Counting costs a round trip and a scan of up to ``cap`` matches: a sizeable part of a selective
search's time, saved when the same filter comes again."""
_MATCHES_MAX = 4096  # filters remembered; past it, start over

_matches: dict[tuple[str, bytes, str, int], tuple[int, float, float]] = {}


def count_matches(
    conn: Connection[Any], info: CollectionInfo, where: CompiledFilter, cap: int
) -> tuple[int, float]:
    """How many rows ``where`` keeps, counted up to ``cap`` (``cap`` means at least that many), and the
    planner's estimate of the rows in the table: one round trip, remembered for
    :data:`MATCHES_SECONDS` per collection, filter, values and cap. A count rather than the planner's
    estimate, which for containment in jsonb is often off by several times (2,100 for 10,000 matches
    of 100,000 rows). ``conn`` must not be in a transaction."""
    counted = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT {}) AS matches").format(
        table(info), where.sql, sql.Literal(cap)
    )
    key = (info.table_name, counted.as_bytes(conn), repr(sorted(where.params.items())), cap)
    now = time.monotonic()
    remembered = _matches.get(key)
    if remembered is not None and now - remembered[2] < MATCHES_SECONDS:
        return remembered[0], remembered[1]
    everything = sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {}").format(table(info))
    with autocommit(conn), conn.pipeline() as pipeline, conn.cursor() as matching, conn.cursor() as total:
        # Planned for these values (an unfiltered search may have left generic plans on), in the
        # pipeline's one implicit transaction, which the setting ends with.
        _set_configs(matching, CUSTOM_PLANS, is_local=True)
        matching.execute(counted, where.params, prepare=False)
        total.execute(everything, prepare=False)
        pipeline.sync()
        count_row, plan_row = matching.fetchone(), total.fetchone()
    matches = int(count_row[0]) if count_row else 0
    rows = float(plan_row[0][0]["Plan"]["Plan Rows"]) if plan_row else 0.0
    if len(_matches) >= _MATCHES_MAX:
        _matches.clear()
    _matches[key] = (matches, rows, now)
    return matches, rows


def _conditions(plan: SearchPlan) -> sql.Composable:
    conditions: list[sql.Composable] = [plan.where.sql]
    if plan.exclude_id is not None:
        conditions.append(sql.SQL("id <> %(exclude_id)s"))
    return sql.SQL(" AND ").join(conditions)


def _statement(info: CollectionInfo, plan: SearchPlan) -> sql.Composed:
    if _binary(info, plan):
        return _binary_statement(info, plan)
    # Relaxed-order iterative scans may return rows slightly out of order: the materialised CTE takes
    # the k rows, the outer query puts them in exact distance order.
    return sql.SQL(
        """WITH nearest AS MATERIALIZED (
    SELECT id, content, metadata, image IS NOT NULL AS has_image, embedding {op} %(query_vector)b AS distance
    FROM {table}
    WHERE {where}
    ORDER BY embedding {op} %(query_vector)b
    LIMIT {k}
)
SELECT id, content, metadata, has_image, distance FROM nearest ORDER BY distance, id"""
    ).format(
        op=sql.SQL(OPERATORS[plan.metric]), table=table(info), where=_conditions(plan), k=sql.Literal(plan.k)
    )


_RENDERED: dict[tuple[Any, ...], bytes] = {}
_RENDERED_MAX = 4096  # statement shapes remembered (a few per collection); past it, start over


def _rendered_statement(conn: Connection[Any], info: CollectionInfo, plan: SearchPlan) -> bytes:
    """The text of an unfiltered search (``plan.where`` keeps everything), rendered once per collection,
    statement shape and limit: composing and rendering it anew is a good part of the Python work of a
    search. Filtered statements differ with the filter, and are composed each time."""
    binary = _binary(info, plan)
    key = (
        info.table_name,
        info.dimensions,
        binary,
        plan.metric,
        plan.exclude_id is not None,
        plan.k,
        plan.candidates() if binary else None,
    )
    text = _RENDERED.get(key)
    if text is None:
        if len(_RENDERED) >= _RENDERED_MAX:
            _RENDERED.clear()
        text = _RENDERED[key] = _statement(info, plan).as_bytes(conn)
    return text


def _binary_statement(info: CollectionInfo, plan: SearchPlan) -> sql.Composed:
    """Candidates by Hamming distance between binary-quantized vectors (from the bit index), re-ranked
    by the full-precision distance of the collection's metric, in one statement."""
    return sql.SQL(
        """WITH candidates AS MATERIALIZED (
    SELECT id, embedding FROM {table}
    WHERE {where}
    ORDER BY {quantized_embedding} <~> {quantized_query}
    LIMIT {candidates}
),
nearest AS MATERIALIZED (
    SELECT id, embedding {op} %(query_vector)b AS distance FROM candidates
    ORDER BY distance LIMIT {k}
)
SELECT t.id, t.content, t.metadata, t.image IS NOT NULL AS has_image, n.distance
FROM nearest n JOIN {table} t ON t.id = n.id
ORDER BY n.distance, t.id"""
    ).format(
        op=sql.SQL(OPERATORS[plan.metric]),
        table=table(info),
        where=_conditions(plan),
        quantized_embedding=quantized(info, sql.Identifier("embedding")),
        quantized_query=quantized(info, sql.SQL("%(query_vector)b")),
        candidates=sql.Literal(plan.candidates()),
        k=sql.Literal(plan.k),
    )


def readable_sql(statement: sql.Composed, conn: Connection[Any]) -> str:
    """The statement as text, placeholders shown as ``:name``."""
    return re.sub(r"%\((\w+)\)[sb]", r":\1", statement.as_string(conn))


def run_search(
    conn: Connection[Any], info: CollectionInfo, plan: SearchPlan, *, explain: bool
) -> SearchRun[VectorRow]:
    """Run one search, with the settings it needs (see :func:`_run`). ``conn`` must not be in a
    transaction: the search is its own, so that its local settings end with it."""
    settings = query_settings(info, plan)
    statement = (
        _rendered_statement(conn, info, plan)
        if plan.where.keeps_everything() and not explain
        else _statement(info, plan)
    )
    params: dict[str, Any] = {
        **plan.where.params,
        "query_vector": to_db_vector(info, plan.vector),
        "exclude_id": plan.exclude_id,
    }
    run = execute(conn, VectorRow, statement, params, settings, explain=explain)
    if _binary(info, plan):
        run = dataclasses.replace(run, rerank=plan.rerank or DEFAULT_RERANK)
    return run


def execute(
    conn: Connection[Any],
    kind: type[Row],
    statement: sql.Composed | bytes,
    params: dict[str, Any],
    settings: dict[str, str],
    *,
    explain: bool,
) -> SearchRun[Row]:
    """Run ``statement`` with ``settings``, timed, and its plan if asked (see :func:`_run`)."""
    started = time.perf_counter()
    rows = _run(conn, _rows_of(kind), statement, params, settings)
    seconds = time.perf_counter() - started
    plan_text = ""
    text = ""
    if explain:
        assert isinstance(statement, sql.Composed), "an explained statement is composed, to be shown"
        explain_statement = sql.SQL("EXPLAIN (ANALYZE, COSTS OFF) ") + statement
        plan_text = "\n".join(
            str(row[0]) for row in _run(conn, tuple_row, explain_statement, params, settings)
        )
        text = readable_sql(statement, conn)  # only shown when explaining: not composed for every query
    return SearchRun(rows=rows, sql=text, settings=settings, seconds=seconds, plan=plan_text)


def _run(
    conn: Connection[Any],
    rows: RowFactory[T],
    statement: sql.Composed | bytes,
    params: dict[str, Any],
    settings: dict[str, str],
) -> list[T]:
    """One round trip in the usual case: pgvector's settings are kept on the connection
    (:mod:`.session`) and only changed ones are sent, in one pipeline with the statement; other
    settings are local to the statement's implicit transaction, which ends at the pipeline's sync.
    ``conn`` must not be in a transaction (there, the settings would outlive the search)."""
    if conn.info.transaction_status is not TransactionStatus.IDLE:
        raise RuntimeError("a search needs a connection outside any transaction")
    changed = session.changes(conn, settings)
    local = {name: value for name, value in settings.items() if not session.is_session_setting(name)}
    try:
        with autocommit(conn), conn.cursor(row_factory=rows) as cur:
            if not changed and not local:
                found = cur.execute(statement, params).fetchall()
            else:
                with conn.pipeline() as pipeline:
                    _set_configs(cur, changed, is_local=False)
                    _set_configs(cur, local, is_local=True)
                    cur.execute(statement, params)
                    pipeline.sync()
                    found = cur.fetchall()
        session.applied(conn, changed)
        return found
    except BaseException:
        session.forget(conn)  # a setting sent with a failed statement was rolled back with it
        raise


def _set_configs(cur: Cursor[Any], settings: dict[str, str], *, is_local: bool) -> None:
    if not settings:
        return
    # One statement for all of them (its text depends only on how many, so it is prepared too).
    call = sql.SQL("set_config(%s, %s, true)" if is_local else "set_config(%s, %s, false)")
    cur.execute(
        sql.SQL("SELECT ") + sql.SQL(", ").join([call] * len(settings)),
        [part for item in settings.items() for part in item],
    )
