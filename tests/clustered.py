"""Synthetic vectors shaped like text embeddings: clusters whose spread lies in a few directions (low
intrinsic dimension), plus a little noise in all of them."""

from __future__ import annotations

import numpy as np


def embedding_like(n: int, dims: int, *, seed: int, clusters: int = 50, intrinsic: int = 8) -> np.ndarray:
    """``n`` float32 vectors. The clusters and directions depend only on ``dims``, ``clusters`` and
    ``intrinsic``, so draws with different seeds come from the same distribution (held-out queries)."""
    shape = np.random.default_rng(dims * 1000 + clusters * 10 + intrinsic)
    centres = shape.normal(size=(clusters, dims))
    basis = shape.normal(size=(intrinsic, dims)) / np.sqrt(intrinsic)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, clusters, n)
    spread = rng.normal(size=(n, intrinsic)) @ basis
    return (centres[labels] + spread + 0.05 * rng.normal(size=(n, dims))).astype(np.float32)


def exact_cosine_ids(
    points: np.ndarray, query: np.ndarray, k: int, mask: np.ndarray | None = None
) -> list[str]:
    """Ids (row numbers) of the ``k`` rows nearest to ``query`` by cosine distance, among ``mask``."""
    normed = points / np.linalg.norm(points, axis=1, keepdims=True)
    distances = 1 - normed @ (query / np.linalg.norm(query))
    if mask is not None:
        distances = np.where(mask, distances, np.inf)
    order = np.argsort(distances, kind="stable")[:k]
    return [str(i) for i in order if np.isfinite(distances[i])]


def recall(found: list[str], truth: list[str]) -> float:
    return len(set(found) & set(truth)) / len(truth)
