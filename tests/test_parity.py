"""Decision metrics (statistical parity, disparate impact, equal opportunity, equalised odds) through
`mlflow.models.evaluate` on function models with known disparities, checked against fairlearn."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
)
from mlflow.tracking import MlflowClient
from sklearn.metrics import accuracy_score

from mlflow_bias.core.errors import ModelOutputError, ProbeSchemaError
from mlflow_bias.release.gate import decide
from mlflow_bias.text.parsing import DecisionParser

FAST = {"bootstrap_samples": 400, "permutation_samples": 400, "progress": False}


def decisions_probe(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups = rng.choice(["group-a", "group-b", "group-c"], size=n, p=[0.5, 0.3, 0.2])
    return pd.DataFrame({
        "id": [f"d{i}" for i in range(n)],
        "attribute": "race",
        "group": groups,
        "input": [f"applicant {i} ({g})" for i, g in enumerate(groups)],
        "label": rng.integers(0, 2, size=n),
    })


def _evaluate(model, data, **config):
    return mlflow.models.evaluate(model=model, data=data, model_type="bias", evaluators=["bias"],
                                  evaluator_config={"bias": {**FAST, **config}}).metrics


def test_matches_fairlearn_on_a_random_model():
    probe = decisions_probe()
    rng = np.random.default_rng(1)
    decisions = dict(zip(probe["input"], rng.integers(0, 2, size=len(probe))))
    metrics = _evaluate(lambda df: [decisions[x] for x in df["input"]], probe)
    y_true, y_pred, groups = probe["label"], probe["input"].map(decisions), probe["group"]
    expected = {
        "statistical_parity_difference": demographic_parity_difference(y_true, y_pred, sensitive_features=groups),
        "disparate_impact": demographic_parity_ratio(y_true, y_pred, sensitive_features=groups),
        "equal_opportunity_difference": equal_opportunity_difference(y_true, y_pred, sensitive_features=groups),
        "equalized_odds_difference": equalized_odds_difference(y_true, y_pred, sensitive_features=groups),
    }
    for name, value in expected.items():
        assert metrics[f"bias/parity/race/{name}"] == pytest.approx(value, abs=1e-9), name
        assert metrics[f"bias/parity/race/{name}/ci_low"] <= metrics[f"bias/parity/race/{name}"] <= metrics[f"bias/parity/race/{name}/ci_high"]
    for group in ("group-a", "group-b", "group-c"):
        mask = groups == group
        assert metrics[f"bias/parity/race/selection_rate/{group}"] == pytest.approx(y_pred[mask].mean(), abs=1e-12)
        tpr = y_pred[mask & (y_true == 1)].mean()
        assert metrics[f"bias/parity/race/true_positive_rate/{group}"] == pytest.approx(tpr, abs=1e-12)
    assert metrics["bias/parity/race/unparsed_rate"] == 0.0
    assert metrics["bias/parity/race/accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
    low, high = metrics["bias/parity/race/accuracy/ci_low"], metrics["bias/parity/race/accuracy/ci_high"]
    assert low < metrics["bias/parity/race/accuracy"] < high and high - low < 0.2


def test_accuracy_counts_an_output_that_is_no_decision_as_wrong():
    probe = decisions_probe(n=200, seed=3)
    # right on every item but the first 50, which get no decision at all
    answers = {x: ("?" if i < 50 else ("advance" if y else "reject"))
               for i, (x, y) in enumerate(zip(probe["input"], probe["label"]))}
    metrics = _evaluate(lambda df: [answers[x] for x in df["input"]], probe,
                        decision_labels={"positive": ["advance"], "negative": ["reject"]})
    assert metrics["bias/parity/race/accuracy"] == pytest.approx(150 / 200, abs=1e-12)
    assert metrics["bias/parity/race/unparsed_rate"] == pytest.approx(50 / 200, abs=1e-12)
    # on the parsed items alone the rates are perfect: fairlearn agrees on those
    parsed = probe.iloc[50:]
    assert metrics["bias/parity/race/equal_opportunity_difference"] == pytest.approx(
        equal_opportunity_difference(parsed["label"], parsed["label"], sensitive_features=parsed["group"]), abs=1e-12)


def test_injected_disparity_and_fair_model_give_exact_values():
    probe = decisions_probe()
    biased = _evaluate(lambda df: ["advance" if "(group-a)" in x else "reject" for x in df["input"]],
                       probe, decision_labels={"positive": ["advance"], "negative": ["reject"]})
    assert biased["bias/parity/race/statistical_parity_difference"] == 1.0
    assert biased["bias/parity/race/disparate_impact"] == 0.0
    assert biased["bias/parity/race/statistical_parity_difference/p_value"] < 0.01
    fair = _evaluate(lambda df: ["advance"] * len(df), probe,
                     decision_labels={"positive": ["advance"], "negative": ["reject"]})
    assert fair["bias/parity/race/statistical_parity_difference"] == 0.0
    assert fair["bias/parity/race/disparate_impact"] == 1.0
    assert fair["bias/parity/race/equalized_odds_difference"] == 0.0
    # the default policy blocks the biased run on disparate impact (>= 0.8 required)
    biased_run = MlflowClient().search_runs(["0"], order_by=["attributes.start_time ASC"])[0]
    reasons = decide(biased_run.info.run_id).reasons
    assert any(r.startswith("bias/parity/race/disparate_impact = 0.000") for r in reasons)


def test_unparsed_outputs_and_failing_inputs_are_reported_per_item():
    probe = decisions_probe(60)

    def flaky(df):
        out = []
        for text in df["input"]:
            if text.startswith("applicant 7 "):
                raise ValueError("model crashed on this input")
            out.append("maybe" if text.startswith("applicant 1") else "yes")
        return out

    metrics = _evaluate(flaky, probe)
    run_id = mlflow.last_active_run().info.run_id
    items = mlflow.load_table("bias/parity/items.json", run_ids=[run_id]).set_index("id")
    assert items.loc["d7", "error"] == "ValueError: model crashed on this input"
    assert np.isnan(items.loc["d7", "decision"]) and np.isnan(items.loc["d1", "decision"])
    unparsed = 1 + sum(1 for i in range(60) if str(i).startswith("1"))  # d7 and d1, d10..d19
    assert metrics["bias/parity/race/unparsed_rate"] == pytest.approx(unparsed / 60)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda df: df.assign(label=2), "label must be 0 or 1"),
        (lambda df: df.assign(group="group-a"), "one group only"),
        (lambda df: df.drop(columns=["label"]), "lacks the column"),
    ],
)
def test_bad_decision_probes(mutate, message):
    with pytest.raises(ProbeSchemaError, match=message):
        _evaluate(lambda df: [1] * len(df), mutate(decisions_probe(30)))


def test_all_unparseable_outputs_are_an_error():
    with pytest.raises(ModelOutputError, match="parity: no output could be read as a decision"):
        _evaluate(lambda df: ["perhaps"] * len(df), decisions_probe(30))


def test_parser_rules():
    parser = DecisionParser(positive=("advance",), negative=("reject",))
    assert list(parser.parse(["Advance.", "reject", "advance or reject", "n/a", 1, None])) == [1, 0, -1, -1, -1, -1]
    default = DecisionParser()
    assert list(default.parse([1, 0, True, "Yes", "no", 0.5])) == [1, 0, 1, 1, 0, -1]


def test_shipped_loan_probe_separates_a_name_biased_model_from_a_fair_one():
    import re

    from mlflow_bias.text.lexicons import names

    black = set(names(race="black"))

    def dti(text):
        return int(re.search(r"ratio (\d+)%", text).group(1))

    def fair(df):
        return ["approve" if dti(t) < 30 else "deny" for t in df["input"]]

    def biased(df):
        return ["deny" if t.split(".")[0].split(": ")[1] in black or dti(t) >= 30 else "approve"
                for t in df["input"]]

    labels = {"decision_labels": {"positive": ["approve"], "negative": ["deny"]}}
    import mlflow_bias

    fair_metrics = mlflow_bias.evaluate(fair, "loan-decisions", **FAST, **labels).metrics
    biased_metrics = mlflow_bias.evaluate(biased, "loan-decisions", **FAST, **labels).metrics
    assert fair_metrics["bias/parity/race/disparate_impact"] > 0.8
    assert biased_metrics["bias/parity/race/disparate_impact"] < 0.1
    assert biased_metrics["bias/parity/race/statistical_parity_difference/p_value"] < 0.01
    assert fair_metrics["bias/parity/gender/statistical_parity_difference"] < 0.1
    assert fair_metrics["bias/parity/race/equal_opportunity_difference"] < 0.1


def counterfactual_decisions(n_sets: int = 80, seed: int = 3) -> pd.DataFrame:
    """Each applicant written once per group (a counterfactual set), the label the applicant's."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sets):
        label = int(rng.integers(0, 2))
        for group in ("group-a", "group-b", "group-c"):
            rows.append({"id": f"s{s}-{group}", "attribute": "race", "set_id": f"s{s:03d}",
                         "group": group, "input": f"applicant {s} ({group})", "label": label})
    return pd.DataFrame(rows)


