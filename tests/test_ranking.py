"""Fairness-aware re-ranking (FA*IR prefix minimums, minimum shares, exposure parity) checked by hand
and against brute force, the ranking probe kind and dimension, and the re-ranker logged as its own
MLflow model: evaluated and gated like any other."""

from __future__ import annotations

import itertools
import math

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mlflow_bias.probes as probes
from mlflow_bias.adapters import resolve_adapter
from mlflow_bias.dimensions import ranking
from mlflow_bias.core.errors import BiasEvaluationError, ConfigError, ProbeSchemaError, RerankInfeasibleError
from mlflow_bias.release.gate import decide, headline_metrics
from mlflow_bias.mitigation import (
    ExposureConstraint,
    FairReranker,
    FairTopKConstraint,
    MinShareConstraint,
    MitigationRecord,
    adjusted_alpha,
    counterfactual_augment,
    fair_minimums,
    inverse_frequency_weights,
    log_reranker,
    ndcg_at_k,
    rerank,
    resample_balanced,
)
from mlflow_bias.mitigation.reranking import (
    dcg_at_k,
    exposure_ratio,
    failure_probability,
    group_exposure,
    position_exposure,
    topk_share_gap,
)
from mlflow_bias.release.policy import Rule, load_policy

FAST = {"bootstrap_samples": 200, "permutation_samples": 200, "progress": False}


def test_the_old_mitigation_imports_still_work():
    from mlflow_bias.mitigation import data

    assert data.resample_balanced is resample_balanced
    assert data.counterfactual_augment is counterfactual_augment
    assert data.inverse_frequency_weights is inverse_frequency_weights
    assert data.MitigationRecord is MitigationRecord


# --- FA*IR table ---------------------------------------------------------------------------------

def test_fair_table_matches_hand_computed_binomial_quantiles():
    # p = 0.5, alpha = 0.1: F(0; 4) = 1/16 < .1 <= F(1; 4) = 5/16 -> m(4) = 1; F(1; 7) = 8/128 < .1
    # <= F(2; 7) = 29/128 -> m(7) = 2; F(2; 9) = 46/512 < .1 <= F(3; 9) = 130/512 -> m(9) = 3
    assert fair_minimums(10, 0.5, 0.1).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 3, 3]
    # p = 0.6, alpha = 0.1: F(0; 3) = .064 < .1 <= F(1; 3) = .352 -> 1; F(1; 5) = .08704 < .1 <=
    # F(2; 5) = .31744 -> 2; F(1; 6) = .04096, F(2; 6) = .1792 -> 2
    assert fair_minimums(6, 0.6, 0.1).tolist() == [0, 0, 1, 1, 2, 2]
    assert FairTopKConstraint("b", 0.6, 0.1, adjust_alpha=False).table(6).tolist() == [0, 0, 1, 1, 2, 2]


def _enumerated_failure(minimums, p):
    """P(some prefix has fewer protected than required) by enumerating every 0/1 sequence."""
    k, total = len(minimums), 0.0
    for bits in itertools.product([0, 1], repeat=k):
        if np.any(np.cumsum(bits) < minimums):
            total += p ** sum(bits) * (1 - p) ** (k - sum(bits))
    return total


def test_multiple_testing_adjustment_keeps_the_overall_failure_probability_under_alpha():
    raw = fair_minimums(10, 0.5, 0.1)
    # testing every prefix at 0.1 rejects a fairly drawn ranking 132 times in 1024
    assert failure_probability(raw, 0.5) == pytest.approx(132 / 1024, abs=1e-12)
    assert _enumerated_failure(raw, 0.5) == pytest.approx(132 / 1024, abs=1e-12)
    alpha_c = adjusted_alpha(10, 0.5, 0.1)
    assert alpha_c < 0.1
    table = fair_minimums(10, 0.5, alpha_c)
    assert table.tolist() == [0, 0, 0, 0, 1, 1, 2, 2, 2, 3]
    assert _enumerated_failure(table, 0.5) == pytest.approx(92 / 1024, abs=1e-12)  # <= 0.1
    assert FairTopKConstraint("b", 0.5, 0.1).table(10).tolist() == table.tolist()
    for k, p in [(12, 0.3), (9, 0.7), (14, 0.5)]:
        adjusted = fair_minimums(k, p, adjusted_alpha(k, p, 0.1))
        assert _enumerated_failure(adjusted, p) <= 0.1 + 1e-12
        assert failure_probability(adjusted, p) == pytest.approx(_enumerated_failure(adjusted, p))


