"""The benchmarks under bench/ run end to end in their ``--quick`` mode and write well-formed JSON.

Only that they run, and that what they measured makes sense (recall in [0, 1], k hits, every record
loaded), is checked: timings on a shared machine say nothing here, and performance is never asserted by
tests (bench/README.md, bench/RESULTS.md). The quick sizes are chosen so that all of them together add a
few minutes to a test run (``--smoke``, smaller still, is for trying a change to a benchmark). Each runs as a
subprocess of this interpreter against this session's PostgreSQL (``PGSIMILAR_DATABASE_URL``) instead
of starting its own, and drops what it created.

The peers (hnswlib, Chroma, ONNX Runtime) come with ``pip install -e '.[bench]'``, which CI does not
install: the benchmarks then run without them and say so in their results, and these tests check that.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from pgsimilar.storage.database import Database

from .conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
K = 10

needs_fashion = pytest.mark.skipif(
    not (SHARED_DATA / "fashion-mnist").exists(), reason=f"{SHARED_DATA / 'fashion-mnist'} is missing"
)
needs_scifact = pytest.mark.skipif(
    not (SHARED_DATA / "scifact").exists(), reason=f"{SHARED_DATA / 'scifact'} is missing"
)


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def bench_module(name: str) -> ModuleType:
    """A module of bench/, loaded under the name ``bench_<name>`` (bench/ is not a package; the modules
    used here import nothing else from it)."""
    qualified = f"bench_{name}"
    if qualified not in sys.modules:
        spec = importlib.util.spec_from_file_location(qualified, BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[qualified]


ONNX_MISSING: str | None = bench_module("minilm_onnx").available()
"""Why bench/minilm_onnx.py cannot run here (its packages are in the ``bench`` extra), or None."""


def run_bench(script: str, tmp_path: Path, database: Database, *extra: str) -> dict[str, Any]:
    output = tmp_path / f"{script}.json"
    env = {
        **os.environ,
        "PGSIMILAR_DATABASE_URL": database.url,
        # Cached data sets (Fashion-MNIST as arrays, ground truth) are shared with real benchmark runs.
        "PGSIMILAR_BENCH_CACHE": os.environ.get(
            "PGSIMILAR_BENCH_CACHE", str(Path.home() / ".cache" / "pgsimilar-bench")
        ),
    }
    completed = subprocess.run(
        [sys.executable, str(BENCH / f"{script}.py"), "--quick", "--output", str(output), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, f"bench/{script}.py failed:\n{completed.stdout}\n{completed.stderr}"
    result: dict[str, Any] = json.loads(output.read_text())
    assert result["benchmark"] == script
    assert result["mode"] == "quick"
    environment = result["environment"]
    assert {"cpu_model", "load_average", "python", "packages", "git_commit", "database"} <= set(environment)
    assert {"load_average_before", "load_average_after"} <= set(result)
    return result


def is_rate(stats: dict[str, Any]) -> bool:
    """A median/min/max summary of positive numbers (their values are not judged)."""
    return 0 < stats["min"] <= stats["median"] <= stats["max"]


def test_quick_and_smoke_runs_never_overwrite_the_full_results() -> None:
    common = bench_module("common")
    assert common.results_path("ann") == BENCH / "results" / "ann.json"
    assert common.results_path("ann", "quick") == BENCH / "results" / "ann.quick.json"
    assert common.results_path("ann", "smoke") == BENCH / "results" / "ann.smoke.json"


def test_ingest(tmp_path: Path, database: Database) -> None:
    result = run_bench("ingest", tmp_path, database)
    contenders = result["contenders"]
    assert {"upsert", "upsert_batches", "upsert_nonempty", "per_row_text", "copy_binary"} <= set(contenders)
    assert all(is_rate(c["records_per_second"]) for c in contenders.values())
    assert {"upsert_vs_per_row_text", "upsert_vs_copy_binary"} <= set(result["ratios"])
    assert result["rows_after_last_call"] == result["rows"]  # every contender loaded every row


@needs_fashion
def test_ann(tmp_path: Path, database: Database) -> None:
    result = run_bench("ann", tmp_path, database)
    peers = {"hnswlib": "hnswlib", "chromadb": "chroma"}  # package: contender
    missing = {package for package in peers if not installed(package)}
    assert set(result["skipped_peers"]) == missing  # a missing peer is left out, and said so
    expected = {"pgsimilar", "psycopg_same_sql", "psycopg_minimal"}
    expected |= {name for package, name in peers.items() if package not in missing}
    assert set(result["contenders"]) == expected
    for point in result["curve"]:
        assert set(point["recall"]) == expected
        assert all(0.0 <= r <= 1.0 for r in point["recall"].values())
        assert all(is_rate(q) for q in point["qps"].values())
        assert "pgsimilar_vs_psycopg_same_sql" in point["interleaved"]
    # The same SQL through pgsimilar and through bare psycopg finds the same neighbours.
    last = result["curve"][-1]["recall"]
    assert last["pgsimilar"] == last["psycopg_same_sql"]
    assert last["pgsimilar"] > 0.5
    assert "goals" in result["summary"]


def test_filtered(tmp_path: Path, database: Database) -> None:
    result = run_bench("filtered", tmp_path, database)
    for label in ("10% as_loaded", "1% as_loaded"):
        measured = result["results"][label]
        contenders = measured["contenders"]
        assert {"approx_default", "approx_ef40", "exact"} <= set(contenders)
        assert {"recall_at_10", "hits_min", "qps", "speedup_over_exact"} <= set(contenders["exact"])
        assert "fell_back_to_exact_rate" in contenders["approx_default"]
        assert "fell_back_to_exact_rate" in contenders["approx_ef40"]
        assert all(0.0 <= c["recall_at_10"] <= 1.0 for c in contenders.values())
        # The exact filtered scan is the ground truth's query: every match up to k, the true nearest.
        assert contenders["exact"]["hits_min"] == min(K, measured["matching_rows"])
        assert contenders["exact"]["recall_at_10"] >= 0.99
    assert "goals" in result


def test_quantization(tmp_path: Path, database: Database) -> None:
    result = run_bench("quantization", tmp_path, database, "--datasets", "clustered")
    (dataset,) = result["datasets"].values()
    variants = dataset["variants"]
    assert {"vector", "halfvec", "binary-r4", "binary-r10"} <= set(variants)
    for measured in variants.values():
        assert 0.0 <= measured["recall_at_10"] <= 1.0
        assert measured["index_bytes"] > 0 and is_rate(measured["qps"])
    assert variants["halfvec"]["index_bytes"] < variants["vector"]["index_bytes"]
    assert variants["binary-r4"]["index_bytes"] < variants["halfvec"]["index_bytes"]


def test_scale(tmp_path: Path, database: Database) -> None:
    result = run_bench("scale", tmp_path, database)
    assert [p["n"] for p in result["points"]] == result["sizes"]
    for point in result["points"]:
        assert {"ef_search", "recall_at_10", "approx", "exact"} <= set(point)
        assert 0.0 <= point["recall_at_10"] <= 1.0
        assert {"p50_ms", "p99_ms"} <= set(point["approx"])
    assert len(result["growth"]) == len(result["sizes"]) - 1


@needs_scifact
def test_service(tmp_path: Path, database: Database) -> None:
    result = run_bench("service", tmp_path, database)
    levels = result["levels"]
    assert [x["concurrency"] for x in levels] == [1, 4, 16]
    for level in levels:
        assert level["errors"] == 0
        assert {"latency_p50_ms", "latency_p99_ms", "embed_p50_ms", "search_p50_ms", "throughput_rps"} <= set(
            level
        )


@needs_scifact
def test_fulltext(tmp_path: Path, database: Database) -> None:
    result = run_bench("fulltext", tmp_path, database)
    for corpus in ("scifact", "zipf"):
        measured = result["results"][corpus]
        assert measured["documents"] > 0 and measured["queries"] > 0
        assert set(measured["contenders"]) == {"pgsimilar", "score_every_match"}
        assert all(is_rate(c["latency_ms"]) for c in measured["contenders"].values())
        assert is_rate(measured["pgsimilar_speedup_per_query"])
        # Both compute the same BM25; only a tie rounded differently (summed in another order) may part.
        assert measured["same_ids_rate"] >= 0.95


@needs_scifact
def test_embedding(tmp_path: Path, database: Database) -> None:
    result = run_bench("embedding", tmp_path, database)
    onnx = ONNX_MISSING is None
    expected = {"sentence_transformers", "minilm_torch"} | ({"minilm_onnx_int8"} if onnx else set())
    assert set(result["contenders"]) == expected
    assert set(result["skipped"]) == ({"minilm_onnx_int8"} - expected)  # left out only when not installed
    for workload in result["workloads"].values():
        assert set(workload["contenders"]) == expected
        assert 0 < workload["mean_word_pieces"] <= 256
    # The same float model through sentence-transformers and through pgsimilar: the same vectors.
    cosine = result["cosine_vs_minilm_torch"]
    assert cosine["sentence_transformers"]["min"] > 0.9999
    if onnx:  # int8 weights: close to the float vectors, not equal (bench/minilm_onnx.py)
        assert 0.995 < cosine["minilm_onnx_int8"]["min"] < 1.0


# ---- bench/minilm_onnx.py, the int8 model bench/embedding.py measures ------------------------------------


def test_onnx_mean_pooling_counts_only_the_tokens_the_mask_keeps() -> None:
    minilm_onnx = bench_module("minilm_onnx")
    hidden = np.array([[[2.0, 0.0], [4.0, 8.0], [100.0, -100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]], dtype=np.int64)  # the third token is padding
    pooled = minilm_onnx.mean_pool_and_normalize(hidden, mask)
    np.testing.assert_allclose(pooled, [[0.6, 0.8]], atol=1e-6)  # (3, 4) / 5


@pytest.mark.skipif(ONNX_MISSING is not None, reason=f"ONNX model not runnable: {ONNX_MISSING}")
def test_onnx_model_cuts_and_pads_like_the_float_model() -> None:
    from pgsimilar.embedders.minilm import _load_model

    minilm_onnx = bench_module("minilm_onnx")
    model = minilm_onnx.load_onnx_minilm()
    texts = ["a cat", "protein " * 400, "a somewhat longer sentence about proteins and cells", ""]
    float_model = _load_model()
    expected = float_model.tokenizer(texts, truncation=True, max_length=float_model.max_seq_length)
    assert [e.ids for e in model.tokenizer.encode_batch(texts)] == expected["input_ids"]  # cut at 256
    vectors = model.embed(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Batched with longer texts (padded), a text gets the vector it gets alone.
    np.testing.assert_allclose(vectors[0], model.embed(["a cat"])[0], atol=1e-5)
