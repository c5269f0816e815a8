"""Malformed input ends in a clear error or a block, never in a pass or a result that looks valid:
policies, evaluator options, probes and models that break, each as a user would get it wrong."""

from __future__ import annotations

import shutil

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

import mlflow_bias
import mlflow_bias.probes as probes
from mlflow_bias.probes.store import user_root
import trust_fixtures as tf
from mlflow_bias.cli import main
from mlflow_bias.core.errors import ConfigError, ModelOutputError, ProbeIntegrityError, ProbeSchemaError
from mlflow_bias.core.errors import ProbeExistsError, TrainingDataError
from mlflow_bias.release.gate import decide
from mlflow_bias.release.policy import PolicyError, load_policy, parse_policy
from mlflow_bias.promotion.model_registry import gate, promote

FAST = {"bootstrap_samples": 100, "permutation_samples": 100, "progress": False}


def _policy(**changes) -> dict:
    return {**tf.POLICY, **changes}


def _sets(n: int = 20, same_id: bool = False) -> pd.DataFrame:
    return pd.DataFrame([{"id": "x" if same_id else f"s{i}-{g}", "set_id": f"s{i}", "attribute": "gender",
                          "group": g, "input": f"Resume: {name}, engineer with {i % 10} years of experience."}
                         for i in range(n) for g, name in (("female", "Emily"), ("male", "Greg"))])


def _last_run():
    return MlflowClient().get_run(mlflow.last_active_run().info.run_id)


# -- 1, 2: policies ---------------------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    ({"rules": [{"metric": "cbz", "threshold": 0.1}]}, "there is no dimension 'cbz'.*Did you mean 'cbs'"),
    ({"rules": [{"metric": "cbs", "threshold": 0.1},
                {"metric": "parity/disparate_impakt", "threshold": 0.8, "direction": "min"}]},
     "rule 2 .*parity logs no 'disparate_impakt'.*Did you mean 'parity/disparate_impact'"),
    ({"rules": [{"metric": "lpbs/noise", "threshold": 0.1}]}, "lpbs logs no 'noise'"),
    ({"protected_aliases": "champion"}, "protected_aliases = 'champion': expected a list"),
    ({"allow_unregistered_probes": "false"}, "allow_unregistered_probes = 'false': expected true or false"),
    ({"required_dimensions": "cbs"}, "required_dimensions = 'cbs': expected a list"),
    ({"required_dimensions": ["cbz"]}, "required_dimensions: 'cbz' is not a dimension"),
    ({"version": 1.0}, "version = 1.0: expected text; quote it in YAML"),
    ({"max_evaluation_age_days": "30"}, "max_evaluation_age_days = '30': expected a number"),
    ({"max_unparsed_rate": 1.5}, "max_unparsed_rate = 1.5: expected less than or equal to 1"),
    ({"rules": [{"metric": "cbs", "threshold": float("nan")}]}, r"rule 1 \(threshold\) = nan: expected a finite number"),
    ({"rules": [{"metric": "cbs", "threshold": True}]}, r"rule 1 \(threshold\) = True: expected a number"),
    ({"protected_aliases": ["champion", "prod uction"]}, "'prod uction' is not a valid MLflow alias"),
    ({"drift_tolerance": {"lpbz": 0.03}}, "drift_tolerance: 'lpbz' is not a dimension"),
])
def test_malformed_policies_are_refused_naming_key_value_and_fix(change, message, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(_policy(**change)))
    with pytest.raises(PolicyError, match=f"Invalid policy {path}: .*{message}"):
        load_policy(path)


def test_a_policy_typo_refuses_promotion_instead_of_passing(tmp_path):
    """Before, the rule on `cbz` was never matched and the gate passed on the rest."""
    tf.freeze_probe()
    tf.register_screens()
    good = tf.write_policy(tmp_path / "good.yaml")
    tf.evaluate(2, good)
    assert gate("screen", 2, good, evaluate_if_missing=False).status == "blocked"  # CBS 0.4
    typo = tf.write_policy(tmp_path / "typo.yaml", rules=[{"metric": "cbz", "threshold": 0.1}],
                           required_dimensions=[])
    with pytest.raises(PolicyError, match="no dimension 'cbz'"):
        gate("screen", 2, typo, evaluate_if_missing=False)
    with pytest.raises(PolicyError):
        promote("screen", 2, "champion", typo)
    assert main(["promote", "--model", "screen", "--version", "2", "--policy", str(typo)]) == 2
    assert MlflowClient().get_registered_model("screen").aliases == {}


