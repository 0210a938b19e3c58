"""Recall@10 against queries/s over ``ef_search`` on ann-benchmarks' fashion-mnist-784-euclidean.

    python bench/ann.py [--quick | --smoke] [--rounds N] [--queries N] [--ef 10,20,40,...]

One run builds every index with the same HNSW parameters (M = 16, ef_construction = 64: pgvector's and
pgsimilar's defaults) over the same base vectors, then for each ``ef_search`` times every contender on
the same queries, one query at a time, in alternating rounds:

- ``pgsimilar``: ``Collection.search(vector=q, k=10, ef_search=ef)`` (metric l2).
- ``psycopg_same_sql``: the statement pgsimilar runs (taken from its ``explain``), through a bare
  psycopg connection: binary vector, prepared statement, ``SET hnsw.ef_search`` once per session, so
  each query is one round trip.
  pgsimilar's own overhead is the difference.
- ``psycopg_minimal``: ``SELECT id ... ORDER BY embedding <-> $1 LIMIT 10`` the same way: the engine's
  floor for one query from Python.
- ``hnswlib``: the same graph algorithm in this process (the in-process limit).
- ``chroma``: Chroma's embedded client, the same M / ef_construction / ef_search.

hnswlib and Chroma come with ``pip install -e '.[bench]'``; a peer that is not installed (or all of
them, with ``--skip-peers``) is left out, with a message and under ``skipped_peers`` in the results.

Goals: pgsimilar within 1.15x of psycopg_same_sql's latency; at recall >= 0.95 more queries/s than
Chroma. Recall@10 is against exact neighbours computed by brute force (bench/datasets.py).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from common import (
    Stats,
    bench_database,
    bench_parser,
    environment,
    load_average,
    markdown_table,
    measure_alternating,
    measure_interleaved,
    paired_ratio,
    pick,
    recall_at_k,
    size_mode,
    write_results,
)
from datasets import fashion_mnist, fingerprint
from peers import (
    PEER_PACKAGES,
    ChromaSearcher,
    HnswlibSearcher,
    PgsimilarSearcher,
    PsycopgSearcher,
    Searcher,
    executable_sql,
    missing_peers,
    search_all,
)

from pgsimilar import Record

K = 10
M = 16
EF_CONSTRUCTION = 64
TARGET_RECALL = 0.95


def load_pgsimilar(db: Any, base: np.ndarray) -> tuple[Any, float]:
    client = db.client()
    collection = client.create_collection(
        db.unique_name("ann"),
        embedder="none",
        dimensions=base.shape[1],
        metric="l2",
        index="hnsw",
        m=M,
        ef_construction=EF_CONSTRUCTION,
    )
    started = time.perf_counter()
    collection.upsert([Record(id=str(i), vector=v) for i, v in enumerate(base)])
    if not collection.index_built():  # an older pgsimilar without the bulk path
        collection.rebuild_index()
    return collection, time.perf_counter() - started


def psycopg_searchers(db: Any, collection: Any, probe: np.ndarray) -> list[PsycopgSearcher]:
    explained = collection.search(vector=probe, k=K, ef_search=40, explain=True).explain
    table = f'"pgsimilar"."{collection.info.table_name}"'
    minimal = f"SELECT id FROM {table} ORDER BY embedding <-> %(query_vector)b LIMIT %(k)s"  # noqa: S608
    # A connection each: their settings are made once per session.
    return [
        PsycopgSearcher(
            "psycopg_same_sql",
            db.connect(autocommit=True),
            executable_sql(explained.sql, {"query_vector"}),
            settings=explained.settings,
        ),
        PsycopgSearcher(
            "psycopg_minimal", db.connect(autocommit=True), minimal, settings={"hnsw.ef_search": "40"}
        ),
    ]


def best_at_recall(curve: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The fastest point of ``name`` reaching the target recall (None if none does)."""
    points = [p for p in curve if p["recall"][name] >= TARGET_RECALL]
    if not points:
        return None
    best = max(points, key=lambda p: p["qps"][name]["median"])
    return {"ef_search": best["ef_search"], "recall": best["recall"][name], "qps": best["qps"][name]}


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--queries", type=int, default=None, help="queries per pass (default per size)")
    parser.add_argument("--ef", type=str, default=None, help="comma-separated ef_search values")
    parser.add_argument("--skip-peers", action="store_true", help="leave out hnswlib and chroma")
    args = parser.parse_args()
    # Peers are optional (the `bench` extra): without them the run goes on and the results say so.
    skipped = {peer: "--skip-peers" for peer in PEER_PACKAGES} if args.skip_peers else {}
    for peer in missing_peers():
        skipped.setdefault(peer, "not installed (pip install -e '.[bench]')")
    for peer, reason in skipped.items():
        print(f"{peer} left out: {reason}", file=sys.stderr)
    base_n = pick(args, full=None, quick=5_000, smoke=500)
    query_n = args.queries or pick(args, full=1000, quick=50, smoke=20)
    rounds = args.rounds or pick(args, full=5, quick=2, smoke=1)
    efs = (
        [int(x) for x in args.ef.split(",")]
        if args.ef
        else pick(args, full=[10, 20, 40, 80, 120, 200, 400], quick=[10, 20, 40, 80, 200], smoke=[10, 40])
    )
    load_before = load_average()
    data = fashion_mnist(base=base_n, queries=query_n)
    print(f"{data.name}: base {data.base.shape}, queries {data.queries.shape}")

    with bench_database("ann") as db:
        collection, pg_load = load_pgsimilar(db, data.base)
        build: dict[str, float] = {"pgsimilar_upsert_and_index": pg_load}
        searchers: list[Searcher] = [
            PgsimilarSearcher(collection),
            *psycopg_searchers(db, collection, data.queries[0]),
        ]
        chroma: ChromaSearcher | None = None
        if "hnswlib" not in skipped:
            started = time.perf_counter()
            searchers.append(HnswlibSearcher(data.base, space="l2", m=M, ef_construction=EF_CONSTRUCTION))
            build["hnswlib"] = time.perf_counter() - started
        if "chromadb" not in skipped:
            started = time.perf_counter()
            chroma = ChromaSearcher(data.base, space="l2", m=M, ef_construction=EF_CONSTRUCTION)
            searchers.append(chroma)
            build["chroma"] = time.perf_counter() - started
        names = [s.name for s in searchers]
        curve = [measure_ef(ef, searchers, data, rounds) for ef in efs]
        env = environment(db, packages=["hnswlib", "chromadb"])
        if chroma is not None:
            chroma.close()

    summary = summarize(curve, names)
    print_report(curve, names, summary, build)
    write_results(
        "ann",
        {
            "benchmark": "ann",
            "mode": size_mode(args),
            "dataset": data.name,
            "base": len(data.base),
            "queries": len(data.queries),
            "queries_fingerprint": fingerprint(data.queries),
            "k": K,
            "hnsw": {"m": M, "ef_construction": EF_CONSTRUCTION},
            "rounds": rounds,
            "contenders": names,
            "skipped_peers": skipped,
            "build_seconds": {n: round(s, 2) for n, s in build.items()},
            "curve": curve,
            "summary": summary,
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "environment": env,
        },
        args.output,
    )


