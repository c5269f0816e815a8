"""Everything mlflow-bias writes to MLflow: metrics, tables, tags, dataset inputs, JSON."""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.entities import DatasetInput, InputTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from mlflow_bias.core import metric_keys
from mlflow_bias.core.run_writes import DATASET_DIGEST_CHARS, log_json, log_metrics, log_tags
from mlflow_bias.core.tracking_guard import writing
from mlflow_bias.dimensions.base import DimensionResult

__all__ = ["DATASET_DIGEST_CHARS", "log_dimension_result", "log_failed_items", "log_json", "log_metrics",
           "log_probe_input", "log_tags", "metric_prefix", "table_paths"]

# MLflow stores a dataset digest in a 36-character column: the first 32 hex characters of our
# SHA-256 over every row go there; the full digest is in the `bias.probe.<name>` tag.


def metric_prefix(dimension: str, probe_qualifier: str | None) -> str:
    """`bias/<dimension>[/<probe qualifier>]`, under which a dimension's metrics and tables go."""
    return metric_keys.metric_prefix(dimension, probe_qualifier)


def table_paths(result: DimensionResult, probe_qualifier: str | None) -> list[str]:
    """The artifact paths `log_dimension_result` writes the result's tables to."""
    prefix = metric_prefix(result.dimension, probe_qualifier)
    return [f"{prefix}/items.json"] + [f"{prefix}/{name}.json" for name in result.tables]


def log_dimension_result(
    run_id: str, result: DimensionResult, probe_qualifier: str | None, model_id: str | None
) -> dict[str, float]:
    """Log one dimension's metrics and tables; return the metrics under their full keys."""
    prefix = metric_prefix(result.dimension, probe_qualifier)
    # headline values (`<prefix>/<attribute>`) first: the MLflow UI lists metrics in logging order
    ordered = sorted(result.metrics.items(), key=lambda item: "/" in item[0])
    metrics = {f"{prefix}/{key}": value for key, value in ordered}
    metrics.update(result.run_metrics)
    if result.tags:
        log_tags(run_id, result.tags)
    log_metrics(run_id, metrics, model_id=model_id)
    items_path, *table_files = table_paths(result, probe_qualifier)
    with writing(run_id, f"table {items_path}"):
        mlflow.log_table(result.items, artifact_file=items_path, run_id=run_id)
    for path, table in zip(table_files, result.tables.values()):
        with writing(run_id, f"table {path}"):
            mlflow.log_table(table, artifact_file=path, run_id=run_id)
    return metrics


def log_failed_items(run_id: str, items: pd.DataFrame, dimension: str, probe_qualifier: str | None) -> None:
    """The per-input table of a dimension that could not be scored (each output and error), at
    the path a scored dimension's table would have."""
    path = f"{metric_prefix(dimension, probe_qualifier)}/items.json"
    with writing(run_id, f"table {path}"):
        mlflow.log_table(items, artifact_file=path, run_id=run_id)


def log_probe_input(run_id: str, df: pd.DataFrame, name: str, digest: str) -> None:
    """Log the probe as an MLflow dataset input whose digest covers every row."""
    dataset = mlflow.data.from_pandas(df, name=name, digest=digest[:DATASET_DIGEST_CHARS])
    with writing(run_id, f"dataset input {name}"):
        MlflowClient().log_inputs(
            run_id,
            [DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, "bias-probe")])],
        )
