"""Any MLflow pyfunc model, seen through its outputs only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd
from tqdm.auto import tqdm

from mlflow_bias.adapters.base import PREDICT, PREDICT_FRAMES, as_output_list
from mlflow_bias.core.errors import BiasEvaluationError, CapabilityError


@dataclass
class Predictions:
    """One output per input; `errors[i]` holds the message when input i made the model raise."""

    outputs: list[Any]
    errors: list[str | None]


class PyfuncOutputs:
    """A model that maps inputs to outputs (labels, text) but exposes no log-probabilities."""

    capabilities = frozenset({PREDICT, PREDICT_FRAMES})

    def __init__(self, model: Any, name: str | None = None) -> None:
        self.model = model
        # a pyfunc (or anything with `predict`), or a plain function of a DataFrame
        self._call = model.predict if hasattr(model, "predict") else model
        if not callable(self._call):
            raise CapabilityError(f"{type(model).__name__} is neither a model with predict() nor a "
                                  "function; pass an MLflow model URI, a pyfunc or a function.")
        self.name = name or getattr(model, "__name__", None) or _pyfunc_name(model)

    def describe(self) -> dict[str, str]:
        return {"model": self.name, "model_class": type(self.model).__name__}

    def predict(self, inputs: Sequence[str], column: str = "input", batch_size: int = 64,
                progress: bool = True) -> Predictions:
        """Call the model on a DataFrame with one `column`, in batches. A batch that raises is
        retried item by item, so one bad input is reported for that item alone."""
        outputs: list[Any] = []
        errors: list[str | None] = []
        starts = range(0, len(inputs), batch_size)
        for start in tqdm(starts, desc="predict", unit="batch", disable=not progress, leave=False):
            batch = list(inputs[start : start + batch_size])
            try:
                outputs += as_output_list(self._call(pd.DataFrame({column: batch})), len(batch))
                errors += [None] * len(batch)
            except BiasEvaluationError:
                raise
            except Exception:  # noqa: BLE001 - find the inputs that fail, keep the others
                for text in batch:
                    try:
                        outputs += as_output_list(self._call(pd.DataFrame({column: [text]})), 1)
                        errors.append(None)
                    except Exception as exc:  # noqa: BLE001 - reported per item
                        outputs.append(None)
                        errors.append(f"{type(exc).__name__}: {exc}")
        return Predictions(outputs, errors)

    def predict_frames(self, frames: Sequence[pd.DataFrame], progress: bool = True) -> Predictions:
        """Call the model once per DataFrame (e.g. whole candidate lists with several columns) and
        return each raw result unflattened (scores, or a table such as a ranking); a frame whose
        call raises gets its error message instead."""
        outputs: list[Any] = []
        errors: list[str | None] = []
        for frame in tqdm(frames, desc="predict", unit="batch", disable=not progress, leave=False):
            try:
                outputs.append(self._call(frame))
                errors.append(None)
            except Exception as exc:  # noqa: BLE001 - reported for the frame's rows
                outputs.append(None)
                errors.append(f"{type(exc).__name__}: {exc}")
        return Predictions(outputs, errors)


def _pyfunc_name(model: Any) -> str:
    metadata = getattr(model, "metadata", None)
    if metadata is not None:
        if getattr(metadata, "model_id", None):
            return f"models:/{metadata.model_id}"
        if getattr(metadata, "run_id", None):
            return f"runs:/{metadata.run_id}/{metadata.artifact_path}"
    return f"a {type(model).__name__} without log-probabilities"
