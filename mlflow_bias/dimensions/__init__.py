"""Bias dimensions: each a pure computation from adapter outputs to a DimensionResult.

Every dimension module exposes NAME, REQUIRES (the adapter capability it needs), a config
dataclass and `compute(adapter, probe, config)`. The modules load on first use (`DIMENSIONS`,
or `from mlflow_bias.dimensions import lpbs`), so code that only reads logged results (the gate,
the server) never imports the model stack.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

# the dimensions the evaluator scores, by name, in the order they are listed
SCORED = ("lpbs", "cbs", "refusal", "parity", "association", "ranking")
_SUBMODULES = frozenset(SCORED) | {"base", "replay", "representation"}


def _scored_dimensions() -> dict[str, ModuleType]:
    modules = [importlib.import_module(f"{__name__}.{name}") for name in SCORED]
    return {module.NAME: module for module in modules}


def __getattr__(name: str) -> Any:
    if name == "DIMENSIONS":
        globals()["DIMENSIONS"] = _scored_dimensions()
        return globals()["DIMENSIONS"]
    if name == "DimensionResult":
        from mlflow_bias.dimensions.base import DimensionResult

        return DimensionResult
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def dimensions_usable_with(capabilities: frozenset[str] | set[str]) -> list[str]:
    """Names of the dimensions whose required capability the model has."""
    dimensions: dict[str, ModuleType] = __getattr__("DIMENSIONS")
    return [name for name, module in dimensions.items() if module.REQUIRES in capabilities]


__all__ = ["DIMENSIONS", "DimensionResult", "SCORED", "association", "cbs", "dimensions_usable_with",
           "lpbs", "parity", "ranking", "refusal"]
