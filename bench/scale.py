"""Query latency at a fixed recall as the collection grows: 10k, 100k and 1M clustered 384-d vectors.

    python bench/scale.py [--quick | --smoke] [--sizes 10000,100000,300000] [--rounds N] [--queries N]
                          [--m 16] [--ef-construction 64]

For each size: clustered unit vectors (bench/datasets.py) are loaded with one ``Collection.upsert``
(cosine, HNSW with M = 16 and ef_construction = 64 unless given; the load time includes pgsimilar's
index build); an
untimed sweep over ``ef_search`` picks the smallest value reaching recall@10 >= 0.95 against brute-force
ground truth; then, in alternating rounds, the approximate search at that ``ef_search`` and its baseline,
the exact scan (``exact=True``, on a subset of the queries: it compares every row), are timed one query
at a time. Reported per size: the chosen ef_search, recall, p50/p99 latency, queries/s, the exact
scan's latency, and the growth of each from one size to the next. Quick: 2k/5k/10k.
"""

from __future__ import annotations

import itertools
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
    pick,
    recall_at_k,
    size_mode,
    write_results,
)
from datasets import clustered_dataset
from peers import PgsimilarSearcher, search_all

from pgsimilar import Record

K = 10
DIM = 384
TARGET_RECALL = 0.95
EF_SWEEP = [10, 20, 40, 80, 160, 320, 640, 1000]


def load(db: Any, base: np.ndarray, hnsw: dict[str, int]) -> tuple[Any, float]:
    collection = db.client().create_collection(
        db.unique_name("scale"), embedder="none", dimensions=DIM, metric="cosine", index="hnsw", **hnsw
    )
    started = time.perf_counter()
    collection.upsert([Record(id=str(i), vector=v) for i, v in enumerate(base)])
    if not collection.index_built():
        collection.rebuild_index()
    return collection, time.perf_counter() - started


def pick_ef(searcher: PgsimilarSearcher, data: Any) -> tuple[int, dict[int, float]]:
    sweep: dict[int, float] = {}
    for ef in EF_SWEEP:
        searcher.set_ef(ef)
        sweep[ef] = round(recall_at_k(search_all(searcher, data.queries, K), data.neighbors, K), 4)
        if sweep[ef] >= TARGET_RECALL:
            return ef, sweep
    return EF_SWEEP[-1], sweep


def timed_queries(searcher: PgsimilarSearcher, queries: np.ndarray) -> list[float]:
    latencies = []
    for q in queries:
        started = time.perf_counter()
        searcher.search(q, K)
        latencies.append(time.perf_counter() - started)
    return latencies


def measure_size(
    db: Any, n: int, query_n: int, exact_n: int, rounds: int, hnsw: dict[str, int]
) -> dict[str, Any]:
    data = clustered_dataset(n, query_n, DIM, seed=31)
    collection, load_seconds = load(db, data.base, hnsw)
    approx = PgsimilarSearcher(collection)
    exact = PgsimilarSearcher(collection, exact=True)
    ef, sweep = pick_ef(approx, data)
    approx.set_ef(ef)
    search_all(exact, data.queries[:2], K)  # warm, untimed
    latencies: dict[str, list[float]] = {"approx": [], "exact": []}
    round_qps: dict[str, list[float]] = {"approx": [], "exact": []}
    for round_index in range(rounds):
        # Alternating: approx then exact, then exact then approx.
        order = ["approx", "exact"] if round_index % 2 == 0 else ["exact", "approx"]
        for name in order:
            queries = data.queries if name == "approx" else data.queries[:exact_n]
            got = timed_queries(approx if name == "approx" else exact, queries)
            latencies[name] += got
            round_qps[name].append(len(got) / sum(got))
    recall = recall_at_k(search_all(approx, data.queries, K), data.neighbors, K)
    db.client().drop_collection(collection.name)  # frees the disk and the cache for the next size
    result: dict[str, Any] = {
        "n": n,
        "load_and_index_seconds": round(load_seconds, 1),
        "ef_search": ef,
        "recall_sweep": sweep,
        "recall_at_10": round(recall, 4),
    }
    for name, values in latencies.items():
        ms = np.array(values) * 1000
        result[name] = {
            "queries_timed": len(values),
            "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "mean_ms": round(float(ms.mean()), 3),
            "qps_per_round": Stats.of(round_qps[name]),
        }
    print(
        f"n={n}: load+index {load_seconds:.0f} s, ef_search {ef} (recall {recall:.3f}), "
        f"p50 {result['approx']['p50_ms']} ms (exact {result['exact']['p50_ms']} ms)"
    )
    return result


