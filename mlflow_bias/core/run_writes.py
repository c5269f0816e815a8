"""The writes every part of the product makes to an MLflow run (tags, metrics, JSON), each under
the tracking guard so that a server that goes away is reported, not waited on."""

from __future__ import annotations

import time
from typing import Any

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from mlflow_bias.core.tracking_guard import writing

DATASET_DIGEST_CHARS = 32  # the digest length MLflow keeps for a dataset input


def log_tags(run_id: str, tags: dict[str, str]) -> None:
    with writing(run_id, f"tag(s) {', '.join(sorted(tags))}"):
        MlflowClient().log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def log_metrics(run_id: str, metrics: dict[str, float], model_id: str | None = None) -> None:
    """Log metrics to the run, and to the LoggedModel when `model_id` is given."""
    now = int(time.time() * 1000)
    entities = [
        Metric(key, float(value), now, 0, model_id=model_id, run_id=run_id)
        for key, value in metrics.items()
    ]
    client = MlflowClient()
    prefixes = sorted({"/".join(key.split("/")[:2]) for key in metrics})
    with writing(run_id, f"{len(entities)} metric(s) under {', '.join(prefixes)}"):
        for start in range(0, len(entities), 1000):  # MLflow's log_batch limit
            client.log_batch(run_id, metrics=entities[start : start + 1000])


def log_json(run_id: str, payload: dict[str, Any], path: str) -> None:
    with writing(run_id, path):
        MlflowClient().log_dict(run_id, payload, path)
