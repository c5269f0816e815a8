"""The same scoring on Spark, for trace sets and probes too large for one machine.

Only the model calls are distributed: `mapInPandas` runs them partition by partition, with the
model loaded once per Python worker (cached by URI, and Spark reuses its Python workers), and the
per-item results come back to the driver, where the very same statistics code runs as on one
machine. So the Spark path and the local path give identical numbers on the same input (the tests
check it), and nothing about uncertainty or thresholds is re-implemented here.

- `replay_spark`: trace replay (`mlflow_bias.dimensions.replay.score_traces` per partition).
- `precompute`: log-likelihoods (LPBS) or outputs (CBS, refusal, parity) of a probe's unique texts,
  as an adapter that the dimensions use unchanged: `lpbs.compute(precompute(...), probe, config)`.

Needs `pip install "mlflow-bias[spark]"` (PySpark, Java 17+). The model is given as an MLflow model
URI; on a local master it is downloaded once on the driver and read from that folder.
"""

from __future__ import annotations

import functools
from typing import Any, Iterator, Sequence

import pandas as pd

from mlflow_bias.adapters.precomputed import PrecomputedAdapter
from mlflow_bias.dimensions import replay as replay_dimension
from mlflow_bias.dimensions.base import DimensionResult
from mlflow_bias.core.errors import ConfigError

ITEM_COLUMNS = {  # replay items: column -> Spark type
    "id": "string", "changed": "boolean", "swaps": "string", "input": "string",
    "swapped_input": "string", "output": "string", "swapped_output": "string",
    "swapped_output_back": "string", "error": "string", "exact_match": "boolean",
    "category": "string", "swapped_category": "string", "similarity": "double",
    "disagreement": "double",
}


@functools.lru_cache(maxsize=4)
def _worker_adapter(model_uri: str, batch_size: int, max_new_tokens: int) -> Any:
    """The adapter for `model_uri`, loaded once per Python worker."""
    from mlflow_bias.adapters import resolve_adapter

    return resolve_adapter(model_uri, batch_size=batch_size, progress=False,
                           max_new_tokens=max_new_tokens)


@functools.lru_cache(maxsize=1)
def _worker_minilm() -> Any:
    from mlflow_bias.adapters import SentenceEncoder
    from mlflow_bias.adapters.models import load_minilm

    return SentenceEncoder(load_minilm(), progress=False)


def _session(spark: Any) -> Any:
    if spark is not None:
        return spark
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError('Spark scoring needs PySpark: pip install "mlflow-bias[spark]" (and Java '
                          '17+).') from exc
    import os
    import sys

    # the workers must run the same Python (and so see the same mlflow-bias) as the driver
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return SparkSession.builder.getOrCreate()


def _model_location(spark: Any, model_uri: str) -> str:
    """On a local master, download the model once and let the workers read the folder."""
    if not isinstance(model_uri, str):
        raise ConfigError("On Spark the model must be an MLflow model URI (runs:/..., models:/...), "
                          "which every worker can load.")
    if spark.sparkContext.master.startswith("local"):
        import mlflow

        return mlflow.artifacts.download_artifacts(model_uri)
    return model_uri


def _as_spark_frame(spark: Any, data: Any) -> Any:
    if isinstance(data, pd.DataFrame):
        return spark.createDataFrame(data.astype(object).where(data.notna(), None))
    return data  # already a Spark DataFrame


def read_spark_traces(spark: Any, source: Any) -> Any:
    """A Spark DataFrame of raw traces from a pandas or Spark DataFrame or a CSV/JSONL/parquet
    path, read by Spark (never through the driver), with an `id` column added if it has none."""
    from pyspark.sql import functions as F

    if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
        path = str(source)
        if path.endswith(".csv"):
            frame = spark.read.option("header", True).csv(path)
        elif path.endswith((".jsonl", ".json")):
            frame = spark.read.json(path)
        elif path.endswith(".parquet"):
            frame = spark.read.parquet(path)
        else:
            raise ConfigError(f"{path}: trace files must be .csv, .jsonl or .parquet.")
    else:
        frame = _as_spark_frame(spark, source)
    if not any(c in frame.columns for c in ("id", "trace_id", "request_id")):
        frame = frame.withColumn("id", F.monotonically_increasing_id().cast("string"))
    return frame


