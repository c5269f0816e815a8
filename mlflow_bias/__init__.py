"""mlflow-bias: measure bias in fine-tuned language models, one dimension at a time, as an MLflow
evaluator (`mlflow.models.evaluate(..., model_type="bias", evaluators=["bias"])`)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mlflow-bias")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+local"

from mlflow_bias import probes  # noqa: E402
from mlflow_bias.api import evaluate  # noqa: E402

__all__ = ["__version__", "evaluate", "probes"]
