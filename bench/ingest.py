"""Ingest throughput: records/s of ``Collection.upsert`` against the two ways a user could load by hand.

    python bench/ingest.py [--quick | --smoke] [--rounds N] [--rows N]

Contenders, all into the SAME table (the collection's own, emptied with TRUNCATE before every call,
untimed), with the same index state: no vector index (``index="none"``), and the primary key, the GIN
index on ``metadata`` and the GIN index on the full-text column maintained by every contender:

- ``upsert``: ``Collection.upsert(records)`` in one call (validation, binary COPY into a staging
  table, one ``INSERT ... ON CONFLICT``), records given as ``Record(id, metadata, vector=ndarray)``.
  Into an empty collection, a call of >= 10,000 records takes pgsimilar's bulk path (COPY straight
  into the table, then ANALYZE); smaller calls take the ordinary path (COPY into a staging table, then
  one ``INSERT ... ON CONFLICT``).
- ``upsert_batches``: the same in calls of 1,000 records (``PGSIMILAR_UPSERT_BATCH_SIZE``'s default).
- ``upsert_nonempty``: one call, into the table holding one other record (seeded untimed), so the
  ordinary path is taken: what every load after the first pays.
- ``per_row_text``: what tutorials do: one ``cursor.execute`` per row of ``INSERT ... VALUES (%s, %s,
  %s)`` with the vector as a ``'[0.1, ...]'`` string (formatted in the loop, as they do) and the metadata
  as JSON text, all in one transaction (a commit per row would be far slower still).
- ``copy_binary``: the engine's limit from Python: one ``COPY ... FROM STDIN (FORMAT BINARY)`` with
  pgvector's binary dumper, numpy rows, ``Jsonb`` metadata, in one transaction.

Rounds alternate (A B C D, D C B A, ...). Goals: upsert >= 20x per_row_text, >= 0.8x copy_binary.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import numpy.typing as npt
from common import (
    bench_database,
    bench_parser,
    environment,
    load_average,
    markdown_table,
    measure_alternating,
    paired_ratio,
    pick,
    size_mode,
    write_results,
)
from datasets import clustered
from psycopg import sql
from psycopg.types.json import Jsonb

from pgsimilar import Record

BULK_MIN: int | None
try:  # the bulk path of first loads (pgsimilar.core.bulk); older versions have none
    from pgsimilar.core.bulk import BULK_LOAD_MIN_RECORDS as BULK_MIN
except ImportError:
    BULK_MIN = None

DIM = 384
BATCH = 1000
CATEGORIES = [f"category-{i}" for i in range(20)]


def make_metadata(n: int) -> list[dict[str, Any]]:
    """A small realistic metadata object per record: a category, a price, a flag, a counter."""
    rng = np.random.default_rng(7)
    prices = np.round(rng.uniform(1, 500, n), 2)
    return [
        {
            "category": CATEGORIES[i % len(CATEGORIES)],
            "price": float(prices[i]),
            "in_stock": i % 3 != 0,
            "n": i,
        }
        for i in range(n)
    ]


def per_row_text(
    conn: Any, table: sql.Composable, ids: list[str], metadata: list[dict[str, Any]], lists: list[list[float]]
) -> None:
    query = sql.SQL("INSERT INTO {} (id, metadata, embedding) VALUES (%s, %s::jsonb, %s::vector)").format(
        table
    )
    with conn.transaction(), conn.cursor() as cur:
        for record_id, meta, vector in zip(ids, metadata, lists, strict=True):
            cur.execute(query, (record_id, json.dumps(meta), str(vector)))


def copy_binary(
    conn: Any,
    table: sql.Composable,
    ids: list[str],
    metadata: list[dict[str, Any]],
    vectors: npt.NDArray[np.float32],
) -> None:
    copy_sql = sql.SQL("COPY {} (id, metadata, embedding) FROM STDIN WITH (FORMAT BINARY)").format(table)
    with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
        copy.set_types(["text", "jsonb", "vector"])
        for record_id, meta, vector in zip(ids, metadata, vectors, strict=True):
            copy.write_row((record_id, Jsonb(meta), vector))


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--rows", type=int, default=None, help="records per load (default per size)")
    args = parser.parse_args()
    rows = args.rows or pick(args, full=100_000, quick=10_000, smoke=300)
    rounds = args.rounds or pick(args, full=3, quick=2, smoke=1)
    load_before = load_average()

    vectors = clustered(rows, DIM, seed=11)
    ids = [f"r{i:07d}" for i in range(rows)]
    metadata = make_metadata(rows)
    records = [Record(id=i, metadata=m, vector=v) for i, m, v in zip(ids, metadata, vectors, strict=True)]
    seed = Record(id="seed", metadata={"category": "seed"}, vector=clustered(1, DIM, seed=12)[0])
    lists = vectors.tolist()  # what an embedding API hands a tutorial: lists of floats

    with bench_database("ingest") as db:
        client = db.client()
        collection = client.create_collection(
            db.unique_name("ingest"), embedder="none", dimensions=DIM, metric="cosine", index="none"
        )
        table = sql.Identifier("pgsimilar", collection.info.table_name)
        conn = db.connect(autocommit=True)
        contenders = {
            "upsert": lambda: collection.upsert(records),
            "upsert_batches": lambda: [
                collection.upsert(records[i : i + BATCH]) for i in range(0, rows, BATCH)
            ],
            "upsert_nonempty": lambda: collection.upsert(records),
            "per_row_text": lambda: per_row_text(conn, table, ids, metadata, lists),
            "copy_binary": lambda: copy_binary(conn, table, ids, metadata, vectors),
        }

        def empty_table(name: str) -> None:
            conn.execute(sql.SQL("TRUNCATE {}").format(table))
            if name == "upsert_nonempty":
                collection.upsert([seed])

        # Warm every path once on a small slice (imports, pool connections, catalogue caches), untimed.
        warm = min(rows, 200)
        collection.upsert(records[:warm])
        empty_table("")
        per_row_text(conn, table, ids[:warm], metadata[:warm], lists[:warm])
        empty_table("")
        copy_binary(conn, table, ids[:warm], metadata[:warm], vectors[:warm])

        started = time.perf_counter()
        samples = measure_alternating(contenders, rounds=rounds, warmup=0, before_each=empty_table)
        elapsed = time.perf_counter() - started
        stored_after = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0]
        indexes = [
            r[0]
            for r in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'pgsimilar' AND tablename = %s",
                (collection.info.table_name,),
            ).fetchall()
        ]
        env = environment(db)
        conn.close()

    rates = {name: s.rates(rows) for name, s in samples.items()}
    ratios = {
        "upsert_vs_per_row_text": paired_ratio(samples["per_row_text"].seconds, samples["upsert"].seconds),
        "upsert_vs_copy_binary": paired_ratio(samples["copy_binary"].seconds, samples["upsert"].seconds),
        "upsert_batches_vs_copy_binary": paired_ratio(
            samples["copy_binary"].seconds, samples["upsert_batches"].seconds
        ),
        "upsert_nonempty_vs_copy_binary": paired_ratio(
            samples["copy_binary"].seconds, samples["upsert_nonempty"].seconds
        ),
        "upsert_nonempty_vs_per_row_text": paired_ratio(
            samples["per_row_text"].seconds, samples["upsert_nonempty"].seconds
        ),
    }
    goals = {
        "upsert_ge_20x_per_row_text": ratios["upsert_vs_per_row_text"].median >= 20,
        "upsert_ge_0.8x_copy_binary": ratios["upsert_vs_copy_binary"].median >= 0.8,
    }
    print(
        f"\n{rows} records of {DIM}-d + metadata, {rounds} alternating rounds, index state: no vector index"
    )
    print(
        markdown_table(
            ["contender", "records/s median [min-max]", "seconds median", "IQR s"],
            [[n, rates[n].spread("{:,.0f}"), f"{s.median:.3f}", f"{s.iqr:.3f}"] for n, s in samples.items()],
        )
    )
    print(
        markdown_table(
            ["ratio (speed of the first over the second)", "median [min-max]"],
            [[n, r.spread("{:.2f}")] for n, r in ratios.items()],
        )
    )
    print("goals:", goals)
    write_results(
        "ingest",
        {
            "benchmark": "ingest",
            "mode": size_mode(args),
            "rows": rows,
            "dimensions": DIM,
            "rounds": rounds,
            "index_state": "no vector index (index='none'); PK btree, GIN(metadata), GIN(content_tsv) on the same table for all",
            "indexes": indexes,
            "rows_after_last_call": stored_after,
            "bulk_path_min_records": BULK_MIN,
            "seconds_total": round(elapsed, 1),
            "contenders": {n: {**s.as_dict(), "records_per_second": rates[n]} for n, s in samples.items()},
            "ratios": ratios,
            "goals": goals,
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "environment": env,
        },
        args.output,
    )


if __name__ == "__main__":
    main()
