"""Retrieval quality of a collection against relevance judgements (BEIR-style test collections).

The measures follow trec_eval (https://github.com/usnistgov/trec_eval), as BEIR computes them with
pytrec_eval, for one ranked list of ids per query and a ``{doc id: grade}`` map of judgements:

- a document is relevant when its grade is > 0 (trec_eval's default ``-l 1``); a document with no
  judgement counts as not relevant, with gain 0;
- the ranking is taken as given (trec_eval re-sorts by score, breaking ties by doc id; a search
  result is already in its final order);
- a document repeated in a ranking counts once, at its first (best) rank, and the repeats are removed
  before the cut-off. trec_eval refuses duplicates and pytrec_eval takes ``{doc: score}``, where a
  document can only appear once; dropping repeats gives the ranking that dict would hold, and a
  document can never earn its gain twice (which would lift nDCG or recall above 1);
- scores are averaged over the queries with at least one relevant judgement. A query whose
  judgements are all 0 has nothing to find: recall is undefined for it, and trec_eval would score it 0
  on every measure, so it is left out instead. A judged query missing from the run scores 0, as with
  trec_eval ``-c``, so that a system cannot gain by not answering.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from .loaders import json_lines, read_text_file, records_from_jsonl
from .types import SearchMode, UpsertResult

if TYPE_CHECKING:
    from .client import Client
    from .collection import Collection

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)``."""


# ---- measures ------------------------------------------------------------------------------------------


