"""Position exposure and NDCG of ranked lists.

Positions (ranks) are 1-based; position j has exposure 1 / log2(j + 1), the DCG discount:
1, 0.631, 0.5, ... NDCG@k uses linear gains (gain = relevance) and the relevance-sorted order as
the ideal; when some relevance is negative every gain is shifted by the lowest one so that gains
are non-negative, and a list whose gains are all zero has NDCG 1 (every order is ideal).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def exposure(rank: Any) -> np.ndarray:
    """Exposure of 1-based ranks: 1 / log2(rank + 1) (a missing rank gives NaN)."""
    return 1.0 / np.log2(np.asarray(rank, dtype=float) + 1.0)


def position_exposure(n: int) -> np.ndarray:
    """Exposure of positions 1..n."""
    return exposure(np.arange(1, n + 1))


def gains(relevance: Sequence[float]) -> np.ndarray:
    """Linear gains of the relevance values, shifted by the lowest when any is negative."""
    values = np.asarray(relevance, dtype=float)
    low = values.min() if len(values) else 0.0
    return values - low if low < 0 else values


def dcg_at_k(gains_in_order: Sequence[float], k: int | None = None) -> float:
    """Sum over the first k positions of gain / log2(j + 1)."""
    ordered = np.asarray(gains_in_order, dtype=float)[: len(gains_in_order) if k is None else k]
    return float((ordered * position_exposure(len(ordered))).sum())


def ndcg_at_k(relevance: Sequence[float], order: Sequence[int], k: int | None = None) -> float:
    """NDCG@k of `order` (indices into `relevance`, best first); 1 when every gain is zero."""
    gained = gains(relevance)
    ideal = dcg_at_k(np.sort(gained)[::-1], k)
    if ideal <= 0:
        return 1.0
    return dcg_at_k(gained[np.asarray(order, dtype=int)], k) / ideal


def group_exposure(order: Sequence[int], groups: Sequence[Any]) -> dict[str, float]:
    """Mean position exposure of each group's candidates in `order` (indices, best first)."""
    order = np.asarray(order, dtype=int)
    labels = np.asarray([str(g) for g in groups])[order]
    by_position = position_exposure(len(order))
    return {g: float(by_position[labels == g].mean()) for g in sorted(set(labels))}


def exposure_ratio(mean_exposure: Any) -> np.ndarray:
    """min / max of the groups' mean exposures along the last axis (1 is parity).

    A NaN entry is a group absent from that list or resample and is skipped; the ratio is NaN when
    no group has a positive exposure. Returns an array of the leading shape (0-d for one list).
    """
    values = np.asarray(mean_exposure, dtype=float)
    if values.shape[-1] == 0:
        return np.full(values.shape[:-1], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        low, high = np.nanmin(values, axis=-1), np.nanmax(values, axis=-1)
        return np.where(high > 0, low / high, np.nan)
