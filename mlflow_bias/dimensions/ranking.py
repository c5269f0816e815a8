"""Ranking fairness on a ranking probe (`list_id`, `group`, `input`; optional `label` = relevance).

The model's contract. Each batch of whole lists is passed to the model as one DataFrame with the
columns `list_id`, `id`, `group` and `input` (a model that should not see the group ignores that
column; MLflow's signature enforcement drops columns a signature does not declare). The model
returns either
- one number per row (a list, Series, array or one-column DataFrame): its score for the candidate;
  candidates are ranked per list by descending score, ties in probe order; or
- a ranking: a DataFrame with `id` and `rank` columns (1 = top) covering every row once, and
  optionally `score`, such as the output of `mitigation.FairReranker`; ranks are used as given and
  must number each list's candidates 1..n.
Adapters without table input (e.g. a transformers model) are scored through `predict`, whose output
for each `input` must read as a number. A list with a missing or unreadable score is left out
(counted in `unparsed_rate`); a batch whose call raises marks its rows' `error`.

Position j of a list has exposure 1/log2(j + 1). Per attribute, over its lists:
- `<group>/exposure`: mean exposure of the group's candidates, pooled over lists;
  `exposure_ratio` = min over groups / max over groups (1 is parity; lower is worse);
- `<group>/topk_share`: mean over lists of the group's share of the list's top k (k from the
  config, default 10, at most the list's length); `<group>/share`: mean over lists of its share of
  the whole list; `topk_share_gap` = mean over lists of max over groups |top-k share - share|
  (0 is parity);
- with labels, `ndcg`: mean over lists with a relevant candidate of NDCG@k (gain = label).
Uncertainty: percentile bootstrap CIs over lists (whole lists resampled), and permutation p-values
(groups shuffled within each list: the chance of an exposure ratio as low, or a gap as high, when
rank does not depend on group). Slices: slice columns are expected to be constant within a list;
a slice's exposure ratio pools its candidates' exposures (in their full lists) and its gap averages
the gaps of the lists it touches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from mlflow_bias.core.groups import group_labels
from mlflow_bias.adapters.base import PREDICT, PREDICT_FRAMES, as_output_list
from mlflow_bias.dimensions.base import (
    DimensionResult,
    OutputConfig,
    SliceScore,
    metric_segment,
    no_usable_outputs,
    record_unparsed,
    score_slices,
)
from mlflow_bias.core import ranking_metrics
from mlflow_bias.core.errors import BiasEvaluationError, ConfigError, ProbeSchemaError
from mlflow_bias.dimensions.kinds import RANKING, validate_ranking
from mlflow_bias.dimensions.protocol import Dimension, MetricSpec, ScoringContext
from mlflow_bias.dimensions.registry import register_dimension, require_capability
from mlflow_bias.core.stats import bootstrap_indices, percentile_interval
from mlflow_bias.core.validation import StrictModel

NAME = "ranking"
REQUIRES = PREDICT
DEFAULT_K = 10
MODEL_COLUMNS = ["list_id", "id", "group", "input"]
_PERMUTATION_CHUNK = 250


@dataclass
class RankingConfig(OutputConfig):
    k: int | None = None  # top-k cut-off for shares and NDCG (default 10, at most a list's length)


def _list_batches(probe: pd.DataFrame, batch_size: int) -> list[np.ndarray]:
    """Row indices of batches of whole lists (a list longer than batch_size is a batch alone)."""
    batches, current = [], []
    for _, rows in probe.groupby(probe["list_id"].astype(str), sort=False).indices.items():
        if current and sum(map(len, current)) + len(rows) > batch_size:
            batches.append(np.concatenate(current))
            current = []
        current.append(np.asarray(rows))
    if current:
        batches.append(np.concatenate(current))
    return batches


def _numbers(values: Any) -> np.ndarray:
    return pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(dtype=float)


def _read_ranking(result: pd.DataFrame, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(rank, score) per row of `frame` from a model's ranking table."""
    if "id" not in result.columns:
        raise BiasEvaluationError(
            f"The model returned a ranking table (columns {', '.join(map(str, result.columns))}) "
            "without an 'id' column; a ranking needs 'id' and 'rank' for every candidate."
        )
    ids = result["id"].astype(str)
    expected = frame["id"].astype(str)
    if ids.duplicated().any() or set(ids) != set(expected):
        raise BiasEvaluationError(
            "The model's ranking does not list each candidate it was given exactly once (by 'id'); "
            f"expected {len(expected)} ids, got {len(ids)} ({ids.nunique()} distinct)."
        )
    by_id = result.assign(id=ids).set_index("id")
    rank = _numbers(by_id.loc[expected, "rank"])
    score = (_numbers(by_id.loc[expected, "score"]) if "score" in by_id.columns
             else np.full(len(frame), np.nan))
    for list_id, rows in frame.groupby(frame["list_id"].astype(str)).indices.items():
        got = np.sort(rank[rows])
        if not np.array_equal(got, np.arange(1, len(rows) + 1)):
            raise BiasEvaluationError(
                f"The model's ranks for list {list_id!r} are {got[:10].tolist()}...; each list's "
                f"candidates must be ranked 1..{len(rows)} (1 = top)."
            )
    return rank, score


