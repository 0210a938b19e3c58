"""Data sets of the benchmarks, built once and cached under :data:`common.CACHE_DIR` (outside the repo).

``fashion_mnist(base=None, queries=None) -> AnnDataset``
    ann-benchmarks' ``fashion-mnist-784-euclidean``: the 60,000 training images as the base, the 10,000
    test images as queries, 784-d float32 pixel values (0..255), Euclidean distance, ground truth = the
    exact 100 nearest neighbours by brute force in numpy. ``base``/``queries`` take the first N of each
    (the ground truth is then computed for that subset).
``scifact_minilm() -> TextEmbeddings``
    the 5,183 SciFact documents (``title + " " + text``) embedded by pgsimilar's ``minilm`` embedder,
    plus the 300 test query texts.
``clustered(n, dim, *, seed=0, clusters=100) -> ndarray`` and ``clustered_dataset(n, queries, dim)``
    synthetic unit-length vectors in Gaussian clusters, for scale curves at any n and dim (with exact
    cosine ground truth by brute force).
``brute_force_knn(base, queries, k, metric) -> ndarray``: indices of the exact k nearest, best first.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from common import CACHE_DIR, SHARED_DATA

F32 = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]
FASHION = SHARED_DATA / "fashion-mnist"
SCIFACT = SHARED_DATA / "scifact"
GROUND_TRUTH_K = 100


@dataclass(frozen=True)
class AnnDataset:
    name: str
    base: F32
    queries: F32
    neighbors: Ints  # (queries, GROUND_TRUTH_K) indices into base, nearest first
    metric: Literal["l2", "cosine"]

    @property
    def dimensions(self) -> int:
        return int(self.base.shape[1])


@dataclass(frozen=True)
class TextEmbeddings:
    ids: list[str]
    vectors: F32
    query_texts: list[str]


def _require(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the benchmarks read ../shared/data (see its README)")


# ---- exact nearest neighbours ------------------------------------------------------------------------


def brute_force_knn(
    base: F32, queries: F32, k: int, metric: Literal["l2", "cosine"], *, block: int = 128
) -> Ints:
    """Exact k nearest of every query, nearest first, in blocks of queries to bound memory.

    A float32 matrix product picks 2k candidates; their distances are then recomputed in float64 so
    that rounding (pixel norms reach 5e7) does not reorder close neighbours.
    """
    k = min(k, len(base))
    shortlist = min(len(base), 2 * k + 10)
    base_sq = np.einsum("ij,ij->i", base, base, dtype=np.float64).astype(np.float32)
    result = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), block):
        q = queries[start : start + block]
        # For l2, ||q||^2 is the same for a whole row, so it is left out of the ranking.
        scores = base_sq[None, :] - 2.0 * (q @ base.T) if metric == "l2" else -(q @ base.T)
        candidates = np.argpartition(scores, shortlist - 1, axis=1)[:, :shortlist]
        cand_vectors = base[candidates].astype(np.float64)  # (b, shortlist, d)
        q64 = q.astype(np.float64)[:, None, :]
        if metric == "l2":
            exact = ((cand_vectors - q64) ** 2).sum(axis=2)
        else:
            exact = -(cand_vectors * q64).sum(axis=2)
        order = np.lexsort((candidates, exact), axis=1)[:, :k]  # ties broken by index, deterministically
        result[start : start + block] = np.take_along_axis(candidates, order, axis=1)
    return result


def _cached_knn(key: str, base: F32, queries: F32, metric: Literal["l2", "cosine"]) -> Ints:
    path = CACHE_DIR / "ground-truth" / f"{key}.npy"
    if path.exists():
        cached: Ints = np.load(path)
        if cached.shape == (len(queries), min(GROUND_TRUTH_K, len(base))):
            return cached
    neighbors = brute_force_knn(base, queries, GROUND_TRUTH_K, metric)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, neighbors)
    return neighbors


# ---- Fashion-MNIST -----------------------------------------------------------------------------------


def _idx_images(path: Path) -> F32:
    _require(path)
    with gzip.open(path) as stream:
        pixels = np.frombuffer(stream.read(), dtype=np.uint8, offset=16)
    return pixels.reshape(-1, 784).astype(np.float32)


def _fashion_arrays() -> tuple[F32, F32]:
    path = CACHE_DIR / "fashion-mnist-784-euclidean.npz"
    if path.exists():
        with np.load(path) as cached:
            return cached["train"], cached["test"]
    train = _idx_images(FASHION / "train-images-idx3-ubyte.gz")
    test = _idx_images(FASHION / "t10k-images-idx3-ubyte.gz")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, train=train, test=test)
    return train, test


def fashion_mnist(base: int | None = None, queries: int | None = None) -> AnnDataset:
    """``fashion-mnist-784-euclidean``, or its first ``base`` training / ``queries`` test images."""
    train, test = _fashion_arrays()
    train = np.ascontiguousarray(train[:base])
    test = np.ascontiguousarray(test[:queries])
    key = f"fashion-mnist-784-euclidean-{len(train)}x{len(test)}"
    return AnnDataset(key, train, test, _cached_knn(key, train, test, "l2"), "l2")


# ---- SciFact embedded by minilm ----------------------------------------------------------------------


def _jsonl(path: Path) -> list[dict[str, str]]:
    _require(path)
    with path.open() as stream:
        return [json.loads(line) for line in stream if line.strip()]


def scifact_minilm() -> TextEmbeddings:
    """SciFact's corpus as pgsimilar's ``minilm`` embeds it (computed once, a few minutes on 2 cores)."""
    docs = _jsonl(SCIFACT / "corpus.jsonl")
    queries = [q["text"] for q in _jsonl(SCIFACT / "queries.jsonl")]
    ids = [d["_id"] for d in docs]
    path = CACHE_DIR / "scifact-minilm.npz"
    if path.exists():
        with np.load(path) as cached:
            if list(cached["ids"]) == ids:
                return TextEmbeddings(ids, cached["vectors"], queries)
    from pgsimilar.config import Settings
    from pgsimilar.embedders.registry import create_embedder

    embedder = create_embedder("minilm", Settings(), {})
    texts = [f"{d.get('title', '')} {d['text']}".strip() for d in docs]
    vectors = embedder.embed_texts(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, ids=np.array(ids), vectors=vectors)
    return TextEmbeddings(ids, vectors, queries)


def scifact_query_texts() -> list[str]:
    """The 300 SciFact test queries (no embedding needed)."""
    return [q["text"] for q in _jsonl(SCIFACT / "queries.jsonl")]


# ---- synthetic clusters ------------------------------------------------------------------------------


_BLOCK = 10_000


def clustered(
    n: int,
    dim: int = 384,
    *,
    seed: int = 0,
    stream: int = 0,
    clusters: int = 100,
    latent_dim: int = 32,
    spread: float = 1.0,
) -> F32:
    """``n`` unit vectors in ``clusters`` Gaussian clusters; the same ``seed`` gives the same vectors,
    another ``stream`` other samples of the same clusters (queries).

    Each cluster is a centre plus Gaussian noise in a random ``latent_dim``-dimensional subspace of its
    own (and a little isotropic noise): like text embeddings, the data have a low intrinsic dimension,
    which is what makes graph indexes work on real data; isotropic noise in 384-d would make every
    point nearly equidistant. Cluster geometry depends only on ``seed`` and ``dim``, not on ``n``, so
    sets of different sizes come from the same distribution (what a scale curve needs).
    """
    geometry = np.random.default_rng([seed, dim, clusters, latent_dim])
    centres = geometry.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    bases = geometry.standard_normal((clusters, latent_dim, dim)).astype(np.float32) / np.sqrt(dim)
    noise_scale = spread / np.sqrt(latent_dim)  # the noise's expected norm is `spread` x the centre's
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, _BLOCK):
        # Whole blocks, each from its own stream, so the first m vectors of a larger set are a set of m.
        rng = np.random.default_rng([seed, dim, stream, start])
        labels = rng.integers(0, clusters, size=_BLOCK)
        latent = rng.standard_normal((_BLOCK, latent_dim)).astype(np.float32)
        block = rng.standard_normal((_BLOCK, dim)).astype(np.float32) * (0.05 / np.sqrt(dim))
        for cluster in np.unique(labels):
            members = labels == cluster
            block[members] += centres[cluster] + (latent[members] @ bases[cluster]) * noise_scale
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        stop = min(n, start + _BLOCK)
        out[start:stop] = block[: stop - start]
    return out


def clustered_dataset(n: int, queries: int, dim: int = 384, *, seed: int = 0) -> AnnDataset:
    """``n`` clustered base vectors and ``queries`` held-out ones from the same clusters, with exact
    cosine ground truth (cached by size and seed)."""
    base = clustered(n, dim, seed=seed)
    query_vectors = clustered(queries, dim, seed=seed, stream=1)
    key = f"clustered-{dim}d-{n}x{queries}-seed{seed}"
    return AnnDataset(key, base, query_vectors, _cached_knn(key, base, query_vectors, "cosine"), "cosine")


def fingerprint(array: npt.NDArray[np.generic]) -> str:
    """A short content hash, to record in results which exact data were used."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]
