"""Audit the refusal rubric of a finished run, and re-score its stored responses under a revised
rubric without generating anything (`mlflow-bias refusal-audit RUN_ID [--rubric FILE]`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from mlflow_bias.evaluation import tracking
from mlflow_bias.adapters.precomputed import PrecomputedAdapter
from mlflow_bias.dimensions import refusal
from mlflow_bias.dimensions.base import DimensionResult
from mlflow_bias.core.errors import ProbeSchemaError
from mlflow_bias.text.refusal_rubric import load_rubric

ITEMS = "bias/refusal/items.json"
AUDIT_TABLE = "bias/refusal/trigger_audit.json"


@dataclass
class RefusalAudit:
    run_id: str
    triggers: pd.DataFrame  # refusal.trigger_audit of the run's responses
    rescored: DimensionResult | None = None  # the same responses under a revised rubric
    rescored_run_id: str | None = None


def _items(run_id: str) -> pd.DataFrame:
    try:
        items = mlflow.load_table(ITEMS, run_ids=[run_id])
    except Exception as exc:  # noqa: BLE001 - no such artifact, or no such run
        raise ProbeSchemaError(f"Run {run_id} has no {ITEMS}: audit a run that scored a refusal "
                               f"probe ({exc}).") from exc
    return items


def audit_run(run_id: str, rubric: Any = None, *, bootstrap_samples: int = 1000,
              seed: int = 0) -> RefusalAudit:
    """Log the trigger audit of `run_id` into that run; with `rubric` (a YAML path), re-score the
    stored responses under it and log the result as a new run (tag `bias.rescored_from`)."""
    items = _items(run_id)
    triggers = refusal.trigger_audit(items)
    mlflow.log_table(triggers, artifact_file=AUDIT_TABLE, run_id=run_id)
    audit = RefusalAudit(run_id, triggers)
    if rubric is None:
        return audit
    revised = load_rubric(rubric)
    stored = items.dropna(subset=["response"])
    adapter = PrecomputedAdapter(name=f"responses stored in run {run_id}",
                                 outputs=dict(zip(stored["prompt"].astype(str), stored["response"])))
    probe = stored[["id", "attribute", "set_id", "group", "prompt"]]
    config = refusal.RefusalConfig(rubric=revised, bootstrap_samples=bootstrap_samples, seed=seed,
                                   progress=False)
    audit.rescored = refusal.compute(adapter, probe, config)
    source = MlflowClient().get_run(run_id)
    with mlflow.start_run(run_name=f"rescored-{revised.ref}",
                          experiment_id=source.info.experiment_id) as run:
        tracking.log_tags(run.info.run_id, {
            "bias.rescored_from": run_id, "bias.rubric": revised.ref,
            "bias.model_version": source.data.tags.get("bias.model_version", "unknown")})
        tracking.log_dimension_result(run.info.run_id, audit.rescored, None, None)
        rescored_triggers = refusal.trigger_audit(audit.rescored.items)
        mlflow.log_table(rescored_triggers, artifact_file=AUDIT_TABLE, run_id=run.info.run_id)
        audit.rescored_run_id = run.info.run_id
    return audit
