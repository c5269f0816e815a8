"""Known-limitation records on registered model versions: stored as version tags and a JSON
artifact, listed, resolved, validated, and quoted in every gate decision."""

from __future__ import annotations

import json

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

import mlflow_bias.probes as probes
from mlflow_bias.cli import main
from mlflow_bias.core.errors import ConfigError
from mlflow_bias.release.limitations import add_limitation, list_limitations, resolve_limitation
from mlflow_bias.adapters.models import log_causal_lm
from mlflow_bias.promotion.model_registry import gate

FAST = {"bootstrap_samples": 200, "permutation_samples": 500, "progress": False}


@pytest.fixture
def screen(skewed_lm, tiny_probe, tmp_path):
    probes.freeze(tiny_probe, "tiny-occupations", "1.0.0", card="# tiny occupations\n\nTest probe.")
    with mlflow.start_run():
        info = log_causal_lm(*skewed_lm, registered_model_name="screen")
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({
        "name": "test", "version": "1.0.0", "required_dimensions": ["lpbs"],
        "rules": [{"metric": "lpbs", "threshold": 0.10, "direction": "max"}],
        "probes": ["tiny-occupations"], "min_probe_versions": {"tiny-occupations": "1.0.0"}}))
    return info, policy


def test_records_are_stored_listed_resolved_and_quoted_by_the_gate(screen):
    info, policy = screen
    decision = gate("screen", 1, policy, **FAST)  # evaluates v1 first
    lpbs = mlflow.get_run(decision.run_id).data.metrics["bias/lpbs/gender"]
    record = add_limitation("screen", 1, dimension="lpbs", attribute="gender",
                            description="Prefers stereotyped pronouns for occupations.",
                            restricted_uses=["hiring", "performance-review"], owner="ml-platform",
                            review_date="2027-06-30")
    assert record.id == "L1" and record.value == pytest.approx(lpbs) and record.run_id == decision.run_id
    tags = MlflowClient().get_model_version("screen", "1").tags
    assert json.loads(tags["bias.limitation.L1"])["restricted_uses"] == ["hiring", "performance-review"]
    assert tags["bias.limitations"] == "L1"
    artifact = mlflow.artifacts.load_dict(f"runs:/{info.run_id}/bias/limitations/L1.json")
    assert artifact["owner"] == "ml-platform"

    again = gate("screen", 1, policy, **FAST)
    assert any(line.startswith("limitation L1 [open] lpbs/gender = ") for line in again.limitations)
    assert "restricted uses: hiring, performance-review; owner ml-platform" in again.summary()
    assert again.digest == decision.digest  # records are quoted, not evidence

    resolved = resolve_limitation("screen", 1, "L1", "Fixed by v2 (run abc).")
    assert resolved.status == "resolved" and list_limitations("screen", 1) == []
    assert [r.id for r in list_limitations("screen", 1, include_resolved=True)] == ["L1"]
    assert MlflowClient().get_model_version("screen", "1").tags["bias.limitations"] == ""
    assert gate("screen", 1, policy, **FAST).limitations == []


@pytest.mark.parametrize("change, message", [
    ({"dimension": "fairness"}, "Unknown dimension 'fairness'"),
    ({"owner": " "}, "non-empty owner"),
    ({"review_date": "next spring"}, "write it as YYYY-MM-DD"),
    ({"restricted_uses": [""]}, "non-empty names"),
])
def test_bad_records_are_refused(screen, change, message):
    fields = {"dimension": "lpbs", "attribute": "gender", "description": "x", "owner": "me",
              "review_date": "2027-01-01", "restricted_uses": ["hiring"], "value": 0.2, **change}
    with pytest.raises(ConfigError, match=message):
        add_limitation("screen", 1, **fields)


def test_cli_add_list_resolve(screen, capsys):
    assert main(["limitation", "add", "--model", "screen", "--version", "1", "--dimension", "cbs",
                 "--attribute", "race", "--description", "Advances white names more often.",
                 "--restricted-use", "hiring", "--owner", "rai-team", "--review-date", "2020-01-01",
                 "--value", "0.12"]) == 0
    assert "added to screen/1: limitation L1 [open] cbs/race = 0.12" in capsys.readouterr().out
    assert main(["limitation", "list", "--model", "screen", "--version", "1"]) == 0
    assert "review by 2020-01-01 OVERDUE" in capsys.readouterr().out
    assert main(["limitation", "resolve", "--model", "screen", "--version", "1", "--id", "L2",
                 "--resolution", "x"]) == 2
    assert "has no limitation 'L2'; it has: L1" in capsys.readouterr().err
    assert main(["limitation", "resolve", "--model", "screen", "--version", "1", "--id", "L1",
                 "--resolution", "Mitigated in v2."]) == 0
    assert main(["limitation", "list", "--model", "screen", "--version", "1", "--json", "--all"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])[0]["resolution"] == "Mitigated in v2."


