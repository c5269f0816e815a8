"""Bias dimensions: each a pure computation from adapter outputs to a DimensionResult.

Every dimension module exposes NAME, REQUIRES (the adapter capability it needs), a config
dataclass and `compute(adapter, probe, config)`.
"""

from __future__ import annotations

from types import ModuleType

from mlflow_bias.dimensions import association, cbs, lpbs, parity, ranking, refusal
from mlflow_bias.dimensions.base import DimensionResult

DIMENSIONS: dict[str, ModuleType] = {
    lpbs.NAME: lpbs, cbs.NAME: cbs, refusal.NAME: refusal, parity.NAME: parity,
    association.NAME: association, ranking.NAME: ranking,
}


def dimensions_usable_with(capabilities: frozenset[str] | set[str]) -> list[str]:
    """Names of the dimensions whose required capability the model has."""
    return [name for name, module in DIMENSIONS.items() if module.REQUIRES in capabilities]


__all__ = ["DIMENSIONS", "DimensionResult", "association", "cbs", "dimensions_usable_with", "lpbs", "parity", "ranking", "refusal"]
