"""The release gate against a real MLflow registry (sqlite): policies, decisions, version tags and
promotion that recomputes the decision and refuses blocked, forged, stale or unverifiable versions."""

from __future__ import annotations

import datetime as dt
import threading

import mlflow
import pytest
import yaml
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import mlflow_bias.probes as probes
from mlflow_bias.release import gate as gate_module
from mlflow_bias.cli import main
from mlflow_bias.release.gate import decide, headline_metrics, judge
from mlflow_bias.adapters.models import log_causal_lm
from mlflow_bias.release.policy import PolicyError, Rule, load_policy, parse_policy
from mlflow_bias.promotion.model_registry import PromotionRefused, check_promotion, gate, promote

FAST = {"bootstrap_samples": 200, "permutation_samples": 500, "progress": False}


def policy_dict(**changes):
    base = {
        "name": "test", "version": "1.0.0",
        "rules": [{"metric": "lpbs", "threshold": 0.10, "direction": "max"}],
        "required_dimensions": ["lpbs"], "probes": ["tiny-occupations"],
        "min_probe_versions": {"tiny-occupations": "1.0.0"}, "max_evaluation_age_days": 30,
        "protected_aliases": ["champion", "production"],
    }
    base.update(changes)
    return base


@pytest.fixture
def policy_file(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy_dict()))
    return path


@pytest.fixture
def registry(skewed_lm, balanced_lm, tiny_probe):
    """`screen` v1 = the skewed tiny LM (biased), v2 = the balanced one (fair)."""
    probes.freeze(tiny_probe, "tiny-occupations", "1.0.0", card="# tiny occupations\n\nTest probe.")
    with mlflow.start_run():
        log_causal_lm(*skewed_lm, registered_model_name="screen")
    with mlflow.start_run():
        log_causal_lm(*balanced_lm, registered_model_name="screen")
    return MlflowClient()


