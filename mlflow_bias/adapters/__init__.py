"""Model adapters: the only place that touches a model.

`resolve_adapter` turns whatever the user passed (an MLflow model URI, a loaded pyfunc, an
`HFCausalLM`, or a `(model, tokenizer)` pair) into an adapter.
"""

from __future__ import annotations

import inspect
from typing import Any

from mlflow_bias.adapters.base import (
    EMBED,
    GENERATE,
    LOGLIKELIHOOD,
    PREDICT,
    LogLikelihoodAdapter,
    ModelAdapter,
    require_capability,
)
from mlflow_bias.adapters.hf import HFCausalLM, loglikelihood_one_by_one
from mlflow_bias.adapters.pyfunc import PyfuncOutputs


def _function_behind(wrapper: Any) -> Any | None:
    """The callable that `mlflow.models.evaluate` wrapped into a pyfunc when given a function."""
    python_model = getattr(wrapper, "python_model", None)
    predict = getattr(type(python_model), "predict", None) if python_model is not None else None
    if predict is None or predict.__closure__ is None:
        return None
    return inspect.getclosurevars(predict).nonlocals.get("fn")


def _causal_lm_from_pyfunc(model: Any, **options: Any) -> HFCausalLM | None:
    """The transformers pipeline behind a transformers-flavour pyfunc (or a pipeline itself), as
    an HFCausalLM."""
    try:
        raw = model.get_raw_model()
    except Exception:  # noqa: BLE001 - any pyfunc without a raw model is an outputs-only model
        raw = model  # perhaps a transformers pipeline passed directly
    lm = getattr(raw, "model", None)
    tokenizer = getattr(raw, "tokenizer", None)
    if lm is None or tokenizer is None or getattr(lm, "get_output_embeddings", None) is None:
        return None
    if lm.get_output_embeddings() is None:
        return None
    import torch

    if lm.dtype in (torch.float16, torch.bfloat16) and lm.device.type == "cpu":
        lm = lm.float()  # half precision on the CPU is neither fast nor exact enough here
    metadata = getattr(model, "metadata", None)
    name = None
    if metadata is not None:
        name = getattr(metadata, "model_id", None) and f"models:/{metadata.model_id}"
    return HFCausalLM(lm, tokenizer, name=name or getattr(lm, "name_or_path", None), **options)


def resolve_adapter(model: Any, **options: Any) -> ModelAdapter:
    """An adapter for `model`; `options` (batch_size, progress, share_prefixes) go to HFCausalLM."""
    if isinstance(model, HFCausalLM):
        return model
    if isinstance(model, tuple) and len(model) == 2:
        return HFCausalLM(model[0], model[1], **options)
    if isinstance(model, str):
        import mlflow.pyfunc

        model = mlflow.pyfunc.load_model(model)
    behind = _function_behind(model)
    if behind is not None:
        if isinstance(behind, HFCausalLM):
            return behind
        return _causal_lm_from_pyfunc(behind, **options) or PyfuncOutputs(
            model, name=getattr(behind, "__name__", None)
        )
    adapter = _causal_lm_from_pyfunc(model, **options)
    if adapter is not None:
        return adapter
    return PyfuncOutputs(model)


__all__ = [
    "EMBED",
    "GENERATE",
    "LOGLIKELIHOOD",
    "PREDICT",
    "HFCausalLM",
    "LogLikelihoodAdapter",
    "ModelAdapter",
    "PyfuncOutputs",
    "loglikelihood_one_by_one",
    "require_capability",
    "resolve_adapter",
]