def _rank_by_score(score: np.ndarray, lists: np.ndarray) -> np.ndarray:
    """1-based rank within each list by descending score (ties in row order); NaN for every row of
    a list with a missing score."""
    rank = np.full(len(score), np.nan)
    for rows in pd.Series(range(len(lists))).groupby(lists).indices.values():
        if np.isnan(score[rows]).any():
            continue
        order = np.argsort(-score[rows], kind="stable")
        rank[rows[order]] = np.arange(1, len(rows) + 1)
    return rank


def model_ranks(adapter: Any, probe: pd.DataFrame, config: RankingConfig) -> tuple[pd.DataFrame, str]:
    """(score, rank and error per probe row; "scores" or "ranks": what the model returned)."""
    n = len(probe)
    score, rank = np.full(n, np.nan), np.full(n, np.nan)
    errors: list[str | None] = [None] * n
    contract = "scores"
    lists = probe["list_id"].astype(str).to_numpy()
    if PREDICT_FRAMES in adapter.capabilities:
        batches = _list_batches(probe, config.batch_size)
        frames = [probe.loc[rows, MODEL_COLUMNS].reset_index(drop=True) for rows in batches]
        predictions = adapter.predict_frames(frames, progress=config.progress)
        for rows, frame, output, error in zip(batches, frames, predictions.outputs, predictions.errors):
            if error is not None:
                for i in rows:
                    errors[i] = error
                continue
            if isinstance(output, pd.DataFrame) and "rank" in output.columns:
                contract = "ranks"
                rank[rows], score[rows] = _read_ranking(output, frame)
                continue
            score[rows] = _numbers(as_output_list(output, len(frame)))
    else:
        predictions = adapter.predict(list(probe["input"].astype(str)), column="input",
                                      batch_size=config.batch_size, progress=config.progress)
        score = _numbers(predictions.outputs)
        errors = list(predictions.errors)
    if contract == "scores":
        rank = _rank_by_score(score, lists)
    else:  # rows scored by score in a batch that returned scores: rank them too
        by_score = _rank_by_score(score, lists)
        rank = np.where(np.isnan(rank), by_score, rank)
    return pd.DataFrame({"score": score, "rank": rank, "error": errors}), contract


@dataclass
class _Lists:
    """One attribute's ranked candidates as per-list, per-group arrays."""

    groups: list[str]
    list_ids: list[str]
    sums: np.ndarray  # [list, group] exposure
    counts: np.ndarray  # [list, group] candidates
    top: np.ndarray  # [list, group] candidates in the list's top k
    k: np.ndarray  # [list] top-k length

    @property
    def gaps(self) -> np.ndarray:
        n = self.counts.sum(axis=1, keepdims=True)
        return np.abs(self.top / self.k[:, None] - self.counts / n).max(axis=1)


