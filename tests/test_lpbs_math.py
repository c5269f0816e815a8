"""LPBS and its uncertainty, against values computed by hand and with plain numpy."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from mlflow_bias.dimensions import lpbs
from mlflow_bias.core.errors import ProbeSchemaError
from mlflow_bias.core.stats import (
    bootstrap_samples,
    percentile_interval,
    run_starts,
    sign_flip_test,
    stratified_bootstrap,
)
from test_core import _indices_in_one_draw


class FixedScores:
    """An adapter whose log-likelihoods are looked up in a table: isolates the metric maths."""

    capabilities = frozenset({"loglikelihood"})

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table

    def describe(self) -> dict[str, str]:
        return {"model": "fixed"}

    def loglikelihood(self, texts):
        return np.array([self.table[t] for t in texts], dtype=float)


def pairs(rows):
    return pd.DataFrame(rows)


def test_preference_is_forced_choice_probability():
    # tanh(d/2) = sigmoid(d) - sigmoid(-d) = P(a) - P(b) when choosing between a and b
    d = np.array([-3.0, -0.5, 0.0, 1.2, 4.0])
    sigmoid = 1 / (1 + np.exp(-d))
    np.testing.assert_allclose(lpbs.preference(d), sigmoid - (1 - sigmoid), atol=1e-12)


def test_labelled_lpbs_hand_computed_with_priors_and_orientation():
    # item 1: delta = (-1 - -2) - (-5 - -5) = 1, stereotype a -> p = tanh(0.5)
    # item 2: delta = (-4 - -2) - (-3 - -4) = -3, stereotype b -> p = -tanh(-1.5) = tanh(1.5)
    # item 3: delta = (-2 - -2.5) - 0 (no priors) = 0.5, stereotype b -> p = -tanh(0.25)
    table = {"a1": -1, "b1": -2, "pa1": -5, "pb1": -5, "a2": -4, "b2": -2, "pa2": -3, "pb2": -4,
             "a3": -2, "b3": -2.5}
    probe = pairs([
        dict(id=1, attribute="gender", condition="c1", group_a="m", group_b="f", text_a="a1",
             text_b="b1", prior_a="pa1", prior_b="pb1", stereotype="a"),
        dict(id=2, attribute="gender", condition="c2", group_a="m", group_b="f", text_a="a2",
             text_b="b2", prior_a="pa2", prior_b="pb2", stereotype="b"),
        dict(id=3, attribute="gender", condition="c2", group_a="m", group_b="f", text_a="a3",
             text_b="b3", prior_a="", prior_b="", stereotype="b"),
    ])
    result = lpbs.compute(FixedScores(table), probe, lpbs.LPBSConfig(bootstrap_samples=200))
    p = np.array([np.tanh(0.5), np.tanh(1.5), -np.tanh(0.25)])
    assert result.metrics["gender"] == pytest.approx(abs(p.mean()), abs=1e-12)
    assert result.metrics["gender/stereotype_rate"] == pytest.approx(2 / 3)
    np.testing.assert_allclose(result.items["delta"], [1.0, -3.0, 0.5])
    np.testing.assert_allclose(result.items["preference"], p)
    assert list(result.items["logprob_a"]) == [-1, -4, -2]
    assert np.isnan(result.items.loc[2, "prior_logprob_a"])


def test_unlabelled_lpbs_removes_sampling_noise_from_the_mean_then_clips_once():
    p = np.array([0.5, 0.3, 0.1, -0.2, 0.2, 0.0])  # conditions: x x x, y y y
    starts = np.array([0, 3])
    by_hand = []
    for chunk in (p[:3], p[3:]):
        b, v, n = chunk.mean(), chunk.var(ddof=1), len(chunk)
        by_hand.append(b * b - v / n)
    expected = np.sqrt(max(0.0, np.mean(by_hand)))
    assert lpbs.unlabelled_lpbs(p, starts) == pytest.approx(expected, abs=1e-12)
    # condition y is pure noise (mean 0): its term is negative and pulls the mean down instead of
    # being clipped to 0 (which would make every noisy condition a positive bias)
    assert by_hand[1] < 0 and expected < np.sqrt(max(0.0, by_hand[0]) / 2)
    # vectorised over a leading axis, as the bootstrap and the permutation test use it
    stacked = lpbs.unlabelled_lpbs(np.stack([p, -p]), starts)
    np.testing.assert_allclose(stacked, [expected, expected])
    # all noise: the mean is negative, clipped once to 0
    assert lpbs.unlabelled_lpbs(np.array([0.1, -0.1, 0.2, -0.2]), np.array([0, 2])) == 0.0


def test_unlabelled_lpbs_interval_covers_the_true_shift():
    """Resampled items estimate the observed mean square (noise included), not LPBS: without the
    shift the interval sits above the estimate and misses the truth most of the time. 100 probes
    of 50 conditions x 20 items with known per-condition shifts; truth from 20,000 draws each."""
    rng = np.random.default_rng(1)
    conditions, per = 50, 20
    keys = np.repeat(np.arange(conditions), per)
    starts = run_starts(keys)
    covered = uncorrected = 0
    for trial in range(100):
        shift = rng.normal(0, 0.1, conditions)
        p = np.tanh(shift[keys] + rng.normal(0, 0.4, conditions * per))
        truth = np.sqrt(np.mean(np.tanh(shift[:, None] + rng.normal(0, 0.4, (conditions, 20_000))).mean(1) ** 2))
        fixed = bootstrap_samples(p, keys, lpbs.unlabelled_replicates(p, starts), n_resamples=200, seed=trial)
        low, high = percentile_interval(fixed, 0.95)
        covered += low <= truth <= high
        assert low <= lpbs.unlabelled_lpbs(p, starts) <= high
        raw = bootstrap_samples(p, keys, lambda x: lpbs.unlabelled_lpbs(x, starts), n_resamples=200, seed=trial)
        low, high = percentile_interval(raw, 0.95)
        uncorrected += low <= truth <= high
    assert covered >= 90 and uncorrected <= 50


def test_unlabelled_form_orients_by_group_not_by_column_order():
    # the same preference for group "f" expressed with the columns swapped in one item
    table = {"x_m": -2.0, "x_f": -1.0}
    rows = [
        dict(id=1, attribute="g", condition="x", group_a="m", group_b="f", text_a="x_m", text_b="x_f"),
        dict(id=2, attribute="g", condition="x", group_a="f", group_b="m", text_a="x_f", text_b="x_m"),
    ]
    result = lpbs.compute(FixedScores(table), pairs(rows), lpbs.LPBSConfig(bootstrap_samples=50))
    # both items prefer "f" by delta 1 -> b = tanh(0.5) with zero variance
    assert result.metrics["g"] == pytest.approx(np.tanh(0.5), abs=1e-12)
    assert "g/stereotype_rate" not in result.metrics


def test_unlabelled_needs_two_items_in_some_condition():
    rows = [dict(id=1, attribute="g", condition="x", group_a="m", group_b="f", text_a="a", text_b="b")]
    with pytest.raises(ProbeSchemaError, match="two or more items"):
        lpbs.compute(FixedScores({"a": -1, "b": -2}), pairs(rows), lpbs.LPBSConfig())


def test_sign_flip_test_is_exact_for_small_samples():
    values = np.array([0.4, 0.1, -0.2, 0.3, 0.25])
    test = sign_flip_test(values, lpbs.labelled_lpbs, n_resamples=10_000, seed=0)
    # enumerate all 2^5 sign patterns by hand
    null = np.array([abs(np.mean(values * s)) for s in itertools.product([1, -1], repeat=5)])
    observed = abs(values.mean())
    assert test.exact
    assert test.p_value == pytest.approx((null >= observed - 1e-12).mean())
    assert test.noise_floor == pytest.approx(np.quantile(null, 0.95))


def test_sign_flip_monte_carlo_has_plus_one_correction_and_is_seeded():
    rng = np.random.default_rng(1)
    values = rng.normal(0.5, 0.1, size=60)  # strongly one-sided: no flip beats it
    a = sign_flip_test(values, lpbs.labelled_lpbs, n_resamples=999, seed=3)
    b = sign_flip_test(values, lpbs.labelled_lpbs, n_resamples=999, seed=3)
    assert not a.exact
    assert a.p_value == pytest.approx(1 / 1000)
    assert a == b


def test_stratified_bootstrap_keeps_strata_and_matches_numpy_percentiles():
    values = np.array([0.1, 0.2, 0.3, 0.9, 1.0])
    strata = np.array(["a", "a", "a", "b", "b"])
    ci = stratified_bootstrap(values, strata, lambda x: x.mean(axis=-1), n_resamples=4000, seed=7)
    # independent re-computation with the same generator sequence
    rng = np.random.default_rng(7)
    first = values[:3][rng.integers(0, 3, size=(4000, 3))]
    second = values[3:][rng.integers(0, 2, size=(4000, 2))]
    means = np.concatenate([first, second], axis=1).mean(axis=1)
    assert (ci.low, ci.high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert ci.low < values.mean() < ci.high


def test_single_item_strata_are_pooled_not_frozen():
    values = np.linspace(-1, 1, 20)
    strata = np.arange(20)  # every stratum has one item
    ci = stratified_bootstrap(values, strata, lambda x: x.mean(axis=-1), n_resamples=500, seed=0)
    assert ci.high - ci.low > 0.2


def test_slices_and_conditions_table():
    rows, table = [], {}
    for i in range(40):
        marker = "pronoun" if i % 2 else "name"
        delta = 2.0 if marker == "pronoun" else 0.0
        table[f"a{i}"], table[f"b{i}"] = -1.0, -1.0 - delta
        rows.append(dict(id=i, attribute="gender", condition=f"occ{i % 4}", group_a="m",
                         group_b="f", text_a=f"a{i}", text_b=f"b{i}", stereotype="a",
                         marker=marker))
    result = lpbs.compute(FixedScores(table), pairs(rows),
                          lpbs.LPBSConfig(slice_columns=["marker"], bootstrap_samples=100))
    assert result.metrics["gender/slice/marker/pronoun"] == pytest.approx(np.tanh(1.0))
    assert result.metrics["gender/slice/marker/name"] == pytest.approx(0.0)
    assert result.metrics["gender"] == pytest.approx(np.tanh(1.0) / 2)
    flagged = {s["value"]: s["flagged"] for s in result.summary[0]["slices"]}
    assert flagged == {"name": False, "pronoun": True}
    conditions = result.tables["conditions"]
    assert set(conditions["condition"]) == {"occ0", "occ1", "occ2", "occ3"}
    assert conditions["n_items"].sum() == 40


def test_same_seed_same_numbers_other_seed_other_ci():
    rng = np.random.default_rng(0)
    table, rows = {}, []
    for i in range(30):
        table[f"a{i}"], table[f"b{i}"] = rng.normal(), rng.normal()
        rows.append(dict(id=i, attribute="gender", condition=f"c{i % 3}", group_a="m",
                         group_b="f", text_a=f"a{i}", text_b=f"b{i}", stereotype="a"))
    adapter = FixedScores(table)
    run = lambda seed: lpbs.compute(adapter, pairs(rows), lpbs.LPBSConfig(seed=seed)).metrics  # noqa: E731
    assert run(0) == run(0)
    assert run(0)["gender/ci_low"] != run(1)["gender/ci_low"]
    assert run(0)["gender"] == run(1)["gender"]


def test_sign_flip_test_agrees_with_scipys_permutation_test():
    """The same test as scipy's one-sample `permutation_test`: identical when exact, within Monte
    Carlo error otherwise (different random patterns)."""
    from scipy import stats as scipy_stats

    def scipy_p(values, n_resamples):
        return scipy_stats.permutation_test(
            (values,), lambda x, axis: np.abs(x.mean(axis=axis)), permutation_type="samples",
            vectorized=True, n_resamples=n_resamples, alternative="greater",
            random_state=np.random.default_rng(5)).pvalue

    rng = np.random.default_rng(4)
    small = rng.normal(0.1, 1.0, size=9)
    ours = sign_flip_test(small, lpbs.labelled_lpbs, n_resamples=1000, seed=0)
    assert ours.exact and ours.resamples == 512
    assert ours.p_value == pytest.approx(scipy_p(small, 1000), abs=1e-12)

    values = rng.normal(0.08, 1.0, size=400)
    ours = sign_flip_test(values, lpbs.labelled_lpbs, n_resamples=20_000, seed=0)
    reference = scipy_p(values, 20_000)
    assert 0.02 < reference < 0.98  # a p-value with room to disagree
    assert abs(ours.p_value - reference) < 4 * np.sqrt(2 * reference * (1 - reference) / 20_000)


def _three_group_probe(seed: int = 0, n: int = 30):
    """Labelled pairs of female/male, female/nonbinary and male/nonbinary sentences with
    log-likelihoods drawn so that each group pair has its own mean preference."""
    rng = np.random.default_rng(seed)
    shift = {("female", "male"): 0.8, ("female", "nonbinary"): 0.2, ("male", "nonbinary"): -0.1}
    rows, table = [], {}
    for (a, b), mean in shift.items():
        for i in range(n):
            ta, tb = f"{a}-{b}-{i}-a", f"{a}-{b}-{i}-b"
            table[ta], table[tb] = rng.normal(mean, 1.0), 0.0
            rows.append(dict(id=f"{a}-{b}-{i}", attribute="gender", condition=f"c{i % 5}",
                             group_a=a, group_b=b, text_a=ta, text_b=tb, stereotype="a"))
    return pairs(rows), table


def test_more_than_two_groups_score_every_group_pair_and_the_largest():
    probe, table = _three_group_probe()
    config = lpbs.LPBSConfig(bootstrap_samples=300, permutation_samples=400)
    result = lpbs.compute(FixedScores(table), probe, config)
    metrics = result.metrics
    per_pair = {}
    for pair, (a, b) in {"female_vs_male": ("female", "male"), "female_vs_nonbinary": ("female", "nonbinary"),
                         "male_vs_nonbinary": ("male", "nonbinary")}.items():
        sub = probe[(probe["group_a"] == a) & (probe["group_b"] == b)]
        p = lpbs.preference((sub["text_a"].map(table) - sub["text_b"].map(table)).to_numpy())
        per_pair[pair] = abs(p.mean())  # labelled: |mean p| over the pair's own items
        assert metrics[f"gender/pair/{pair}"] == pytest.approx(per_pair[pair], abs=1e-12)
        assert metrics[f"gender/pair/{pair}/n_items"] == len(sub)
        # its CI is the pair's own bootstrap with the pair's seed
        alone = lpbs.compute(FixedScores(table), sub, lpbs.LPBSConfig(
            bootstrap_samples=300, permutation_samples=400, seed=lpbs.pair_seed(0, pair)))
        assert metrics[f"gender/pair/{pair}/ci_low"] == pytest.approx(alone.metrics["gender/ci_low"], abs=1e-12)
    assert metrics["gender"] == pytest.approx(max(per_pair.values()), abs=1e-12)
    assert metrics["gender"] == metrics["gender/pair/female_vs_male"]
    assert metrics["gender/ci_low"] <= metrics["gender"] <= metrics["gender/ci_high"]
    assert metrics["gender/p_value"] < 0.01 and metrics["gender/noise_floor"] < metrics["gender"]
    assert metrics["gender/n_items"] == len(probe)
    assert set(result.summary[0]["pairs"]) == set(per_pair)
    from mlflow_bias.reporting.html import _build_view

    card = {"dimensions": [{"dimension": "lpbs", "attributes": result.summary}]}
    block = _build_view(card, None, None, [], None)["dimensions"][0]["blocks"][0]
    assert [r[0] for r in block["pairs"]["rows"]] == sorted(per_pair)
    columns = block["pairs"]["columns"]
    assert columns == ["group", "value", "ci low", "ci high", "n items", "form", "p value", "noise floor"]
    by_pair = {r[0]: dict(zip(columns, r)) for r in block["pairs"]["rows"]}
    p_value = metrics["gender/pair/female_vs_male/p_value"]
    assert by_pair["female_vs_male"]["p value"] == ("< 0.0001" if p_value < 1e-4 else f"{p_value:.4f}")
    assert by_pair["female_vs_male"]["form"] == "labelled"


def test_the_largest_pair_ci_is_the_percentile_interval_of_the_largest_resampled_pair():
    probe, table = _three_group_probe(seed=1, n=12)
    config = lpbs.LPBSConfig(bootstrap_samples=200, permutation_samples=200)
    metrics = lpbs.compute(FixedScores(table), probe, config).metrics
    resampled = []
    for (a, b), sub in probe.groupby(["group_a", "group_b"], sort=True):
        p = lpbs.preference((sub["text_a"].map(table) - sub["text_b"].map(table)).to_numpy())
        keys = sub["condition"].to_numpy() + " | " + a + " vs " + b
        order = np.argsort(keys, kind="stable")
        index = _indices_in_one_draw(keys[order], 200, seed=lpbs.pair_seed(0, f"{a}_vs_{b}"))
        resampled.append(np.abs(p[order][index].mean(axis=-1)))
    largest = np.max(np.stack(resampled), axis=0)
    assert metrics["gender/ci_low"] == pytest.approx(np.quantile(largest, 0.025), abs=1e-12)
    assert metrics["gender/ci_high"] == pytest.approx(np.quantile(largest, 0.975), abs=1e-12)


def test_labelled_and_unlabelled_pairs_each_keep_their_form():
    """As in gender-occupation@2.0.0: female vs male items carry a stereotype label, the pairs
    with the neutral group none. Each pair is scored in its own form (|mean p| and the unlabelled
    RMS), the attribute's value is the largest, and no warning says labels were dropped."""
    probe, table = _three_group_probe(seed=2, n=30)
    probe.loc[probe["group_b"] == "nonbinary", "stereotype"] = ""
    result = lpbs.compute(FixedScores(table), probe, lpbs.LPBSConfig(bootstrap_samples=200, permutation_samples=200))
    metrics = result.metrics
    binary = probe[probe["group_b"] == "male"]
    p = lpbs.preference((binary["text_a"].map(table) - binary["text_b"].map(table)).to_numpy())
    assert metrics["gender/pair/female_vs_male"] == pytest.approx(abs(p.mean()), abs=1e-12)
    neutral = probe[(probe["group_a"] == "female") & (probe["group_b"] == "nonbinary")].sort_values("condition", kind="stable")
    q = lpbs.preference((neutral["text_a"].map(table) - neutral["text_b"].map(table)).to_numpy())
    keys = neutral["condition"].to_numpy()
    assert metrics["gender/pair/female_vs_nonbinary"] == pytest.approx(
        float(lpbs.unlabelled_lpbs(q, run_starts(keys))), abs=1e-12)
    assert not [w for w in result.warnings if "stereotype label" in w]
    # each pair's own sign-flip test, with the pair's seed, as a probe of that pair alone would get
    alone = sign_flip_test(q, lambda x: lpbs.unlabelled_lpbs(x, run_starts(keys)), n_resamples=200,
                           seed=lpbs.pair_seed(0, "female_vs_nonbinary"))
    assert metrics["gender/pair/female_vs_nonbinary/p_value"] == pytest.approx(alone.p_value, abs=1e-12)
    assert metrics["gender/pair/female_vs_nonbinary/noise_floor"] == pytest.approx(alone.noise_floor, abs=1e-12)
    pairs = result.summary[0]["pairs"]
    assert (pairs["female_vs_male"]["form"], pairs["male_vs_nonbinary"]["form"]) == ("labelled", "unlabelled")
    from mlflow_bias.reporting.scorecard import format_scorecard

    text = format_scorecard({"model": {}, "status": "completed", "created_at": "now", "probes": [], "warnings": [],
                             "dimensions": [{"dimension": "lpbs", "attributes": result.summary}]})
    assert f"pair female_vs_nonbinary: {metrics['gender/pair/female_vs_nonbinary']:.3f}" in text
    assert "n=30 (unlabelled)" in text and "n=30 (labelled)" in text
    # a pair whose own labels are partial is named in the warning
    probe.loc[probe.index[0], "stereotype"] = ""
    partial = lpbs.compute(FixedScores(table), probe, lpbs.LPBSConfig(bootstrap_samples=50, permutation_samples=50))
    assert [w for w in partial.warnings if "stereotype label" in w] == [
        "LPBS/gender (female_vs_male): only 29 of 30 items have a stereotype label, so the "
        "unlabelled (direction-free) form was used."]
