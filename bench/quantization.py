"""Benchmark 4, quantization: ``vector`` vs ``halfvec`` vs ``binary`` + re-ranking on the same data.

    python bench/quantization.py [--quick | --smoke] [--rounds N] [--datasets fashion,clustered]

For each data set, one collection per variant holds the same vectors (loaded without an index), then
its HNSW index (M = 16, ef_construction = 64) is built with ``Collection.create_index``:

- ``vector``: float32 column, ``vector_*_ops`` index.
- ``halfvec``: float16 column, ``halfvec_*_ops`` index (half the size).
- ``binary-rN``: float32 column, HNSW index over ``binary_quantize(embedding)::bit(d)`` (one bit per
  dimension); ``k * N`` candidates by Hamming distance re-ranked by the full-precision distance.

Reported per variant: build time, index size (``pg_relation_size``), recall@10 against exact
neighbours by brute force (bench/datasets.py), and queries/s (one query at a time through
``Collection.search``, the variants timed in alternating rounds, bench/common.py). Search settings are
the defaults (``ef_search`` 40) unless ``--ef-search`` says otherwise.

Data sets: ``fashion`` is ann-benchmarks' fashion-mnist-784-euclidean (pixel values 0..255, L2: all
non-negative, so binary quantization keeps only "pixel is not black", a hard case); ``clustered`` is
384-d unit vectors in Gaussian clusters of low intrinsic dimension, shaped like MiniLM embeddings
(cosine: signs carry the information binary quantization keeps).
"""

from __future__ import annotations

import time
from typing import Any

from common import (
    Stats,
    bench_database,
    bench_parser,
    environment,
    load_average,
    markdown_table,
    measure_alternating,
    pick,
    recall_at_k,
    size_mode,
    write_results,
)
from datasets import AnnDataset, clustered_dataset, fashion_mnist, fingerprint

from pgsimilar import Record

K = 10
M = 16
EF_CONSTRUCTION = 64
VARIANTS: dict[str, dict[str, Any]] = {
    "vector": {"storage": "vector", "quantization": "none", "search": {}},
    "halfvec": {"storage": "halfvec", "quantization": "none", "search": {}},
    "binary-r4": {"storage": "vector", "quantization": "binary", "search": {"rerank": 4}},
    "binary-r10": {"storage": "vector", "quantization": "binary", "search": {"rerank": 10}},
}


def load(db: Any, data: AnnDataset, variant: str) -> tuple[Any, dict[str, Any]]:
    """A collection of ``data.base`` in the variant's storage, its index built after the load."""
    spec = VARIANTS[variant]
    collection = db.client().create_collection(
        db.unique_name("quant"),
        embedder="none",
        dimensions=data.dimensions,
        metric=data.metric,
        storage=spec["storage"],
        quantization=spec["quantization"],
        index="none",
    )
    started = time.perf_counter()
    collection.upsert([Record(id=str(i), vector=v) for i, v in enumerate(data.base)])
    loaded = time.perf_counter() - started
    build = collection.create_index("hnsw", m=M, ef_construction=EF_CONSTRUCTION)
    with db.connect() as conn:
        row = conn.execute(
            "SELECT pg_table_size(%s::regclass)", (f"pgsimilar.{collection.info.table_name}",)
        ).fetchone()
    return collection, {
        "load_seconds": round(loaded, 2),
        "build_seconds": round(build.seconds, 2),
        "index_bytes": build.size_bytes,
        "table_bytes": int(row[0]),
    }


def search_all(collection: Any, queries: Any, options: dict[str, int]) -> list[list[int]]:
    return [[int(i) for i in collection.search(vector=q, k=K, **options).ids] for q in queries]