def _policy(tmp_path, **changes):
    path = tmp_path / "waiver-policy.yaml"
    path.write_text(yaml.safe_dump({
        "name": "test", "version": "1.0.0", "required_dimensions": ["lpbs"],
        "rules": [{"metric": "lpbs", "threshold": 0.10, "direction": "max"}],
        "probes": ["tiny-occupations"], "min_probe_versions": {"tiny-occupations": "1.0.0"},
        **changes}))
    return path


def test_a_waiver_passes_with_the_record_quoted_and_an_expired_one_blocks(screen, tmp_path):
    import datetime as dt

    from mlflow_bias.promotion.model_registry import PromotionRefused, promote

    waivable = _policy(tmp_path, waivable_dimensions=["lpbs"],
                       alias_use_cases={"hiring-production": "hiring", "support-bot": "customer-support"})
    blocked = gate("screen", 1, waivable, **FAST)
    assert blocked.status == "blocked" and "lpbs" in blocked.reasons[0]
    add_limitation("screen", 1, dimension="lpbs", attribute="gender", description="Known skew.",
                   restricted_uses=["hiring"], owner="rai-team",
                   review_date=(dt.date.today() + dt.timedelta(days=30)).isoformat())
    waived = gate("screen", 1, waivable, **FAST)
    assert waived.status == "passed-with-waiver" and waived.passed and waived.reasons == []
    assert "waived by limitation L1 [open] lpbs/gender" in waived.summary()
    assert MlflowClient().get_model_version("screen", "1").tags["bias.gate"] == "passed-with-waiver"
    promote("screen", 1, "champion", waivable)
    assert str(MlflowClient().get_model_version_by_alias("screen", "champion").version) == "1"
    # the waiver does not open an alias bound to a use case its record restricts
    with pytest.raises(PromotionRefused, match="alias 'hiring-production', which is bound to use "
                                               "case 'hiring': open limitation L1 \\(lpbs/gender"):
        promote("screen", 1, "hiring-production", waivable)
    promote("screen", 1, "support-bot", waivable)

    # the same record under a policy that waives nothing blocks
    strict = gate("screen", 1, _policy(tmp_path / "..", waivable_dimensions=[]), **FAST)
    assert strict.status == "blocked", strict.summary()

    # an expired waiver blocks, and says so
    resolve_limitation("screen", 1, "L1", "superseded")
    add_limitation("screen", 1, dimension="lpbs", attribute="gender", description="Known skew.",
                   restricted_uses=["hiring"], owner="rai-team", review_date="2020-01-01")
    expired = gate("screen", 1, waivable, **FAST)
    assert expired.status == "blocked" and "its waiver L2 expired on 2020-01-01" in expired.reasons[0], expired.summary()
    with pytest.raises(PromotionRefused, match="expired on 2020-01-01"):
        promote("screen", 1, "production", waivable)


def test_waivable_dimensions_need_a_rule():
    from mlflow_bias.release.policy import PolicyError, parse_policy

    with pytest.raises(PolicyError, match="waivable dimension\\(s\\) cbs have no rule"):
        parse_policy({"name": "p", "version": "1.0.0", "waivable_dimensions": ["cbs"],
                      "rules": [{"metric": "lpbs", "threshold": 0.1}]})


def _passing(tmp_path, **changes):
    """A policy under which the skewed v1 passes, with two use-bound aliases."""
    return _policy(tmp_path, rules=[{"metric": "lpbs", "threshold": 1.0, "direction": "max"}],
                   protected_aliases=["champion"],
                   alias_use_cases={"hiring-production": "hiring", "support-bot": "customer-support"},
                   **changes)


def _alias(alias):
    return str(MlflowClient().get_model_version_by_alias("screen", alias).version)


