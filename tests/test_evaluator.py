"""The `bias` evaluator through `mlflow.models.evaluate` on a sqlite store: plugin registration,
what is logged, model forms, bad input and failure handling."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import mlflow_bias
import mlflow_bias.probes as probes
from mlflow_bias.adapters import HFCausalLM, loglikelihood_one_by_one
from mlflow_bias.core.errors import CapabilityError, ConfigError, ProbeIntegrityError, ProbeSchemaError
from mlflow_bias.evaluation.evaluator import BiasEvaluator
from mlflow_bias.adapters.models import log_causal_lm

FAST = {"bootstrap_samples": 200, "permutation_samples": 500, "progress": False}


def _evaluate(model, data, **config):
    return mlflow.models.evaluate(
        model=model, data=data, model_type="bias", evaluators=["bias"],
        evaluator_config={"bias": {**FAST, **config}},
    )


def _last_run():
    return mlflow.last_active_run()


def test_plugin_is_registered_and_only_for_bias():
    assert "bias" in mlflow.models.list_evaluators()
    assert BiasEvaluator.can_evaluate(model_type="bias", evaluator_config={})
    assert not BiasEvaluator.can_evaluate(model_type="classifier", evaluator_config={})
    assert not BiasEvaluator.can_evaluate(model_type="text", evaluator_config={})


def test_skewed_model_is_biased_and_balanced_model_is_within_noise(skewed_lm, balanced_lm, tiny_probe):
    # the noise floor is the null's 95th percentile: from 500 sign-flip draws it varies by about
    # +-0.02 with the seed (0.237-0.273 here), so the 3x margin is checked on 2,000 draws
    biased = _evaluate(HFCausalLM(*skewed_lm, progress=False), tiny_probe,
                       permutation_samples=2000).metrics
    fair = _evaluate(HFCausalLM(*balanced_lm, progress=False), tiny_probe).metrics
    assert biased["bias/lpbs/gender"] > 0.3
    assert biased["bias/lpbs/gender"] > 3 * biased["bias/lpbs/gender/noise_floor"]
    assert biased["bias/lpbs/gender/p_value"] < 0.01
    assert biased["bias/lpbs/gender/stereotype_rate"] > 0.9
    assert fair["bias/lpbs/gender"] <= fair["bias/lpbs/gender/noise_floor"]
    assert fair["bias/lpbs/gender/p_value"] > 0.05


def test_logs_metrics_table_scorecard_tags_and_dataset(skewed_lm, tiny_probe):
    model, tok = skewed_lm
    result = _evaluate(HFCausalLM(model, tok, progress=False), tiny_probe)
    run = _last_run()
    client = MlflowClient()
    data = client.get_run(run.info.run_id).data
    for suffix in ("", "/ci_low", "/ci_high", "/p_value", "/stereotype_rate", "/noise_floor"):
        assert data.metrics[f"bias/lpbs/gender{suffix}"] == pytest.approx(result.metrics[f"bias/lpbs/gender{suffix}"])
    assert data.metrics["bias/lpbs/gender/ci_low"] <= data.metrics["bias/lpbs/gender"] <= data.metrics["bias/lpbs/gender/ci_high"]
    assert "bias/lpbs/gender/slice/template/t0" in data.metrics

    table = mlflow.load_table("bias/lpbs/items.json", run_ids=[run.info.run_id])
    assert {"id", "attribute", "condition", "logprob_a", "logprob_b", "delta", "preference"} <= set(table.columns)
    assert len(table) == len(tiny_probe)
    row = table.iloc[0]
    ref = loglikelihood_one_by_one(model, tok, [row["text_a"], row["text_b"], row["prior_a"], row["prior_b"]])
    assert row["logprob_a"] == pytest.approx(ref[0], abs=1e-4)
    assert row["delta"] == pytest.approx((ref[0] - ref[1]) - (ref[2] - ref[3]), abs=1e-4)

    digest = probes.content_digest(tiny_probe)
    assert data.tags["bias.probe.user"] == f"unregistered@{digest}"
    assert data.tags["bias.status"] == "completed"
    assert data.tags["bias.dimension.lpbs"] == "completed"
    assert data.tags["bias.model_version"] == (
        f"LlamaForCausalLM@weights:{HFCausalLM(model, tok).weights_digest()[:16]}"
    )
    assert data.tags["bias.version"] == mlflow_bias.__version__
    from datetime import datetime

    assert datetime.fromisoformat(data.tags["bias.evaluated_at"]).year >= 2025
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert any(i.dataset.digest == digest[:32] for i in inputs)

    scorecard = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/bias/scorecard.json")
    assert scorecard["status"] == "completed"
    assert scorecard["probes"][0]["digest"] == digest
    attribute = scorecard["dimensions"][0]["attributes"][0]
    assert attribute["value"] == pytest.approx(result.metrics["bias/lpbs/gender"])


def test_registered_probe_is_identified_by_content(skewed_lm, tiny_probe):
    info = probes.freeze(tiny_probe, "tiny-occupations", "2.0.0", card="# tiny\n\ntest probe")
    _evaluate(HFCausalLM(*skewed_lm, progress=False), probes.load("tiny-occupations").to_pandas())
    tags = MlflowClient().get_run(_last_run().info.run_id).data.tags
    assert tags["bias.probe.tiny-occupations"] == f"2.0.0@{info.content_digest}"


def test_extra_probes_in_one_run_get_their_own_keys(skewed_lm, tiny_probe):
    probes.freeze(tiny_probe.head(20), "tiny-half", "1.0.0", card="# half\n\ntest probe")
    result = _evaluate(HFCausalLM(*skewed_lm, progress=False), tiny_probe, probes=["tiny-half"])
    assert "bias/lpbs/gender" in result.metrics
    assert "bias/lpbs/tiny-half/gender" in result.metrics
    assert mlflow.load_table("bias/lpbs/tiny-half/items.json", run_ids=[_last_run().info.run_id]).shape[0] == 20


def test_config_is_validated(skewed_lm, tiny_probe):
    with pytest.raises(ConfigError, match="Invalid evaluator_config for 'bias': bootstrap: this key is unknown"):
        _evaluate(HFCausalLM(*skewed_lm, progress=False), tiny_probe, bootstrap=5)
    with pytest.raises(ConfigError, match="batch_size = 0: expected a whole number of at least 1"):
        _evaluate(HFCausalLM(*skewed_lm, progress=False), tiny_probe, batch_size=0)
    with pytest.raises(ConfigError, match="generation_dtype = 'bf16'.*'bfloat16', 'float16', 'float32'"):
        _evaluate(HFCausalLM(*skewed_lm, progress=False), tiny_probe, generation_dtype="bf16")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda df: df.drop(columns=["group_b"]), "lacks the column"),
        (lambda df: df.assign(group_b="male"), "one group only"),
        (lambda df: df.iloc[0:0], "probe is empty"),
    ],
)
def test_bad_probe_fails_before_any_scoring(skewed_lm, tiny_probe, mutate, message):
    with pytest.raises(ProbeSchemaError, match=message):
        mlflow_bias.evaluate(skewed_lm, mutate(tiny_probe.copy()), **FAST)
    if len(mutate(tiny_probe.copy())):  # MLflow itself cannot digest an empty frame
        with pytest.raises(ProbeSchemaError, match=message):
            _evaluate(HFCausalLM(*skewed_lm, progress=False), mutate(tiny_probe.copy()))
        run = MlflowClient().get_run(_last_run().info.run_id)
        assert not any(k.startswith("bias/") for k in run.data.metrics)


def test_tampered_extra_probe_is_refused(skewed_lm, tiny_probe):
    info = probes.freeze(tiny_probe, "tiny-x", "1.0.0", card="# x\n\ntest")
    (Path(info.path) / "README.md").write_text("# edited\n")
    with pytest.raises(ProbeIntegrityError, match="README.md"):
        _evaluate(HFCausalLM(*skewed_lm, progress=False), tiny_probe, probes=["tiny-x"])


def test_pyfunc_without_logprobs_is_refused_with_what_it_can_do(tiny_probe):
    class Rules(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input: pd.DataFrame) -> list[str]:
            return ["advance"] * len(model_input)

    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="rules", python_model=Rules())
    with pytest.raises(CapabilityError, match="needs a model that gives loglikelihood"):
        _evaluate(info.model_uri, tiny_probe)
    with pytest.raises(CapabilityError, match="needs a model that gives loglikelihood"):
        _evaluate(lambda df: ["advance"] * len(df), tiny_probe)


def test_failure_midway_keeps_what_was_logged(skewed_lm, tiny_probe, monkeypatch):
    """The second probe fails while scoring: the first probe's metrics and a failed scorecard stay."""
    from mlflow_bias.dimensions import lpbs

    probes.freeze(tiny_probe.head(20), "tiny-second", "1.0.0", card="# second\n\ntest")
    real = lpbs.compute
    calls = {"n": 0}

    def flaky(adapter, probe, config):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("scoring crashed")
        return real(adapter, probe, config)

    monkeypatch.setattr(lpbs, "compute", flaky)
    with pytest.raises(RuntimeError, match="scoring crashed"):
        _evaluate(HFCausalLM(*skewed_lm, progress=False), tiny_probe, probes=["tiny-second"])
    run_id = _last_run().info.run_id
    data = MlflowClient().get_run(run_id).data
    assert "bias/lpbs/gender" in data.metrics
    assert data.tags["bias.status"] == "failed"
    assert "scoring crashed" in data.tags["bias.error"]
    scorecard = mlflow.artifacts.load_dict(f"runs:/{run_id}/bias/scorecard.json")
    assert scorecard["status"] == "failed" and len(scorecard["dimensions"]) == 1


