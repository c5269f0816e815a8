"""Replay production traces with a protected attribute swapped, and log what disagrees.

Traces come from MLflow (`mlflow.search_traces` on an experiment) or from a CSV/JSONL/parquet file
of inputs (and the recorded outputs, if any), streamed in chunks so a file larger than memory
works. Every text is anonymised (`mlflow_bias.anonymize`) before the model sees it and before
anything is logged. The comparison itself is `mlflow_bias.dimensions.replay`; the traces above
the threshold are logged with their texts as the review table `bias/replay/review.json` (the
items table keeps every trace's scores, but texts only for those), and
`probe_from_review` turns reviewed disagreements into a new version of a probe.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import mlflow
import pandas as pd
from tqdm.auto import tqdm

from mlflow_bias import tracking
from mlflow_bias.adapters import resolve_adapter
from mlflow_bias.anonymize import DEFAULT_ANONYMIZERS, Anonymizer, anonymize
from mlflow_bias.dimensions import replay as replay_dimension
from mlflow_bias.dimensions.base import DimensionResult
from mlflow_bias.errors import ConfigError, ProbeSchemaError
from mlflow_bias.parsing import CategoryParser
from mlflow_bias.swap import AttributeSwapper

INPUT_KEYS = ("input", "request", "prompt", "text", "question")
OUTPUT_KEYS = ("output", "response", "answer", "completion")
ID_KEYS = ("id", "trace_id", "request_id")


def _text_of(value: Any, key: str | None, what: str = "input") -> Any:
    """The text in a trace request or response: a string, the one string field of a dict (or
    `key`), the last user message of a chat request, or the first choice of a chat response."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and pd.isna(value):
        return None  # a trace without a recorded output
    if isinstance(value, Mapping):
        if key is not None:
            if key not in value:
                raise ConfigError(f"A trace's {what} has no field {key!r}; its fields: "
                                  f"{', '.join(map(str, value))}.")
            return _text_of(value[key], None, what)
        choices = value.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
            message = choices[0].get("message") or {}
            return _text_of(message.get("content", choices[0].get("text")), None, what)
        messages = value.get("messages")
        if isinstance(messages, list) and messages:
            users = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
            return _text_of((users or messages)[-1].get("content"), None)
        strings = [v for v in value.values() if isinstance(v, str)]
        if len(strings) == 1:
            return strings[0]
        option = "input_key= (CLI: --input-key)" if what == "input" else "output_key= (CLI: --output-key)"
        raise ConfigError(f"Cannot tell which field of the trace's {what} {sorted(value)} holds the "
                          f"text; pass {option}.")
    return str(value)


def _pick(columns: Sequence[str], wanted: str | None, candidates: Sequence[str], what: str,
          required: bool) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            raise ConfigError(f"The traces have no column {wanted!r} for the {what}; columns: "
                              f"{', '.join(columns)}.")
        return wanted
    found = [c for c in candidates if c in columns]
    if not found and required:
        raise ConfigError(f"The traces have none of the columns {', '.join(candidates)} for the "
                          f"{what}; columns: {', '.join(columns)}. Name it with input_key=.")
    return found[0] if found else None


def _normalise(frame: pd.DataFrame, offset: int, input_key: str | None, output_key: str | None,
               anonymizers: Sequence[Anonymizer]) -> pd.DataFrame:
    """A chunk of raw traces as `id`, `input`, `output` (anonymised)."""
    columns = list(frame.columns)
    field_key = input_key if input_key not in columns else None
    input_column = _pick(columns, None if field_key else input_key, INPUT_KEYS, "input", True)
    output_column = _pick(columns, output_key if output_key in columns else None, OUTPUT_KEYS,
                          "output", False)
    id_column = _pick(columns, None, ID_KEYS, "id", False)
    out = pd.DataFrame({
        "id": (frame[id_column].astype(str) if id_column else
               pd.Series(range(offset, offset + len(frame)), index=frame.index).astype(str)),
        "input": [anonymize(_text_of(v, field_key), anonymizers) for v in frame[input_column]],
    })
    if output_column is not None:
        out_key = output_key if output_key not in columns else None
        out["output"] = [anonymize(_text_of(v, out_key, "output"), anonymizers)
                         for v in frame[output_column]]
    return out.reset_index(drop=True)