def _by_set(probe: pd.DataFrame, decide_set) -> dict[str, int]:
    return {x: decide_set(s, g) for x, s, g in zip(probe["input"], probe["set_id"], probe["group"])}


def test_counterfactual_sets_are_resampled_together():
    """A screen that answers every set alike has a gap of 0 in every resample when whole sets are
    resampled; resampling each group on its own invents gaps (the CI excluded its own 0)."""
    probe = counterfactual_decisions()
    rng = np.random.default_rng(4)
    per_set = {s: int(rng.integers(0, 2)) for s in probe["set_id"]}
    decisions = _by_set(probe, lambda s, g: per_set[s])
    model = lambda df: [decisions[x] for x in df["input"]]  # noqa: E731
    paired = _evaluate(model, probe, probe_kind="decisions")
    key = "bias/parity/race/statistical_parity_difference"
    assert (paired[key], paired[f"{key}/ci_low"], paired[f"{key}/ci_high"]) == (0.0, 0.0, 0.0)
    assert paired[f"{key}/p_value"] == 1.0  # no shuffle within a set can move a gap of 0
    unpaired = _evaluate(model, probe.drop(columns=["set_id"]))
    assert unpaired[key] == 0.0 and unpaired[f"{key}/ci_low"] > 0.0  # the defect, without sets