def test_use_bound_alias_is_refused_while_an_open_record_restricts_its_use(screen, tmp_path, capsys):
    from mlflow.exceptions import MlflowException

    from mlflow_bias.promotion.model_registry import PromotionRefused, check_promotion, promote

    policy = _passing(tmp_path)
    assert gate("screen", 1, policy, **FAST).status == "passed"
    add_limitation("screen", 1, dimension="lpbs", attribute="gender",
                   description="Ranks resumes that use she lower.",
                   restricted_uses=["Hiring", "performance-review"], owner="rai-team",
                   review_date="2027-06-30")
    with pytest.raises(PromotionRefused) as refused:
        promote("screen", 1, "hiring-production", policy)
    message = refused.value.message
    assert "screen/1 may not hold alias 'hiring-production', which is bound to use case 'hiring'" in message
    assert "open limitation L1 (lpbs/gender: Ranks resumes that use she lower.) restricts" in message
    assert "mlflow-bias limitation resolve --model screen --version 1 --id L1" in message
    assert "or promote to an alias not bound to 'hiring'" in message
    with pytest.raises(MlflowException):
        MlflowClient().get_model_version_by_alias("screen", "hiring-production")

    assert main(["promote", "--model", "screen", "--version", "1", "--alias", "hiring-production",
                 "--policy", str(policy)]) == 1
    assert "refused: screen/1 may not hold alias 'hiring-production'" in capsys.readouterr().err

    # aliases bound to another use, or to none, are allowed (the record is still quoted)
    promote("screen", 1, "support-bot", policy)
    assert "limitation L1 [open]" in promote("screen", 1, "champion", policy).limitations[0]
    check_promotion("screen", 1, policy)  # without an alias: no use to check
    assert (_alias("support-bot"), _alias("champion")) == ("1", "1")

    resolve_limitation("screen", 1, "L1", "Re-ranked and re-evaluated.")
    assert main(["promote", "--model", "screen", "--version", "1", "--alias", "hiring-production",
                 "--policy", str(policy)]) == 0
    assert _alias("hiring-production") == "1"


def test_use_bound_alias_is_gated_even_when_not_protected(screen, tmp_path):
    from mlflow_bias.promotion.model_registry import PromotionRefused, promote

    policy = _policy(tmp_path, protected_aliases=["champion"], alias_use_cases={"support-bot": "support"})
    assert gate("screen", 1, policy, **FAST).status == "blocked"
    with pytest.raises(PromotionRefused, match="screen/1 is blocked"):
        promote("screen", 1, "support-bot", policy)


def test_unreadable_records_refuse_promotion(screen, tmp_path, capsys):
    from mlflow_bias.promotion.model_registry import PromotionRefused, promote

    policy = _passing(tmp_path)
    gate("screen", 1, policy, **FAST)
    add_limitation("screen", 1, dimension="lpbs", attribute="gender", description="Known skew.",
                   restricted_uses=["hiring"], owner="rai-team", review_date="2027-06-30")
    client = MlflowClient()
    good = client.get_model_version("screen", "1").tags["bias.limitation.L1"]
    record = json.loads(good)
    for broken in ("{edited by hand", json.dumps({**record, "restricted_uses": "hiring"}),
                   json.dumps({**record, "status": "waived"}), json.dumps({**record, "id": "L9"}),
                   json.dumps({k: v for k, v in record.items() if k != "owner"})):
        client.set_model_version_tag("screen", "1", "bias.limitation.L1", broken)
        for alias in ("champion", "support-bot", "hiring-production"):
            with pytest.raises(PromotionRefused, match="known-limitation records could not be read.*"
                                                       "bias.limitation.L1 of screen/1 is not a valid"):
                promote("screen", 1, alias, policy)
    assert main(["limitation", "list", "--model", "screen", "--version", "1"]) == 2
    assert "is not a valid limitation record" in capsys.readouterr().err

    # a record marked resolved by hand while still listed open keeps restricting its use
    client.set_model_version_tag("screen", "1", "bias.limitation.L1", json.dumps({**record, "status": "resolved"}))
    with pytest.raises(PromotionRefused, match="open limitation L1"):
        promote("screen", 1, "hiring-production", policy)
    promote("screen", 1, "support-bot", policy)
    # an open id without a record refuses
    client.set_model_version_tag("screen", "1", "bias.limitations", "L1,L7")
    with pytest.raises(PromotionRefused, match="lists open limitation\\(s\\) L7 .* but has no such record"):
        promote("screen", 1, "hiring-production", policy)
    client.set_model_version_tag("screen", "1", "bias.limitation.L1", good)
    client.set_model_version_tag("screen", "1", "bias.limitations", "L1")
    promote("screen", 1, "champion", policy)


def test_a_waiver_fails_closed_on_an_unreadable_record(screen, tmp_path):
    waivable = _policy(tmp_path, waivable_dimensions=["lpbs"])
    gate("screen", 1, waivable, **FAST)
    add_limitation("screen", 1, dimension="lpbs", attribute="gender", description="Known skew.",
                   restricted_uses=["hiring"], owner="rai-team", review_date="2099-01-01")
    MlflowClient().set_model_version_tag("screen", "1", "bias.limitation.L1", "[]")
    from mlflow_bias.release.gate import decide

    run_id = MlflowClient().get_model_version("screen", "1").tags["bias.gate.run_id"]
    blocked = decide(run_id, waivable, model_version="screen/1")
    assert blocked.status == "blocked" and "not a valid limitation record" in blocked.reasons[0]