def _top(ranked: Sequence[str], k: int) -> list[str]:
    """The first ``k`` distinct ids of ``ranked`` (a repeated id keeps its first rank)."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidInput(f"k must be a positive integer, got {k!r}")
    return list(dict.fromkeys(ranked))[:k]


def _relevant(judged: Mapping[str, int]) -> set[str]:
    return {doc for doc, grade in judged.items() if grade > 0}


def ndcg_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """trec_eval's ``ndcg_cut.k``: DCG = Σ grade / log2(rank + 1) over ranks 1..k, divided by the DCG
    of the judged grades > 0 sorted best first and cut at ``k``. 0 when nothing is relevant."""
    top = _top(ranked, k)
    dcg = sum(max(judged.get(doc, 0), 0) / math.log2(rank + 1) for rank, doc in enumerate(top, start=1))
    ideal_grades = sorted((grade for grade in judged.values() if grade > 0), reverse=True)[:k]
    ideal = sum(grade / math.log2(rank + 1) for rank, grade in enumerate(ideal_grades, start=1))
    return dcg / ideal if ideal > 0 else 0.0


def map_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """trec_eval's ``map_cut.k`` for one query (average precision at ``k``): the precision at the rank
    of each relevant document found in the top ``k``, summed and divided by R, the number of relevant
    documents of the query — all of them, not min(R, k), so a query with R > k cannot reach 1."""
    top, relevant = _top(ranked, k), _relevant(judged)
    if not relevant:
        return 0.0
    found, total = 0, 0.0
    for rank, doc in enumerate(top, start=1):
        if doc in relevant:
            found += 1
            total += found / rank
    return total / len(relevant)


def mrr_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document in the top ``k``; 0 when there is none."""
    top, relevant = _top(ranked, k), _relevant(judged)
    for rank, doc in enumerate(top, start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def recall_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """trec_eval's ``recall.k``: relevant documents in the top ``k`` divided by all relevant ones (R)."""
    top, relevant = _top(ranked, k), _relevant(judged)
    if not relevant:
        return 0.0
    return len(relevant.intersection(top)) / len(relevant)


MEASURES: dict[str, tuple[Callable[[Sequence[str], Mapping[str, int], int], float], int]] = {
    "ndcg@10": (ndcg_at_k, 10),
    "map@10": (map_at_k, 10),
    "mrr@10": (mrr_at_k, 10),
    "recall@10": (recall_at_k, 10),
    "recall@100": (recall_at_k, 100),
}
"""What :func:`score_run` reports: name → (measure, k)."""


def judged_queries(qrels: Mapping[str, Mapping[str, int]]) -> list[str]:
    """The query ids with at least one relevant judgement: the queries that are scored."""
    return [query_id for query_id, judged in qrels.items() if _relevant(judged)]


def score_run(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    """Each measure of :data:`MEASURES`, averaged over the queries of ``qrels`` with a relevant
    judgement (see the module docstring). Queries of ``run`` that are not judged are ignored."""
    scored = judged_queries(qrels)
    if not scored:
        raise InvalidInput("no query has a relevant judgement (a grade > 0): there is nothing to score")
    return {
        name: math.fsum(measure(run.get(query_id, ()), qrels[query_id], k) for query_id in scored)
        / len(scored)
        for name, (measure, k) in MEASURES.items()
    }


# ---- reading BEIR files ------------------------------------------------------------------------------


def read_queries(path: Path) -> dict[str, str]:
    """Query texts by id from JSON lines ``{"_id" (or "id"), "text"}``; other fields are ignored."""
    queries: dict[str, str] = {}
    for where, data in json_lines(path):
        if not isinstance(data, dict):
            raise InvalidInput(f"{where}: expected a JSON object, got {type(data).__name__}")
        query_id = data.get("_id", data.get("id"))
        if isinstance(query_id, int) and not isinstance(query_id, bool):
            query_id = str(query_id)
        if not isinstance(query_id, str) or not query_id:
            raise InvalidInput(f"{where}: a query needs an '_id' (or 'id') string")
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"{where}: query {query_id!r} needs a non-empty 'text' string")
        if query_id in queries:
            raise InvalidInput(f"{where}: query id {query_id!r} appears twice")
        queries[query_id] = text
    return queries


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Judgements ``{query id: {doc id: grade}}`` from tab-separated ``query-id, corpus-id, score``
    lines, after an optional header line (recognised by a score column that is not an integer)."""
    qrels: dict[str, dict[str, int]] = {}
    first = True
    for number, line in enumerate(read_text_file(path).split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 3:
            raise InvalidInput(
                f"{where}: expected 3 tab-separated columns (query-id, corpus-id, score), got {len(fields)}"
            )
        query_id, doc_id, score = (field.strip() for field in fields)
        try:
            grade = int(score)
        except ValueError:
            if first:
                first = False
                continue  # the header
            raise InvalidInput(f"{where}: the score must be an integer, got {score!r}") from None
        first = False
        if not query_id or not doc_id:
            raise InvalidInput(f"{where}: empty query-id or corpus-id")
        judged = qrels.setdefault(query_id, {})
        if doc_id in judged:  # trec_eval refuses these too: which grade would count?
            raise InvalidInput(f"{where}: query {query_id!r} judges document {doc_id!r} twice")
        judged[doc_id] = grade
    return qrels


def _corpus(folder: Path) -> Path:
    corpus = Path(folder) / "corpus.jsonl"
    if not corpus.is_file():
        raise InvalidInput(f"{corpus}: no such file (a BEIR folder holds corpus.jsonl)")
    return corpus


@dataclass(frozen=True)
class BeirData:
    """A BEIR-format folder: the corpus file (loaded by :func:`load_beir_collection`), the queries and
    the judgements of one split."""

    folder: Path
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def read_beir(folder: Path, *, split: str = "test") -> BeirData:
    """``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` of a BEIR dataset folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"{folder}: not a folder (expected a BEIR dataset folder)")
    return BeirData(
        folder=folder,
        corpus=_corpus(folder),
        queries=read_queries(folder / "queries.jsonl"),
        qrels=read_qrels(folder / "qrels" / f"{split}.tsv"),
    )


# ---- evaluating a collection ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationReport:
    """The averaged measures of one evaluation, how it searched, and how long the searches took
    (``seconds``: wall time of every query, embedding included)."""

    metrics: dict[str, float]
    queries: int
    mode: str
    exact: bool
    ef_search: int | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(
    collection: Collection,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    mode: str = "vector",
    exact: bool = False,
    ef_search: int | None = None,
    depth: int = 100,
    progress: Progress | None = None,
) -> EvaluationReport:
    """Search ``collection`` for every query with a relevant judgement (the top ``depth`` hits) and
    score the rankings with :func:`score_run`. Queries without judgements are skipped, and judgements
    of queries not in ``queries`` are ignored. ``recall@100`` needs ``depth`` >= 100 to mean what it
    says: documents not retrieved count as not found."""
    try:
        mode = SearchMode(mode).value  # checked before any query runs
    except ValueError:
        raise InvalidInput(
            f"unknown search mode {mode!r}; choose one of: {', '.join(m.value for m in SearchMode)}"
        ) from None
    scored = [query_id for query_id in judged_queries(qrels) if query_id in queries]
    if not scored:
        raise InvalidInput("none of the queries has a relevant judgement: there is nothing to evaluate")
    run: dict[str, list[str]] = {}
    started = time.perf_counter()
    for done, query_id in enumerate(scored, start=1):
        results = collection.search(queries[query_id], k=depth, exact=exact, ef_search=ef_search, mode=mode)
        run[query_id] = results.ids
        if progress is not None:
            progress(done, len(scored))
    seconds = time.perf_counter() - started
    return EvaluationReport(
        metrics=score_run(run, {query_id: qrels[query_id] for query_id in scored}),
        queries=len(scored),
        mode=mode,
        exact=exact,
        ef_search=ef_search,
        seconds=seconds,
    )


def beir_collection_name(folder: Path) -> str:
    """``beir-<folder name>``, lowercased, other characters than a-z, 0-9, '_' and '-' made '-'."""
    name = re.sub(r"[^a-z0-9_-]", "-", Path(folder).resolve().name.lower())
    return f"beir-{name}"[:63]


def load_beir_collection(
    client: Client,
    folder: Path,
    *,
    embedder: str = "minilm",
    name: str | None = None,
    namespace: str = "default",
    progress: Progress | None = None,
) -> tuple[Collection, UpsertResult]:
    """The collection of a BEIR folder's ``corpus.jsonl``, created if needed (named
    :func:`beir_collection_name` unless ``name`` is given) and brought up to date, and what the
    upserts did, summed over batches.

    The whole corpus is read (and checked) before anything is written, then upserted in batches of
    ``client.settings.upsert_batch_size``; ``progress(records done, total)`` follows each batch.
    Upsert skips unchanged content, so loading a folder again reuses the stored embeddings: the
    returned ``embedded`` count is then 0.
    """
    corpus = _corpus(folder)
    records = list(records_from_jsonl(corpus))
    if not records:
        raise InvalidInput(f"{corpus}: no documents")
    collection = client.create_collection(
        name or beir_collection_name(Path(folder)), namespace=namespace, embedder=embedder, exist_ok=True
    )
    results: list[UpsertResult] = []
    batch = client.settings.upsert_batch_size
    for start in range(0, len(records), batch):
        results.append(collection.upsert(records[start : start + batch]))
        if progress is not None:
            progress(min(start + batch, len(records)), len(records))
    counts = ("inserted", "updated", "unchanged", "embedded")
    return collection, UpsertResult(**{count: sum(getattr(r, count) for r in results) for count in counts})