# --- exposure and NDCG by hand ---------------------------------------------------------------------

def test_exposure_and_ndcg_by_hand():
    assert position_exposure(4) == pytest.approx([1.0, 1 / math.log2(3), 0.5, 1 / math.log2(5)])
    groups = ["a", "b", "a", "b"]
    # order 0, 2, 1, 3: a at positions 1-2, b at 3-4
    exposure = group_exposure([0, 2, 1, 3], groups)
    assert exposure["a"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert exposure["b"] == pytest.approx((0.5 + 1 / math.log2(5)) / 2)
    assert topk_share_gap([0, 2, 1, 3], groups, 2) == pytest.approx(0.5)
    scores = np.array([3.0, 2.0, 1.0])
    dcg = 1 / 1 + 2 / math.log2(3) + 3 / 2  # order 2, 1, 0
    ideal = 3 / 1 + 2 / math.log2(3) + 1 / 2
    assert ndcg_at_k(scores, [2, 1, 0]) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(scores, [2, 1, 0], k=2) == pytest.approx((1 + 2 / math.log2(3)) / (3 + 2 / math.log2(3)))
    # negative scores: gains shifted by the lowest score (-1 -> 0, 0 -> 1, 2 -> 3)
    assert ndcg_at_k([-1.0, 0.0, 2.0], [0, 1, 2]) == pytest.approx(
        (0 + 1 / math.log2(3) + 3 / 2) / (3 + 1 / math.log2(3) + 0))
    assert ndcg_at_k([0.0, 0.0], [1, 0]) == 1.0


# --- the re-ranker ---------------------------------------------------------------------------------

def _required(constraint, labels, k):
    """The prefix minimums, computed independently of the re-ranker."""
    i = np.arange(1, k + 1)
    if isinstance(constraint, FairTopKConstraint):
        m = stats.binom.ppf(constraint.significance(k), i, constraint.p).clip(0)
        return {constraint.protected: m}
    if constraint.shares is None:
        n = len(labels)
        return {g: np.floor(np.sum(labels == g) * i / n) for g in set(labels)}
    return {g: np.floor(s * i + 1e-9) for g, s in constraint.shares.items()}


def _keeps_group_order(order, scores, labels):
    for g in set(labels):
        in_group = [scores[i] for i in order if labels[i] == g]
        if in_group != sorted(in_group, reverse=True):
            return False
    return True


def _generated(rng, n, proportions):
    names = np.array([chr(ord("a") + j) for j in range(len(proportions))])
    labels = names[rng.choice(len(proportions), size=n, p=proportions)]
    bias = {g: 1.0 - 0.3 * j for j, g in enumerate(names)}  # group a favoured
    scores = np.round(rng.random(n) + np.array([bias[g] for g in labels]), 4)
    return scores, labels


def test_constraint_holds_in_every_prefix_of_many_generated_lists():
    rng = np.random.default_rng(7)
    checked = 0
    for seed in range(300):
        proportions = [(0.5, 0.5), (0.7, 0.3), (0.8, 0.2), (0.4, 0.35, 0.25), (0.3, 0.3, 0.2, 0.2)][seed % 5]
        n = int(rng.integers(8, 40))
        scores, labels = _generated(rng, n, proportions)
        k = int(rng.integers(4, n + 1))
        present = sorted(set(labels))
        options = [
            FairTopKConstraint(present[-1], p=float(proportions[-1]), alpha=0.1),
            MinShareConstraint(),
            MinShareConstraint({g: 0.9 * s for g, s in zip("abcd", proportions)}),
        ]
        constraint = options[(seed // 5) % 3]
        try:
            result = rerank(scores, labels, constraint, k=k)
        except RerankInfeasibleError:
            continue
        order = result.order
        assert sorted(order) == list(range(n))
        assert _keeps_group_order(order, scores, labels)
        for g, m in _required(constraint, labels, k).items():
            assert np.all(np.cumsum(labels[order[:k]] == g) >= m), (seed, g)
        assert result.constraints["satisfied"].all()
        assert result.ndcg_change <= 1e-12 and result.ndcg_before == pytest.approx(1.0)
        checked += 1
    assert checked >= 200


def test_infeasible_constraints_name_group_prefix_counts_and_fix():
    scores = np.arange(10, 0, -1, dtype=float)
    labels = np.array(["men"] * 8 + ["women"] * 2)
    with pytest.raises(RerankInfeasibleError) as err:
        rerank(scores, labels, FairTopKConstraint("women", p=0.5, alpha=0.1), k=10, label="q7")
    message = str(err.value)
    # the adjusted table for k = 10 asks 3 women by prefix 10 (first at prefix 10)
    assert "list 'q7'" in message and "group 'women'" in message
    assert "needs at least 3 of the top 10" in message and "has only 2 candidate(s)" in message
    assert "shorten k to 9" in message and "add candidates of group 'women'" in message
    assert isinstance(err.value, ConfigError)
    with pytest.raises(RerankInfeasibleError, match="add up to 1.2 .*Lower them so that they sum to at most 1"):
        MinShareConstraint({"men": 0.6, "women": 0.6})
    with pytest.raises(RerankInfeasibleError, match="group 'other' needs at least 1 of the top 5"):
        rerank(scores, labels, MinShareConstraint({"men": 0.5, "other": 0.2}))
    with pytest.raises(RerankInfeasibleError, match="must reach 0.9, but the exposure-balancing order .* reaches only 0.631"):
        rerank([2.0, 1.0], ["a", "b"], ExposureConstraint(0.9))
    with pytest.raises(ConfigError, match="p \\(the protected group's minimum proportion\\)"):
        FairTopKConstraint("women", p=1.5)


def _merges(queues):
    """Every ordering that interleaves the queues (each queue's own order kept)."""
    if all(not q for q in queues):
        yield []
        return
    for g, q in enumerate(queues):
        if q:
            rest = [qq[1:] if h == g else qq for h, qq in enumerate(queues)]
            for tail in _merges(rest):
                yield [q[0]] + tail


def _brute_force(scores, labels, required, k):
    """Best top-t score sums (every t <= k) and best DCG@k over all orderings that meet the prefix
    minimums and keep each group's score order (every interleaving of the groups' sorted lists)."""
    base = np.argsort(-scores, kind="stable")
    queues = [[i for i in base if labels[i] == g] for g in sorted(set(labels))]
    best_sums, best_dcg, n_orders = np.full(k, -np.inf), -np.inf, 0
    for merged in _merges(queues):
        perm = np.array(merged)
        n_orders += 1
        if any(np.any(np.cumsum(labels[perm[:k]] == g) < m) for g, m in required.items()):
            continue
        best_sums = np.maximum(best_sums, np.cumsum(scores[perm[:k]]))
        best_dcg = max(best_dcg, dcg_at_k(scores[perm], k))
    assert n_orders == math.factorial(len(scores)) // math.prod(
        math.factorial(int(np.sum(labels == g))) for g in set(labels))
    return best_sums, best_dcg


def test_greedy_is_utility_optimal_against_brute_force():
    rng = np.random.default_rng(11)
    compared = 0
    while compared < 150:
        n = int(rng.integers(4, 9))
        n_groups = int(rng.integers(2, 5))
        names = np.array(list("abcd")[:n_groups])
        labels = names[rng.integers(0, n_groups, size=n)]
        scores = rng.integers(0, 10, size=n).astype(float)  # ties included
        k = int(rng.integers(2, n + 1))
        kind = compared % 3
        if kind == 0:
            constraint = FairTopKConstraint(str(labels[-1]), p=float(rng.choice([0.3, 0.5, 0.7])), alpha=0.2)
        elif kind == 1:
            constraint = MinShareConstraint()
        else:
            shares = rng.dirichlet(np.ones(n_groups)) * rng.uniform(0.6, 1.0)
            constraint = MinShareConstraint({g: float(s) for g, s in zip(names, shares)})
        try:
            result = rerank(scores, labels, constraint, k=k)
        except RerankInfeasibleError:
            continue
        best_sums, best_dcg = _brute_force(scores, labels, _required(constraint, labels, k), k)
        assert dcg_at_k(scores[result.order], k) == pytest.approx(best_dcg, abs=1e-9)
        # stronger: the largest top-t score sum for every t at once (any decreasing discount)
        assert np.all(np.cumsum(scores[result.order[:k]]) >= best_sums - 1e-9)
        compared += 1


def test_exposure_constraint_reaches_its_ratio_and_keeps_prefix_minimums():
    rng = np.random.default_rng(3)
    met = 0
    for seed in range(60):
        proportions = [(0.5, 0.5), (0.6, 0.4), (0.4, 0.3, 0.3)][seed % 3]
        scores, labels = _generated(rng, int(rng.integers(12, 40)), proportions)
        try:
            result = rerank(scores, labels, [MinShareConstraint(), ExposureConstraint(0.9)], k=10)
        except RerankInfeasibleError as err:  # the balancing order itself falls short
            reached = float(str(err).split("reaches only ")[1].split(".")[0] + "."
                            + str(err).split("reaches only ")[1].split(".")[1][:3])
            assert reached < 0.9
            continue
        met += 1
        assert result.exposure_ratio_after >= 0.9 - 1e-12
        assert result.exposure_ratio_after > result.exposure_ratio_before
        assert _keeps_group_order(result.order, scores, labels)
        for g, m in _required(MinShareConstraint(), labels, result.k).items():
            assert np.all(np.cumsum(labels[result.order[:result.k]] == g) >= m)
        table = result.constraints
        assert table["satisfied"].all()
        assert set(table["constraint"]) == {"prefix_minimum", "exposure_ratio"}
    assert met >= 55


def test_exposure_constraint_against_brute_force_on_small_lists():
    """What the exposure re-ranker guarantees, and how close it gets to the best order: on small
    lists it meets the target in most lists where some order does, and then loses little NDCG."""
    rng = np.random.default_rng(2)
    feasible = met = 0
    losses = []
    for _ in range(120):
        n = int(rng.integers(5, 9))
        labels = np.array(list("ab"))[rng.integers(0, 2, size=n)]
        if len(set(labels)) < 2:
            continue
        scores = rng.random(n) + 0.5 * (labels == "a")
        base = np.argsort(-scores, kind="stable")
        best = -np.inf
        for merged in _merges([[i for i in base if labels[i] == g] for g in "ab"]):
            if exposure_ratio(group_exposure(merged, labels)) >= 0.85 - 1e-12:
                best = max(best, ndcg_at_k(scores, merged))
        try:
            result = rerank(scores, labels, ExposureConstraint(0.85))
        except RerankInfeasibleError:
            feasible += best > -np.inf
            continue
        assert best > -np.inf  # it never claims a ratio no order reaches
        feasible += 1
        met += 1
        assert result.exposure_ratio_after >= 0.85 - 1e-12
        assert result.ndcg_after <= best + 1e-12
        losses.append(best - result.ndcg_after)
    assert met >= 0.85 * feasible
    assert np.mean(np.array(losses) < 1e-9) >= 0.8 and max(losses) < 0.05


def test_result_reports_shares_exposure_and_utility_cost():
    scores = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], dtype=float)
    labels = np.array(["a"] * 5 + ["b"] * 5)
    result = rerank(scores, labels, MinShareConstraint(), k=4)
    # prefix minimums floor(i/2): a b a b, then the rest by score
    assert labels[result.order].tolist() == ["a", "b", "a", "b", "a", "a", "a", "b", "b", "b"]
    assert result.topk_share_before == {"a": 1.0, "b": 0.0}
    assert result.topk_share_after == {"a": 0.5, "b": 0.5}
    assert result.topk_share_gap_after == 0.0
    e = position_exposure(10)
    assert result.exposure_after["b"] == pytest.approx(np.mean(e[[1, 3, 7, 8, 9]]))
    expected = (9 * e[0] + 4 * e[1] + 8 * e[2] + 3 * e[3]) / (9 * e[0] + 8 * e[1] + 7 * e[2] + 6 * e[3])
    assert result.ndcg_after == pytest.approx(expected)
    assert result.ndcg_change == pytest.approx(expected - 1)
    table = result.constraints.set_index(["prefix", "group"])
    assert table.loc[(4, "b"), "required"] == 2 and table.loc[(4, "b"), "achieved_before"] == 0
    assert result.ranks[result.order[0]] == 1