def replay_spark(model_uri: str, traces: Any, config: replay_dimension.ReplayConfig, *,
                 spark: Any = None, max_new_tokens: int = 48, use_minilm: bool = False,
                 input_key: str | None = None, output_key: str | None = None,
                 anonymizers: Sequence[Any] | None = None) -> DimensionResult:
    """Replay traces on Spark: a pandas or Spark DataFrame, or a CSV/JSONL/parquet path that Spark
    reads itself. Each partition is anonymised and normalised exactly as `mlflow_bias.replay`
    does on one machine (`id`, `input`, optional `output`), then scored.

    `config.embedder` cannot travel to the workers: with `use_minilm=True` (the similarity
    comparison) each worker loads all-MiniLM-L6-v2 itself.
    """
    from mlflow_bias.text.anonymize import DEFAULT_ANONYMIZERS
    from mlflow_bias.replay.traces import normalise_traces

    spark = _session(spark)
    location = _model_location(spark, model_uri)
    frame = read_spark_traces(spark, traces)
    hooks = tuple(DEFAULT_ANONYMIZERS if anonymizers is None else anonymizers)
    batch_size = config.batch_size
    worker_config = replay_dimension.ReplayConfig(
        batch_size=batch_size, progress=False, swapper=config.swapper, parser=config.parser,
        threshold=config.threshold, rerun_original=config.rerun_original)
    schema = ", ".join(f"{name} {kind}" for name, kind in ITEM_COLUMNS.items())

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        adapter = _worker_adapter(location, batch_size, max_new_tokens)
        if use_minilm:
            worker_config.embedder = _worker_minilm()
        for batch in batches:
            batch = normalise_traces(batch, 0, input_key, output_key, hooks)
            items = replay_dimension.keep_texts_for_review(
                replay_dimension.score_traces(adapter, batch, worker_config), worker_config, hooks)
            yield items.reindex(columns=list(ITEM_COLUMNS)).astype(object).where(items.notna(), None)

    items = frame.mapInPandas(score, schema=schema).toPandas()
    # the items in the order of the given table (a Spark DataFrame has none: by id)
    ids = (traces["id"].astype(str) if isinstance(traces, pd.DataFrame) and "id" in traces.columns
           else items["id"].sort_values())
    order = {i: n for n, i in enumerate(ids)}
    items = items.sort_values("id", key=lambda column: column.map(order)).reset_index(drop=True)
    # the columns the local path has: no comparison columns of the comparison not used
    unused = ["similarity"] if config.parser is not None else ["category", "swapped_category"]
    if not items["changed"].any():
        unused += [c for c in ITEM_COLUMNS if c not in ("id", "changed", "swaps")]
    items = items.drop(columns=list(dict.fromkeys(unused))).astype({"changed": bool})
    if "exact_match" in items.columns:
        items["exact_match"] = items["exact_match"].astype("boolean")
    config = replay_dimension.ReplayConfig(**{**worker_config.__dict__, "embedder": config.embedder})
    return replay_dimension.summarise(items, config, config.swapper.attribute)


def precompute(model_uri: str, texts: Sequence[str], *, kind: str, spark: Any = None,
               batch_size: int = 32, max_new_tokens: int = 48,
               partitions: int | None = None) -> PrecomputedAdapter:
    """Run the model on the unique `texts` on Spark: `kind="loglikelihood"` (LPBS: pass every
    text_a, text_b and prior) or `kind="predict"` (output dimensions: pass the inputs or prompts)."""
    if kind not in ("loglikelihood", "predict"):
        raise ConfigError(f"kind is {kind!r}; use 'loglikelihood' or 'predict'.")
    spark = _session(spark)
    location = _model_location(spark, model_uri)
    unique = list(dict.fromkeys(t for t in texts if isinstance(t, str)))
    frame = spark.createDataFrame(pd.DataFrame({"text": unique}))
    if partitions:
        frame = frame.repartition(partitions)
    schema = "text string, loglikelihood double" if kind == "loglikelihood" else "text string, output string"

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        adapter = _worker_adapter(location, batch_size, max_new_tokens)
        for batch in batches:
            texts_ = batch["text"].tolist()
            if kind == "loglikelihood":
                yield pd.DataFrame({"text": texts_, "loglikelihood": adapter.loglikelihood(texts_)})
            else:
                outputs = adapter.predict(texts_, batch_size=batch_size, progress=False).outputs
                yield pd.DataFrame({"text": texts_, "output": [None if o is None else str(o) for o in outputs]})

    result = frame.mapInPandas(run, schema=schema).toPandas()
    values = dict(zip(result["text"], result.iloc[:, 1]))
    return PrecomputedAdapter(name=f"{model_uri} (Spark)",
                              loglikelihoods=values if kind == "loglikelihood" else None,
                              outputs=values if kind == "predict" else None)
