"""The pure building blocks in mlflow_bias.core and the intervals in mlflow_bias.core.stats."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mlflow_bias.text import lexicons
from mlflow_bias.core import ranking_metrics as rm
from mlflow_bias.core.groups import group_labels
from mlflow_bias.core.hashing import file_sha256
from mlflow_bias.core.metric_keys import (
    SIBLING_STATISTICS,
    MetricKey,
    dimension_of,
    metric_prefix,
    metric_segment,
)
from mlflow_bias.core.versions import version_key
from mlflow_bias.core import stats
from mlflow_bias.core.stats import bootstrap_interval, percentile_interval, wilson_interval


def test_core_imports_nothing_else_from_the_package():
    for path in Path("mlflow_bias/core").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith("mlflow_bias") or name.startswith("mlflow_bias.core"), path


# -- intervals -----------------------------------------------------------------------------------
def test_percentile_interval_by_hand():
    # 0..10: the 5% and 95% quantiles with linear interpolation are 0.5 and 9.5
    assert percentile_interval(np.arange(11.0), 0.90) == pytest.approx((0.5, 9.5))
    assert percentile_interval([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == pytest.approx((2.0, 4.0))


def test_percentile_interval_skipping():
    values = np.array([1.0, 2.0, np.nan, 4.0, 5.0, np.inf])
    assert all(math.isnan(v) for v in percentile_interval(values, 0.9))
    assert percentile_interval(values, 0.9, skip="nan") == pytest.approx(
        tuple(np.nanquantile(values, [0.05, 0.95])), nan_ok=True)
    assert percentile_interval(values, 0.9, skip="non-finite") == pytest.approx(
        tuple(np.quantile([1.0, 2.0, 4.0, 5.0], [0.05, 0.95])))
    for skip in ("none", "nan", "non-finite"):
        assert all(math.isnan(v) for v in percentile_interval([], 0.95, skip=skip))
        assert all(math.isnan(v) for v in percentile_interval([np.nan, np.nan], 0.95, skip=skip)
                   ) or skip == "none"


def test_bootstrap_interval_matches_drawing_by_hand():
    values = np.array([0.1, 0.4, 0.35, 0.8, 0.05, 0.6])
    got = bootstrap_interval(lambda d: values[d].mean(axis=1), len(values), n_resamples=500, seed=3)
    draws = np.random.default_rng(3).integers(0, len(values), size=(500, len(values)))
    assert got == pytest.approx(tuple(np.quantile(values[draws].mean(axis=1), [0.025, 0.975])))


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (47, 120)])
def test_wilson_interval_against_the_formula(k, n):
    z = sps.norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson_interval(k, n) == pytest.approx((centre - half, centre + half))


def test_wilson_interval_of_nothing_is_nan():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


# -- ranking metrics -----------------------------------------------------------------------------
def test_exposure_by_hand():
    assert rm.position_exposure(3) == pytest.approx([1.0, 1 / math.log2(3), 0.5])
    assert rm.exposure([1, 3, np.nan])[:2] == pytest.approx([1.0, 0.5])
    assert math.isnan(rm.exposure([np.nan])[0])


def test_ndcg_by_hand():
    # relevance [0, 1, 1] ranked in the order 0, 1, 2: DCG = 1/log2(3) + 1/2, ideal = 1 + 1/log2(3)
    expected = (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3))
    assert rm.ndcg_at_k([0, 1, 1], [0, 1, 2]) == pytest.approx(expected)
    assert rm.ndcg_at_k([0, 1, 1], [1, 2, 0]) == pytest.approx(1.0)
    assert rm.ndcg_at_k([0, 1, 1], [0, 1, 2], k=1) == pytest.approx(0.0)
    assert rm.ndcg_at_k([0, 0], [1, 0]) == 1.0  # every order is ideal
    # negative relevance is shifted: [-1, 0] -> gains [0, 1]
    assert rm.ndcg_at_k([-1, 0], [0, 1]) == pytest.approx((1 / math.log2(3)) / 1.0)


def test_group_exposure_and_ratio_by_hand():
    means = rm.group_exposure([0, 1, 2, 3], ["a", "b", "a", "b"])
    assert means == pytest.approx({"a": (1 + 0.5) / 2, "b": (1 / math.log2(3) + 1 / math.log2(5)) / 2})
    assert float(rm.exposure_ratio(list(means.values()))) == pytest.approx(
        min(means.values()) / max(means.values()))
    ratios = rm.exposure_ratio(np.array([[1.0, 0.5, np.nan], [np.nan, np.nan, np.nan]]))
    assert ratios[0] == pytest.approx(0.5) and math.isnan(ratios[1])
    assert math.isnan(float(rm.exposure_ratio([])))


def test_reranking_keeps_its_public_names():
    from mlflow_bias.mitigation import reranking

    assert reranking.position_exposure is rm.position_exposure
    assert reranking.ndcg_at_k is rm.ndcg_at_k
    assert reranking.group_exposure is rm.group_exposure
    assert reranking.exposure_ratio({"a": 0.5, "b": 1.0}) == pytest.approx(0.5)
    assert math.isnan(reranking.exposure_ratio({}))


# -- hashing and versions ------------------------------------------------------------------------
def test_file_sha256(tmp_path):
    import hashlib

    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 9000  # more than one read block
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(path)) == file_sha256(path)


def test_version_key_orders_pep440_and_keeps_invalid_first():
    versions = ["1.10.0", "1.0.0", "not-a-version", "1.0.0rc1", "1.2", "1.0.0.post1", "0.9"]
    assert sorted(versions, key=version_key) == [
        "not-a-version", "0.9", "1.0.0rc1", "1.0.0", "1.0.0.post1", "1.2", "1.10.0"]


def test_lexicon_listing_orders_a_prerelease_before_its_release(tmp_path, monkeypatch):
    for version in ("1.0.0", "1.0.0rc1", "0.9.1"):
        (tmp_path / f"demo-{version}.yaml").write_text("")
    monkeypatch.setattr(lexicons, "resources", SimpleNamespace(files=lambda _package: tmp_path))
    assert lexicons.list_lexicons() == [("demo", "0.9.1"), ("demo", "1.0.0rc1"), ("demo", "1.0.0")]


# -- group labels --------------------------------------------------------------------------------
def test_group_labels_strip_and_keep_missing_out():
    series = pd.Series([" female", "male ", None, np.nan, pd.NA, 3], index=[5, 6, 7, 8, 9, 10])
    labels = group_labels(series)
    assert labels.tolist() == ["female", "male", "", "", "", "3"]
    assert list(labels.index) == [5, 6, 7, 8, 9, 10]
    assert "nan" not in group_labels(pd.Series([np.nan, 1.5])).tolist()
    assert group_labels(pd.Series(["a", None], dtype="category")).tolist() == ["a", ""]


def test_a_missing_attribute_or_slice_value_is_not_scored_as_nan():
    from mlflow_bias.dimensions.base import SliceScore, score_slices

    items = pd.DataFrame({"attribute": ["gender", np.nan, "gender"],
                          "region": ["north", np.nan, " north"], "value": [1.0, 2.0, 3.0]})
    assert sorted(items.groupby(group_labels(items["attribute"])).groups) == ["", "gender"]
    metrics: dict[str, float] = {}
    rows = score_slices(items, ["region"], lambda part: SliceScore(part["value"].mean(), 0, 1, len(part)),
                        0.5, "gender", metrics)
    assert {row["value"] for row in rows} == {"", "north"}
    assert metrics["gender/slice/region/north"] == pytest.approx(2.0)
    assert "gender/slice/region/blank" in metrics
    assert not any("nan" in key for key in metrics)


# -- metric keys ---------------------------------------------------------------------------------
def test_metric_segment_and_prefix():
    assert metric_segment("Gender / identity?") == "Gender _ identity"
    assert metric_segment("") == "blank"
    assert metric_prefix("lpbs") == "bias/lpbs"
    assert metric_prefix("lpbs", "crows") == "bias/lpbs/crows"
    assert "ci_low" in SIBLING_STATISTICS
    assert dimension_of("bias/cbs/gender") == "cbs" and dimension_of("data/x") is None


@pytest.mark.parametrize("key", [
    "bias/lpbs/gender", "bias/lpbs/gender/ci_low", "bias/ranking/race/exposure_ratio/ci_high",
    "bias/lpbs/gender/slice/region/north", "bias/lpbs/gender/slice/region/north/ci_low",
    "bias/ranking/race/exposure_ratio/slice/source/web/ci_high", "bias/lpbs/extra/gender",
])
def test_metric_key_round_trip(key):
    assert MetricKey.parse(key, {"extra"}).build() == key


def test_metric_key_parts():
    key = MetricKey.parse("bias/lpbs/extra/gender/ci_low", {"extra"})
    assert key == MetricKey("lpbs", "gender", "ci_low", "extra")
    assert key.prefix == "bias/lpbs/extra" and not key.is_headline
    assert MetricKey.parse("bias/lpbs/extra/gender") == MetricKey("lpbs", "extra", "gender")
    assert MetricKey.parse("bias/lpbs/extra", {"extra"}) == MetricKey("lpbs", "extra")
    sliced = MetricKey.parse("bias/cbs/gender/slice/region/north/ci_low")
    assert sliced.slice == ("region", "north") and sliced.slice_statistic == "ci_low"
    for bad in ("bias/lpbs", "data/lpbs/gender", "bias/lpbs/slice/x/y", "bias/lpbs/g/slice/x"):
        assert MetricKey.parse(bad) is None


def _indices_in_one_draw(strata: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Stratified bootstrap indices drawn all at once, stratum by stratum, singletons pooled last:
    the reference the blocked draw must reproduce."""
    rng = np.random.default_rng(seed)
    index = np.empty((n_resamples, len(strata)), dtype=np.int64)
    change = np.flatnonzero(strata[1:] != strata[:-1]) + 1
    starts, ends = np.r_[0, change], np.r_[change, len(strata)]
    pool = [s for s, e in zip(starts, ends) if e - s == 1]
    for s, e in zip(starts, ends):
        if e - s > 1:
            index[:, s:e] = s + rng.integers(0, e - s, size=(n_resamples, e - s))
    if pool:
        pool = np.array(pool)
        index[:, pool] = pool[rng.integers(0, len(pool), size=(n_resamples, len(pool)))]
    return index


