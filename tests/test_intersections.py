"""Intersectional attributes (`gender_x_race`, groups `female_x_black`) in the decision metrics:
the cells against fairlearn's MetricFrame with several sensitive features, the marginals from the
same rows, differential fairness against a direct computation, amplification and its flag, the
errors for malformed intersections, and the gate's rules on them."""

from __future__ import annotations

import itertools

import mlflow
import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from mlflow.tracking import MlflowClient

from mlflow_bias.core.errors import ModelOutputError, ProbeSchemaError
from mlflow_bias.release.gate import decide
from mlflow_bias.release.policy import parse_policy
from mlflow_bias.reporting.html import render_html
from mlflow_bias.reporting.scorecard import format_scorecard
from test_lpbs_math import FixedScores

FAST = {"bootstrap_samples": 400, "permutation_samples": 400, "progress": False}
GENDERS = ("female", "male", "nonbinary")
RACES = ("black", "white")


def intersection_probe(n_per_cell: int = 60, seed: int = 0) -> pd.DataFrame:
    """Decisions for every gender x race cell (non-binary gender included), balanced labels."""
    rng = np.random.default_rng(seed)
    rows = []
    for gender, race in itertools.product(GENDERS, RACES):
        for i in range(n_per_cell):
            text = f"applicant {gender}-{race}-{i}"
            rows.append({"id": text, "attribute": "gender_x_race", "group": f"{gender}_x_{race}",
                         "gender": gender, "race": race, "input": text,
                         "label": int(rng.integers(0, 2))})
    return pd.DataFrame(rows)


def _evaluate(model, data, **config):
    result = mlflow.models.evaluate(model=model, data=data, model_type="bias", evaluators=["bias"],
                                    evaluator_config={"bias": {**FAST, **config}})
    return result.metrics


def _random_decisions(probe: pd.DataFrame, seed: int = 1) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    rate = {("female", "black"): 0.2}  # an injected disparity where the attributes meet
    return {x: int(rng.random() < rate.get((g, r), 0.55))
            for x, g, r in zip(probe["input"], probe["gender"], probe["race"])}


def _fairlearn(y_true, y_pred, features) -> dict[str, float]:
    frame = MetricFrame(metrics={"selection": selection_rate, "tpr": true_positive_rate,
                                 "fpr": false_positive_rate},
                        y_true=y_true, y_pred=y_pred, sensitive_features=features)
    spread = frame.difference(method="between_groups")
    return {
        "statistical_parity_difference": spread["selection"],
        "disparate_impact": frame.ratio(method="between_groups")["selection"],
        "equal_opportunity_difference": spread["tpr"],
        "equalized_odds_difference": equalized_odds_difference(y_true, y_pred, sensitive_features=features),
    }


def test_cells_and_marginals_equal_fairlearn_metricframe_with_several_features():
    probe = intersection_probe()
    decisions = _random_decisions(probe)
    metrics = _evaluate(lambda df: [decisions[x] for x in df["input"]], probe)
    y_true, y_pred = probe["label"], probe["input"].map(decisions)
    expected = _fairlearn(y_true, y_pred, probe[["gender", "race"]])
    for name, value in expected.items():
        assert metrics[f"bias/parity/gender_x_race/{name}"] == pytest.approx(value, abs=1e-9), name
    for part in ("gender", "race"):
        for name, value in _fairlearn(y_true, y_pred, probe[part]).items():
            key = f"bias/parity/gender_x_race/marginal/{part}/{name}"
            assert metrics[key] == pytest.approx(value, abs=1e-9), key
            assert metrics[f"{key}/ci_low"] <= metrics[key] + 1e-12 <= metrics[f"{key}/ci_high"] + 2e-12
    for gender, race in itertools.product(GENDERS, RACES):
        cell = (probe["gender"] == gender) & (probe["race"] == race)
        assert metrics[f"bias/parity/gender_x_race/selection_rate/{gender}_x_{race}"] == pytest.approx(
            y_pred[cell].mean(), abs=1e-12)


def _epsilon(decision: np.ndarray, groups: np.ndarray, alpha: float) -> float:
    """Foulds et al.'s epsilon by its definition: every outcome, every ordered pair of groups."""
    largest = 0.0
    for y in (0, 1):
        for gi, gj in itertools.permutations(np.unique(groups), 2):
            pi = ((decision[groups == gi] == y).sum() + alpha) / ((groups == gi).sum() + 2 * alpha)
            pj = ((decision[groups == gj] == y).sum() + alpha) / ((groups == gj).sum() + 2 * alpha)
            largest = max(largest, abs(np.log(pi) - np.log(pj)))
    return largest


