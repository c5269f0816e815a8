"""Bias dimensions: each a `Dimension` that describes itself and scores one probe kind.

A dimension is one module of this package (or of another package, through the
`mlflow_bias.dimensions` entry-point group) holding a `@register_dimension` class; see
`protocol.Dimension` for what it declares. The modules load on first use (`all_dimensions()`,
`DIMENSIONS`, or `from mlflow_bias.dimensions import lpbs`), so code that only reads logged
results never imports a dimension it does not need.

May import: `mlflow_bias.core.errors`, `stats`, `validation`, `parsing`, `swap`, `refusal_rubric`
and `adapters.base` (the adapter protocol). Nothing here calls MLflow or loads a model.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = frozenset({"association", "base", "cbs", "kinds", "lpbs", "parity", "protocol",
                         "ranking", "refusal", "registry", "replay"})
_FROM_REGISTRY = frozenset({"all_dimensions", "get_dimension", "register_dimension",
                            "scored_from_probes", "probe_kinds", "dimensions_usable_with",
                            "ENTRY_POINT_GROUP"})


def __getattr__(name: str) -> Any:
    if name in _FROM_REGISTRY:
        return getattr(importlib.import_module(f"{__name__}.registry"), name)
    if name == "DIMENSIONS":  # the dimensions the evaluator scores from probes, by name
        return importlib.import_module(f"{__name__}.registry").scored_from_probes()
    if name == "SCORED":
        return tuple(importlib.import_module(f"{__name__}.registry").scored_from_probes())
    if name in ("Dimension", "MetricSpec", "NoOptions", "ScoringContext"):
        return getattr(importlib.import_module(f"{__name__}.protocol"), name)
    if name in ("DimensionResult", "OutputConfig", "UncertaintyConfig"):
        return getattr(importlib.import_module(f"{__name__}.base"), name)
    if name == "ProbeKind":
        return importlib.import_module(f"{__name__}.kinds").ProbeKind
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DIMENSIONS", "Dimension", "DimensionResult", "MetricSpec", "NoOptions", "OutputConfig",
           "ProbeKind", "SCORED", "ScoringContext", "UncertaintyConfig", "all_dimensions",
           "dimensions_usable_with", "get_dimension", "probe_kinds", "register_dimension",
           "scored_from_probes"]
