"""The one protocol every model adapter speaks, and the capability check dimensions rely on."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from mlflow_bias.errors import CapabilityError

LOGLIKELIHOOD = "loglikelihood"
GENERATE = "generate"
PREDICT = "predict"
EMBED = "embed"


@runtime_checkable
class ModelAdapter(Protocol):
    """A model as the dimensions see it.

    `capabilities` names what the adapter can do (a subset of `loglikelihood`, `generate`,
    `predict`, `embed`); `describe()` returns the facts logged with every result.
    """

    capabilities: frozenset[str]

    def describe(self) -> dict[str, str]: ...


@runtime_checkable
class LogLikelihoodAdapter(ModelAdapter, Protocol):
    def loglikelihood(self, texts: Sequence[str]) -> np.ndarray:
        """Sum of log P(token | preceding tokens) over each text's tokens, in nats (float64)."""
        ...

    def answer_loglikelihood(self, prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        """log P(answer | prompt as a user turn) per pair, in nats (float64)."""
        ...


def require_capability(adapter: ModelAdapter, capability: str, dimension: str) -> None:
    """Raise a CapabilityError naming what the model can still be used for."""
    if capability in adapter.capabilities:
        return
    from mlflow_bias.dimensions.registry import dimensions_usable_with

    usable = dimensions_usable_with(adapter.capabilities)
    still = (
        f"It can still be used for: {', '.join(usable)}."
        if usable
        else "None of the installed dimensions can use it."
    )
    raise CapabilityError(
        f"The {dimension} dimension needs a model that gives {capability}, but "
        f"{adapter.describe().get('model', 'this model')} only offers "
        f"{', '.join(sorted(adapter.capabilities)) or 'nothing usable'}. {still} "
        "To score log-probabilities, pass a transformers-flavour MLflow model "
        "(runs:/..., models:/name/N, models:/name@alias) or an in-memory transformers causal LM "
        "wrapped as mlflow_bias.adapters.HFCausalLM(model, tokenizer)."
    )