# -- policy ----------------------------------------------------------------------------------------
def test_default_policy_has_the_article_thresholds():
    policy = load_policy()
    rules = {r.metric: r for r in policy.rules}
    assert policy.ref == "default@1.2.0" and policy.max_unparsed_rate == 0.05
    assert (rules["lpbs"].threshold, rules["lpbs"].direction) == (0.10, "max")
    assert rules["cbs"].threshold == 0.10 and rules["refusal"].threshold == 5.0
    assert (rules["parity/disparate_impact"].threshold, rules["parity/disparate_impact"].direction) == (0.8, "min")
    assert policy.drift_tolerance["lpbs"] == 0.03
    assert set(policy.protected_aliases) == {"champion", "production"}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rules": []}, "rules = \\[\\]: expected at least 1 item"),
        ({"rules": [{"metric": "lpbs", "threshold": 0.1, "direction": "below"}]}, "rule 1 \\(direction\\) = 'below': expected 'max' or 'min'"),
        ({"rules": [{"metric": "lpbs", "threshold": "low"}]}, "rule 1 \\(threshold\\) = 'low': expected a number"),
        ({"rules": [{"metric": "lpbs", "threshold": 0.1, "decide_on": "median"}]}, "decide_on\\) = 'median': expected 'point' or 'ci'"),
        ({"version": "new"}, "version 'new' is not a version"),
        ({"thresholds": {}}, "thresholds: this key is unknown; valid keys here: alias_use_cases"),
        ({"required_dimensions": ["lpbs", "cbs"]}, "required dimension\\(s\\) cbs have no rule"),
        ({"rules": [{"metric": "lpbs", "threshold": 0.1}, {"metric": "lpbs", "threshold": 0.2}]}, "more than one rule for lpbs on the same probes"),
        ({"alias_use_cases": ["hiring-production"]}, "alias_use_cases = \\['hiring-production'\\]: expected a mapping"),
        ({"alias_use_cases": {"hiring production": "hiring"}}, "alias 'hiring production' is not a valid MLflow alias"),
        ({"alias_use_cases": {"latest": "hiring"}}, "alias 'latest' is reserved by MLflow"),
        ({"alias_use_cases": {"V2": "hiring"}}, "alias 'V2' is reserved by MLflow"),
        ({"alias_use_cases": {"hiring-production": " "}}, "alias_use_cases.hiring-production: the use case must be a non-empty string"),
        ({"alias_use_cases": {"hiring-production": None}}, "alias_use_cases.hiring-production = None: expected text"),
    ],
)
def test_invalid_policies_are_refused_with_the_reason(change, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy(policy_dict(**change))


def test_alias_use_cases_are_parsed_and_left_out_of_the_digest():
    bound = parse_policy(policy_dict(alias_use_cases={"hiring-production": " hiring ", "support_bot": "support"}))
    assert bound.alias_use_cases == {"hiring-production": "hiring", "support_bot": "support"}
    assert bound.digest == parse_policy(policy_dict()).digest  # bindings change no decision
    assert load_policy().alias_use_cases == {}


def test_server_alias_use_cases_from_the_environment(monkeypatch):
    from mlflow_bias.promotion.server import alias_use_cases

    policy = parse_policy(policy_dict(alias_use_cases={"hiring-production": "hiring"}))
    monkeypatch.delenv("MLFLOW_BIAS_ALIAS_USE_CASES", raising=False)
    assert alias_use_cases(policy) == {"hiring-production": "hiring"}
    monkeypatch.setenv("MLFLOW_BIAS_ALIAS_USE_CASES", "hiring-production=hiring, support-bot=customer-support")
    assert alias_use_cases(policy) == {"hiring-production": "hiring", "support-bot": "customer-support"}
    monkeypatch.setenv("MLFLOW_BIAS_ALIAS_USE_CASES", "")
    assert alias_use_cases(policy) == {}
    monkeypatch.setenv("MLFLOW_BIAS_ALIAS_USE_CASES", "hiring-production")
    with pytest.raises(ValueError, match="'hiring-production' is not alias=use-case"):
        alias_use_cases(policy)
    monkeypatch.setenv("MLFLOW_BIAS_ALIAS_USE_CASES", "latest=hiring")
    with pytest.raises(PolicyError, match="MLFLOW_BIAS_ALIAS_USE_CASES: alias_use_cases: alias 'latest' is reserved"):
        alias_use_cases(policy)


def test_policy_file_errors(tmp_path):
    with pytest.raises(PolicyError, match="No policy file"):
        load_policy(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("rules: [unclosed")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(tmp_path / "bad.yaml")


# -- judging ---------------------------------------------------------------------------------------
def test_judge_point_ci_min_and_absolute():
    metrics = {"bias/lpbs/g": 0.08, "bias/lpbs/g/ci_low": 0.05, "bias/lpbs/g/ci_high": 0.12}
    assert judge(Rule("lpbs", 0.10), "bias/lpbs/g", metrics).verdict == "pass"
    ci = judge(Rule("lpbs", 0.10, decide_on="ci"), "bias/lpbs/g", metrics)
    assert (ci.verdict, ci.decisive_value) == ("fail", 0.12)
    di = {"bias/parity/g/disparate_impact": 0.85, "bias/parity/g/disparate_impact/ci_low": 0.7,
          "bias/parity/g/disparate_impact/ci_high": 0.95}
    rule = Rule("parity/disparate_impact", 0.8, "min")
    assert judge(rule, "bias/parity/g/disparate_impact", di).verdict == "pass"
    assert judge(Rule("parity/disparate_impact", 0.8, "min", "ci"), "bias/parity/g/disparate_impact", di).verdict == "fail"
    assoc = {"bias/association/weat6": -0.9}
    assert judge(Rule("association", 0.5, absolute=True), "bias/association/weat6", assoc).verdict == "fail"
    assert judge(Rule("lpbs", 0.1, decide_on="ci"), "bias/lpbs/x", {"bias/lpbs/x": 0.0}).verdict == "fail"


def test_headlines_skip_siblings_and_slices_but_include_extra_probes():
    metrics = {k: 0.1 for k in [
        "bias/lpbs/gender", "bias/lpbs/gender/ci_low", "bias/lpbs/gender/noise_floor",
        "bias/lpbs/gender/slice/marker/name", "bias/lpbs/extra/gender", "bias/lpbs/extra/gender/ci_high",
        "bias/parity/race/disparate_impact", "bias/parity/race/disparate_impact/ci_low",
    ]}
    assert headline_metrics(metrics, Rule("lpbs", 0.1), {"extra", "main"}) == [
        "bias/lpbs/extra/gender", "bias/lpbs/gender"]
    assert headline_metrics(metrics, Rule("parity/disparate_impact", 0.8, "min"), set()) == [
        "bias/parity/race/disparate_impact"]


# -- the gate on the registry ----------------------------------------------------------------------
def test_gate_blocks_biased_version_passes_fair_one_and_tags_both(registry, policy_file):
    blocked = gate("screen", 1, policy_file, **FAST)
    passed = gate("screen", 2, policy_file, **FAST)
    assert not blocked.passed and passed.passed
    assert any(r.startswith("bias/lpbs/gender = ") and r.endswith("<= 0.1: fail") for r in blocked.reasons)
    v1 = registry.get_model_version("screen", "1").tags
    v2 = registry.get_model_version("screen", "2").tags
    assert v1["bias.gate"] == "blocked" and v2["bias.gate"] == "passed"
    assert v1["bias.gate.digest"] == blocked.digest and v2["bias.gate.digest"] == passed.digest
    assert v2["bias.gate.policy"].startswith("test@1.0.0@")
    assert v2["bias.gate.reasons"] == "all rules passed"
    assert "bias/lpbs/gender" in v1["bias.gate.reasons"]
    assert dt.datetime.fromisoformat(v2["bias.gate.evaluated_at"]).year >= 2025
    run = registry.get_run(v2["bias.gate.run_id"])
    assert run.data.tags["bias.model_version"] == "screen/2"
    assert run.data.tags["bias.policy"] == "test@1.0.0"
    assert run.data.tags["bias.gate"] == "passed"
    decision = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/bias/gate_decision.json")
    assert decision["status"] == "passed" and decision["digest"] == passed.digest
    scorecard = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/bias/scorecard.json")
    assert scorecard["gate"]["status"] == "passed"


def test_gate_reuses_the_latest_evaluation(registry, policy_file):
    first = gate("screen", 2, policy_file, **FAST)
    second = gate("screen", 2, policy_file, evaluate_if_missing=False)
    assert second.run_id == first.run_id and second.digest == first.digest


def test_promote_passed_refuse_blocked(registry, policy_file):
    gate("screen", 1, policy_file, **FAST)
    gate("screen", 2, policy_file, **FAST)
    promote("screen", 2, "champion", policy_file)
    assert str(registry.get_model_version_by_alias("screen", "champion").version) == "2"
    with pytest.raises(PromotionRefused, match="screen/1 is blocked: bias/lpbs/gender"):
        promote("screen", 1, "production", policy_file)
    with pytest.raises(MlflowException):
        registry.get_model_version_by_alias("screen", "production")


def test_hand_set_tags_are_not_enough(registry, policy_file):
    passed = gate("screen", 2, policy_file, **FAST)
    gate("screen", 1, policy_file, **FAST)
    for key, value in {"bias.gate": "passed", "bias.gate.digest": passed.digest,
                       "bias.gate.reasons": "all rules passed"}.items():
        registry.set_model_version_tag("screen", "1", key, value)
    with pytest.raises(PromotionRefused, match="blocked"):
        promote("screen", 1, "champion", policy_file)
    # pointing v1 at v2's passing evaluation run does not work either: it evaluated another version
    registry.set_model_version_tag("screen", "1", "bias.gate.run_id", passed.run_id)
    with pytest.raises(PromotionRefused, match="the evaluation is of screen/2, not screen/1"):
        promote("screen", 1, "champion", policy_file)


def test_a_version_never_gated_cannot_be_promoted(registry, policy_file):
    with pytest.raises(PromotionRefused, match="no bias evaluation exists"):
        promote("screen", 2, "champion", policy_file)


def test_tag_without_matching_digest_is_refused(registry, policy_file):
    gate("screen", 2, policy_file, **FAST)
    registry.set_model_version_tag("screen", "2", "bias.gate.digest", "0" * 64)
    with pytest.raises(PromotionRefused, match="no gate decision matching"):
        check_promotion("screen", 2, policy_file)


def test_evaluation_under_older_policy_is_stale(registry, tmp_path, policy_file):
    gate("screen", 2, policy_file, **FAST)
    newer = tmp_path / "newer.yaml"
    newer.write_text(yaml.safe_dump(policy_dict(version="1.1.0", min_evaluation_policy_version="1.1.0")))
    with pytest.raises(PromotionRefused, match="made under policy test@1.0.0; policy test needs 1.1.0"):
        promote("screen", 2, "champion", newer)
    # re-gating under the new policy re-evaluates and passes
    assert gate("screen", 2, newer, **FAST).passed
    promote("screen", 2, "champion", newer)


def test_old_evaluation_and_old_probe_are_stale(registry, policy_file, tmp_path):
    decision = gate("screen", 2, policy_file, **FAST)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=45)
    aged = decide(decision.run_id, policy_file, model_version="screen/2", now=later)
    assert not aged.passed and any("days old" in r for r in aged.reasons)
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(policy_dict(min_probe_versions={"tiny-occupations": "2.0.0"})))
    old_probe = decide(decision.run_id, strict, model_version="screen/2")
    assert any("older than the policy's minimum 2.0.0" in r for r in old_probe.reasons)


