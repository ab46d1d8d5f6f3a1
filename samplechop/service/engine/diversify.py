"""Maximal Average Diversification: choose chops that are probable and unlike each other."""

from __future__ import annotations

import numpy as np


def pairwise_distances(vectors: np.ndarray) -> np.ndarray:
    """Euclidean distances between rows, scaled so the largest is 1 (all zeros when every row is alike)."""
    squared = np.sum(vectors**2, axis=1)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2.0 * vectors @ vectors.T, 0.0))
    np.fill_diagonal(distances, 0.0)
    largest = float(distances.max()) if distances.size else 0.0
    scaled: np.ndarray = distances / largest if largest > 0.0 else distances
    return scaled


def select_diverse(scores: np.ndarray, vectors: np.ndarray, count: int, diversity: float) -> list[int]:
    """Greedy MAD selection of up to ``count`` candidate indices, in the order chosen.

    Seeds with the best-scored candidate, then repeatedly adds the candidate maximising
    ``(1 - diversity) * score + diversity * mean distance to the chosen``. Scores are in [0, 1] and distances
    are scaled to [0, 1] so both terms share a scale. Ties go to the better scored, then the earlier candidate.
    """
    relevance = np.asarray(scores, dtype=np.float64)
    total = relevance.size
    if total == 0 or count <= 0:
        return []
    distances = pairwise_distances(np.asarray(vectors, dtype=np.float64))
    chosen = [int(np.argmax(relevance))]
    remaining = np.ones(total, dtype=bool)
    remaining[chosen[0]] = False
    distance_sum = distances[chosen[0]].copy()
    while len(chosen) < min(count, total):
        gains = (1.0 - diversity) * relevance + diversity * distance_sum / len(chosen)
        gains[~remaining] = -np.inf
        best = np.flatnonzero(gains >= gains.max() - 1e-12)
        pick = int(best[np.argmax(relevance[best])])
        chosen.append(pick)
        remaining[pick] = False
        distance_sum += distances[pick]
    return chosen
