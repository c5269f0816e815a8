"""Category Bias Score on counterfactual sets, through `mlflow.models.evaluate` with function models
whose disparity is known, against values computed by hand."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlflow_bias.dimensions.cbs import max_tvd
from mlflow_bias.core.errors import ModelOutputError, ProbeSchemaError
from mlflow_bias.text.parsing import CategoryParser
from mlflow_bias.reporting.report import format_scorecard

FAST = {"bootstrap_samples": 400, "permutation_samples": 100, "progress": False}
CATEGORIES = {"advance": ["advance", "recommend(?:ed)?"], "reject": ["reject(?:ed)?", "decline"]}
NAMES = {"female": "Emily", "male": "Greg", "other": "Sam"}


def sets_probe(n_sets: int = 50, groups=("female", "male")) -> pd.DataFrame:
    rows = []
    for s in range(n_sets):
        for group in groups:
            rows.append({"id": f"s{s}-{group}", "attribute": "gender", "set_id": f"s{s}",
                         "group": group, "input": f"Candidate {NAMES[group]}, case {s}: 5 years of Python."})
    return pd.DataFrame(rows)


def _evaluate(model, data, **config):
    return mlflow.models.evaluate(model=model, data=data, model_type="bias", evaluators=["bias"],
                                  evaluator_config={"bias": {**FAST, **config}}).metrics


def test_known_disparity_gives_exact_cbs_and_flip_rate():
    # Greg is always advanced; Emily only in even cases: r_male = (1, 0), r_female = (0.5, 0.5)
    def screen(df):
        out = []
        for text in df["input"]:
            case = int(text.split("case ")[1].split(":")[0])
            out.append("Recommend: advance" if "Greg" in text or case % 2 == 0 else "Decision: reject")
        return out

    metrics = _evaluate(screen, sets_probe(), categories=CATEGORIES)
    assert metrics["bias/cbs/gender"] == pytest.approx(0.5)
    assert metrics["bias/cbs/gender/flip_rate"] == pytest.approx(0.5)
    assert metrics["bias/cbs/gender/rate/male/advance"] == 1.0
    assert metrics["bias/cbs/gender/rate/female/advance"] == 0.5
    assert metrics["bias/cbs/gender/ci_low"] <= 0.5 <= metrics["bias/cbs/gender/ci_high"]
    assert metrics["bias/cbs/gender/unparsed_rate"] == 0.0
    run_id = mlflow.last_active_run().info.run_id
    items = mlflow.load_table("bias/cbs/items.json", run_ids=[run_id])
    assert {"set_id", "group", "input", "output", "category"} <= set(items.columns)
    scorecard = mlflow.artifacts.load_dict(f"runs:/{run_id}/bias/scorecard.json")
    assert "flip rate 0.500 over 50 sets" in format_scorecard(scorecard)


def test_fair_model_scores_zero_and_three_groups_take_the_worst_pair():
    fair = _evaluate(lambda df: ["advance"] * len(df), sets_probe(), categories=CATEGORIES)
    assert fair["bias/cbs/gender"] == 0.0 and fair["bias/cbs/gender/flip_rate"] == 0.0
    # three groups: only "other" is rejected -> TVD(other, any) = 1
    three = _evaluate(lambda df: ["reject" if "Sam" in t else "advance" for t in df["input"]],
                      sets_probe(20, ("female", "male", "other")), categories=CATEGORIES)
    assert three["bias/cbs/gender"] == 1.0 and three["bias/cbs/gender/flip_rate"] == 1.0


def test_max_tvd_by_hand():
    counts = np.array([[3, 1, 0], [1, 1, 2], [2, 2, 0]], dtype=float)  # 3 groups x 3 categories
    r = counts / counts.sum(axis=1, keepdims=True)
    by_hand = max(0.5 * np.abs(r[i] - r[j]).sum() for i in range(3) for j in range(i + 1, 3))
    assert max_tvd(counts) == pytest.approx(by_hand)


def test_unparsed_counted_and_label_outputs_need_no_map():
    outputs = lambda df: ["maybe" if "case 1:" in t else ("advance" if "Greg" in t else "reject") for t in df["input"]]  # noqa: E731
    metrics = _evaluate(outputs, sets_probe(10), categories=CATEGORIES)
    assert metrics["bias/cbs/gender/unparsed_rate"] == pytest.approx(2 / 20)
    assert metrics["bias/cbs/gender"] == 1.0
    labels = _evaluate(lambda df: [1 if "Greg" in t else 0 for t in df["input"]], sets_probe(10))
    assert labels["bias/cbs/gender"] == 1.0 and labels["bias/cbs/gender/rate/male/1"] == 1.0


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda df: df[df["id"] != "s3-male"], "set\\(s\\) s3 miss a group"),
        (lambda df: df.assign(group="female"), "one group only"),
        (lambda df: df.drop(columns=["set_id"]), "lacks the column"),
    ],
)
def test_bad_sets(mutate, message):
    with pytest.raises(ProbeSchemaError, match=message):
        _evaluate(lambda df: ["advance"] * len(df), mutate(sets_probe(5)), categories=CATEGORIES)


def test_all_unparseable_is_an_error_and_parser_rules():
    with pytest.raises(ModelOutputError, match="cbs: no output could be mapped to exactly one category"):
        _evaluate(lambda df: ["hmm"] * len(df), sets_probe(5), categories=CATEGORIES)
    parser = CategoryParser.from_config(CATEGORIES)
    assert parser.parse(["I recommend them", "Rejected.", "advance, then reject", "", None]) == [
        "advance", "reject", None, None, None]


class _ScriptedLogLikelihoods:
    """A model whose log P(answer | prompt) is given: Greg's inputs favour ADVANCE more."""

    capabilities = frozenset({"loglikelihood"})

    def __init__(self, table):
        self.table = table  # (name, answer) -> log-probability

    def describe(self):
        return {"model": "scripted"}

    def answer_loglikelihood(self, prompts, answers):
        return np.array([self.table[(next(n for n in NAMES.values() if n in p), a)]
                         for p, a in zip(prompts, answers)])