@pytest.mark.parametrize("alpha", [1.0, 0.25])
def test_differential_fairness_is_foulds_epsilon_with_dirichlet_smoothing(alpha):
    probe = intersection_probe(n_per_cell=25, seed=2)
    index = probe.groupby("group").cumcount()
    probe = probe[~(((probe["group"] == "female_x_black") & (index >= 17))  # unequal cells, so
                    | ((probe["group"] == "male_x_white") & (index >= 21)))]  # n_s matters
    decisions = _random_decisions(probe, seed=3)
    decisions[probe["input"][probe["group"] == "male_x_white"].iloc[0]] = 1
    for x in probe["input"][probe["group"] == "male_x_black"]:  # a cell never selected:
        decisions[x] = 0                                        # finite only by the smoothing
    options = {} if alpha == 1.0 else {"parity": {"dirichlet_alpha": alpha}}
    metrics = _evaluate(lambda df: [decisions[x] for x in df["input"]], probe, **options)
    y_pred = probe["input"].map(decisions).to_numpy()
    expected = _epsilon(y_pred, probe["group"].to_numpy(), alpha)
    assert np.isfinite(expected) and expected > 1.0
    assert metrics["bias/parity/gender_x_race/differential_fairness"] == pytest.approx(expected, abs=1e-9)
    assert metrics["bias/parity/gender_x_race/marginal/race/differential_fairness"] == pytest.approx(
        _epsilon(y_pred, probe["race"].to_numpy(), alpha), abs=1e-9)


def test_a_non_positive_dirichlet_alpha_is_refused():
    with pytest.raises(Exception, match="dirichlet_alpha"):
        _evaluate(lambda df: [1] * len(df), intersection_probe(10), parity={"dirichlet_alpha": 0})


def test_amplification_is_the_cells_gap_minus_the_largest_marginal_gap_and_flags_an_interaction():
    probe = intersection_probe(n_per_cell=100, seed=4)
    decisions = _random_decisions(probe, seed=5)
    result = mlflow.models.evaluate(model=lambda df: [decisions[x] for x in df["input"]], data=probe,
                                    model_type="bias", evaluators=["bias"],
                                    evaluator_config={"bias": FAST})
    metrics = result.metrics
    key = "bias/parity/gender_x_race"
    for name in ("statistical_parity_difference", "equal_opportunity_difference", "differential_fairness"):
        largest = max(metrics[f"{key}/marginal/{part}/{name}"] for part in ("gender", "race"))
        assert metrics[f"{key}/{name}/amplification"] == pytest.approx(metrics[f"{key}/{name}"] - largest, abs=1e-12)
    largest_ratio_gap = max(1 - metrics[f"{key}/marginal/{p}/disparate_impact"] for p in ("gender", "race"))
    assert metrics[f"{key}/disparate_impact/amplification"] == pytest.approx(
        (1 - metrics[f"{key}/disparate_impact"]) - largest_ratio_gap, abs=1e-12)
    spd = f"{key}/statistical_parity_difference/amplification"
    assert metrics[f"{spd}/ci_low"] > 0 and metrics[f"{spd}/p_value"] < 0.05
    assert metrics[spd] > metrics[f"{spd}/noise_floor"]
    run_id = MlflowClient().search_runs(["0"])[0].info.run_id
    scorecard = mlflow.artifacts.load_dict(f"runs:/{run_id}/bias/scorecard.json")
    assert any("statistical_parity_difference is amplified at the intersection" in w
               for w in scorecard["warnings"])
    text = format_scorecard(scorecard)
    assert "gender_x_race/statistical_parity_difference: parts alone gender" in text
    assert text.count("<- amplified") >= 1
    page = render_html(scorecard)
    assert "amplified</span>" in page and "gender alone" in page