def measure_ef(ef: int, searchers: list[Searcher], data: Any, rounds: int) -> dict[str, Any]:
    found: dict[str, list[list[int]]] = {}
    for searcher in searchers:
        searcher.set_ef(ef)
        search_all(searcher, data.queries[: min(20, len(data.queries))], K)  # warm caches, untimed

    def runner(searcher: Searcher) -> Any:
        return lambda: found.__setitem__(searcher.name, search_all(searcher, data.queries, K))

    # Throughput: each contender runs the whole query set, contenders alternating round by round
    # (ann-benchmarks' way: back-to-back queries, so in-process indexes keep their caches warm).
    samples = measure_alternating({s.name: runner(s) for s in searchers}, rounds=rounds, warmup=0)
    n = len(data.queries)
    point: dict[str, Any] = {
        "ef_search": ef,
        "recall": {name: round(recall_at_k(ids, data.neighbors, K), 4) for name, ids in found.items()},
        "qps": {name: s.rates(n).as_dict() for name, s in samples.items()},
        "latency_ms": {
            name: Stats.of([1000 * x / n for x in s.seconds]).as_dict() for name, s in samples.items()
        },
        "latency_ratio_pgsimilar_vs": {
            name: paired_ratio(samples["pgsimilar"].seconds, s.seconds).as_dict()
            for name, s in samples.items()
            if name != "pgsimilar"
        },
        "interleaved": interleaved_overhead(searchers, data.queries, rounds),
    }
    recall = point["recall"]
    print(
        f"ef_search {ef}: "
        + ", ".join(f"{name} r={recall[name]:.3f} {point['qps'][name]['median']:.0f} q/s" for name in samples)
        + f"; pgsimilar/psycopg interleaved {point['interleaved']['pgsimilar_vs_psycopg_same_sql']['median']:.3f}"
    )
    return point


