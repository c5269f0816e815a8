"""Model adapters: the only place that touches a model.

`resolve_adapter` turns whatever the user passed (an MLflow model URI, a loaded pyfunc, an
`HFCausalLM`, a sentence-transformers model, or a `(model, tokenizer)` pair) into an adapter.
`models` loads the bundled SmolLM2-135M-Instruct and all-MiniLM-L6-v2.

The transformers and sentence-transformers adapters (`HFCausalLM`, `HFEncoder`, `SentenceEncoder`)
load on first use: they import torch (seconds), which a process that only evaluates a pyfunc
model, or only gates, never needs.

May import: `core`. Knows nothing of dimensions, probes or policies.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import TYPE_CHECKING, Any

from mlflow_bias.adapters.base import (
    EMBED,
    GENERATE,
    LOGLIKELIHOOD,
    PREDICT,
    LogLikelihoodAdapter,
    ModelAdapter,
    check_capability,
)
from mlflow_bias.adapters.pyfunc import PyfuncOutputs

if TYPE_CHECKING:
    from mlflow_bias.adapters.embedding import HFEncoder, SentenceEncoder
    from mlflow_bias.adapters.hf import HFCausalLM, loglikelihood_one_by_one

# public name -> the module that defines it, imported on first use (it imports torch)
_TORCH_ADAPTERS = {
    "HFCausalLM": "mlflow_bias.adapters.hf",
    "loglikelihood_one_by_one": "mlflow_bias.adapters.hf",
    "HFEncoder": "mlflow_bias.adapters.embedding",
    "SentenceEncoder": "mlflow_bias.adapters.embedding",
}
_ADAPTER_CLASSES = ("HFCausalLM", "HFEncoder", "SentenceEncoder")


def _is_instance_of_loaded(model: Any, module: str, names: tuple[str, ...]) -> bool:
    """isinstance against classes of `module`, answered without importing it: an instance implies
    its module was imported, and importing one of these takes seconds."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(model, tuple(getattr(loaded, n) for n in names))


def _is_torch_adapter(model: Any) -> bool:
    """Whether `model` is already one of the torch adapters."""
    return any(_is_instance_of_loaded(model, module, (name,))
               for name, module in _TORCH_ADAPTERS.items() if name in _ADAPTER_CLASSES)


def is_sentence_transformer(model: Any) -> bool:
    return _is_instance_of_loaded(model, "sentence_transformers", ("SentenceTransformer",))


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
    # the prompt template an MLflow transformers model was logged with is part of the model: its
    # pyfunc formats every request with it, so the adapter does too
    metadata = getattr(getattr(model, "metadata", None), "metadata", None) or {}
    template = metadata.get("prompt_template")
    if template:
        options = {**options, "prompt_template": template}
    return _causal_lm(lm, tokenizer, model, **options)


def _model_uri_name(model: Any) -> str | None:
    metadata = getattr(model, "metadata", None)
    model_id = getattr(metadata, "model_id", None) if metadata is not None else None
    return f"models:/{model_id}" if model_id else None


def _encoder_from_pyfunc(model: Any, **options: Any) -> Any | None:
    """A sentence-transformers model, or a transformers encoder without an LM head (e.g. a
    feature-extraction pipeline), behind a pyfunc or passed directly, as an embedding adapter."""
    try:
        raw = model.get_raw_model()
    except Exception:  # noqa: BLE001 - not a wrapper with a raw model
        raw = model
    embed_options = {k: v for k, v in options.items() if k in ("batch_size", "progress")}
    name = _model_uri_name(model)
    if is_sentence_transformer(raw):
        from mlflow_bias.adapters.embedding import SentenceEncoder

        return SentenceEncoder(raw, name=name, **embed_options)
    encoder, tokenizer = getattr(raw, "model", None), getattr(raw, "tokenizer", None)
    if encoder is None or tokenizer is None or not hasattr(encoder, "get_output_embeddings"):
        return None
    if encoder.get_output_embeddings() is not None:
        return None
    from mlflow_bias.adapters.embedding import HFEncoder

    return HFEncoder(encoder, tokenizer, name=name, **embed_options)


def _causal_lm(lm: Any, tokenizer: Any, model: Any, **options: Any) -> HFCausalLM:
    import torch

    from mlflow_bias.adapters.hf import HFCausalLM

    if lm.dtype in (torch.float16, torch.bfloat16) and lm.device.type == "cpu":
        lm = lm.float()  # half precision on the CPU is neither fast nor exact enough here
    return HFCausalLM(lm, tokenizer, name=_model_uri_name(model) or getattr(lm, "name_or_path", None),
                      **options)


def resolve_adapter(model: Any, **options: Any) -> ModelAdapter:
    """An adapter for `model`; `options` (batch_size, progress, share_prefixes) go to HFCausalLM."""
    if _is_torch_adapter(model):
        return model
    if isinstance(model, tuple) and len(model) == 2:
        from mlflow_bias.adapters.embedding import HFEncoder
        from mlflow_bias.adapters.hf import HFCausalLM

        lm, tokenizer = model
        if getattr(lm, "get_output_embeddings", lambda: None)() is None:
            embed_options = {k: v for k, v in options.items() if k in ("batch_size", "progress")}
            return HFEncoder(lm, tokenizer, **embed_options)
        return HFCausalLM(lm, tokenizer, **options)
    if isinstance(model, str):
        import mlflow.pyfunc

        model = mlflow.pyfunc.load_model(model)
    behind = _function_behind(model)
    if behind is not None:
        if _is_torch_adapter(behind):
            return behind
        return (_causal_lm_from_pyfunc(behind, **options) or _encoder_from_pyfunc(behind, **options)
                or PyfuncOutputs(model, name=getattr(behind, "__name__", None)))
    return (_causal_lm_from_pyfunc(model, **options) or _encoder_from_pyfunc(model, **options)
            or PyfuncOutputs(model))


__all__ = [
    "EMBED",
    "check_capability",
    "GENERATE",
    "LOGLIKELIHOOD",
    "PREDICT",
    "HFCausalLM",
    "HFEncoder",
    "SentenceEncoder",
    "LogLikelihoodAdapter",
    "ModelAdapter",
    "PyfuncOutputs",
    "loglikelihood_one_by_one",
    "resolve_adapter",
]


def __getattr__(name: str) -> Any:
    if name in _TORCH_ADAPTERS:
        value = getattr(importlib.import_module(_TORCH_ADAPTERS[name]), name)
        globals()[name] = value
        return value
    if name == "require_capability":  # moved to the dimension registry, which knows the dimensions
        from mlflow_bias._compat import moved_attribute

        return moved_attribute(__name__, name, "mlflow_bias.dimensions.registry")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
