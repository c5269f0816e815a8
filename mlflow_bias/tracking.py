"""Everything mlflow-bias writes to MLflow: metrics, tables, tags, dataset inputs, JSON."""

from __future__ import annotations

import time
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import DatasetInput, InputTag, Metric, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from mlflow_bias.core import metric_keys
from mlflow_bias.dimensions.base import DimensionResult
from mlflow_bias.tracking_guard import writing

# MLflow stores a dataset digest in a 36-character column: the first 32 hex characters of our
# SHA-256 over every row go there; the full digest is in the `bias.probe.<name>` tag.
DATASET_DIGEST_CHARS = 32


def metric_prefix(dimension: str, probe_qualifier: str | None) -> str:
    """`bias/<dimension>[/<probe qualifier>]`, under which a dimension's metrics and tables go."""
    return metric_keys.metric_prefix(dimension, probe_qualifier)


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


def table_paths(result: DimensionResult, probe_qualifier: str | None) -> list[str]:
    """The artifact paths `log_dimension_result` writes the result's tables to."""
    prefix = metric_prefix(result.dimension, probe_qualifier)
    return [f"{prefix}/items.json"] + [f"{prefix}/{name}.json" for name in result.tables]


def log_dimension_result(
    run_id: str, result: DimensionResult, probe_qualifier: str | None, model_id: str | None
) -> dict[str, float]:
    """Log one dimension's metrics and tables; return the metrics under their full keys."""
    prefix = metric_prefix(result.dimension, probe_qualifier)
    metrics = {f"{prefix}/{key}": value for key, value in result.metrics.items()}
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


def log_json(run_id: str, payload: dict[str, Any], path: str) -> None:
    with writing(run_id, path):
        MlflowClient().log_dict(run_id, payload, path)


def registered_version(label: str | None) -> tuple[str, str] | None:
    """(name, version) when `label` (a `bias.model_version`) names a registered model version."""
    if not label or "/" not in label or label.startswith(("models:", "runs:")):
        return None
    name, _, version = label.rpartition("/")
    return (name, version) if name and version.isdigit() else None


def model_version_context(scorecard: dict[str, Any], client: MlflowClient | None = None
                          ) -> tuple[list[Any] | None, str | None]:
    """The open known-limitation records and the description of the scorecard's model version,
    when it is a registered version (else None, None). Records that cannot be read are not hidden:
    a warning saying so is added to `scorecard["warnings"]` for the page to show."""
    from mlflow.exceptions import MlflowException

    from mlflow_bias.limitations import LimitationRecordError, list_limitations

    registered = registered_version((scorecard.get("model") or {}).get("version"))
    if registered is None:
        return None, None
    client = client or MlflowClient()
    try:
        description = client.get_model_version(*registered).description or None
    except MlflowException:  # a label that only looks like a registered version
        return None, None
    try:
        return list_limitations(*registered, client=client), description
    except LimitationRecordError as exc:
        scorecard.setdefault("warnings", []).append(
            f"The known-limitation records of {'/'.join(registered)} cannot be read, so the gate "
            f"refuses to promote it until they are fixed: {exc.message}")
        return None, description


def log_scorecard_html(run_id: str, scorecard: dict[str, Any], *, policy: Any = None,
                       client: MlflowClient | None = None) -> bool:
    """Render the scorecard page and its charts and log them to the run (`bias/scorecard.html`,
    `bias/plots/*.png`), with the model version's open known-limitation records and description
    when the run's model is a registered version.

    The page is a view of `bias/scorecard.json`: when it cannot be made, a warning is logged and
    False returned; the evaluation or decision it shows stands.
    """
    import logging
    import tempfile
    from pathlib import Path

    from mlflow_bias.report import HTML_PATH, PLOTS_DIR, render_report

    logger = logging.getLogger(__name__)
    client = client or MlflowClient()
    try:
        limitations, description = model_version_context(scorecard, client)
        html, plots = render_report(scorecard, policy=policy, limitations=limitations,
                                    model_description=description)
        if plots:
            with tempfile.TemporaryDirectory() as tmp, writing(run_id, f"{len(plots)} plot(s)"):
                for plot in plots:
                    (Path(tmp) / plot.name).write_bytes(plot.png)
                client.log_artifacts(run_id, tmp, PLOTS_DIR)
        with writing(run_id, HTML_PATH):
            client.log_text(run_id, html, HTML_PATH)
        return True
    except Exception:  # noqa: BLE001 - the page is a view; the numbers are already logged
        logger.warning("Could not render the HTML scorecard of run %s.", run_id, exc_info=True)
        return False
