"""mlflow-bias: measure bias in fine-tuned language models, one dimension at a time, as an MLflow
evaluator (`mlflow.models.evaluate(..., model_type="bias", evaluators=["bias"])`).

The package root imports nothing heavy: `mlflow_bias.evaluate` and `mlflow_bias.probes` load on
first use, so the tracking-server plugin and the CLI's gate and promote never load torch.

The packages are layered: each imports only from the layers above it in this list (a test
fails on any import cycle, between modules or between packages):

    core         errors, validation, statistics, metric keys, hashing, versions, group labels,
                 the guarded writes to an MLflow run
    adapters     the one model interface, and the bundled models
    trust        model digests, signing keys, in-toto statements
    text         lexicons, attribute swapping, anonymisation, output parsing, the refusal rubric
    dimensions   the Dimension protocol, its registry, and the built-in dimensions
    probes       versioned probe sets: store, kinds, expansion
    data_audit   the training-data representation audit
    hf_evaluate  the metrics as Hugging Face `evaluate` modules
    release      policy, the gate's decision, known limitations, drift, comparison
    mitigation   data rebalancing, counterfactual augmentation, fair re-ranking
    reporting    the scorecard: text, HTML page, charts
    evaluation   the `bias` MLflow evaluator, `mlflow_bias.evaluate`, and what it logs
    replay       production traces replayed with the attribute swapped (local and Spark)
    promotion    gate and promote on the model registry, and the bias-gate server
    demo, cli    the hiring-screen story and the `mlflow-bias` command
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mlflow_bias import _compat

try:
    __version__ = version("mlflow-bias")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+local"

__all__ = ["__version__", "evaluate", "probes"]

_compat.install()  # the module paths of earlier versions (mlflow_bias.gate, ...) keep working


def __getattr__(name: str) -> Any:
    if name == "evaluate":
        from mlflow_bias.evaluation.api import evaluate

        return evaluate
    if name == "probes":
        return importlib.import_module("mlflow_bias.probes")
    raise AttributeError(f"module 'mlflow_bias' has no attribute {name!r}")