# -- 3: overlapping categories and unreadable outputs ---------------------------------------------
def test_overlapping_categories_are_reported_and_unreadable_outputs_block(tmp_path):
    tf.freeze_probe()
    tf.register_screens()
    policy = tf.write_policy(tmp_path / "policy.yaml")
    overlapping = {"advance": ["advance", "recommendation"], "reject": ["reject"]}
    mlflow_bias.evaluate(lambda df: [f"Recommendation: {x}" for x in tf.Screen(True).predict(None, df)],
                         tf.PROBE, policy=str(policy), categories=overlapping, model_version="screen/2", **FAST)
    run = _last_run()
    rate = run.data.metrics["bias/cbs/gender/unparsed_rate"]
    answers = tf.Screen(True).predict(None, tf.probe_frame())  # every REJECT matches both categories
    assert rate == pytest.approx(sum(a == "REJECT" for a in answers) / len(answers))
    assert rate > 0.05
    scorecard = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/bias/scorecard.json")
    assert any("categories 'advance' and 'reject' all match" in w and "Recommendation: REJECT" in w
               for w in scorecard["warnings"]), scorecard["warnings"]
    decision = decide(run.info.run_id, policy, model_version="screen/2")
    assert decision.status == "blocked"
    assert any(f"bias/cbs/gender/unparsed_rate = {rate:.3f} > max_unparsed_rate 0.05" in r
               for r in decision.reasons), decision.reasons
    # a policy that tolerates unreadable outputs says so explicitly
    lenient = parse_policy(_policy(max_unparsed_rate=1.0, rules=[{"metric": "cbs", "threshold": 1.0}]))
    assert not any("max_unparsed_rate" in r for r in decide(run.info.run_id, lenient).reasons)


# -- 4, 5, 8: probes -------------------------------------------------------------------------------
def test_probe_contracts_that_used_to_pass_silently():
    with pytest.raises(ProbeSchemaError, match="duplicate ids: x"):
        probes.validate(_sets(5, same_id=True))
    with pytest.raises(ProbeSchemaError, match="duplicate ids"):
        mlflow_bias.evaluate(lambda df: ["ADVANCE"] * len(df), _sets(5, same_id=True), **FAST)

    decisions = pd.DataFrame([{"id": f"d{i}", "attribute": "gender", "group": g, "set_id": f"s{i // 2}",
                               "input": f"Applicant {i}", "label": (i // 2) % 2}
                              for i, g in enumerate(["female", "male"] * 20)])
    with pytest.raises(ProbeSchemaError, match="fit more than one probe kind: counterfactual_sets, decisions"):
        probes.validate(decisions)
    with pytest.raises(ProbeSchemaError, match="probe_kind"):
        mlflow_bias.evaluate(lambda df: [1] * len(df), decisions, **FAST)
    metrics = mlflow_bias.evaluate(lambda df: [1] * len(df), decisions, probe_kind="decisions", **FAST).metrics
    assert metrics["bias/parity/gender/disparate_impact"] == 1.0
    assert not any(k.startswith("bias/cbs") for k in metrics)


def test_a_dimension_filter_that_selects_nothing_is_an_error_tagged_on_the_run():
    with pytest.raises(ConfigError, match=r"dimensions=\['lpbs'\] selects none of the probes: user is scored by cbs"):
        mlflow_bias.evaluate(lambda df: ["ADVANCE"] * len(df), _sets(), dimensions=["lpbs"], **FAST)
    tags = _last_run().data.tags
    assert tags["bias.status"] == "failed" and "selects none of the probes" in tags["bias.error"]


def test_a_user_probe_may_not_take_a_shipped_name(capsys):
    shipped = probes.resolve("hiring-summary", "1.0.0")
    with pytest.raises(ProbeExistsError, match="'hiring-summary' is the name of a shipped probe"):
        probes.freeze(probes.load("hiring-summary", "1.0.0").to_pandas(), "hiring-summary", "9.0.0",
                      card="# mine\n\nA copy.")
    # a copy made by hand in the user store is refused, and `probes list` says so
    copy = user_root() / "hiring-summary" / "1.0.0"
    shutil.copytree(shipped.path, copy)
    with pytest.raises(ProbeIntegrityError, match="Probe hiring-summary is ambiguous: hiring-summary@1.0.0 is in"):
        probes.load("hiring-summary", "1.0.0")
    assert main(["probes", "list"]) == 1
    assert f"hiring-summary@1.0.0 is in {shipped.path} and in {copy}" in capsys.readouterr().err


# -- 7: training data ------------------------------------------------------------------------------
def test_a_text_column_without_text_is_not_replaced_by_another(tmp_path, capsys):
    frame = pd.DataFrame({"text": [1, 2, 3, 4], "notes": ["she is a nurse", "he is a pilot", "she", "he"]})
    frame.to_csv(tmp_path / "train.csv", index=False)
    from mlflow_bias.data_audit.representation import audit_representation

    with pytest.raises(TrainingDataError, match="'text' column does not hold text"):
        audit_representation(frame, progress=False)
    with pytest.raises(TrainingDataError, match="Column 'text' does not hold text"):
        audit_representation(frame, text_column="text", progress=False)
    assert main(["audit-data", str(tmp_path / "train.csv"), "--no-progress"]) == 2
    assert "'text' column does not hold text" in capsys.readouterr().err
    assert audit_representation(frame, text_column="notes", progress=False).metrics()


# -- 9, 11: evaluator options and CLI ---------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    ({"batch_size": 2.7}, "batch_size = 2.7: expected a whole number"),
    ({"progress": "no"}, "progress = 'no': expected true or false"),
    ({"confidence": None}, "confidence = None: expected a number between 0 and 1"),
    ({"confidence": "high"}, "confidence = 'high': expected a number between 0 and 1"),
    ({"categories": ["advance", "reject"]}, "categories = \\['advance', 'reject'\\]: expected a mapping"),
    ({"decision_labels": ["yes", "no"]}, "decision_labels = \\['yes', 'no'\\]: expected a mapping"),
    ({"categories": {"advance": ["(advance"], "reject": ["reject"]}}, "categories.advance pattern '\\(advance' is not a valid regular expression"),
    ({"categories": {"advance": "advance", "reject": ["reject"]}}, "categories.advance = 'advance': expected a list"),
    ({"dimensions": ["cbz"]}, "dimensions \\[.cbz.\\]: no such dimension"),
])
def test_malformed_options_are_refused_and_tagged_on_the_run(options, message):
    with pytest.raises(ConfigError, match=f"Invalid evaluator_config for 'bias': {message}"):
        mlflow_bias.evaluate(lambda df: ["ADVANCE"] * len(df), _sets(), **{**FAST, **options})
    tags = _last_run().data.tags
    assert tags["bias.status"] == "failed" and "Invalid evaluator_config" in tags["bias.error"]


