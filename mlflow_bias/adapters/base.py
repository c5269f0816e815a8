"""The one protocol every model adapter speaks: its capabilities, and the shape of the outputs a
model returns."""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
import pandas as pd

from mlflow_bias.core.errors import BiasEvaluationError, CapabilityError

LOGLIKELIHOOD = "loglikelihood"
GENERATE = "generate"
PREDICT = "predict"
EMBED = "embed"
# optional abilities beside the four above
PREDICT_FRAMES = "predict_frames"  # takes a whole multi-column DataFrame per call (ranked lists)
WEIGHTS = "weights"  # holds its weights in memory and can name them by digest (weights_digest())


@runtime_checkable
class ModelAdapter(Protocol):
    """A model as the dimensions see it.

    `capabilities` names what the adapter can do (a subset of `loglikelihood`, `generate`,
    `predict`, `embed`, and the optional `predict_frames` and `weights`); `describe()` returns the
    facts logged with every result.
    """

    capabilities: frozenset[str]

    def describe(self) -> dict[str, str]: ...


@runtime_checkable
class LogLikelihoodAdapter(ModelAdapter, Protocol):
    def loglikelihood(self, texts: Sequence[str]) -> np.ndarray:
        """Sum of log P(token | preceding tokens) over each text's tokens, in nats (float64).

        `texts` is any sequence of str; LPBS passes a pandas string Series (iterating it, or
        `list(texts)`, gives the strings), so that a large probe's texts stay compact."""
        ...

    def answer_loglikelihood(self, prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        """log P(answer | prompt as a user turn) per pair, in nats (float64)."""
        ...


def continuation_scores(adapter: Any, contexts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
    """log P(continuation | context) per pair, for multiple-choice scoring: the adapter's own
    `continuation_loglikelihood` when it has one (HFCausalLM: the way lm-evaluation-harness
    tokenizes and scores), else the difference of the two texts' log-likelihoods."""
    if hasattr(adapter, "continuation_loglikelihood"):
        return np.asarray(adapter.continuation_loglikelihood(list(contexts), list(continuations)), dtype=float)
    whole = adapter.loglikelihood([c + x for c, x in zip(contexts, continuations)])
    return np.asarray(whole, dtype=float) - np.asarray(adapter.loglikelihood(list(contexts)), dtype=float)


def as_output_list(result: Any, expected: int) -> list[Any]:
    """A pyfunc's output (list, Series, array or one-column DataFrame) as a flat list."""
    if isinstance(result, pd.DataFrame):
        if result.shape[1] != 1:
            raise BiasEvaluationError(
                f"The model returned a DataFrame with {result.shape[1]} columns; return one "
                "column (the output) per input row."
            )
        result = result.iloc[:, 0]
    if isinstance(result, (pd.Series, np.ndarray)):
        result = result.tolist()
    result = list(result)
    if len(result) != expected:
        raise BiasEvaluationError(
            f"The model returned {len(result)} outputs for {expected} inputs; return one per row."
        )
    return result


def check_capability(adapter: ModelAdapter, capability: str, dimension: str,
                     usable: Sequence[str] = ()) -> None:
    """Raise a CapabilityError when `adapter` lacks `capability`, naming what it offers and the
    dimensions (`usable`) it can still serve."""
    if capability in adapter.capabilities:
        return
    still = (f"It can still be used for: {', '.join(usable)}." if usable
             else "None of the installed dimensions can use it.")
    raise CapabilityError(
        f"The {dimension} dimension needs a model that gives {capability}, but "
        f"{adapter.describe().get('model', 'this model')} only offers "
        f"{', '.join(sorted(adapter.capabilities)) or 'nothing usable'}. {still} "
        "To score log-probabilities, pass a transformers-flavour MLflow model "
        "(runs:/..., models:/name/N, models:/name@alias) or an in-memory transformers causal LM "
        "wrapped as mlflow_bias.adapters.HFCausalLM(model, tokenizer)."
    )