def measure(data: AnnDataset, db: Any, rounds: int, ef_search: int | None) -> dict[str, Any]:
    """Build every variant (sharing one collection between the binary re-rank factors), then time them."""
    collections: dict[str, Any] = {}
    builds: dict[str, dict[str, Any]] = {}
    for variant, spec in VARIANTS.items():
        shared = next(
            (v for v in collections if VARIANTS[v]["quantization"] == spec["quantization"] == "binary"), None
        )
        if shared is not None:
            collections[variant], builds[variant] = collections[shared], builds[shared]
            continue
        collections[variant], builds[variant] = load(db, data, variant)
        print(
            f"  {variant}: built in {builds[variant]['build_seconds']} s, {builds[variant]['index_bytes']:,} bytes"
        )
    options = {
        v: {**VARIANTS[v]["search"], **({"ef_search": ef_search} if ef_search else {})} for v in VARIANTS
    }
    found: dict[str, list[list[int]]] = {}
    for variant in VARIANTS:  # warm caches and prepared statements, untimed
        search_all(collections[variant], data.queries[:20], options[variant])

    def runner(variant: str) -> Any:
        return lambda: found.__setitem__(
            variant, search_all(collections[variant], data.queries, options[variant])
        )

    samples = measure_alternating({v: runner(v) for v in VARIANTS}, rounds=rounds, warmup=0)
    n = len(data.queries)
    return {
        variant: {
            **builds[variant],
            "search": options[variant],
            "recall_at_10": round(recall_at_k(found[variant], data.neighbors, K), 4),
            "qps": samples[variant].rates(n).as_dict(),
            "latency_ms": Stats.of([1000 * s / n for s in samples[variant].seconds]).as_dict(),
        }
        for variant in VARIANTS
    }


def report(name: str, results: dict[str, Any]) -> str:
    vector = results["vector"]
    rows = [
        [
            variant,
            r["build_seconds"],
            f"{r['index_bytes'] / 2**20:.1f}",
            f"{r['index_bytes'] / vector['index_bytes']:.2f}",
            f"{r['table_bytes'] / 2**20:.1f}",
            f"{r['recall_at_10']:.3f}",
            f"{r['qps']['median']:.0f} [{r['qps']['min']:.0f}-{r['qps']['max']:.0f}]",
        ]
        for variant, r in results.items()
    ]
    headers = [
        "variant",
        "build s",
        "index MiB",
        "index vs vector",
        "table MiB",
        "recall@10",
        "queries/s [min-max]",
    ]
    return f"### {name}\n\n" + markdown_table(headers, rows)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--datasets", default="fashion,clustered", help="comma-separated: fashion, clustered")
    parser.add_argument(
        "--ef-search", type=int, default=None, help="hnsw.ef_search of every query (default 40)"
    )
    args = parser.parse_args()
    base_n = pick(args, full=60_000, quick=2_000, smoke=500)
    query_n = pick(args, full=1000, quick=50, smoke=10)
    rounds = args.rounds or pick(args, full=5, quick=2, smoke=1)
    makers = {
        "fashion": lambda: fashion_mnist(base=base_n, queries=query_n),
        "clustered": lambda: clustered_dataset(base_n, query_n, 384),
    }
    load_before = load_average()
    started = time.perf_counter()
    results: dict[str, Any] = {}
    tables = []
    with bench_database("quantization") as db:
        for key in args.datasets.split(","):
            data = makers[key.strip()]()
            print(f"{data.name}: base {data.base.shape}, queries {data.queries.shape}, {data.metric}")
            measured = measure(data, db, rounds, args.ef_search)
            results[data.name] = {
                "metric": data.metric,
                "queries_fingerprint": fingerprint(data.queries),
                "variants": measured,
            }
            tables.append(report(data.name, measured))
        env = environment(db)
    print("\n" + "\n\n".join(tables))
    write_results(
        "quantization",
        {
            "benchmark": "quantization",
            "mode": size_mode(args),
            "base": base_n,
            "queries": query_n,
            "k": K,
            "hnsw": {"m": M, "ef_construction": EF_CONSTRUCTION, "ef_search": args.ef_search or 40},
            "rounds": rounds,
            "datasets": results,
            "seconds": round(time.perf_counter() - started, 1),
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "environment": env,
        },
        args.output,
    )


if __name__ == "__main__":
    main()