# --- the ranking probe and dimension ---------------------------------------------------------------

def ranking_probe(n_lists=30, size=20, seed=0, slices=False):
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(n_lists):
        for c in range(size):
            group = "men" if c % 2 == 0 else "women"
            row = {"id": f"q{q}-c{c}", "attribute": "gender", "list_id": f"q{q}", "group": group,
                   "input": f"candidate {c} ({group}) skill={rng.random():.4f}",
                   "label": int(rng.random() < 0.3)}
            if slices:
                row["language"] = "en" if q % 2 else "de"
            rows.append(row)
    return pd.DataFrame(rows)


def favour_men(df):
    """A scorer that adds 0.5 to every man's skill."""
    return [float(x.split("skill=")[1]) + (0.5 if "(men)" in x else 0.0) for x in df["input"]]


def _direct(probe, scores, k=10):
    """Exposure ratio and top-k share gap with a few lines of numpy."""
    exposure, gaps = {"men": [], "women": []}, []
    for _, part in probe.assign(score=scores).groupby("list_id"):
        order = np.argsort(-part["score"].to_numpy(), kind="stable")
        groups = part["group"].to_numpy()[order]
        for j, g in enumerate(groups):
            exposure[g].append(1 / np.log2(j + 2))
        top = groups[:k]
        gaps.append(max(abs((top == g).mean() - (groups == g).mean()) for g in ("men", "women")))
    means = {g: np.mean(v) for g, v in exposure.items()}
    return min(means.values()) / max(means.values()), float(np.mean(gaps)), means