def read_traces(source: Any, *, input_key: str | None = None, output_key: str | None = None,
                chunk_size: int = 1000, anonymizers: Sequence[Anonymizer] = DEFAULT_ANONYMIZERS,
                max_traces: int | None = None) -> Iterator[pd.DataFrame]:
    """Chunks of anonymised traces (`id`, `input`, optional `output`).

    `source`: a DataFrame; a CSV/JSONL/parquet path (streamed with `datasets`); or
    `mlflow:<experiment name or id>` for the traces of an MLflow experiment. `input_key` names the
    input column, or the field of a trace's request that holds the text.
    """
    if isinstance(source, pd.DataFrame):
        chunks: Iterator[pd.DataFrame] = (source.iloc[i:i + chunk_size]
                                          for i in range(0, len(source), chunk_size))
    elif isinstance(source, str) and source.startswith("mlflow:"):
        chunks = iter([_mlflow_traces(source.removeprefix("mlflow:"), max_traces)])
    else:
        chunks = _stream_file(Path(source), chunk_size)
    offset = 0
    for chunk in chunks:
        if max_traces is not None and offset >= max_traces:
            return
        if max_traces is not None:
            chunk = chunk.iloc[: max_traces - offset]
        yield _normalise(chunk, offset, input_key, output_key, anonymizers)
        offset += len(chunk)


def _mlflow_traces(experiment: str, max_traces: int | None) -> pd.DataFrame:
    found = mlflow.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found is not None else experiment
    try:
        traces = mlflow.search_traces(experiment_ids=[experiment_id], max_results=max_traces)
    except Exception as exc:  # noqa: BLE001 - an unknown experiment id, or a store without traces
        raise ConfigError(f"Could not read traces of experiment {experiment!r}: {exc}") from exc
    if len(traces) == 0:
        raise ProbeSchemaError(f"Experiment {experiment!r} has no traces to replay.")
    return traces[["trace_id", "request", "response"]].rename(columns={"trace_id": "id"})


def _stream_file(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    import datasets

    from mlflow_bias.dimensions.representation import FILE_READERS

    if not path.is_file():
        raise ConfigError(f"No trace file at {path}. Pass a CSV/JSONL/parquet file, a DataFrame, or "
                          "mlflow:<experiment> for MLflow traces.")
    if path.suffix.lower() not in FILE_READERS:
        raise ConfigError(f"{path.name}: trace files must be .csv, .jsonl or .parquet.")
    stream = datasets.load_dataset(FILE_READERS[path.suffix.lower()], data_files=str(path),
                                   split="train", streaming=True)
    for batch in stream.iter(batch_size=chunk_size):
        yield pd.DataFrame(batch)


def replay(model: Any, source: Any, *, attribute: str = "gender", neutral: bool = False,
           categories: Mapping[str, Sequence[str]] | None = None, threshold: float | None = None,
           embedder: Any = None, input_key: str | None = None, output_key: str | None = None,
           rerun_original: bool = False, anonymizers: Sequence[Anonymizer] = DEFAULT_ANONYMIZERS,
           lexicon: Any = None, batch_size: int = 32, chunk_size: int = 1000,
           max_new_tokens: int = 48, spark: Any = None,
           max_traces: int | None = None, progress: bool = True, run_id: str | None = None,
           run_name: str = "replay") -> DimensionResult:
    """Replay `source` through `model` with `attribute` swapped and log the result to MLflow (into
    `run_id`, else the active run, else a new run). Returns the DimensionResult.

    `spark`: a SparkSession (or True for the active/default one) runs the model calls as Spark
    jobs (`mlflow_bias.spark.replay_spark`; `model` must then be an MLflow model URI and `source`
    a file or DataFrame); the numbers are the same as on one machine.

    A transformers model answers with greedy generation (`max_new_tokens`); any other pyfunc or
    function of a DataFrame with an `input` column is called as it is."""
    swapper = AttributeSwapper(attribute, lexicon=lexicon, neutral=neutral)
    parser = CategoryParser.from_config(categories) if categories else None
    if spark is not None and spark is not False:
        from mlflow_bias.spark import replay_spark

        if embedder is not None or max_traces is not None:
            raise ConfigError("On Spark the similarity comparison uses all-MiniLM-L6-v2 on every "
                              "worker and reads the whole source: drop embedder= and max_traces=.")
        config = replay_dimension.ReplayConfig(batch_size=batch_size, progress=False,
                                               swapper=swapper, parser=parser, threshold=threshold,
                                               rerun_original=rerun_original)
        result = replay_spark(model, source, config, spark=None if spark is True else spark,
                              max_new_tokens=max_new_tokens, use_minilm=parser is None,
                              input_key=input_key, output_key=output_key, anonymizers=anonymizers)
        return _finish(result, source, swapper, attribute, run_id, run_name)
    adapter = resolve_adapter(model, batch_size=batch_size, progress=False,
                              max_new_tokens=max_new_tokens)
    if parser is None and embedder is None:
        from mlflow_bias.adapters import SentenceEncoder
        from mlflow_bias.models import load_minilm

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
    return _finish(result, source, swapper, attribute, run_id, run_name)


def _finish(result: DimensionResult, source: Any, swapper: AttributeSwapper, attribute: str,
            run_id: str | None, run_name: str) -> DimensionResult:
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
    from mlflow_bias.dimensions.representation import GroupDetector

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