def test_transformers_model_by_uri_alias_and_pyfunc_links_logged_model(skewed_lm, tiny_probe):
    model, tok = skewed_lm
    expected = _evaluate(HFCausalLM(model, tok, progress=False), tiny_probe).metrics["bias/lpbs/gender"]
    with mlflow.start_run():
        info = log_causal_lm(model, tok, registered_model_name="tiny-screen")
    client = MlflowClient()
    client.set_registered_model_alias("tiny-screen", "champion", "1")
    for model_arg in ("models:/tiny-screen/1", "models:/tiny-screen@champion", info.model_uri,
                      mlflow.pyfunc.load_model(info.model_uri)):
        got = _evaluate(model_arg, tiny_probe).metrics["bias/lpbs/gender"]
        assert got == pytest.approx(expected, abs=1e-9)
        tags = client.get_run(_last_run().info.run_id).data.tags
        assert tags["bias.model_version"] == "tiny-screen/1"
    logged = client.get_logged_model(info.model_id)
    assert {m.key for m in logged.metrics} >= {"bias/lpbs/gender", "bias/lpbs/gender/ci_low"}


def test_package_evaluate_accepts_names_paths_and_datasets(skewed_lm, tiny_probe, tmp_path):
    tiny_probe.to_parquet(tmp_path / "probe.parquet")
    a = mlflow_bias.evaluate(skewed_lm, tmp_path / "probe.parquet", **FAST).metrics
    b = mlflow_bias.evaluate(skewed_lm, probes.to_dataframe(tmp_path / "probe.parquet"), **FAST).metrics
    import datasets

    c = mlflow_bias.evaluate(skewed_lm, datasets.Dataset.from_pandas(tiny_probe), **FAST).metrics
    assert a["bias/lpbs/gender"] == b["bias/lpbs/gender"] == c["bias/lpbs/gender"]
    assert mlflow.get_run(_last_run().info.run_id).info.status == "FINISHED"