@pytest.mark.parametrize("budget", [1, 7, 40, 1 << 20])
def test_bootstrap_blocks_replay_the_one_draw_stream(budget, monkeypatch):
    """Blocks of resamples (bounded memory) give exactly the numbers of one big draw, whatever
    the block size; strata of one item are pooled."""
    monkeypatch.setattr(stats, "RESAMPLE_BLOCK_ELEMENTS", budget)
    strata = np.array([0, 0, 0, 1, 2, 2, 3, 4, 4, 4, 4, 5])
    expected = _indices_in_one_draw(strata, 23, seed=11)
    blocks = list(stats.bootstrap_index_blocks(strata, n_resamples=23, seed=11))
    assert len(blocks) == (1 if budget >= 23 * 12 else -(-23 // max(1, budget // 12)))
    np.testing.assert_array_equal(np.concatenate(blocks), expected)
    np.testing.assert_array_equal(stats.bootstrap_indices(strata, n_resamples=23, seed=11), expected)


def test_blocked_bootstrap_and_sign_flip_test_equal_the_unblocked_ones(monkeypatch):
    """The CI and the null distribution of LPBS-style statistics do not depend on the block size."""
    rng = np.random.default_rng(0)
    values = rng.normal(0.05, 1.0, size=300)
    strata = np.repeat(np.arange(30), 10)
    statistic = lambda v: np.abs(v.mean(axis=-1))  # noqa: E731
    whole = (stats.stratified_bootstrap(values, strata, statistic, n_resamples=400, seed=2),
             stats.sign_flip_test(values, statistic, n_resamples=500, seed=2))
    monkeypatch.setattr(stats, "RESAMPLE_BLOCK_ELEMENTS", 1000)  # 3 resamples a block
    blocked = (stats.stratified_bootstrap(values, strata, statistic, n_resamples=400, seed=2),
               stats.sign_flip_test(values, statistic, n_resamples=500, seed=2))
    assert blocked == whole
    index = _indices_in_one_draw(strata, 400, seed=2)
    assert whole[0].low == pytest.approx(np.quantile(statistic(values[index]), 0.025), abs=1e-15)


def test_group_labels_share_one_string_per_distinct_value_and_read_as_before():
    from mlflow_bias.core.groups import group_labels

    raw = pd.Series(["female", " female ", None, float("nan"), "male", 3, 2.5, True, pd.NA, "male"],
                    index=range(10, 20), name="group")
    expected = raw.astype(object).where(raw.notna(), "").astype(str).str.strip()  # one string per row
    labels = group_labels(raw)
    assert labels.tolist() == expected.tolist() and labels.index.equals(raw.index)
    assert labels.tolist()[:5] == ["female", "female", "", "", "male"]
    assert labels.iloc[4] is labels.iloc[9]  # the same object, not a copy per row
    categorical = pd.Series(pd.Categorical(["b", "a", None, "b"]))
    assert group_labels(categorical).tolist() == ["b", "a", "", "b"]


def test_lpbs_condition_keys_are_the_concatenated_labels():
    from mlflow_bias.dimensions.lpbs import condition_keys

    condition = pd.Series(["c1", "c1", "c2", "c1"])
    first, second = np.array(["female", "female", "black", "female"], dtype=object), np.array(
        ["male", "male", "white", "male"], dtype=object)
    keys = condition_keys(condition, first, second)
    assert keys.tolist() == [f"{c} | {a} vs {b}" for c, a, b in zip(condition, first, second)]
    assert keys[0] is keys[3]