def _arrays(rows: pd.DataFrame, groups: list[str], k: int) -> _Lists:
    list_ids = sorted(rows["list_id"].astype(str).unique())
    l_idx = rows["list_id"].astype(str).map({v: i for i, v in enumerate(list_ids)}).to_numpy()
    g_idx = group_labels(rows["group"]).map({g: i for i, g in enumerate(groups)}).to_numpy()
    shape = (len(list_ids), len(groups))
    sums, counts, top = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    np.add.at(sums, (l_idx, g_idx), rows["exposure"].to_numpy())
    np.add.at(counts, (l_idx, g_idx), 1)
    np.add.at(top, (l_idx, g_idx), rows["in_topk"].to_numpy(dtype=float))
    kk = np.minimum(k, counts.sum(axis=1))
    return _Lists(groups, list_ids, sums, counts, top, kk)


def _ratio(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """min / max of the groups' pooled mean exposure along the last axis (absent groups skipped)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)
    return ranking_metrics.exposure_ratio(means)


def _bootstrap(data: _Lists, config: RankingConfig) -> dict[str, tuple[float, float]]:
    index = bootstrap_indices(np.zeros(len(data.list_ids)), n_resamples=config.bootstrap_samples,
                              seed=config.seed)
    ratio = _ratio(data.sums[index].sum(axis=1), data.counts[index].sum(axis=1))
    gap = data.gaps[index].mean(axis=1)
    return {"exposure_ratio": percentile_interval(ratio, config.confidence, skip="non-finite"),
            "topk_share_gap": percentile_interval(gap, config.confidence, skip="non-finite")}


def _permutation_p_values(part: pd.DataFrame, groups: list[str], ratio: float, gap: float,
                          config: RankingConfig) -> dict[str, float]:
    """Shuffle group labels within each list: P(ratio <= observed), P(gap >= observed), with the
    +1 correction."""
    list_ids = sorted(part["list_id"].astype(str).unique())
    l_idx = part["list_id"].astype(str).map({v: i for i, v in enumerate(list_ids)}).to_numpy()
    # rows ordered by list index (the shuffle below relies on it), then rank; sorting on the raw
    # ids would order numeric ids 1, 2, ..., 10 unlike their string index
    order = np.lexsort((part["rank"].to_numpy(), l_idx))
    part, l_idx = part.iloc[order], l_idx[order]
    g_idx = group_labels(part["group"]).map({g: i for i, g in enumerate(groups)}).to_numpy()
    exposure = part["exposure"].to_numpy()
    in_top = part["in_topk"].to_numpy(dtype=float)
    n_lists, n_groups = len(list_ids), len(groups)
    counts = np.zeros((n_lists, n_groups))
    np.add.at(counts, (l_idx, g_idx), 1)
    n = counts.sum(axis=1, keepdims=True)
    kk = np.bincount(l_idx, weights=in_top, minlength=n_lists)[:, None]
    rng = np.random.default_rng(config.seed + 7)
    low = high = 0
    total = config.permutation_samples
    for start in range(0, total, _PERMUTATION_CHUNK):
        size = min(_PERMUTATION_CHUNK, total - start)
        order = np.argsort(l_idx[None, :] + rng.random((size, len(part))), axis=1)
        shuffled = g_idx[order]  # rows keep their list and position; the groups move
        offset = np.arange(size)[:, None] * n_groups
        sums = np.bincount((shuffled + offset).ravel(), weights=np.tile(exposure, size),
                           minlength=size * n_groups).reshape(size, n_groups)
        group_counts = counts.sum(axis=0)[None, :].repeat(size, axis=0)
        low += int(np.sum(_ratio(sums, group_counts) <= ratio + 1e-12))
        flat = (np.arange(size)[:, None] * n_lists * n_groups + l_idx[None, :] * n_groups + shuffled)
        top = np.bincount(flat.ravel(), weights=np.tile(in_top, size),
                          minlength=size * n_lists * n_groups).reshape(size, n_lists, n_groups)
        gaps = np.abs(top / kk[None] - (counts / n)[None]).max(axis=2).mean(axis=1)
        high += int(np.sum(gaps >= gap - 1e-12))
    return {"exposure_ratio": (low + 1) / (total + 1), "topk_share_gap": (high + 1) / (total + 1)}


def _slice_score(sub: pd.DataFrame, name: str, groups: list[str], gaps: dict[str, float],
                 config: RankingConfig) -> SliceScore:
    if sub["group"].nunique() < 2:
        raise ProbeSchemaError("a slice with one group has no ranking statistic")
    data = _arrays(sub, groups, config.k or DEFAULT_K)
    if name == "exposure_ratio":
        value = float(_ratio(data.sums.sum(axis=0), data.counts.sum(axis=0)))
    else:
        per_list = np.array([gaps[v] for v in data.list_ids])
        value = float(per_list.mean())
    index = bootstrap_indices(np.zeros(len(data.list_ids)), n_resamples=config.bootstrap_samples,
                              seed=config.seed)
    if name == "exposure_ratio":
        replicates = _ratio(data.sums[index].sum(axis=1), data.counts[index].sum(axis=1))
    else:
        replicates = per_list[index].mean(axis=1)
    low, high = percentile_interval(replicates, config.confidence, skip="non-finite")
    return SliceScore(value, low, high, len(sub))


def compute(adapter: Any, probe: pd.DataFrame, config: RankingConfig) -> DimensionResult:
    """Score exposure ratio and top-k share gap per attribute on a ranking probe."""
    require_capability(adapter, PREDICT, "ranking")
    validate_ranking(probe)
    if config.k is not None and int(config.k) < 1:
        raise ConfigError(f"ranking k must be at least 1, got {config.k!r}.")
    k = int(config.k or DEFAULT_K)
    probe = probe.reset_index(drop=True)
    ranked, contract = model_ranks(adapter, probe, config)
    items = probe[["id", "attribute", "list_id", "group", "input",
                   *(["label"] if "label" in probe.columns else []),
                   *[c for c in config.slice_columns if c in probe.columns]]].copy()
    items["score"], items["rank"], items["error"] = ranked["score"], ranked["rank"], ranked["error"]
    items["exposure"] = ranking_metrics.exposure(items["rank"])
    list_size = items.groupby(items["list_id"].astype(str))["id"].transform("size")
    items["in_topk"] = (items["rank"] <= np.minimum(k, list_size)).where(items["rank"].notna())
    if items["rank"].isna().all():
        raise no_usable_outputs(
            items.assign(output=ranked["score"]), NAME, "output",
            "no list could be ranked: the model's outputs are not numeric scores. Return one number "
            "per candidate, or a table with 'id' and 'rank' columns")
    metrics: dict[str, float] = {}
    summary: list[dict[str, Any]] = []
    warnings: list[str] = []
    for attribute, part in items.groupby(group_labels(items["attribute"]), sort=True):
        key = metric_segment(attribute)
        record_unparsed(part["rank"].isna(), key, f"ranking/{attribute}",
                        "belonged to lists without a numeric score for every candidate", metrics,
                        warnings)
        valid = part.dropna(subset=["rank"])
        groups = sorted(group_labels(valid["group"]).unique())
        if len(groups) < 2:
            raise ProbeSchemaError(f"ranking/{attribute}: fewer than two groups are in lists the "
                                   "model ranked; look at the items table for the errors.")
        data = _arrays(valid, groups, k)
        ratio = float(_ratio(data.sums.sum(axis=0), data.counts.sum(axis=0)))
        gaps = data.gaps
        gap = float(gaps.mean())
        intervals = _bootstrap(data, config)
        p_values = _permutation_p_values(valid, groups, ratio, gap, config)
        row: dict[str, Any] = {"attribute": attribute, "n_items": len(valid),
                               "n_lists": len(data.list_ids), "k": k, "by_group": {}}
        for name, value in (("exposure_ratio", ratio), ("topk_share_gap", gap)):
            low, high = intervals[name]
            metrics[f"{key}/{name}"] = value
            metrics[f"{key}/{name}/ci_low"], metrics[f"{key}/{name}/ci_high"] = low, high
            metrics[f"{key}/{name}/p_value"] = p_values[name]
            row[name] = {"value": value, "ci_low": low, "ci_high": high, "p_value": p_values[name]}
        exposure = data.sums.sum(axis=0) / data.counts.sum(axis=0)
        topk = (data.top / data.k[:, None]).mean(axis=0)
        share = (data.counts / data.counts.sum(axis=1, keepdims=True)).mean(axis=0)
        for g, group in enumerate(groups):
            segment = f"{key}/{metric_segment(group)}"
            metrics[f"{segment}/exposure"] = float(exposure[g])
            metrics[f"{segment}/topk_share"] = float(topk[g])
            metrics[f"{segment}/share"] = float(share[g])
            row["by_group"][group] = {"exposure": float(exposure[g]), "topk_share": float(topk[g]),
                                      "share": float(share[g]),
                                      "n_items": int(data.counts[:, g].sum())}
        if "label" in valid.columns and valid["label"].notna().any():
            ndcg = _label_ndcg(valid, k)
            if len(ndcg):
                metrics[f"{key}/ndcg"] = float(np.mean(ndcg))
                row["ndcg"] = float(np.mean(ndcg))
        metrics[f"{key}/n_items"] = float(len(valid))
        metrics[f"{key}/n_lists"] = float(len(data.list_ids))
        list_gaps = dict(zip(data.list_ids, gaps))
        for name in ("exposure_ratio", "topk_share_gap"):
            row[name]["slices"] = score_slices(
                valid, config.slice_columns,
                lambda sub, name=name: _slice_score(sub, name, groups, list_gaps, config),
                row[name]["value"], f"{key}/{name}", metrics,
                higher_is_worse=name != "exposure_ratio")
        if not np.isfinite(ratio):
            warnings.append(f"ranking/{attribute}: the exposure ratio is undefined.")
        summary.append(row)
    return DimensionResult(
        dimension=NAME, metrics=metrics, items=items, summary=summary, warnings=warnings,
        metadata={"k": k, "model_output": contract, "exposure": "1/log2(rank + 1)",
                  "bootstrap_samples": config.bootstrap_samples,
                  "permutation_samples": config.permutation_samples, "seed": config.seed},
    )


def _label_ndcg(valid: pd.DataFrame, k: int) -> list[float]:
    """NDCG@k per list with the 0/1 labels as gains (lists without a relevant candidate skipped)."""
    out = []
    for _, part in valid.groupby(valid["list_id"].astype(str)):
        gains = pd.to_numeric(part["label"], errors="coerce").fillna(0).to_numpy(dtype=float)
        if gains.sum() <= 0:
            continue
        out.append(ranking_metrics.ndcg_at_k(gains, np.argsort(part["rank"].to_numpy()), min(k, len(part))))
    return out


class RankingOptions(StrictModel):
    """k: the top-k cut-off of the shares and NDCG (default 10, at most a list's length)."""

    k: int | None = Field(None, ge=1)


@register_dimension
class Ranking(Dimension):
    """Exposure and top-k shares of ranked lists (this module's `compute`)."""

    name = NAME
    order = 60
    title = "Ranking exposure"
    about = ("How evenly a ranking spreads attention over groups: the exposure ratio (lowest "
             "group's mean position exposure 1/log2(1 + rank) over the highest; 1 is parity) and "
             "the top-k share gap (how far a group's share of the top k is from its share of the "
             "list).")
    citation = ("Singh, Joachims (2018). Fairness of Exposure in Rankings. KDD; Zehlike et al. "
                "(2017). FA*IR: A Fair Top-k Ranking Algorithm. CIKM.")
    requires = REQUIRES
    probe_kind = RANKING
    options = RankingOptions
    legacy_keys = {"ranking_k": "k"}
    metrics = (
        MetricSpec("exposure_ratio", "higher", "lowest over highest group mean exposure; 1 is parity"),
        MetricSpec("topk_share_gap", "lower", "largest gap between a group's top-k and list shares"),
    )

    def configure(self, options: RankingOptions, context: ScoringContext) -> RankingConfig:
        return RankingConfig(**context.outputs, k=options.k)

    def compute(self, adapter: Any, probe: pd.DataFrame, config: RankingConfig) -> DimensionResult:
        return compute(adapter, probe, config)
