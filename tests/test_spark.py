"""The Spark path (local[2]) gives the same numbers as the local path on the same input."""

from __future__ import annotations

import sys

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlflow_bias.adapters import resolve_adapter
from mlflow_bias.dimensions import lpbs, replay as replay_dimension
from mlflow_bias.text.parsing import CategoryParser
from mlflow_bias.replay.spark import precompute, replay_spark
from test_replay import CATEGORIES, screen, traces

pyspark = pytest.importorskip("pyspark", reason="the Spark path needs pyspark (a test dependency)")


@pytest.fixture(scope="module")
def spark():
    import os

    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers run the driver's Python (and its venv)
    session = (SparkSession.builder.master("local[2]").appName("mlflow-bias-tests")
               .config("spark.pyspark.python", sys.executable)
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
               .getOrCreate())
    yield session
    session.stop()


def test_replay_on_spark_equals_local(spark):
    class Screen(mlflow.pyfunc.PythonModel):  # defined here so that it is pickled by value
        def predict(self, context, model_input):
            return ["reject" if "Lakisha" in t else "advance" for t in model_input["input"]]

    assert Screen().predict(None, traces()) == screen(traces())
    with mlflow.start_run():
        uri = mlflow.pyfunc.log_model(name="screen", python_model=Screen(),
                                      pip_requirements=["pandas"]).model_uri
    config = replay_dimension.ReplayConfig(progress=False, parser=CategoryParser.from_config(CATEGORIES))
    data = traces()
    local = replay_dimension.compute(resolve_adapter(uri), data, config)
    distributed = replay_spark(uri, spark.createDataFrame(data).repartition(3), config, spark=spark)
    assert distributed.metrics == local.metrics and distributed.metrics["gender"] == pytest.approx(0.375)
    pd.testing.assert_frame_equal(
        distributed.tables["review"][["id", "swapped_input", "category", "swapped_category"]],
        local.tables["review"][["id", "swapped_input", "category", "swapped_category"]])


def test_lpbs_from_spark_loglikelihoods_equals_local(spark, skewed_lm, tiny_probe):
    from mlflow_bias.adapters import HFCausalLM
    from mlflow_bias.adapters.models import log_causal_lm

    with mlflow.start_run():
        uri = log_causal_lm(*skewed_lm).model_uri
    texts = pd.concat([tiny_probe[c] for c in ("text_a", "text_b", "prior_a", "prior_b")]).tolist()
    adapter = precompute(uri, texts, kind="loglikelihood", spark=spark, partitions=3)
    config = lpbs.LPBSConfig(bootstrap_samples=300, permutation_samples=300)
    on_spark = lpbs.compute(adapter, tiny_probe, config)
    local = lpbs.compute(HFCausalLM(*skewed_lm, progress=False), tiny_probe, config)
    assert on_spark.metrics.keys() == local.metrics.keys()
    np.testing.assert_allclose([on_spark.metrics[k] for k in local.metrics],
                               list(local.metrics.values()), atol=1e-6)


def test_replay_of_a_file_on_spark_equals_local_and_cbs_from_spark_outputs(spark, tmp_path):
    from mlflow_bias.dimensions import cbs
    from mlflow_bias.replay import replay

    class Screen(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            column = model_input.iloc[:, 0]
            return ["reject" if "Lakisha" in t else "advance" for t in column]

    with mlflow.start_run():
        uri = mlflow.pyfunc.log_model(name="screen", python_model=Screen(),
                                      pip_requirements=["pandas"]).model_uri
    data = traces()
    data.loc[0, "input"] = "Lakisha (lakisha@mail.com) applied for role 0."
    path = tmp_path / "traces.jsonl"
    data.to_json(path, orient="records", lines=True)
    local = replay(uri, str(path), categories=CATEGORIES, progress=False)
    on_spark = replay(uri, str(path), categories=CATEGORIES, progress=False, spark=spark)
    assert on_spark.metrics == local.metrics
    assert on_spark.tables["review"]["input"].tolist() == local.tables["review"]["input"].tolist()
    assert "[EMAIL]" in on_spark.tables["review"].set_index("id").loc["t0", "input"]

    sets = pd.DataFrame([{"id": f"s{s}-{g}", "attribute": "gender", "set_id": f"s{s}", "group": g,
                          "input": f"{name} applied for role {s}."}
                         for s in range(10) for g, name in (("female", "Lakisha"), ("male", "Jamal"))])
    adapter = precompute(uri, sets["input"].tolist(), kind="predict", spark=spark, partitions=2)
    config = cbs.CBSConfig(bootstrap_samples=200, progress=False)
    assert cbs.compute(adapter, sets, config).metrics == cbs.compute(resolve_adapter(uri), sets, config).metrics
