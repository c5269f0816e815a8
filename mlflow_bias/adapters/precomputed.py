"""An adapter over results computed elsewhere: log-likelihoods or outputs, looked up by text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from mlflow_bias.adapters.base import LOGLIKELIHOOD, PREDICT
from mlflow_bias.adapters.pyfunc import Predictions


@dataclass
class PrecomputedAdapter:
    """Model results computed elsewhere (on Spark, or stored in an earlier run), served to the
    dimensions as an adapter, so their statistics run unchanged without calling the model."""

    name: str
    loglikelihoods: dict[str, float] | None = None
    outputs: dict[str, Any] | None = None

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(({LOGLIKELIHOOD} if self.loglikelihoods is not None else set())
                         | ({PREDICT} if self.outputs is not None else set()))

    def describe(self) -> dict[str, str]:
        return {"model": self.name, "model_class": "precomputed results"}

    def loglikelihood(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.loglikelihoods[t] for t in texts], dtype=np.float64)

    def answer_loglikelihood(self, prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        from mlflow_bias.core.errors import CapabilityError

        raise CapabilityError("Answer log-probabilities (CBS verbalisers) are not precomputed on "
                              "Spark; score CBS from outputs (kind='predict') with 'categories'.")

    def predict(self, inputs: Sequence[str], column: str = "input", batch_size: int = 64,
                progress: bool = True) -> Predictions:
        return Predictions([self.outputs[t] for t in inputs], [None] * len(inputs))