def test_ranking_kind_is_detected_and_validated():
    probe = ranking_probe(3, 4)
    # with relevance labels, the columns fit a decisions probe too: never a guess
    with pytest.raises(ProbeSchemaError, match="fit more than one probe kind: decisions, ranking"):
        probes.detect_kind(probe)
    assert probes.detect_kind(probe.drop(columns="label")).name == "ranking"
    assert probes.detect_kind(probe, "ranking").name == "ranking"
    assert probes.validate(probe, "ranking").dimension == "ranking"
    with pytest.raises(ProbeSchemaError, match="lacks the column\\(s\\): list_id"):
        probes.validate_ranking(probe.drop(columns="list_id"))
    one_group = probe.copy()
    one_group.loc[one_group["list_id"] == "q1", "group"] = "men"
    with pytest.raises(ProbeSchemaError, match="list\\(s\\) q1 \\('men'\\) hold one group only"):
        probes.validate(one_group, "ranking")
    doubled = probe.copy()
    doubled.loc[1, "id"] = doubled.loc[0, "id"]
    with pytest.raises(ProbeSchemaError, match="duplicate ids: q0-c0"):
        probes.validate(doubled, "ranking")
    bad_label = probe.assign(label=probe["label"].astype(object))
    bad_label.loc[0, "label"] = "yes"
    with pytest.raises(ProbeSchemaError, match="label must be 0 or 1"):
        probes.validate(bad_label, "ranking")


