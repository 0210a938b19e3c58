"""Recall-targeted tuning: the smallest search setting whose recall@k reaches a target.

The queries are stored records, sampled reproducibly (each leaves itself out of its own results, as
``similar`` does), or vectors the caller gives. Exact search (a sequential scan) gives the true k
nearest; approximate search is measured for a ladder of values of the index's knob: ``ef_search``
(HNSW), ``probes`` (IVFFlat) or ``rerank`` (binary quantization). A hit counts as found when its
distance is within the k-th true distance, so ties do not count as misses.

A mean measured on a sample is itself uncertain, so the value chosen is the smallest whose *lower* end
of the 95% confidence interval of the mean recall (mean - 1.96 standard errors) reaches the target:
queries that were not used for tuning then meet it too, not only the sample. The value is stored in
the collection's ``search_defaults`` and used by every search that does not set it. The ladder is
searched by doubling steps, then halving the last gap (recall grows with each of these settings).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from psycopg import Connection

from ..errors import InvalidInput
from ..storage import catalog, indexes
from ..storage import records as record_sql
from ..storage.search import SearchPlan, run_search
from .filters import compile_filter
from .search import MAX_K, MAX_RERANK
from .types import CollectionInfo, IndexKind, Quantization, VectorLike
from .validation import check_vector

if TYPE_CHECKING:
    from .collection import Collection

Queries = Sequence[VectorLike] | npt.NDArray[np.floating[Any]]
Z_95 = 1.96
MAX_SAMPLE = 10_000
EF_SEARCH_LADDER = (
    10,
    16,
    20,
    24,
    32,
    40,
    48,
    64,
    80,
    100,
    128,
    160,
    200,
    256,
    320,
    400,
    512,
    640,
    800,
    1000,
)
PROBES_LADDER = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 200, 256, 320,
                 400, 512, 640, 800, 1024, 1536, 2048, 4096, 8192, 16384, 32768)  # fmt: skip
RERANK_LADDER = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 50, 64, 80, MAX_RERANK)


@dataclass(frozen=True)
class TunePoint:
    """Recall and latency of one value of the tuned setting."""

    value: int
    recall: float
    """Mean recall@k over the queries."""
    recall_low: float
    """Lower end of the 95% confidence interval of that mean."""
    latency_ms: float
    """Median time of one query's SQL."""


@dataclass(frozen=True)
class TuneResult:
    """What :meth:`Collection.tune` measured and stored.

    ``parameter`` (``ef_search``, ``probes`` or ``rerank``) was set to ``value``, the smallest whose
    ``recall_low`` reached ``target_recall``; ``reached`` is False when no value did (then ``value`` is
    the largest tried). ``curve`` holds every value measured, in order.
    """

    parameter: str
    value: int
    recall: float
    recall_low: float
    latency_ms: float
    reached: bool
    target_recall: float
    k: int
    queries: int
    curve: list[TunePoint]

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data (what ``pgsimilar collections tune --json`` prints)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Query:
    vector: npt.NDArray[np.float32]
    exclude_id: str | None


def _knob(conn: Connection[Any], info: CollectionInfo, k: int) -> tuple[str, list[int]]:
    """The setting to tune and the values to try, in increasing order."""
    if info.quantization is Quantization.BINARY and info.index.kind is IndexKind.HNSW:
        return "rerank", list(RERANK_LADDER)
    if info.index.kind is IndexKind.HNSW:
        return "ef_search", [k] + [value for value in EF_SEARCH_LADDER if value > k]
    lists = indexes.ivfflat_lists(conn, info) or 1
    return "probes", [value for value in PROBES_LADDER if value < lists] + [lists]


