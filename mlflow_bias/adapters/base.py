"""The one protocol every model adapter speaks, and the capability check dimensions rely on."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np


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