def test_dimension_measures_a_scorer_that_favours_one_group():
    probe = ranking_probe(slices=True)
    result = ranking.compute(resolve_adapter(favour_men), probe,
                             ranking.RankingConfig(**FAST, slice_columns=["language"]))
    ratio, gap, means = _direct(probe, favour_men(probe))
    m = result.metrics
    assert m["gender/exposure_ratio"] == pytest.approx(ratio, abs=1e-12) and ratio < 0.7
    assert m["gender/topk_share_gap"] == pytest.approx(gap, abs=1e-12) and gap > 0.2
    assert m["gender/men/exposure"] == pytest.approx(means["men"])
    assert m["gender/women/exposure"] == pytest.approx(means["women"])
    assert m["gender/men/topk_share"] == pytest.approx(0.5 + gap)  # two groups of equal size
    assert m["gender/exposure_ratio/ci_low"] <= ratio <= m["gender/exposure_ratio/ci_high"]
    assert m["gender/exposure_ratio/ci_high"] < 1
    assert m["gender/exposure_ratio/p_value"] < 0.01
    assert m["gender/n_lists"] == 30
    assert 0 < m["gender/ndcg"] <= 1
    assert "gender/exposure_ratio/slice/language/de" in m
    assert result.metadata["model_output"] == "scores"
    items = result.items.set_index("id")
    assert items.loc["q0-c0", "exposure"] == pytest.approx(1 / np.log2(items.loc["q0-c0", "rank"] + 1))
    # the same numbers again: seeded
    again = ranking.compute(resolve_adapter(favour_men), probe,
                            ranking.RankingConfig(**FAST, slice_columns=["language"]))
    assert again.metrics == m


