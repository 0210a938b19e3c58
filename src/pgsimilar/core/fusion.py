"""Reciprocal rank fusion (Cormack, Clarke and Büttcher, 2009): one ranking from several.

A document's fused score is the sum over the rankings that hold it of ``weight / (k + rank)``, with
ranks from 1. ``k = 60`` is the constant of the original paper: it keeps the first few places of any
one list from dominating, and needs no score calibration between lists (cosine distances and
full-text ranks live on unrelated scales).
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], *, k: int = DEFAULT_RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """``(id, fused score)`` best first; ties are broken by id so the order is repeatable."""
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        if weight == 0:  # a list weighted 0 is left out, rather than adding its items at score 0
            continue
        seen: set[str] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:  # a ranking counts an item once, at its best place
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