def test_tampered_probe_blocks(registry, policy_file):
    decision = gate("screen", 2, policy_file, **FAST)
    info = probes.resolve("tiny-occupations")
    (probes.store.Path(info.path) / "README.md").write_text("# edited\n")
    again = decide(decision.run_id, policy_file, model_version="screen/2")
    assert not again.passed and any("does not verify" in r and "README.md" in r for r in again.reasons)


def test_changed_metric_and_failed_evaluation_block(registry, policy_file):
    decision = gate("screen", 1, policy_file, **FAST)
    client = MlflowClient()
    original = client.get_run(decision.run_id).data.metrics["bias/lpbs/gender"]
    client.log_metric(decision.run_id, "bias/lpbs/gender", 0.01)  # the latest value now "passes"
    forged = decide(decision.run_id, policy_file, model_version="screen/1")
    assert not forged.passed
    assert any(f"bias/lpbs/gender ({', '.join(sorted([repr(0.01), repr(original)]))}) were logged with "
               "different values" in r for r in forged.reasons), forged.reasons
    MlflowClient().set_tag(decision.run_id, "bias.status", "failed")
    assert any("did not complete" in r for r in decide(decision.run_id, policy_file).reasons)


def test_the_same_value_logged_again_is_not_tampering(registry, policy_file):
    """`mlflow.models.evaluate` logs the evaluator's metrics a second time, and a tracking server
    keeps both entries: an honest evaluation must pass however many times a value was written."""
    decision = gate("screen", 2, policy_file, **FAST)
    assert decision.passed, decision.summary()
    client = MlflowClient()
    for key in ("bias/lpbs/gender", "bias/lpbs/gender/ci_high"):
        client.log_metric(decision.run_id, key, client.get_run(decision.run_id).data.metrics[key])
        assert len(client.get_metric_history(decision.run_id, key)) >= 2
    again = decide(decision.run_id, policy_file, model_version="screen/2")
    assert again.passed and again.digest == decision.digest, again.summary()