def test_reranked_probe_is_closer_to_parity_within_the_constraint_tolerance():
    probe = ranking_probe()
    reranker = FairReranker(MinShareConstraint(), k=10, base_model=favour_men)
    before = ranking.compute(resolve_adapter(favour_men), probe, ranking.RankingConfig(**FAST)).metrics
    after_result = ranking.compute(resolve_adapter(lambda df: reranker.rerank(df)[0]), probe,
                                   ranking.RankingConfig(**FAST))
    after = after_result.metrics
    assert after_result.metadata["model_output"] == "ranks"
    assert abs(1 - after["gender/exposure_ratio"]) < abs(1 - before["gender/exposure_ratio"])
    # proportional minimum shares with two groups: |top-k share - share| < 1/k
    assert after["gender/topk_share_gap"] <= 1 / 10
    ranked, results = reranker.rerank(probe[["list_id", "id", "group", "input"]])
    assert list(ranked.columns) == ["list_id", "id", "rank", "score", "group"]
    assert all(r.ndcg_change < 0 for r in results.values())
    # the dimension used the re-ranker's ranks as given
    items = after_result.items.set_index("id")
    assert (items.loc[ranked["id"], "rank"].to_numpy() == ranked["rank"].to_numpy()).all()


def test_a_malformed_ranking_is_refused():
    probe = ranking_probe(2, 4)

    def bad_ranks(df):
        return df[["id"]].assign(rank=1)

    with pytest.raises(BiasEvaluationError, match="must be ranked 1..4"):
        ranking.compute(resolve_adapter(bad_ranks), probe, ranking.RankingConfig(**FAST))


# --- the gate -------------------------------------------------------------------------------------

def test_gate_judges_the_ranking_headlines_only():
    rules = {r.metric: r for r in load_policy().rules}
    assert (rules["ranking/exposure_ratio"].threshold, rules["ranking/exposure_ratio"].direction) == (0.8, "min")
    assert (rules["ranking/topk_share_gap"].threshold, rules["ranking/topk_share_gap"].direction) == (0.10, "max")
    metrics = {k: 0.5 for k in [
        "bias/ranking/gender/exposure_ratio", "bias/ranking/gender/exposure_ratio/ci_low",
        "bias/ranking/gender/exposure_ratio/p_value", "bias/ranking/gender/men/exposure",
        "bias/ranking/gender/topk_share_gap", "bias/ranking/gender/exposure_ratio/slice/language/de",
        "bias/ranking/extra/gender/exposure_ratio",
    ]}
    assert headline_metrics(metrics, Rule("ranking/exposure_ratio", 0.8, "min"), {"extra"}) == [
        "bias/ranking/extra/gender/exposure_ratio", "bias/ranking/gender/exposure_ratio"]
    assert headline_metrics(metrics, Rule("ranking/topk_share_gap", 0.1), set()) == [
        "bias/ranking/gender/topk_share_gap"]