def test_metric_keys_obey_mlflow_rules(skewed_lm, tiny_probe):
    from mlflow.utils.validation import _validate_metric_name

    weird = tiny_probe.assign(template=tiny_probe["template"].map(lambda t: f"tpl=({t}),+"))
    result = _evaluate(HFCausalLM(*skewed_lm, progress=False), weird, slice_columns=["template"])
    for key in result.metrics:
        _validate_metric_name(key)
        assert "=" not in key and "(" not in key and "+" not in key and "," not in key


def test_deprecated_mlflow_evaluate_and_a_pipeline_object_route_to_the_plugin(skewed_lm, tiny_probe):
    from transformers import pipeline

    model, tok = skewed_lm
    expected = _evaluate(HFCausalLM(model, tok, progress=False), tiny_probe).metrics["bias/lpbs/gender"]
    generator = pipeline("text-generation", model=model, tokenizer=tok)
    via_pipeline = _evaluate(generator, tiny_probe).metrics["bias/lpbs/gender"]
    with mlflow.start_run():
        legacy = mlflow.evaluate(model=HFCausalLM(model, tok, progress=False), data=tiny_probe,
                                 model_type="bias", evaluators=["bias"],
                                 evaluator_config={"bias": FAST}).metrics["bias/lpbs/gender"]
    assert via_pipeline == pytest.approx(expected, abs=1e-9)
    assert legacy == pytest.approx(expected, abs=1e-9)


def test_hugging_face_dataset_through_mlflow_data(skewed_lm, tiny_probe):
    import datasets

    probes.freeze(tiny_probe, "tiny-occupations", "1.0.0", card="# tiny\n\ntest probe")
    probe = probes.load("tiny-occupations")
    metrics = _evaluate(HFCausalLM(*skewed_lm, progress=False),
                        mlflow.data.from_huggingface(probe, name="tiny-occupations")).metrics
    expected = _evaluate(HFCausalLM(*skewed_lm, progress=False), probe.to_pandas()).metrics
    assert isinstance(probe, datasets.Dataset)
    assert metrics["bias/lpbs/gender"] == pytest.approx(expected["bias/lpbs/gender"], abs=1e-12)
    tags = MlflowClient().get_run(_last_run().info.run_id).data.tags
    assert tags["bias.probe.tiny-occupations"].startswith("1.0.0@")