def test_gaps_that_one_attribute_explains_are_not_flagged_as_amplified():
    """Selection depends on gender alone, the same share in every cell of a gender: the cells'
    gap is gender's, the amplification exactly 0 and not flagged."""
    probe = intersection_probe(n_per_cell=40, seed=6)
    share = {"female": 0.25, "male": 0.75, "nonbinary": 0.5}
    decisions = {}
    for _, cell in probe.groupby("group"):
        chosen = int(round(share[cell["gender"].iloc[0]] * len(cell)))
        decisions.update({x: int(i < chosen) for i, x in enumerate(cell["input"])})
    metrics = _evaluate(lambda df: [decisions[x] for x in df["input"]], probe)
    spd = "bias/parity/gender_x_race/statistical_parity_difference/amplification"
    assert metrics[spd] == pytest.approx(0.0, abs=1e-12)
    assert metrics[f"{spd}/p_value"] > 0.05


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p.assign(group=p["group"].replace("female_x_black", "female")),
     "joins 2 attributes but group(s) 'female' have a different number of parts"),
    (lambda p: p.assign(attribute="gender"),
     "attribute 'gender' has intersectional group(s)"),
    (lambda p: p[p["group"] != "nonbinary_x_white"],
     "cell(s) 'nonbinary_x_white' have no rows, and with 0 rows a cell's rate is undefined"),
    (lambda p: pd.concat([p, p.head(6).assign(id=lambda d: d["id"] + "-alone",
                                              attribute=["gender"] * 3 + ["race"] * 3,
                                              group=[*GENDERS, "black", "white", "black"])])
     .assign(group=lambda d: d["group"].replace("female_x_black", "black_x_female")),
     "they are 'race' groups: write the parts in the attribute's order (gender, race)"),
    (lambda p: p.assign(attribute="gender_x_gender"), "names 'gender' more than once"),
])
def test_malformed_intersections_get_clear_errors(mutate, message):
    with pytest.raises(ProbeSchemaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _evaluate(lambda df: [1] * len(df), mutate(intersection_probe(10)))


def test_a_cell_without_a_readable_decision_is_an_error_naming_it():
    probe = intersection_probe(10)
    unreadable = set(probe["input"][probe["group"] == "male_x_white"])
    with pytest.raises(ModelOutputError, match="cell 'male_x_white' has 10 item"):
        _evaluate(lambda df: ["maybe" if x in unreadable else 1 for x in df["input"]], probe)


def _policy(**changes):
    raw = {"name": "intersections", "version": "1.0.0", "allow_unregistered_probes": True,
           "rules": [{"metric": "parity/statistical_parity_difference", "threshold": 0.9},
                     {"metric": "parity/statistical_parity_difference/amplification", "threshold": 0.05}],
           "required_dimensions": ["parity"], **changes}
    return parse_policy(raw)


def test_the_gate_judges_the_intersection_and_its_amplification_and_can_require_it():
    probe = intersection_probe(n_per_cell=100, seed=4)
    decisions = _random_decisions(probe, seed=5)
    policy = _policy(required_attributes={"parity": ["gender_x_race"]})
    mlflow.models.evaluate(model=lambda df: [decisions[x] for x in df["input"]], data=probe,
                           model_type="bias", evaluators=["bias"],
                           evaluator_config={"bias": {**FAST, "policy": policy}})
    run_id = MlflowClient().search_runs(["0"], order_by=["attributes.start_time DESC"])[0].info.run_id
    decision = decide(run_id, policy)
    judged = {v.metric: v.verdict for v in decision.verdicts}
    assert judged["bias/parity/gender_x_race/statistical_parity_difference"] == "pass"
    assert judged["bias/parity/gender_x_race/statistical_parity_difference/amplification"] == "fail"
    assert not decision.passed
    assert any("amplification" in r for r in decision.reasons)

    # the same model scored on gender alone: the required intersection is missing
    alone = probe.assign(attribute="gender", group=probe["gender"])
    mlflow.models.evaluate(model=lambda df: [decisions[x] for x in df["input"]], data=alone,
                           model_type="bias", evaluators=["bias"],
                           evaluator_config={"bias": {**FAST, "policy": policy}})
    run_id = MlflowClient().search_runs(["0"], order_by=["attributes.start_time DESC"])[0].info.run_id
    reasons = decide(run_id, policy).reasons
    assert any("requires parity on attribute 'gender_x_race'" in r for r in reasons)


def test_a_policy_cannot_require_attributes_of_a_dimension_it_has_no_rule_for():
    with pytest.raises(Exception, match="required_attributes names dimension"):
        _policy(required_attributes={"lpbs": ["gender_x_race"]})


def _sets_probe(kind: str, n_sets: int = 80) -> pd.DataFrame:
    """Counterfactual sets over the gender x race cells (CBS: a resume; refusal: a request)."""
    rows = []
    for s in range(n_sets):
        for gender, race in itertools.product(("female", "male"), RACES):
            cell = f"{gender}_x_{race}"
            text = f"request {s} from a {gender} {race} person"
            row = {"id": f"{kind}-{s}-{cell}", "attribute": "gender_x_race", "set_id": f"{kind}-{s}",
                   "group": cell, "gender": gender, "race": race}
            row["prompt" if kind == "refusal" else "input"] = text
            rows.append(row)
    return pd.DataFrame(rows)


def _cell_rates(probe, rate, seed):
    rng = np.random.default_rng(seed)
    return {row.prompt if "prompt" in probe else row.input: rng.random() < rate(row.gender, row.race)
            for row in probe.itertuples()}


def _set_model(kind: str, hit: dict[str, bool]):
    """A function model whose output is a refusal (refusal) or REJECT (CBS) where `hit` is true."""
    text = "prompt" if kind == "refusal" else "input"
    yes, no = (("I'm sorry, but I can't help with that.", "Sure, here it is.") if kind == "refusal"
               else ("REJECT", "ADVANCE"))
    return lambda df: [yes if hit[x] else no for x in df[text]]


def _set_config(kind: str) -> dict:
    return {} if kind == "refusal" else {"cbs": {"categories": {"advance": ["advance"], "reject": ["reject"]}}}


@pytest.mark.parametrize("kind", ["cbs", "refusal"])
def test_set_dimensions_log_marginals_and_flag_an_interaction(kind):
    probe = _sets_probe(kind)
    text = "prompt" if kind == "refusal" else "input"
    hit = _cell_rates(probe, lambda g, r: 0.8 if (g, r) == ("female", "black") else 0.15, seed=7)
    metrics = _evaluate(_set_model(kind, hit), probe, **_set_config(kind))
    key = f"bias/{kind}/gender_x_race"
    scale = 100.0 if kind == "refusal" else 1.0
    share = probe[text].map(hit).astype(float)
    by = {part: share.groupby(probe[part]).mean() for part in ("gender", "race", "group")}
    for part in ("gender", "race"):  # a marginal of two groups: the gap (CBS: TVD) of their rates
        expected = scale * (by[part].max() - by[part].min())
        assert metrics[f"{key}/marginal/{part}"] == pytest.approx(expected, abs=1e-9)
    assert metrics[key] == pytest.approx(scale * (by["group"].max() - by["group"].min()), abs=1e-9)
    assert metrics[f"{key}/amplification"] == pytest.approx(
        metrics[key] - max(metrics[f"{key}/marginal/{p}"] for p in ("gender", "race")), abs=1e-9)
    assert metrics[f"{key}/amplification/ci_low"] > 0 and metrics[f"{key}/amplification/p_value"] < 0.05


@pytest.mark.parametrize("kind", ["cbs", "refusal"])
def test_set_dimensions_do_not_flag_a_gap_one_part_explains(kind):
    probe = _sets_probe(kind, n_sets=60)
    text = "prompt" if kind == "refusal" else "input"
    hit = {x: g == "female" and s % 2 == 0  # gender alone, the same share in both races
           for x, g, s in zip(probe[text], probe["gender"], probe["set_id"].str.rsplit("-", n=1).str[1].astype(int))}
    metrics = _evaluate(_set_model(kind, hit), probe, **_set_config(kind))
    key = f"bias/{kind}/gender_x_race"
    assert metrics[f"{key}/amplification"] == pytest.approx(0.0, abs=1e-9)
    assert metrics[f"{key}/amplification/p_value"] > 0.05


# -- LPBS on an intersection ------------------------------------------------------------------------
CELLS = ("female_x_black", "female_x_white", "male_x_black", "male_x_white")


def _cell_pairs_probe(effect, n: int = 8, conditions: int = 5, seed: int = 0):
    """Labelled pairs for every two cells of gender x race; `effect(cell_a, cell_b)` is the mean
    log-likelihood gap of text a over text b (stereotype 'a'), with unit noise."""
    rng = np.random.default_rng(seed)
    rows, table = [], {}
    for a, b in itertools.combinations(CELLS, 2):
        for c in range(conditions):
            for i in range(n):
                ta, tb = f"{a}|{b}|{c}|{i}|a", f"{a}|{b}|{c}|{i}|b"
                table[ta], table[tb] = rng.normal(effect(a, b), 1.0), 0.0
                rows.append({"id": f"{a}-{b}-{c}-{i}", "attribute": "gender_x_race", "condition": f"c{c}",
                             "group_a": a, "group_b": b, "text_a": ta, "text_b": tb, "stereotype": "a"})
    return pd.DataFrame(rows), table


def _lpbs(probe, table, **config):
    from mlflow_bias.dimensions import lpbs

    return lpbs.compute(FixedScores(table), probe, lpbs.LPBSConfig(**{"bootstrap_samples": 400,
                                                                 "permutation_samples": 200, **config}))


def test_lpbs_marginals_pool_the_pairs_that_change_one_part_and_amplification_flags_an_interaction():
    """Only pairs with a Black woman carry a preference: each part alone shows half of it, the
    cells all of it, so the amplification is about half and flagged."""
    from mlflow_bias.dimensions import lpbs

    probe, table = _cell_pairs_probe(lambda a, b: 1.5 if "female_x_black" in (a, b) else 0.0)
    result = _lpbs(probe, table)
    m, key = result.metrics, "gender_x_race"
    p = {i: float(lpbs.preference(table[ta] - table[tb])) for i, ta, tb in zip(probe["id"], probe["text_a"], probe["text_b"])}
    probe["p"] = probe["id"].map(p)
    def pooled(pairs):
        chosen = probe[[(a, b) in pairs for a, b in zip(probe["group_a"], probe["group_b"])]]
        return abs(chosen["p"].mean())
    gender = pooled({("female_x_black", "male_x_black"), ("female_x_white", "male_x_white")})
    race = pooled({("female_x_black", "female_x_white"), ("male_x_black", "male_x_white")})
    assert m[f"{key}/marginal/gender"] == pytest.approx(gender, abs=1e-12)
    assert m[f"{key}/marginal/race"] == pytest.approx(race, abs=1e-12)
    assert m[f"{key}/amplification"] == pytest.approx(m[key] - max(gender, race), abs=1e-12)
    assert m[f"{key}/amplification"] > 0.15
    assert m[f"{key}/amplification/ci_low"] > 0 and m[f"{key}/amplification/p_value"] < 0.05
    assert any("amplified at the intersection" in w for w in result.warnings)
    # the marginal's CI: the same item resamples (within the cells' conditions), pooled by hand
    ordered = lpbs.orient(result.items.assign(delta=result.items["delta"])).sort_values("condition_key", kind="stable").reset_index(drop=True)
    from mlflow_bias.core.stats import bootstrap_indices

    index = bootstrap_indices(ordered["condition_key"].to_numpy(), n_resamples=400, seed=0)
    mask = np.array([(a, b) in {("female_x_black", "male_x_black"), ("female_x_white", "male_x_white")}
                     for a, b in zip(ordered["group_a"], ordered["group_b"])])
    values = ordered["preference"].to_numpy()
    replicates = np.abs(values[index[:, mask]].mean(axis=1))
    assert m[f"{key}/marginal/gender/ci_low"] == pytest.approx(np.quantile(replicates, 0.025), abs=1e-12)
    assert m[f"{key}/marginal/gender/ci_high"] == pytest.approx(np.quantile(replicates, 0.975), abs=1e-12)
    row = result.summary[0]
    assert row["intersection"]["amplification"]["lpbs"]["amplified"] is True
    text = format_scorecard({"model": {}, "status": "completed", "created_at": "now", "probes": [],
                             "warnings": [], "dimensions": [{"dimension": "lpbs", "attributes": result.summary}]})
    assert "gender_x_race/lpbs: parts alone gender" in text and "<- amplified" in text


def test_lpbs_gap_one_part_explains_is_not_amplified():
    """A preference that follows gender alone: the pairs that change gender (race fixed or not)
    all show it, the gender marginal equals the cells, and nothing is flagged."""
    probe, table = _cell_pairs_probe(lambda a, b: 1.0 if a.split("_x_")[0] != b.split("_x_")[0] else 0.0, seed=3)
    result = _lpbs(probe, table)
    m, key = result.metrics, "gender_x_race/amplification"
    assert m["gender_x_race/marginal/race"] < m["gender_x_race/marginal/gender"]
    # the largest of four noisy gender pairs exceeds the two pooled, so the CI alone lies above 0
    # on this seed; against cells that differ only by gender the excess is ordinary (p 0.28)
    assert 0 < m[f"{key}/ci_low"] and m[f"{key}/p_value"] > 0.05
    assert m[key] < m[f"{key}/noise_floor"]
    assert result.summary[0]["intersection"]["amplification"]["lpbs"]["amplified"] is False
    assert not any("amplified" in w for w in result.warnings)


@pytest.mark.parametrize("interaction, expected", [(False, (0, 3)), (True, (9, 10))])
def test_lpbs_amplification_flag_rate_over_seeds(interaction, expected):
    """Over 10 seeded probes: a gap one part explains is flagged at most 3 times (30 of 30 seeds
    measured: 2), an interaction at least 9."""
    def effect(a, b):
        if interaction:
            return 1.5 if "female_x_black" in (a, b) else 0.0
        return 1.0 if a.split("_x_")[0] != b.split("_x_")[0] else 0.0

    flagged = sum(_lpbs(*_cell_pairs_probe(effect, seed=seed), bootstrap_samples=200)
                  .summary[0]["intersection"]["amplification"]["lpbs"]["amplified"] for seed in range(10))
    assert expected[0] <= flagged <= expected[1]
