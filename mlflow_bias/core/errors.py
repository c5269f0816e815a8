"""Errors raised by mlflow-bias. Each message names the problem and how to fix it."""

from __future__ import annotations

from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE


class BiasEvaluationError(MlflowException):
    """Base class: an evaluation that cannot go on, with a message that says how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


class ProbeSchemaError(BiasEvaluationError):
    """A probe lacks required columns or holds malformed values."""


class ProbeIntegrityError(BiasEvaluationError):
    """A stored probe no longer matches its manifest (edited or tampered with)."""


class ProbeNotFoundError(BiasEvaluationError):
    """No probe of that name or version is in the store."""


class ProbeExistsError(BiasEvaluationError):
    """Freezing would overwrite an existing, immutable probe version."""


class CapabilityError(BiasEvaluationError):
    """The model cannot provide what a dimension needs (e.g. log-probabilities)."""


class ConfigError(BiasEvaluationError):
    """An invalid `evaluator_config` entry."""


class ModelPackageMissingError(BiasEvaluationError):
    """A model shipped as a Python package is not installed."""


class TrainingDataError(BiasEvaluationError):
    """A training dataset cannot be audited or mitigated as given (unreadable, empty, a column
    missing or of the wrong kind)."""


class RerankInfeasibleError(ConfigError):
    """Re-ranking constraints that a candidate list cannot meet (too few candidates of a group,
    minimum shares adding up to more than 1, an exposure ratio no reordering reaches)."""


class ModelOutputError(BiasEvaluationError):
    """The model gave nothing a dimension can score (it raised, returned nothing, or nothing it
    returned could be read). `items` is the per-input table with each output and error, which the
    evaluator logs to the failed run."""

    def __init__(self, message: str, items: "Any" = None, dimension: str | None = None) -> None:
        super().__init__(message)
        self.items = items
        self.dimension = dimension