def interleaved_overhead(searchers: list[Searcher], queries: np.ndarray, rounds: int) -> dict[str, Any]:
    """pgsimilar's latency over bare psycopg's with the finest alternation: query by query, so both see
    the same moment of this shared machine. The ratio is taken per round (sum over the query set)."""
    sql_searchers = {s.name: s for s in searchers if s.name.startswith(("pgsimilar", "psycopg"))}

    def one(searcher: Searcher) -> Callable[[np.ndarray], list[int]]:
        return lambda q: searcher.search(q, K)

    samples = measure_interleaved(
        {name: one(s) for name, s in sql_searchers.items()}, list(queries), rounds=rounds
    )
    n = len(queries)

    def per_round(name: str) -> list[float]:
        seconds = samples[name].seconds
        return [sum(seconds[r * n : (r + 1) * n]) for r in range(rounds)]

    result: dict[str, Any] = {
        "latency_ms": {name: Stats.of([1000 * x for x in s.seconds]).as_dict() for name, s in samples.items()}
    }
    for name in sql_searchers:
        if name != "pgsimilar":
            result[f"pgsimilar_vs_{name}"] = paired_ratio(per_round("pgsimilar"), per_round(name)).as_dict()
            result[f"pgsimilar_vs_{name}_per_query_median"] = round(
                float(np.median(np.array(samples["pgsimilar"].seconds) / np.array(samples[name].seconds))), 4
            )
    return result


def summarize(curve: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    overhead = [p["interleaved"]["pgsimilar_vs_psycopg_same_sql"]["median"] for p in curve]
    at_recall = {name: best_at_recall(curve, name) for name in names}
    summary: dict[str, Any] = {
        "pgsimilar_vs_psycopg_same_sql_latency_ratio_by_ef": overhead,
        "pgsimilar_vs_psycopg_same_sql_latency_ratio_median": round(float(np.median(overhead)), 3),
        "pgsimilar_vs_psycopg_same_sql_latency_ratio_max": round(max(overhead), 3),
        f"best_qps_at_recall_{TARGET_RECALL}": at_recall,
    }
    ours = at_recall.get("pgsimilar")
    for peer in ("chroma", "hnswlib", "psycopg_minimal"):
        theirs = at_recall.get(peer)
        if ours and theirs:
            summary[f"qps_ratio_pgsimilar_over_{peer}_at_recall_{TARGET_RECALL}"] = round(
                ours["qps"]["median"] / theirs["qps"]["median"], 3
            )
    summary["goals"] = {
        "pgsimilar_within_1.15x_psycopg_latency_every_ef": max(overhead) <= 1.15,
        "pgsimilar_within_1.15x_psycopg_latency_median": float(np.median(overhead)) <= 1.15,
    }
    chroma_ratio = summary.get(f"qps_ratio_pgsimilar_over_chroma_at_recall_{TARGET_RECALL}")
    if chroma_ratio is not None:
        summary["goals"]["pgsimilar_ahead_of_chroma_at_recall_0.95"] = chroma_ratio > 1.0
    return summary


def print_report(
    curve: list[dict[str, Any]], names: list[str], summary: dict[str, Any], build: dict[str, float]
) -> None:
    rows = []
    for point in curve:
        for name in names:
            qps = point["qps"][name]
            ratio = point["latency_ratio_pgsimilar_vs"].get(name)
            rows.append(
                [
                    point["ef_search"],
                    name,
                    f"{point['recall'][name]:.4f}",
                    f"{qps['median']:.0f} [{qps['min']:.0f}-{qps['max']:.0f}]",
                    f"{point['latency_ms'][name]['median']:.3f}",
                    "" if ratio is None else f"{ratio['median']:.2f} [{ratio['min']:.2f}-{ratio['max']:.2f}]",
                ]
            )
    print(
        markdown_table(
            [
                "ef_search",
                "contender",
                "recall@10",
                "q/s median [min-max]",
                "ms/query",
                "pgsimilar latency / this",
            ],
            rows,
        )
    )
    print("build seconds:", {n: round(s, 1) for n, s in build.items()})
    print(
        "pgsimilar latency / psycopg_same_sql, interleaved query by query: "
        + ", ".join(
            f"ef {p['ef_search']}: {p['interleaved']['pgsimilar_vs_psycopg_same_sql']['median']:.3f}"
            for p in curve
        )
    )
    for key, value in summary.items():
        if key != f"best_qps_at_recall_{TARGET_RECALL}":
            print(f"{key}: {value}")
    for name, best in summary[f"best_qps_at_recall_{TARGET_RECALL}"].items():
        if best:
            print(
                f"best at recall >= {TARGET_RECALL}: {name} ef {best['ef_search']} recall {best['recall']} "
                f"{best['qps']['median']:.0f} q/s"
            )


if __name__ == "__main__":
    main()
