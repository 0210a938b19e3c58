"""Keyword (BM25 full-text) search: queries/s of pgsimilar's against BM25 in SQL scoring every match.

    python bench/fulltext.py [--quick | --smoke] [--rounds N] [--docs N] [--queries N]

Two corpora, each in a collection of its own (``embedder="none"``: only the text is searched):

- ``scifact``: BEIR SciFact's 5,183 abstracts (title and text) and its 300 test queries, real language.
- ``zipf``: synthetic documents of 20-120 words drawn from a 20,000-word vocabulary with Zipf's law
  (word r has frequency 1/r, as in natural text), 100,000 of them (10,000 quick); queries of 1-4 words
  from the same law, so most queries hold a word that is in a good part of the corpus.

Contenders, run query by query, interleaved (each query's runs within milliseconds of each other):

- ``pgsimilar``: ``Collection.search(text, mode="keyword", k=10)``.
- ``score_every_match``: the same BM25 (same corpus statistics, idf, k1 = 1.2, b = 0.75) in one SQL
  statement that scores every document matching a query word and keeps the top 10, through bare
  psycopg: how BM25 is written in SQL by hand, and what pgsimilar ran before it pruned.

Queries in web-search syntax (a phrase in quotes, "or", a leading "-") are left out: pgsimilar keeps
their meaning, which the statement by hand does not. Reported per corpus: queries/s and latency percentiles of each, the per-query ratio of their times,
and whether both returned the same ids (they compute the same scores: they must). No goal is set by the
issue; pgsimilar must not be slower, and must agree.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from common import (
    Stats,
    bench_database,
    bench_parser,
    environment,
    load_average,
    markdown_table,
    measure_interleaved,
    paired_ratio,
    pick,
    size_mode,
    write_results,
)
from datasets import SCIFACT, scifact_query_texts

from pgsimilar import Record
from pgsimilar.storage.keyword import uses_websearch_syntax

K = 10
VOCABULARY = 20_000

# Every document holding a query word is scored; the top k kept. Corpus statistics as pgsimilar's.
SCORE_EVERY_MATCH = """
WITH terms AS (
    SELECT DISTINCT lexeme FROM unnest(tsvector_to_array(to_tsvector(%(language)s::regconfig, %(text)s))) lexeme
),
q AS (SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery AS query FROM terms),
corpus AS (
    SELECT count(*)::float8 AS n, greatest(avg(length(content_tsv)), 1)::float8 AS avgdl
    FROM {table} WHERE content IS NOT NULL
),
idf AS (
    SELECT t.lexeme, ln(1 + (c.n - df.df + 0.5) / (df.df + 0.5)) AS idf
    FROM terms t CROSS JOIN corpus c
    CROSS JOIN LATERAL (
        SELECT count(*)::float8 AS df FROM {table}
        WHERE content IS NOT NULL AND content_tsv @@ quote_literal(t.lexeme)::tsquery
    ) df
)
SELECT d.id, sum(i.idf * u.tf * 2.2 / (u.tf + 1.2 * (0.25 + 0.75 * length(d.content_tsv) / c.avgdl))) AS rank
FROM {table} d
CROSS JOIN corpus c
CROSS JOIN LATERAL (
    SELECT lexeme, coalesce(array_length(positions, 1), 1)::float8 AS tf FROM unnest(d.content_tsv)
) u
JOIN idf i ON i.lexeme = u.lexeme
WHERE d.content IS NOT NULL AND d.content_tsv @@ (SELECT query FROM q)
GROUP BY d.id
ORDER BY rank DESC, d.id
LIMIT %(k)s
"""


def zipf_texts(count: int, seed: int, lengths: tuple[int, int]) -> list[str]:
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, VOCABULARY + 1)
    words = np.array([f"w{i}" for i in range(1, VOCABULARY + 1)])
    sizes = rng.integers(lengths[0], lengths[1] + 1, count)
    drawn = rng.choice(words, size=int(sizes.sum()), p=weights / weights.sum())
    ends = np.cumsum(sizes)
    return [" ".join(drawn[end - size : end]) for end, size in zip(ends, sizes, strict=True)]


def scifact_texts(limit: int | None) -> list[str]:
    with (SCIFACT / "corpus.jsonl").open() as stream:
        docs = [json.loads(line) for line in stream if line.strip()]
    return [f"{d.get('title', '')} {d['text']}".strip() for d in docs[:limit]]


def run_corpus(db: Any, name: str, texts: list[str], queries: list[str], rounds: int) -> dict[str, Any]:
    collection = db.client().create_collection(db.unique_name(name), embedder="none", dimensions=2)
    started = time.perf_counter()
    collection.upsert([Record(id=str(i), content=text, vector=[1.0, 1.0]) for i, text in enumerate(texts)])
    load_seconds = time.perf_counter() - started
    conn = db.connect()
    table = f'"pgsimilar"."{collection.info.table_name}"'
    conn.execute(f"VACUUM ANALYZE {table}")  # both contenders read an analyzed, all-visible table
    statement = SCORE_EVERY_MATCH.format(table=table)
    found: dict[str, dict[str, list[str]]] = {"pgsimilar": {}, "score_every_match": {}}

    def ours(text: str) -> None:
        found["pgsimilar"][text] = collection.search(text, mode="keyword", k=K).ids

    def by_hand(text: str) -> None:
        rows = conn.execute(statement, {"language": "english", "text": text, "k": K}).fetchall()
        found["score_every_match"][text] = [row[0] for row in rows]

    contenders = {"pgsimilar": ours, "score_every_match": by_hand}
    for text in queries[:5]:  # warm: caches, prepared statements
        ours(text), by_hand(text)
    samples = measure_interleaved(contenders, queries, rounds=rounds)
    conn.close()
    agree = sum(found["pgsimilar"][q] == found["score_every_match"][q] for q in queries)
    per_query = paired_ratio(samples["score_every_match"].seconds, samples["pgsimilar"].seconds)
    result: dict[str, Any] = {
        "documents": len(texts),
        "queries": len(queries),
        "load_seconds": round(load_seconds, 2),
        "same_ids_rate": round(agree / len(queries), 4),
        "pgsimilar_speedup_per_query": per_query,
        "contenders": {},
    }
    for contender, s in samples.items():
        ms = [seconds * 1000 for seconds in s.seconds]
        result["contenders"][contender] = {
            "qps": round(len(ms) / (sum(ms) / 1000), 1),
            "latency_ms": Stats.of(ms),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
        }
    return result


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--docs", type=int, default=None, help="documents of the zipf corpus")
    parser.add_argument("--queries", type=int, default=None, help="queries per corpus")
    args = parser.parse_args()
    docs = args.docs or pick(args, full=100_000, quick=10_000, smoke=500)
    query_count = args.queries or pick(args, full=300, quick=40, smoke=5)
    rounds = args.rounds or pick(args, full=2, quick=1, smoke=1)
    load_before = load_average()

    rng = np.random.default_rng(5)
    zipf_queries = [" ".join(q.split()) for q in zipf_texts(query_count, seed=9, lengths=(1, 4))]
    corpora = {
        "scifact": (scifact_texts(pick(args, full=None, quick=None, smoke=300)), scifact_query_texts()),
        "zipf": (zipf_texts(docs, seed=7, lengths=(20, 120)), zipf_queries),
    }
    results: dict[str, Any] = {}
    with bench_database("fulltext") as db:
        for name, (texts, queries) in corpora.items():
            # Plain words only: web-search syntax (phrases, exclusions) matches otherwise than the SQL by hand.
            plain = [query for query in queries if not uses_websearch_syntax(query)]
            chosen = [plain[i] for i in sorted(rng.permutation(len(plain))[:query_count])]
            results[name] = run_corpus(db, name, texts, chosen, rounds)
        env = environment(db)

    print(f"\nkeyword search, k = {K}, {rounds} interleaved round(s)")
    print(
        markdown_table(
            ["corpus", "docs", "contender", "queries/s", "p50 ms", "p99 ms"],
            [
                [name, r["documents"], c, m["qps"], f"{m['latency_ms'].median:.2f}", f"{m['p99_ms']:.2f}"]
                for name, r in results.items()
                for c, m in r["contenders"].items()
            ],
        )
    )
    print(
        markdown_table(
            ["corpus", "pgsimilar speed-up per query, median [min-max]", "same ids"],
            [
                [name, r["pgsimilar_speedup_per_query"].spread("{:.2f}"), r["same_ids_rate"]]
                for name, r in results.items()
            ],
        )
    )
    write_results(
        "fulltext",
        {
            "benchmark": "fulltext",
            "mode": size_mode(args),
            "k": K,
            "rounds": rounds,
            "results": results,
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "environment": env,
        },
        args.output,
    )


if __name__ == "__main__":
    main()
