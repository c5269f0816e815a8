"""The MLflow edge of the training-data representation audit: metrics, tables, a share-vs-target
chart, the lexicon version and the audited dataset, logged to a run.

The counting itself is pure (`mlflow_bias.data_audit.representation`); this module only writes.
Each step is logged as soon as it is ready, so if a later one fails the run keeps what was
logged, and the tag `bias.audit.error` says what failed.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import datasets
import mlflow
import pandas as pd
from mlflow.entities import DatasetInput, InputTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from mlflow_bias.core.hashing import file_sha256
from mlflow_bias.data_audit.representation import (
    METRIC_PREFIX,
    RepresentationResult,
    TrainingData,
    audit_representation,
)
from mlflow_bias.core.errors import ConfigError
from mlflow_bias.core.run_writes import DATASET_DIGEST_CHARS, log_metrics, log_tags

DATASET_CONTEXT = "training"
COUNTS_TABLE = f"{METRIC_PREFIX}/counts.json"
SUMMARY_TABLE = f"{METRIC_PREFIX}/summary.json"
COOCCURRENCE_TABLE = f"{METRIC_PREFIX}/cooccurrence.json"
FLAGGED_TABLE = f"{METRIC_PREFIX}/flagged.json"
AUDIT_TABLES = (COUNTS_TABLE, SUMMARY_TABLE, COOCCURRENCE_TABLE, FLAGGED_TABLE)
SHARES_FIGURE = f"{METRIC_PREFIX}/shares.png"
DEFAULT_DATASET_NAME = "training-data"


def shares_figure(result: RepresentationResult) -> Any:
    """A matplotlib Figure (Agg canvas, no pyplot state): per attribute, each group's observed
    share beside its target share, titled with the gap."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    attributes = result.attributes
    width = sum(max(4.0, 1.5 + 0.9 * len(result.shares[a])) for a in attributes) or 4.0
    figure = Figure(figsize=(width, 3.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, max(1, len(attributes)), squeeze=False)[0]
    for ax, attribute in zip(axes, attributes):
        groups = list(result.shares[attribute])
        observed = [0.0 if math.isnan(result.shares[attribute][g]) else result.shares[attribute][g]
                    for g in groups]
        target = [result.targets[attribute].get(g, math.nan) for g in groups]
        positions = range(len(groups))
        width = 0.38
        ax.bar([p - width / 2 for p in positions], observed, width, label="observed", color="#4c72b0")
        ax.bar([p + width / 2 for p in positions], target, width, label="target", color="#c9c9c9",
               edgecolor="#555555")
        ax.set_xticks(list(positions), groups, rotation=30 if len(groups) > 4 else 0)
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of group mentions")
        gap = result.gaps[attribute]
        ax.set_title(f"{attribute}: gap {gap:.3f}" if not math.isnan(gap) else f"{attribute}: no mentions")
        ax.legend(loc="upper right", fontsize="small")
    figure.suptitle(f"Representation in the training data ({result.n_examples:,} examples)")
    return figure


def _dataset_entity(data: Any, result: RepresentationResult, name: str | None) -> Any:
    """The MLflow dataset to record as the run's training input, or None when there is nothing."""
    if data is None and result.metadata.get("path"):
        data = result.metadata["path"]
    if data is None:
        return None
    if isinstance(data, pd.DataFrame):
        return mlflow.data.from_pandas(data, name=name or DEFAULT_DATASET_NAME)
    if isinstance(data, datasets.Dataset):
        return mlflow.data.from_huggingface(data, name=name or DEFAULT_DATASET_NAME)
    from mlflow.data.meta_dataset import MetaDataset

    if isinstance(data, (str, Path)):
        # A source record only: the path and the SHA-256 of the rows read while streaming (or of
        # the file's bytes, read in blocks, when this is not the file that was audited).
        from mlflow.data.dataset_source_registry import resolve_dataset_source

        path = Path(data).resolve()
        digest = (result.metadata["digest"] if result.metadata.get("path") == str(path)
                  and result.metadata.get("digest") else file_sha256(path))
        with warnings.catch_warnings():  # local paths resolve to one source type registered twice
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(str(path))
        return MetaDataset(source, name=name or path.stem, digest=digest[:DATASET_DIGEST_CHARS])
    if isinstance(data, datasets.IterableDataset):
        from mlflow.data.code_dataset_source import CodeDatasetSource

        digest = result.metadata.get("digest")
        return MetaDataset(CodeDatasetSource(tags={}), name=name or DEFAULT_DATASET_NAME,
                           digest=digest[:DATASET_DIGEST_CHARS] if digest else None)
    raise ConfigError(f"Cannot record a {type(data).__name__} as an MLflow dataset: pass the audited "
                      "DataFrame, datasets.Dataset, IterableDataset or file path.")


def audit_tags(result: RepresentationResult) -> dict[str, str]:
    tags = {
        "bias.audit.text_column": str(result.metadata.get("text_column")),
        "bias.audit.targets": json.dumps(result.targets, sort_keys=True),
        "bias.audit.gap_definition": str(result.metadata.get("gap_definition")),
    }
    if result.lexicon:
        tags["bias.lexicon"] = result.lexicon
        if result.metadata.get("lexicon_sha256"):
            tags["bias.lexicon.sha256"] = result.metadata["lexicon_sha256"]
    else:
        tags["bias.audit.group_columns"] = json.dumps(result.metadata.get("group_columns", {}),
                                                      sort_keys=True)
    if result.metadata.get("weight_column"):
        tags["bias.audit.weight_column"] = str(result.metadata["weight_column"])
    if result.metadata.get("digest"):
        tags["bias.audit.digest"] = result.metadata["digest"]
    return tags


def log_representation(
    result: RepresentationResult,
    dataset: TrainingData | None = None,
    *,
    run_id: str | None = None,
    dataset_name: str | None = None,
) -> dict[str, float]:
    """Log an audit to a run (`run_id`, else the active run) and return the metrics logged.

    Logs, in order: tags (`bias.lexicon` = `name@version`, targets, text column), the metrics
    (`data/representation/...`), the tables `counts.json`, `summary.json`, `cooccurrence.json` and
    `flagged.json` under `data/representation/`, the chart `data/representation/shares.png`, and
    `dataset` (default: the audited file, if it was a path) as a dataset input with context
    `training`: DataFrames via `mlflow.data.from_pandas`, `datasets.Dataset` via
    `from_huggingface`, a path or IterableDataset as a source record with the digest computed while
    streaming (the data itself is not loaded).
    """
    if run_id is None:
        active = mlflow.active_run()
        if active is None:
            raise ConfigError("No run to log the audit to: start one (mlflow.start_run()) or pass "
                              "run_id; `audit_data` starts one for you.")
        run_id = active.info.run_id
    metrics = result.metrics()
    client = MlflowClient()
    try:
        log_tags(run_id, audit_tags(result))
        log_metrics(run_id, metrics)
        mlflow.log_table(result.counts, artifact_file=COUNTS_TABLE, run_id=run_id)
        mlflow.log_table(result.summary_table(), artifact_file=SUMMARY_TABLE, run_id=run_id)
        mlflow.log_table(result.cooccurrence, artifact_file=COOCCURRENCE_TABLE, run_id=run_id)
        mlflow.log_table(result.flagged, artifact_file=FLAGGED_TABLE, run_id=run_id)
        client.log_figure(run_id, shares_figure(result), SHARES_FIGURE)
        entity = _dataset_entity(dataset, result, dataset_name)
        if entity is not None:
            client.log_inputs(run_id, [DatasetInput(
                entity._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, DATASET_CONTEXT)]
            )])
    except Exception as exc:
        log_tags(run_id, {"bias.audit.error": f"{type(exc).__name__}: {exc}"[:4000]})
        raise
    return metrics


def audit_data(
    data: TrainingData,
    *,
    progress: bool = True,
    run_id: str | None = None,
    run_name: str = "data-audit",
    dataset_name: str | None = None,
    **options: Any,
) -> RepresentationResult:
    """Audit a fine-tuning dataset and log it to MLflow: into `run_id`, else the active run, else a
    new run named `run_name` in the current experiment. `options` are those of
    `audit_representation` (text_column, group_columns, lexicon, attributes, targets,
    context_terms, alpha, min_count, top_k, weight_column). Bad input fails before any run is
    touched. The run id is in `result.metadata["run_id"]`."""
    result = audit_representation(data, progress=progress, **options)
    active = mlflow.active_run()
    if run_id is None and active is None:
        with mlflow.start_run(run_name=run_name) as run:
            log_representation(result, data, run_id=run.info.run_id, dataset_name=dataset_name)
            run_id = run.info.run_id
    else:
        run_id = run_id or active.info.run_id
        log_representation(result, data, run_id=run_id, dataset_name=dataset_name)
    result.metadata["run_id"] = run_id
    return result