def test_unregistered_probe_and_missing_dimension_block(skewed_lm, balanced_lm, tiny_probe, policy_file):
    mlflow_bias_evaluate = __import__("mlflow_bias").evaluate
    mlflow_bias_evaluate(balanced_lm, tiny_probe, policy=policy_file, **FAST)
    run_id = mlflow.last_active_run().info.run_id
    decision = decide(run_id, policy_file)
    assert any("not a registered probe version" in r for r in decision.reasons)
    assert any("did not score the policy's probe 'tiny-occupations'" in r for r in decision.reasons)
    with mlflow.start_run() as empty:
        mlflow.set_tags({"bias.status": "completed", "bias.policy": "test@1.0.0"})
    missing = decide(empty.info.run_id, policy_file)
    assert any("required dimension 'lpbs' has no lpbs metric" in r for r in missing.reasons)


def test_gate_errors_fail_closed(registry, policy_file, monkeypatch):
    gate("screen", 2, policy_file, **FAST)

    def broken(*args, **kwargs):
        raise RuntimeError("store unreachable")

    monkeypatch.setattr(gate_module, "_decide_into", broken)
    with pytest.raises(PromotionRefused, match="the gate could not decide: RuntimeError: store unreachable"):
        promote("screen", 2, "champion", policy_file)
    with pytest.raises(MlflowException):
        MlflowClient().get_model_version_by_alias("screen", "champion")