def _check(collection: Collection, target_recall: float, k: int, sample: int) -> None:
    info = collection.info
    if not isinstance(target_recall, int | float) or not 0 < target_recall <= 1:
        raise InvalidInput(f"target_recall must be a number above 0 and at most 1, got {target_recall!r}")
    for value, name, upper in ((k, "k", MAX_K), (sample, "sample", MAX_SAMPLE)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= upper:
            raise InvalidInput(f"{name} must be an integer from 1 to {upper}, got {value!r}")
    if info.index.kind is IndexKind.NONE:
        raise InvalidInput(f"{info.qualified_name} has no index to tune; searches are exact")
    if not collection.index_built():
        raise InvalidInput(f"the index of {info.qualified_name} is not built yet; load records first")


def _queries(
    conn: Connection[Any], info: CollectionInfo, sample: int, seed: int, given: Queries | None
) -> list[_Query]:
    if given is None:
        sampled = record_sql.sample_vectors(conn, info, sample, seed)
        return [_Query(vector, record_id) for record_id, vector in sampled]
    try:
        array = np.asarray(given, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"queries must be a list of vectors: {exc}") from exc
    if array.ndim != 2:
        raise InvalidInput(f"queries must be a list of vectors (a 2-d array), got shape {array.shape}")
    return [_Query(check_vector(row, info.dimensions, info.metric, info.storage), None) for row in array]


def _plan(info: CollectionInfo, query: _Query, k: int, *, exact: bool, **setting: int) -> SearchPlan:
    return SearchPlan(
        vector=query.vector,
        k=k,
        where=compile_filter(None),
        filtered=False,
        exclude_id=query.exclude_id,
        exact=exact,
        metric=info.metric,
        ef_search=setting.get("ef_search"),
        probes=setting.get("probes"),
        rerank=setting.get("rerank"),
    )


def _kth_distance(conn: Connection[Any], info: CollectionInfo, query: _Query, k: int) -> float:
    """The true k-th smallest distance (exact search)."""
    rows = run_search(conn, info, _plan(info, query, k, exact=True), explain=False).rows
    return rows[-1].distance if rows else math.inf


def _measure(
    conn: Connection[Any],
    info: CollectionInfo,
    queries: list[_Query],
    truth: list[float],
    k: int,
    **setting: int,
) -> tuple[list[float], float]:
    """Recall@k of each query (hits within the k-th true distance) and the median SQL time in ms."""
    recalls, seconds = [], []
    for query, kth in zip(queries, truth, strict=True):
        run = run_search(conn, info, _plan(info, query, k, exact=False, **setting), explain=False)
        tolerance = 1e-5 * (1 + abs(kth))
        found = sum(1 for row in run.rows if row.distance <= kth + tolerance)
        recalls.append(min(found, k) / k)
        seconds.append(run.seconds)
    return recalls, statistics.median(seconds) * 1000


def _smallest_meeting(size: int, meets: Callable[[int], bool]) -> int:
    """The smallest position of the ladder that meets the target (recall grows along it), found by
    doubling steps and then halving the last gap; the last position if none does."""
    low, high = -1, 0
    while not meets(high):
        if high == size - 1:
            return high
        low, high = high, min(2 * high + 1, size - 1)
    while high - low > 1:  # low fails (or is -1), high meets
        middle = (low + high) // 2
        low, high = (low, middle) if meets(middle) else (middle, high)
    return high


def _point(value: int, recalls: list[float], latency_ms: float) -> TunePoint:
    mean = statistics.fmean(recalls)
    error = statistics.stdev(recalls) / math.sqrt(len(recalls)) if len(recalls) > 1 else 0.0
    return TunePoint(
        value=value, recall=mean, recall_low=max(0.0, mean - Z_95 * error), latency_ms=latency_ms
    )


def tune_collection(
    collection: Collection,
    target_recall: float,
    *,
    k: int,
    sample: int,
    seed: int,
    queries: Queries | None,
) -> TuneResult:
    """See :meth:`Collection.tune`."""
    _check(collection, target_recall, k, sample)
    info = collection.info
    database = collection._client.database
    with database.connection() as conn:
        chosen = _queries(conn, info, sample, seed, queries)
        if indexes.row_count(conn, info) <= k or not chosen:
            raise InvalidInput(f"tuning recall@{k} needs more than {k} records and at least one query")
        parameter, ladder = _knob(conn, info, k)
    # Each search below is its own transaction, so its settings end with it.
    with database.connection(autocommit=True) as conn:
        truth = [_kth_distance(conn, info, query, k) for query in chosen]
        measured: dict[int, TunePoint] = {}

        def meets(position: int) -> bool:
            value = ladder[position]
            if value not in measured:
                recalls, latency = _measure(conn, info, chosen, truth, k, **{parameter: value})
                measured[value] = _point(value, recalls, latency)
            return measured[value].recall_low >= target_recall

        best = measured[ladder[_smallest_meeting(len(ladder), meets)]]
    curve = [measured[value] for value in sorted(measured)]
    with database.connection() as conn:
        catalog.set_search_defaults(conn, info.id, {parameter: best.value})
    collection.info = dataclasses.replace(info, search_defaults={parameter: best.value})
    return TuneResult(
        parameter=parameter,
        value=best.value,
        recall=best.recall,
        recall_low=best.recall_low,
        latency_ms=best.latency_ms,
        reached=best.recall_low >= target_recall,
        target_recall=float(target_recall),
        k=k,
        queries=len(chosen),
        curve=curve,
    )
