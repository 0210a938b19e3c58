"""HTTP text search against a real ``pgsimilar serve``: latency, throughput and where the time goes.

    python bench/service.py [--quick | --smoke] [--rounds N] [--records N] [--requests N]

A ``minilm`` collection of 100,000 records is loaded with PRECOMPUTED vectors (synthetic clustered
384-d unit vectors given as ``Record.vector``, so nothing is embedded at load time), then a real
``pgsimilar serve`` subprocess on 127.0.0.1 answers ``POST .../search {"text", "k": 10}`` for the 300
SciFact test queries (embedded by the server, as users' queries are), at concurrency 1, 4 and 16
(client threads, each with its own keep-alive connection), the levels alternating round by round.

Every query text is sent twice: once plain (its client-side latency is what is reported) and once
with ``"explain": true`` (which of the two goes first alternates), whose ``embed_ms`` (the query's
embedding) and ``search_ms`` (the search SQL) are the baseline: the work a request cannot avoid,
measured by the server around the very calls a plain request makes. Both sides thus embed the same
texts (embedding time grows with a text's length). ``explain`` also runs EXPLAIN ANALYZE after the
timed SQL, so explained requests are not counted in the latency. The rest of a plain request's time
(client, HTTP, JSON, validation, the thread hop, the catalogue lookup of the collection) is
"other" = p50 latency - p50 embed - p50 search; "other (paired)" is the median over texts of
latency - (embed + search) of the same text.

The client is the standard library's ``http.client`` (keep-alive, connected before timing): it adds
less of its own time than httpx (about 1 ms of CPU per request less here), so the figures are the
service's, and at concurrency 16 it takes less CPU from the server on a small machine.
Goal: p50 latency <= 1.2 x (embed + db) at concurrency 1.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from common import (
    bench_database,
    bench_parser,
    environment,
    load_average,
    markdown_table,
    pick,
    size_mode,
    write_results,
)
from datasets import clustered, scifact_query_texts

from pgsimilar import Record

DIM = 384
K = 10
CONCURRENCY = [1, 4, 16]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_collection(db: Any, records: int) -> str:
    name = db.unique_name("service")
    collection = db.client().create_collection(name, embedder="minilm", metric="cosine", index="hnsw")
    vectors = clustered(records, DIM, seed=41)
    collection.upsert(
        [
            Record(id=f"doc-{i}", content=f"document {i}", metadata={"group": i % 50}, vector=v)
            for i, v in enumerate(vectors)
        ]
    )
    if not collection.index_built():
        collection.rebuild_index()
    return str(name)


def start_server(db: Any, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PGSIMILAR_DATABASE_URL": db.url,
        "PGSIMILAR_AUTH": "off",
        "PGSIMILAR_JOB_WORKERS": "0",  # no upload workers polling the job queue while we measure
    }
    script = Path(sys.executable).parent / "pgsimilar"  # the console script next to this interpreter
    launcher = (
        [str(script)] if script.exists() else [sys.executable, "-c", "from pgsimilar.cli import main; main()"]
    )
    command = [*launcher, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"pgsimilar serve exited with {server.returncode}; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.terminate()
    raise RuntimeError(f"pgsimilar serve did not answer /health within 120 s; see {log}")


def run_level(port: int, path: str, texts: list[str], concurrency: int, requests: int) -> dict[str, Any]:
    """``requests`` searches (``requests // 2`` texts, each plain and explained) spread over
    ``concurrency`` threads, each with its own keep-alive connection."""
    pairs: dict[int, dict[str, float]] = {}
    errors = 0
    lock = threading.Lock()
    local = threading.local()

    def post(text: str, explain: bool) -> tuple[float, int, bytes]:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            local.conn.connect()  # not timed: a new client's TCP handshake is not a search's
        started = time.perf_counter()
        body = json.dumps({"text": text, "k": K, "explain": explain}).encode()
        local.conn.request("POST", path, body, {"Content-Type": "application/json"})
        response = local.conn.getresponse()
        payload = response.read()
        return time.perf_counter() - started, response.status, payload

    def one(i: int) -> None:
        nonlocal errors
        pair = i // 2
        explain = i % 2 == pair % 2  # each text plain and explained; which goes first alternates
        text = texts[pair % len(texts)]
        try:
            elapsed, status, payload = post(text, explain)
        except (http.client.HTTPException, ConnectionError):  # the server closed an idle connection
            local.conn.close()
            del local.conn
            elapsed, status, payload = post(text, explain)
        with lock:
            measured = pairs.setdefault(pair, {})
            if status != 200:
                errors += 1
            elif explain:
                details = json.loads(payload)["explain"]
                measured["embed_ms"] = details["embed_ms"]
                measured["search_ms"] = details["search_ms"]
            else:
                measured["plain_ms"] = elapsed * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests)))
    wall = time.perf_counter() - started
    return {"pairs": list(pairs.values()), "wall_seconds": wall, "errors": errors}


def _values(runs: list[dict[str, Any]], key: str) -> np.ndarray[Any, Any]:
    return np.array([pair[key] for run in runs for pair in run["pairs"] if key in pair])


def summarize(level: int, runs: list[dict[str, Any]], requests: int) -> dict[str, Any]:
    plain, embed, search = (_values(runs, key) for key in ("plain_ms", "embed_ms", "search_ms"))
    p50, p50_embed, p50_search = (float(np.percentile(x, 50)) for x in (plain, embed, search))
    complete = [p for r in runs for p in r["pairs"] if {"plain_ms", "embed_ms", "search_ms"} <= set(p)]
    paired_other = [p["plain_ms"] - p["embed_ms"] - p["search_ms"] for p in complete]
    throughput = [requests / r["wall_seconds"] for r in runs]  # all requests, explained ones included
    return {
        "concurrency": level,
        "requests": requests * len(runs),
        "errors": sum(r["errors"] for r in runs),
        "latency_p50_ms": round(p50, 2),
        "latency_p99_ms": round(float(np.percentile(plain, 99)), 2),
        "embed_p50_ms": round(p50_embed, 2),
        "search_p50_ms": round(p50_search, 2),
        "other_p50_ms": round(p50 - p50_embed - p50_search, 2),
        "other_paired_p50_ms": round(float(np.median(paired_other)), 2) if paired_other else None,
        "p50_over_embed_plus_db": round(p50 / (p50_embed + p50_search), 3),
        "throughput_rps": {
            "median": round(float(np.median(throughput)), 1),
            "min": round(min(throughput), 1),
            "max": round(max(throughput), 1),
        },
    }


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None, help="requests per level and round (x level)")
    args = parser.parse_args()
    records = args.records or pick(args, full=100_000, quick=10_000, smoke=300)
    per_client = args.requests or pick(args, full=100, quick=15, smoke=2)
    warm = pick(args, full=16, quick=16, smoke=4)
    rounds = args.rounds or pick(args, full=3, quick=2, smoke=1)
    texts = scifact_query_texts()
    load_before = load_average()
    with bench_database("service") as db:
        started = time.perf_counter()
        name = load_collection(db, records)
        load_seconds = time.perf_counter() - started
        port = free_port()
        log = Path(db.settings.data_dir) / "serve.log"
        server = start_server(db, port, log)
        try:
            path = f"/v1/namespaces/default/collections/{name}/search"
            run_level(port, path, texts[:8], 2, warm)  # load the model and warm the pool, untimed
            runs: dict[int, list[dict[str, Any]]] = {c: [] for c in CONCURRENCY}
            for round_index in range(rounds):
                order = CONCURRENCY if round_index % 2 == 0 else CONCURRENCY[::-1]
                for level in order:
                    runs[level].append(run_level(port, path, texts, level, per_client * level))
                    print(f"round {round_index + 1}, concurrency {level}: done", flush=True)
        finally:
            server.terminate()
            server.wait(30)
        env = environment(db, packages=["httpx", "fastapi", "uvicorn"])
    levels = [summarize(level, runs[level], per_client * level) for level in CONCURRENCY]
    goal = levels[0]["p50_over_embed_plus_db"] <= 1.2
    print(
        markdown_table(
            [
                "concurrency",
                "p50 ms",
                "p99 ms",
                "embed p50",
                "SQL p50",
                "other p50",
                "other (paired)",
                "p50 / (embed+db)",
                "req/s median [min-max]",
            ],
            [
                [
                    x["concurrency"],
                    x["latency_p50_ms"],
                    x["latency_p99_ms"],
                    x["embed_p50_ms"],
                    x["search_p50_ms"],
                    x["other_p50_ms"],
                    x["other_paired_p50_ms"],
                    x["p50_over_embed_plus_db"],
                    f"{x['throughput_rps']['median']} [{x['throughput_rps']['min']}-{x['throughput_rps']['max']}]",
                ]
                for x in levels
            ],
        )
    )
    print(f"goal p50 <= 1.2 x (embed + db) at concurrency 1: {goal}")
    write_results(
        "service",
        {
            "benchmark": "service",
            "mode": size_mode(args),
            "records": records,
            "load_seconds": round(load_seconds, 1),
            "query_texts": "SciFact test queries (300), cycled; each sent plain and explained",
            "client": "http.client, one keep-alive connection per thread",
            "k": K,
            "rounds": rounds,
            "requests_per_client_per_round": per_client,
            "levels": levels,
            "goals": {"p50_le_1.2x_embed_plus_db_at_concurrency_1": goal},
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "environment": env,
        },
        args.output,
    )


if __name__ == "__main__":
    main()