def test_cli_mistakes_get_messages_not_tracebacks(tmp_path, capsys):
    _sets().to_csv(tmp_path / "sets.csv", index=False)
    assert main(["probes", "freeze", str(tmp_path / "sets.csv"), "--name", "mine", "--version", "1.0.0",
                 "--card", str(tmp_path / "missing.md")]) == 2
    err = capsys.readouterr().err
    assert f"--card {tmp_path / 'missing.md'}: no such file" in err and "Traceback" not in err
    assert main(["evaluate", "--model", "minilm", "--probe", "association-tests",
                 "--config", '{"confidence": null}']) == 2
    assert "confidence = None: expected a number between 0 and 1" in capsys.readouterr().err


# -- 10, 12: broken models -------------------------------------------------------------------------
def test_a_model_that_raises_or_returns_nothing_is_told_so_with_its_errors():
    def broken(df):
        raise RuntimeError("CUDA out of memory at layer 7")

    with pytest.raises(ModelOutputError, match="cbs: the model raised on all 40 inputs.*CUDA out of memory at layer 7"):
        mlflow_bias.evaluate(broken, _sets(), **FAST)
    run = _last_run()
    assert run.data.tags["bias.status"] == "failed" and "CUDA out of memory" in run.data.tags["bias.error"]
    items = mlflow.load_table("bias/cbs/items.json", run_ids=[run.info.run_id])
    assert len(items) == 40 and items["error"].str.contains("CUDA out of memory").all()

    with pytest.raises(ModelOutputError, match="cbs: the model returned no output \\(None\\) for any of the 40 inputs"):
        mlflow_bias.evaluate(lambda df: [None] * len(df), _sets(), **FAST)
    assert "items.json" in str([a.path for a in MlflowClient().list_artifacts(_last_run().info.run_id, "bias/cbs")])


def test_a_probe_error_before_any_tag_still_tags_the_run():
    with pytest.raises(ProbeSchemaError):
        with mlflow.start_run() as run:
            mlflow.models.evaluate(model=lambda df: ["ADVANCE"] * len(df), data=_sets().drop(columns="group"),
                                   model_type="bias", evaluators=["bias"], evaluator_config={"bias": FAST})
    tags = MlflowClient().get_run(run.info.run_id).data.tags
    assert tags["bias.status"] == "failed" and "matches no known probe kind" in tags["bias.error"]
