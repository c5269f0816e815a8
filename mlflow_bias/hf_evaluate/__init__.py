"""Hugging Face `evaluate` measurement modules for the bias dimensions, shipped in the package and
loadable offline: `evaluate.load(mlflow_bias.hf_evaluate.path("parity"))`. They compute the same
numbers as the MLflow evaluator from per-item inputs (log-likelihoods, decisions, categories,
responses), for users of the Hugging Face stack without MLflow.

May import: `core`, `text`, `dimensions` (the same formulas).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

MODULES = ("lpbs", "cbs", "refusal_gap", "parity", "bbq")


def path(name: str) -> str:
    """Folder of a measurement module, to pass to `evaluate.load`."""
    if name not in MODULES:
        raise ValueError(f"Unknown measurement {name!r}; available: {', '.join(MODULES)}.")
    return str(Path(str(resources.files("mlflow_bias.hf_evaluate"))) / name)
