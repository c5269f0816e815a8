"""mlflow-bias: measure bias in fine-tuned language models, one dimension at a time, as an MLflow
evaluator (`mlflow.models.evaluate(..., model_type="bias", evaluators=["bias"])`).

The package root imports nothing heavy: `mlflow_bias.evaluate` and `mlflow_bias.probes` load on
first use, so the tracking-server plugin and the CLI's gate and promote never load torch.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("mlflow-bias")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+local"

__all__ = ["__version__", "evaluate", "probes"]


def __getattr__(name: str) -> Any:
    if name == "evaluate":
        from mlflow_bias.api import evaluate

        return evaluate
    if name == "probes":
        return importlib.import_module("mlflow_bias.probes")
    raise AttributeError(f"module 'mlflow_bias' has no attribute {name!r}")
