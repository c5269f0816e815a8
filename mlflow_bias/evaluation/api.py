"""`mlflow_bias.evaluate`: `mlflow.models.evaluate` with the bias evaluator, accepting every probe
and model form users have at hand (probe names, paths, `datasets.Dataset`, (model, tokenizer))."""

from __future__ import annotations

import contextlib
from typing import Any

import mlflow
from mlflow.models.evaluation import EvaluationResult
from mlflow.tracking import MlflowClient

from mlflow_bias.probes import content_digest, find_by_digest, read_probe, validate
from mlflow_bias.core.tracking_guard import TrackingUnavailableError, without_retries

DEFAULT_PROBE = "gender-occupation"


def resolve_registered(model_uri: str) -> tuple[str | None, str | None]:
    """(`name/version`, model_id) for a `models:/name/N` or `models:/name@alias` URI."""
    if not model_uri.startswith("models:/"):
        return None, None
    ref = model_uri[len("models:/"):].rstrip("/")
    client = MlflowClient()
    if "@" in ref:
        name, alias = ref.split("@", 1)
        mv = client.get_model_version_by_alias(name, alias)
    elif "/" in ref:
        name, version = ref.rsplit("/", 1)
        mv = client.get_model_version(name, version)
    else:
        return None, None
    return f"{mv.name}/{mv.version}", getattr(mv, "model_id", None)


def evaluate(
    model: Any,
    data: Any = DEFAULT_PROBE,
    *,
    run_name: str | None = None,
    **config: Any,
) -> EvaluationResult:
    """Evaluate `model` on a probe in an MLflow run; `config` is the bias evaluator's config.

    `model` may be an MLflow model URI, a loaded pyfunc, an `HFCausalLM`, or a
    `(model, tokenizer)` pair; `data` a probe name, path, Dataset or DataFrame.
    """
    model_id = None
    if isinstance(model, tuple):
        from mlflow_bias.adapters.hf import HFCausalLM

        model = HFCausalLM(*model, batch_size=config.get("batch_size", 32),
                           progress=config.get("progress", True),
                           max_new_tokens=config.get("max_new_tokens", 48), seed=config.get("seed", 0),
                           generation_dtype=config.get("generation_dtype"),
                           generation_batch_size=config.get("generation_batch_size"))
    if isinstance(model, str):
        label, model_id = resolve_registered(model)
        if label:
            config.setdefault("model_version", label)
        if "@" not in model:
            model_id = None  # mlflow resolves models:/name/N itself; only aliases lose the link
    frame = read_probe(data)
    info = find_by_digest(content_digest(frame))
    validate(frame, info.kind if info else config.get("probe_kind"))  # our message, before MLflow
    started = mlflow.active_run() is None
    if started:  # a run started here ends FAILED if the evaluation raises
        mlflow.start_run(run_name=run_name)
    try:
        result = mlflow.models.evaluate(
            model=model,
            data=frame,
            model_type="bias",
            evaluators=["bias"],
            evaluator_config={"bias": config},
            model_id=model_id,
        )
    except TrackingUnavailableError:
        if started:
            _end_run_quickly()
        raise
    except BaseException:
        if started:
            mlflow.end_run("FAILED")
        raise
    if started:
        mlflow.end_run()
    return result


def _end_run_quickly() -> None:
    """End the active run with one attempt: the server did not answer, so do not wait again."""
    with without_retries(), contextlib.suppress(Exception):
        mlflow.end_run("FAILED")
