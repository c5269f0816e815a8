"""Replay production traces with a protected attribute swapped, and log what disagrees.

Traces come from MLflow (`mlflow.search_traces` on an experiment) or from a CSV/JSONL/parquet file
of inputs (and the recorded outputs, if any), streamed in chunks so a file larger than memory
works. Every text is anonymised (`mlflow_bias.text.anonymize`) before the model sees it and before
anything is logged. The comparison itself is `mlflow_bias.dimensions.replay`; the traces above
the threshold are logged with their texts as the review table `bias/replay/review.json` (the
items table keeps every trace's scores, but texts only for those), and
`probe_from_review` turns reviewed disagreements into a new version of a probe.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import mlflow
import pandas as pd
from tqdm.auto import tqdm

from mlflow_bias.evaluation import tracking
from mlflow_bias.adapters import resolve_adapter
from mlflow_bias.text.anonymize import DEFAULT_ANONYMIZERS, Anonymizer
from mlflow_bias.dimensions import replay as replay_dimension
from mlflow_bias.dimensions.base import DimensionResult
from mlflow_bias.core.errors import ConfigError, ProbeSchemaError
from mlflow_bias.text.parsing import CategoryParser
from mlflow_bias.text.swap import AttributeSwapper
from mlflow_bias.replay.traces import read_traces

def replay(model: Any, source: Any, *, attribute: str = "gender", neutral: bool = False,
           categories: Mapping[str, Sequence[str]] | None = None, threshold: float | None = None,
           embedder: Any = None, input_key: str | None = None, output_key: str | None = None,
           rerun_original: bool = False, anonymizers: Sequence[Anonymizer] = DEFAULT_ANONYMIZERS,
           lexicon: Any = None, batch_size: int = 32, chunk_size: int = 1000,
           max_new_tokens: int = 48, spark: Any = None,
           max_traces: int | None = None, progress: bool = True, run_id: str | None = None,
           run_name: str = "replay", assess_traces: bool | None = None) -> DimensionResult:
    """Replay `source` through `model` with `attribute` swapped and log the result to MLflow (into
    `run_id`, else the active run, else a new run). Returns the DimensionResult.

    `spark`: a SparkSession (or True for the active/default one) runs the model calls as Spark
    jobs (`mlflow_bias.replay.spark.replay_spark`; `model` must then be an MLflow model URI and `source`
    a file or DataFrame); the numbers are the same as on one machine.

    A transformers model answers with greedy generation (`max_new_tokens`); any other pyfunc or
    function of a DataFrame with an `input` column is called as it is.

    `assess_traces` (default: on for `mlflow:<experiment>` sources) writes each replayed trace's
    disagreement back onto it as `bias.counterfactual` feedback (`replay.assessments`)."""
    if assess_traces is None:
        assess_traces = isinstance(source, str) and source.startswith("mlflow:")
    if assess_traces and not (isinstance(source, str) and source.startswith("mlflow:")):
        raise ConfigError("assess_traces=True writes onto MLflow traces: replay them from "
                          "'mlflow:<experiment>'.")
    swapper = AttributeSwapper(attribute, lexicon=lexicon, neutral=neutral)
    parser = CategoryParser.from_config(categories) if categories else None
    if spark is not None and spark is not False:
        from mlflow_bias.replay.spark import replay_spark

        if embedder is not None or max_traces is not None:
            raise ConfigError("On Spark the similarity comparison uses all-MiniLM-L6-v2 on every "
                              "worker and reads the whole source: drop embedder= and max_traces=.")
        config = replay_dimension.ReplayConfig(batch_size=batch_size, progress=False,
                                               swapper=swapper, parser=parser, threshold=threshold,
                                               rerun_original=rerun_original)
        result = replay_spark(model, source, config, spark=None if spark is True else spark,
                              max_new_tokens=max_new_tokens, use_minilm=parser is None,
                              input_key=input_key, output_key=output_key, anonymizers=anonymizers)
        return _finish(result, source, swapper, attribute, run_id, run_name, assess_traces)
    adapter = resolve_adapter(model, batch_size=batch_size, progress=False,
                              max_new_tokens=max_new_tokens)
    if parser is None and embedder is None:
        from mlflow_bias.adapters import SentenceEncoder
        from mlflow_bias.adapters.models import load_minilm

        embedder = SentenceEncoder(load_minilm(), batch_size=batch_size, progress=False)
    elif embedder is not None:
        embedder = resolve_adapter(embedder, batch_size=batch_size, progress=False)
    config = replay_dimension.ReplayConfig(batch_size=batch_size, progress=False, swapper=swapper,
                                           parser=parser, embedder=embedder, threshold=threshold,
                                           rerun_original=rerun_original)
    parts = []
    chunks = read_traces(source, input_key=input_key, output_key=output_key, chunk_size=chunk_size,
                         anonymizers=anonymizers, max_traces=max_traces)
    for chunk in tqdm(chunks, desc="replay", unit="chunk", disable=not progress):
        scored = replay_dimension.score_traces(adapter, chunk, config)
        parts.append(replay_dimension.keep_texts_for_review(scored, config, anonymizers))
    if not parts:
        raise ProbeSchemaError(f"No trace to replay in {source!r}.")
    result = replay_dimension.summarise(pd.concat(parts, ignore_index=True), config, attribute)
    return _finish(result, source, swapper, attribute, run_id, run_name, assess_traces)


def _finish(result: DimensionResult, source: Any, swapper: AttributeSwapper, attribute: str,
            run_id: str | None, run_name: str, assess_traces: bool = False) -> DimensionResult:
    """Tag and log a replay result (into `run_id`, else the active run, else a new run)."""
    described = source if isinstance(source, str) else type(source).__name__
    result.tags = {"bias.replay.source": str(described)[:5000], "bias.lexicon": swapper.lexicon.ref,
                   "bias.replay.attribute": attribute}
    active = mlflow.active_run()
    if run_id is None and active is None:
        with mlflow.start_run(run_name=run_name) as run:
            _log(run.info.run_id, result)
    else:
        _log(run_id or active.info.run_id, result)
    if assess_traces:
        from mlflow_bias.replay.assessments import assess_replayed_traces

        result.metadata["assessed_traces"] = assess_replayed_traces(
            result.items, run_id=result.metadata["run_id"], threshold=result.metadata["threshold"],
            attribute=attribute, comparison=result.metadata["comparison"])
    return result


def _log(run_id: str, result: DimensionResult) -> None:
    tracking.log_dimension_result(run_id, result, None, None)
    tracking.log_json(run_id, {"summary": result.summary, "metadata": result.metadata,
                               "warnings": result.warnings}, "bias/replay/summary.json")
    result.metadata["run_id"] = run_id


def probe_from_review(review: pd.DataFrame | str | Path, name: str, version: str, *, card: str,
                      attribute: str = "gender", lexicon: Any = None,
                      confirmed_column: str = "confirmed") -> Any:
    """Freeze reviewed disagreements as a new counterfactual-sets probe version.

    Each review row (its `input` and `swapped_input`) becomes a set of two inputs, labelled with
    the group each mentions. Rows whose `confirmed` column is false are left out (all rows count
    when the column is absent). `probes.freeze` refuses to overwrite an existing version.
    """
    from mlflow_bias import probes
    from mlflow_bias.data_audit.representation import GroupDetector

    if not isinstance(review, pd.DataFrame):
        path = Path(review)
        if path.suffix == ".json":
            raw = json.loads(path.read_text())
            review = (pd.DataFrame(raw["data"], columns=raw["columns"])  # an MLflow table file
                      if isinstance(raw, dict) and {"columns", "data"} <= set(raw) else pd.DataFrame(raw))
        else:
            review = probes.read_probe(str(path))
    missing = [c for c in ("id", "input", "swapped_input") if c not in review.columns]
    if missing:
        raise ProbeSchemaError(f"The review table lacks {missing}; use bias/replay/review.json from "
                               "a replay run.")
    if confirmed_column in review.columns:
        review = review[review[confirmed_column].astype(str).str.lower().isin(["true", "1", "yes"])]
    detector = GroupDetector.build(lexicon=lexicon, attributes=[attribute])
    rows = []
    for record in review.to_dict("records"):
        sides = [(record["input"], detector.detect(attribute, str(record["input"]))),
                 (record["swapped_input"], detector.detect(attribute, str(record["swapped_input"])))]
        if any(len(groups) != 1 for _, groups in sides) or sides[0][1] == sides[1][1]:
            continue  # a set needs each side to name exactly one, different, group
        for text, groups in sides:
            group = next(iter(groups))
            rows.append({"id": f"{record['id']}-{group}", "attribute": attribute,
                         "set_id": f"replay-{record['id']}", "group": group, "input": text})
    if not rows:
        raise ProbeSchemaError("No reviewed row names exactly one group on each side; nothing to "
                               "freeze.")
    return probes.freeze(pd.DataFrame(rows), name, version, card=card)
