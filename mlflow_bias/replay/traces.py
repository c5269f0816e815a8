"""Production traces as the replay reads them: from MLflow (`mlflow.search_traces` on an
experiment) or a CSV/JSONL/parquet file streamed in chunks, each chunk normalised to `id`,
`input` and optional `output`, every text anonymised before anything else sees it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import mlflow
import pandas as pd

from mlflow_bias.core.errors import ConfigError, ProbeSchemaError
from mlflow_bias.text.anonymize import DEFAULT_ANONYMIZERS, Anonymizer, anonymize

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


def normalise_traces(frame: pd.DataFrame, offset: int, input_key: str | None, output_key: str | None,
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
        yield normalise_traces(chunk, offset, input_key, output_key, anonymizers)
        offset += len(chunk)


def _mlflow_traces(experiment: str, max_traces: int | None) -> pd.DataFrame:
    found = mlflow.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found is not None else experiment
    try:
        traces = mlflow.search_traces(locations=[experiment_id], max_results=max_traces)
    except Exception as exc:  # noqa: BLE001 - an unknown experiment id, or a store without traces
        raise ConfigError(f"Could not read traces of experiment {experiment!r}: {exc}") from exc
    if len(traces) == 0:
        raise ProbeSchemaError(f"Experiment {experiment!r} has no traces to replay.")
    return traces[["trace_id", "request", "response"]].rename(columns={"trace_id": "id"})


def _stream_file(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    import datasets

    from mlflow_bias.data_audit.representation import FILE_READERS

    if not path.is_file():
        raise ConfigError(f"No trace file at {path}. Pass a CSV/JSONL/parquet file, a DataFrame, or "
                          "mlflow:<experiment> for MLflow traces.")
    if path.suffix.lower() not in FILE_READERS:
        raise ConfigError(f"{path.name}: trace files must be .csv, .jsonl or .parquet.")
    stream = datasets.load_dataset(FILE_READERS[path.suffix.lower()], data_files=str(path),
                                   split="train", streaming=True)
    for batch in stream.iter(batch_size=chunk_size):
        yield pd.DataFrame(batch)