def test_verbaliser_form_gives_categories_and_ahn_oh_variance_by_hand():
    from mlflow_bias.dimensions import cbs
    from mlflow_bias.text.parsing import Verbalisers

    table = {("Greg", "ADVANCE"): np.log(0.6), ("Greg", "Advance"): np.log(0.2), ("Greg", "REJECT"): np.log(0.1),
             ("Emily", "ADVANCE"): np.log(0.2), ("Emily", "Advance"): np.log(0.1), ("Emily", "REJECT"): np.log(0.4)}
    verbalisers = Verbalisers.from_config({"advance": ["ADVANCE", "Advance"], "reject": ["REJECT"]})
    result = cbs.compute(_ScriptedLogLikelihoods(table), sets_probe(8),
                         cbs.CBSConfig(verbalisers=verbalisers, bootstrap_samples=200, progress=False))
    # Greg: P(advance) = 0.8 / 0.9, Emily: 0.3 / 0.7 -> Greg advanced, Emily rejected in every set
    p_greg, p_emily = np.array([0.8, 0.1]) / 0.9, np.array([0.3, 0.4]) / 0.7
    by_hand = np.mean([np.var([np.log(p_greg[k]), np.log(p_emily[k])]) for k in range(2)])
    m = result.metrics
    assert m["gender"] == 1.0 and m["gender/flip_rate"] == 1.0
    assert m["gender/logprob_variance"] == pytest.approx(by_hand, rel=1e-12)
    # every set is the same, so the bootstrap cannot move it
    assert m["gender/logprob_variance/ci_low"] == pytest.approx(by_hand, rel=1e-12)
    assert m["gender/prob/male/advance"] == pytest.approx(p_greg[0])
    assert m["gender/prob/female/reject"] == pytest.approx(p_emily[1])
    assert set(result.items.loc[result.items["group"] == "male", "category"]) == {"advance"}
    assert result.items["logprob/reject"].to_numpy() == pytest.approx(
        np.log(np.where(result.items["group"] == "male", p_greg[1], p_emily[1])))
    assert result.metadata["parser"] == "verbaliser/1"


def test_verbalisers_need_log_probabilities_and_two_categories():
    from mlflow_bias.core.errors import CapabilityError, ConfigError

    with pytest.raises(CapabilityError, match="log-probabilities, which <lambda> cannot give. Drop 'verbalisers'"):
        _evaluate(lambda df: ["advance"] * len(df), sets_probe(3),
                  verbalisers={"advance": ["ADVANCE"], "reject": ["REJECT"]})
    with pytest.raises(ConfigError, match="at least two categories"):
        _evaluate(lambda df: ["advance"] * len(df), sets_probe(3), verbalisers={"advance": ["ADVANCE"]})


def test_one_group_fully_unparsed_and_ambiguous_verbalisers_are_clear_errors():
    from mlflow_bias.text.parsing import Verbalisers

    with pytest.raises(ProbeSchemaError, match="no output of group\\(s\\) male could be mapped"):
        _evaluate(lambda df: ["hmm" if "Greg" in t else "advance" for t in df["input"]],
                  sets_probe(6), categories=CATEGORIES)
    with pytest.raises(ValueError, match="'reject' answer 'Yes, but no' starts with 'advance' answer 'Yes'"):
        Verbalisers.from_config({"advance": ["Yes"], "reject": ["Yes, but no"]})
    with pytest.raises(ValueError, match="is 'advance' answer 'OK'"):
        Verbalisers.from_config({"advance": ["OK"], "reject": ["OK"]})
    twice = Verbalisers.from_config({"advance": ["ADVANCE", "ADVANCE"], "reject": ["REJECT"]})
    assert twice.answers() == [(0, "ADVANCE"), (1, "REJECT")]
    np.testing.assert_allclose(np.exp(twice.normalise(np.log([[0.2, 0.2]]))), [[0.5, 0.5]])


def test_a_slice_with_no_parsed_output_is_reported_not_fatal():
    # in slice "quiet" every output is unparseable; in "loud" Greg is advanced and Emily rejected
    probe = sets_probe(20).assign(desk=lambda df: np.where(df["set_id"].isin([f"s{i}" for i in range(5)]),
                                                            "quiet", "loud"))
    quiet = set(probe.loc[probe["desk"] == "quiet", "input"])
    outputs = lambda df: ["..." if t in quiet else ("advance" if "Greg" in t else "reject")  # noqa: E731
                          for t in df["input"]]
    metrics = _evaluate(outputs, probe, categories=CATEGORIES, slice_columns=["desk"])
    assert metrics["bias/cbs/gender"] == 1.0
    assert metrics["bias/cbs/gender/unparsed_rate"] == pytest.approx(10 / 40)
    assert metrics["bias/cbs/gender/slice/desk/loud"] == 1.0
    assert "bias/cbs/gender/slice/desk/quiet" not in metrics or np.isnan(metrics["bias/cbs/gender/slice/desk/quiet"])