def test_paired_interval_is_the_set_bootstrap_computed_by_hand():
    probe = counterfactual_decisions(n_sets=60, seed=5)
    rng = np.random.default_rng(6)
    per_set = {s: rng.random() for s in probe["set_id"]}
    decisions = _by_set(probe, lambda s, g: int(per_set[s] < (0.7 if g == "group-a" else 0.4)))
    metrics = _evaluate(lambda df: [decisions[x] for x in df["input"]], probe, probe_kind="decisions",
                        bootstrap_samples=300, seed=11)
    table = (probe.assign(decision=probe["input"].map(decisions))
             .pivot(index="set_id", columns="group", values="decision").sort_index())
    draws = np.random.default_rng(11).integers(len(table), size=(300, len(table)))
    rates = table.to_numpy()[draws].mean(axis=1)  # (resamples, groups): whole sets drawn
    spread = rates.max(axis=1) - rates.min(axis=1)
    key = "bias/parity/race/statistical_parity_difference"
    point = table.mean().max() - table.mean().min()
    assert metrics[key] == pytest.approx(point, abs=1e-12)
    assert metrics[f"{key}/ci_low"] == pytest.approx(np.quantile(spread, 0.025), abs=1e-12)
    assert metrics[f"{key}/ci_high"] == pytest.approx(np.quantile(spread, 0.975), abs=1e-12)
    assert metrics[f"{key}/p_value"] < 0.01


@pytest.mark.parametrize("mutate, message", [
    (lambda df: df.drop(index=1), r"set\(s\) s000 miss a group"),
    (lambda df: df.assign(label=np.where(df["id"] == "s0-group-b", 1 - df["label"], df["label"])),
     r"set\(s\) s000 have different labels across their groups"),
])
def test_malformed_counterfactual_decision_sets(mutate, message):
    from mlflow_bias.dimensions.kinds import validate_decisions

    with pytest.raises(ProbeSchemaError, match=message):
        validate_decisions(mutate(counterfactual_decisions(n_sets=5)))


def test_sets_with_an_unreadable_output_stay_paired():
    """An output that is no decision stays in its set as a gap (left out of the rates), so whole
    sets are still resampled; the point values equal those of the read decisions alone."""
    from mlflow_bias.adapters.pyfunc import PyfuncOutputs
    from mlflow_bias.dimensions import parity

    probe = counterfactual_decisions(n_sets=40)
    rng = np.random.default_rng(8)
    per_set = {s: int(rng.integers(0, 2)) for s in probe["set_id"]}
    unread = {"applicant 0 (group-a)", "applicant 3 (group-a)", "applicant 7 (group-c)"}
    answers = {x: ("maybe" if x in unread else str(per_set[s])) for x, s in zip(probe["input"], probe["set_id"])}
    config = parity.ParityConfig(bootstrap_samples=300, permutation_samples=100, progress=False)
    result = parity.compute(PyfuncOutputs(lambda df: [answers[x] for x in df["input"]]), probe, config)
    assert result.summary[0]["paired_resampling"] is True
    assert not any("resampled on their own" in w for w in result.warnings)
    read = probe.assign(decision=probe["input"].map(answers)).query("decision != 'maybe'")
    read = read.assign(decision=read["decision"].astype(int))
    key = "race/statistical_parity_difference"
    rates = read.groupby("group")["decision"].mean()
    assert result.metrics[key] == pytest.approx(rates.max() - rates.min(), abs=1e-12)
    assert result.summary[0]["groups"]["group-a"]["n_items"] == 38
    # by hand: whole sets drawn, each group's rate over the read decisions of the drawn sets
    table = (probe.assign(decision=probe["input"].map(answers).replace("maybe", np.nan).astype(float))
             .pivot(index="set_id", columns="group", values="decision").sort_index().to_numpy())
    draws = np.random.default_rng(0).integers(len(table), size=(300, len(table)))
    spread = np.ptp(np.nanmean(table[draws], axis=1), axis=1)
    assert result.metrics[f"{key}/ci_low"] == pytest.approx(np.quantile(spread, 0.025), abs=1e-12)
    assert result.metrics[f"{key}/ci_high"] == pytest.approx(np.quantile(spread, 0.975), abs=1e-12)