def growth(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How latency grew from each size to the next, against how much the data grew."""
    out = []
    for before, after in itertools.pairwise(points):
        out.append(
            {
                "from": before["n"],
                "to": after["n"],
                "size_ratio": round(after["n"] / before["n"], 2),
                "approx_p50_ratio": round(after["approx"]["p50_ms"] / before["approx"]["p50_ms"], 2),
                "exact_p50_ratio": round(after["exact"]["p50_ms"] / before["exact"]["p50_ms"], 2),
                "load_seconds_ratio": round(
                    after["load_and_index_seconds"] / before["load_and_index_seconds"], 2
                ),
            }
        )
    return out


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--sizes", type=str, default=None, help="comma-separated collection sizes")
    parser.add_argument("--queries", type=int, default=None)
    parser.add_argument("--m", type=int, default=16, help="HNSW M (pgvector's default: 16)")
    parser.add_argument(
        "--ef-construction", type=int, default=64, help="HNSW ef_construction (pgvector's default: 64)"
    )
    args = parser.parse_args()
    hnsw = {"m": args.m, "ef_construction": args.ef_construction}
    sizes = (
        [int(x) for x in args.sizes.split(",")]
        if args.sizes
        else pick(args, full=[10_000, 100_000, 1_000_000], quick=[2_000, 5_000, 10_000], smoke=[300, 600])
    )
    query_n = args.queries or pick(args, full=200, quick=50, smoke=10)
    exact_n = pick(args, full=20, quick=20, smoke=5)
    rounds = args.rounds or pick(args, full=3, quick=2, smoke=1)
    load_before = load_average()
    started = time.perf_counter()
    with bench_database("scale") as db:
        points = [measure_size(db, n, query_n, exact_n, rounds, hnsw) for n in sizes]
        env = environment(db)
    curve = growth(points)
    print(
        markdown_table(
            [
                "n",
                "load+index s",
                "ef_search",
                "recall@10",
                "p50 ms",
                "p99 ms",
                "q/s median [min-max]",
                "exact p50 ms",
            ],
            [
                [
                    p["n"],
                    p["load_and_index_seconds"],
                    p["ef_search"],
                    p["recall_at_10"],
                    p["approx"]["p50_ms"],
                    p["approx"]["p99_ms"],
                    p["approx"]["qps_per_round"].spread("{:.0f}"),
                    p["exact"]["p50_ms"],
                ]
                for p in points
            ],
        )
    )
    for step in curve:
        print(
            f"{step['from']} -> {step['to']} ({step['size_ratio']}x data): approx p50 x{step['approx_p50_ratio']}, "
            f"exact p50 x{step['exact_p50_ratio']}"
        )
    write_results(
        "scale",
        {
            "benchmark": "scale",
            "mode": size_mode(args),
            "sizes": sizes,
            "dimensions": DIM,
            "k": K,
            "target_recall": TARGET_RECALL,
            "queries": query_n,
            "exact_queries": exact_n,
            "rounds": rounds,
            "hnsw": hnsw,
            "points": points,
            "growth": curve,
            "seconds_total": round(time.perf_counter() - started, 1),
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "environment": env,
        },
        args.output,
    )


if __name__ == "__main__":
    main()