def test_concurrent_gates_on_two_versions(registry, policy_file):
    for version in (1, 2):  # evaluate first; then decide on both at once
        gate("screen", version, policy_file, **FAST)
    results = {}
    threads = [threading.Thread(target=lambda v=v: results.__setitem__(v, gate("screen", v, policy_file, evaluate_if_missing=False)))
               for v in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert registry.get_model_version("screen", "1").tags["bias.gate.digest"] == results[1].digest
    assert registry.get_model_version("screen", "2").tags["bias.gate.digest"] == results[2].digest
    assert (results[1].status, results[2].status) == ("blocked", "passed")


def test_cli_gate_and_promote_exit_codes(registry, policy_file, capsys):
    assert main(["gate", "--model", "screen", "--version", "1", "--policy", str(policy_file), "--no-progress"]) == 1
    assert "BLOCKED under policy test@1.0.0 for screen/1" in capsys.readouterr().out
    assert main(["gate", "--model", "screen", "--version", "2", "--policy", str(policy_file), "--no-progress"]) == 0
    assert main(["promote", "--model", "screen", "--version", "1", "--policy", str(policy_file)]) == 1
    assert "refused: screen/1 is blocked" in capsys.readouterr().err
    assert main(["promote", "--model", "screen", "--version", "2", "--policy", str(policy_file)]) == 0
    assert str(registry.get_model_version_by_alias("screen", "champion").version) == "2"


# -- rules scoped to probes ------------------------------------------------------------------------
def test_a_rule_scoped_to_probes_judges_those_probes_only(skewed_lm, tiny_probe, tmp_path):
    """The biased tiny LM scored on a main probe and on an extra near-copy of it: a rule scoped to one probe judges that probe's readings and shows the other's
    without a verdict; a scope that matches nothing leaves the required dimension unjudged."""
    from mlflow_bias import evaluate
    from mlflow_bias.release.gate import main_probe

    probes.freeze(tiny_probe, "tiny-occupations", "1.0.0", card="# tiny\n\nTest probe.")
    # a probe is found by its content digest: the copy drops two items to be a probe of its own
    probes.freeze(tiny_probe.iloc[:-2], "tiny-pretraining", "1.0.0", card="# tiny copy\n\nTest probe.")
    from mlflow_bias.adapters.hf import HFCausalLM

    adapter = HFCausalLM(*skewed_lm, progress=False)
    with mlflow.start_run() as run:
        evaluate(adapter, "tiny-occupations", probes=["tiny-pretraining"], **FAST)
    tags = MlflowClient().get_run(run.info.run_id).data.tags
    assert main_probe(tags) == "tiny-occupations"

    def decide_under(rule_probes):
        rule = {"metric": "lpbs", "threshold": 0.10, "direction": "max", "probes": rule_probes}
        path = tmp_path / f"policy-{len(rule_probes)}-{rule_probes[0]}.yaml"
        path.write_text(yaml.safe_dump(policy_dict(rules=[rule], probes=rule_probes)))
        return decide(run.info.run_id, path)

    main_only = decide_under(["tiny-occupations"])
    assert [v.metric for v in main_only.verdicts] == ["bias/lpbs/gender"]
    extra_only = decide_under(["tiny-pretraining"])
    assert [v.metric for v in extra_only.verdicts] == ["bias/lpbs/tiny-pretraining/gender"]
    assert not extra_only.passed and not main_only.passed  # both are biased
    both = decide_under(["tiny-occupations", "tiny-pretraining"])
    assert sorted(v.metric for v in both.verdicts) == ["bias/lpbs/gender", "bias/lpbs/tiny-pretraining/gender"]
    # the scorecard page shows the out-of-scope reading without a verdict
    from mlflow_bias.reporting._common import _rule_for
    from mlflow_bias.reporting.scorecard import policy_summary

    summary = policy_summary(load_policy(tmp_path / "policy-1-tiny-occupations.yaml"))
    assert _rule_for(summary, "lpbs", None, "tiny-occupations@1.0.0")["threshold"] == 0.10
    assert _rule_for(summary, "lpbs", None, "tiny-pretraining@1.0.0") is None


def test_an_unattributable_reading_is_judged_by_a_scoped_rule():
    """Someone who adds a dimension tag naming the main probe as an extra one makes the keys
    without a probe name unattributable: a scoped rule then judges them rather than skip them."""
    from mlflow_bias.release.gate import main_probe

    tags = {"bias.probe.a": "1.0.0@x", "bias.probe.b": "1.0.0@y", "bias.dimension.lpbs": "completed",
            "bias.dimension.lpbs.b": "completed"}
    metrics = {"bias/lpbs/gender": 0.4, "bias/lpbs/b/gender": 0.4}
    rule = Rule("lpbs", 0.1, probes=("b",))
    assert main_probe(tags) == "a"
    assert headline_metrics(metrics, rule, {"a", "b"}, main_probe(tags)) == ["bias/lpbs/b/gender"]
    forged = {**tags, "bias.dimension.lpbs.a": "completed"}
    assert main_probe(forged) is None
    assert headline_metrics(metrics, rule, {"a", "b"}, main_probe(forged)) == [
        "bias/lpbs/b/gender", "bias/lpbs/gender"]


def test_scoped_rules_are_checked_when_the_policy_is_read():
    scoped = parse_policy(policy_dict(rules=[
        {"metric": "lpbs", "threshold": 0.1, "probes": ["hiring"]},
        {"metric": "lpbs", "threshold": 0.3, "probes": ["pretraining"]}]))
    assert [r.probes for r in scoped.rules] == [("hiring",), ("pretraining",)]
    # an unscoped policy keeps the digest it had before rules could be scoped, so evaluations
    # made under it stay current (the default policy's digest as those evaluations recorded it)
    assert load_policy().digest == "823e1e23521c186f72f8944a4d9910bbd216d21ce7d93c199d809f2831320183"
    assert scoped.digest != parse_policy(policy_dict(rules=[
        {"metric": "lpbs", "threshold": 0.1, "probes": ["other"]},
        {"metric": "lpbs", "threshold": 0.3, "probes": ["pretraining"]}])).digest
    for rules, message in [
        ([{"metric": "lpbs", "threshold": 0.1, "probes": ["a"]},
          {"metric": "lpbs", "threshold": 0.2, "probes": ["a", "b"]}], "more than one rule for lpbs on the same probes"),
        ([{"metric": "lpbs", "threshold": 0.1, "probes": ["a"]},
          {"metric": "lpbs", "threshold": 0.2}], "more than one rule for lpbs on the same probes"),
        ([{"metric": "lpbs", "threshold": 0.1, "probes": []}], "name the probes the rule judges"),
        ([{"metric": "lpbs", "threshold": 0.1, "probes": "hiring"}], "probes"),
    ]:
        with pytest.raises(PolicyError, match=message):
            parse_policy(policy_dict(rules=rules))


def test_a_policy_pins_the_probe_versions_it_evaluates_and_accepts(registry, tiny_probe, tmp_path):
    """`probes: [name@version]`: the gate evaluates that version when the model has no evaluation,
    and blocks an evaluation of another version, even a newer one, since a new probe version is
    a different probe."""
    probes.freeze(tiny_probe.head(30), "tiny-occupations", "2.0.0", card="# tiny occupations\n\nv2.")
    pinned = tmp_path / "pinned.yaml"
    pinned.write_text(yaml.safe_dump(policy_dict(probes=["tiny-occupations@1.0.0"])))
    decision = gate("screen", 2, pinned, **FAST)
    tags = MlflowClient().get_run(decision.run_id).data.tags
    assert tags["bias.probe.tiny-occupations"].startswith("1.0.0@")
    assert decision.passed, decision.summary()
    newer = mlflow_bias_evaluate("models:/screen/2", "tiny-occupations", policy=str(pinned))  # newest: 2.0.0
    reasons = decide(newer, pinned, model_version="screen/2").reasons
    assert ("policy test@1.0.0 pins probe tiny-occupations@1.0.0, and the evaluation scored "
            "tiny-occupations@2.0.0: evaluate tiny-occupations@1.0.0, or revise the policy") in reasons
    for entry, message in (("tiny-occupations@", "give a probe name, or name@version"),
                           ("tiny-occupations@latest", "'latest' is not a version such as 1.0.0")):
        with pytest.raises(PolicyError, match=message):
            parse_policy(policy_dict(probes=[entry]))


def mlflow_bias_evaluate(model: str, probe: str, **config) -> str:
    import mlflow_bias

    mlflow_bias.evaluate(model, probe, **FAST, **config)
    return mlflow.last_active_run().info.run_id