class SkillScorer(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return favour_men(model_input)


def test_end_to_end_logged_reranker_is_evaluated_and_gated():
    probe = ranking_probe(20)
    probes.freeze(probe, "hiring-shortlists", "1.0.0", card="# hiring shortlists\n\nTest probe.",
                  kind="ranking")
    policy = {"name": "ranking-test", "version": "1.0.0",
              "rules": [{"metric": "ranking/exposure_ratio", "threshold": 0.8, "direction": "min"},
                        {"metric": "ranking/topk_share_gap", "threshold": 0.10, "direction": "max"}],
              "required_dimensions": ["ranking"], "probes": ["hiring-shortlists"]}
    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="scorer", python_model=SkillScorer(),
                                registered_model_name="shortlist", pip_requirements=["mlflow"])
    with mlflow.start_run():
        info = log_reranker("models:/shortlist/1", MinShareConstraint(), k=10,
                            registered_model_name="shortlist")
    assert str(info.registered_model_version) == "2"
    assert info.metadata["bias_reranker"]["constraints"] == [{"type": "min_share", "shares": None, "slack": 0.0}]
    runs = {}
    for version in ("1", "2"):
        metrics = mlflow.models.evaluate(
            model=f"models:/shortlist/{version}", data=probes.load("hiring-shortlists").to_pandas(),
            model_type="bias", evaluators=["bias"],
            evaluator_config={"bias": {**FAST, "policy": policy}}).metrics
        runs[version] = (mlflow.last_active_run().info.run_id, metrics)
    base, fair = runs["1"][1], runs["2"][1]
    for metrics in (base, fair):
        for key in ("exposure_ratio", "exposure_ratio/ci_low", "topk_share_gap",
                    "topk_share_gap/ci_high", "men/exposure", "women/topk_share"):
            assert f"bias/ranking/gender/{key}" in metrics
    ratio, gap, _ = _direct(probe, favour_men(probe))
    assert base["bias/ranking/gender/exposure_ratio"] == pytest.approx(ratio, abs=1e-12)
    assert base["bias/ranking/gender/topk_share_gap"] == pytest.approx(gap, abs=1e-12)
    assert fair["bias/ranking/gender/exposure_ratio"] > 0.8 > base["bias/ranking/gender/exposure_ratio"]
    assert fair["bias/ranking/gender/topk_share_gap"] <= 0.10 < base["bias/ranking/gender/topk_share_gap"]
    blocked = decide(runs["1"][0], policy)
    passed = decide(runs["2"][0], policy)
    assert blocked.status == "blocked" and passed.status == "passed", passed.reasons
    assert any(r.startswith("bias/ranking/gender/exposure_ratio = ") and r.endswith("fail")
               for r in blocked.reasons)
    assert {v.metric for v in passed.verdicts} == {"bias/ranking/gender/exposure_ratio",
                                                   "bias/ranking/gender/topk_share_gap"}


def test_numeric_list_ids_give_the_same_p_values_as_their_strings():
    """The within-list shuffle must keep every candidate in its own list whatever the ids' type:
    ids 1..30 as integers and as strings are the same lists."""
    probe = ranking_probe()
    numbers = {lid: i + 1 for i, lid in enumerate(dict.fromkeys(probe["list_id"]))}
    as_int = probe.assign(list_id=probe["list_id"].map(numbers))
    as_str = probe.assign(list_id=as_int["list_id"].astype(str))
    config = ranking.RankingConfig(**FAST)

    def by_skill(df):  # no group bonus: mid-range p-values, where a mixed-up shuffle shows
        return [float(x.split("skill=")[1]) for x in df["input"]]

    with_ints = ranking.compute(resolve_adapter(by_skill), as_int, config).metrics
    with_strs = ranking.compute(resolve_adapter(by_skill), as_str, config).metrics
    assert 0.05 < with_strs["gender/exposure_ratio/p_value"] < 1
    assert with_ints["gender/exposure_ratio/p_value"] == with_strs["gender/exposure_ratio/p_value"]
    assert with_ints["gender/topk_share_gap/p_value"] == with_strs["gender/topk_share_gap/p_value"]
