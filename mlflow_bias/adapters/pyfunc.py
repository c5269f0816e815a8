"""Any MLflow pyfunc model, seen through its outputs only."""

from __future__ import annotations

from typing import Any

from mlflow_bias.adapters.base import PREDICT


class PyfuncOutputs:
    """A model that maps inputs to outputs (labels, text) but exposes no log-probabilities."""

    capabilities = frozenset({PREDICT})

    def __init__(self, model: Any, name: str | None = None) -> None:
        self.model = model
        self.name = name or _pyfunc_name(model)

    def describe(self) -> dict[str, str]:
        return {"model": self.name, "model_class": type(self.model).__name__}


def _pyfunc_name(model: Any) -> str:
    metadata = getattr(model, "metadata", None)
    if metadata is not None:
        if getattr(metadata, "model_id", None):
            return f"models:/{metadata.model_id}"
        if getattr(metadata, "run_id", None):
            return f"runs:/{metadata.run_id}/{metadata.artifact_path}"
    return f"a {type(model).__name__} without log-probabilities"
