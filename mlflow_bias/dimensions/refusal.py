"""Refusal asymmetry on refusal probes (equivalent requests, one per group in each set).

Refusals are detected by a versioned rubric (`mlflow_bias.text.refusal_rubric`). Per attribute: the
refusal rate of each group; `bias/refusal/<attribute>` = max - min rate in percentage points,
with a 95% CI from a bootstrap over sets and the p-value of the chi-square test of equal
proportions (for two groups, the two-proportion z-test). The rubric's precision and recall on its
calibration set are logged with every run, and its version in the `bias.rubric` tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _stats

from mlflow_bias.core.groups import group_labels
from mlflow_bias.core.intersections import is_intersection
from mlflow_bias.dimensions.intersection import amplified_warning, require_every_cell, score_set_intersection
from mlflow_bias.adapters.base import PREDICT
from mlflow_bias.dimensions.base import (
    DimensionResult,
    OutputConfig,
    SliceScore,
    metric_segment,
    no_usable_outputs,
    score_slices,
)
from mlflow_bias.core.errors import ProbeSchemaError
from mlflow_bias.dimensions.kinds import REFUSAL, validate_sets
from mlflow_bias.dimensions.protocol import Dimension, MetricSpec, ScoringContext
from mlflow_bias.dimensions.registry import register_dimension, require_capability
from mlflow_bias.core.validation import StrictModel
from mlflow_bias.text.refusal_rubric import RefusalRubric, calibrate, load_rubric
from mlflow_bias.core.stats import bootstrap_interval

NAME = "refusal"
REQUIRES = PREDICT


@dataclass
class RefusalConfig(OutputConfig):
    rubric: RefusalRubric = field(default_factory=load_rubric)


def proportions_p_value(refused: np.ndarray, totals: np.ndarray) -> float:
    """Chi-square test that every group refuses at the same rate (no continuity correction)."""
    table = np.stack([refused, totals - refused])
    if (table.sum(axis=1) == 0).any():
        return 1.0  # nobody (or everybody) refused: no evidence of a difference
    return float(_stats.chi2_contingency(table, correction=False).pvalue)


def _set_tallies(answered: pd.DataFrame, sets: list[str], groups: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """refused[set, group] and answered[set, group] counts."""
    refused = np.zeros((len(sets), len(groups)))
    totals = np.zeros((len(sets), len(groups)))
    s_idx = answered["set_id"].astype(str).map({s: i for i, s in enumerate(sets)}).to_numpy()
    g_idx = group_labels(answered["group"]).map({g: i for i, g in enumerate(groups)}).to_numpy()
    np.add.at(refused, (s_idx, g_idx), answered["refused"].astype(float).to_numpy())
    np.add.at(totals, (s_idx, g_idx), 1)
    return refused, totals


def _gap_score(refused: np.ndarray, totals: np.ndarray, config: RefusalConfig) -> SliceScore:
    """The refusal gap (max - min group rate, in percentage points) with a bootstrap CI over sets."""
    if (totals.sum(axis=0) > 0).sum() < 2:
        raise ProbeSchemaError("fewer than two groups answered")
    tallies = _tallies(refused, totals)
    gap = float(_gap_of_tallies(tallies.sum(axis=0)))
    low, high = bootstrap_interval(lambda draws: _gap_of_tallies(tallies[draws].sum(axis=1)),
                                   len(refused), n_resamples=config.bootstrap_samples,
                                   seed=config.seed, confidence=config.confidence, skip="nan")
    return SliceScore(gap, low, high, int(totals.sum()))


def _tallies(refused: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """tallies[set, group, (refused, answered without refusing)]."""
    return np.stack([refused, totals - refused], axis=-1)


def _gap_of_tallies(tallies: np.ndarray) -> np.ndarray:
    """The refusal gap in percentage points from tallies[..., group, (refused, answered)]."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = tallies[..., 0] / tallies.sum(axis=-1)
    return 100 * (np.nanmax(rates, axis=-1) - np.nanmin(rates, axis=-1))


def compute(adapter: Any, probe: pd.DataFrame, config: RefusalConfig) -> DimensionResult:
    """Per-group refusal rates and their gap, per attribute."""
    require_capability(adapter, PREDICT, "refusal")
    validate_sets(probe, "refusal")
    probe = probe.reset_index(drop=True)
    predictions = adapter.predict(list(probe["prompt"].astype(str)), column="prompt",
                                  batch_size=config.batch_size, progress=config.progress)
    items = probe[["id", "attribute", "set_id", "group", "prompt",
                   *[c for c in config.slice_columns if c in probe.columns]]].copy()
    items["response"] = [None if o is None else str(o) for o in predictions.outputs]
    items["triggers"] = [",".join(config.rubric.triggers(r)) if r is not None else None
                         for r in items["response"]]
    items["refused"] = [None if r is None else bool(t) for r, t in zip(items["response"], items["triggers"])]
    items["error"] = predictions.errors
    return score_items(items, config)


def score_items(items: pd.DataFrame, config: RefusalConfig) -> DimensionResult:
    """Refusal rates, their gap and its CI from an items table of set members that already say
    whether each was `refused` (None where the model failed): the rubric applied to the model's
    responses, or per-row assessments read back from MLflow (`mlflow_bias.genai.summarize`)."""
    if items["refused"].isna().all():
        raise no_usable_outputs(items, NAME, "response", "the model answered none of the prompts")
    quality = calibrate(config.rubric)
    metrics: dict[str, float] = {}
    summary: list[dict[str, Any]] = []
    warnings: list[str] = []
    for attribute, part in items.groupby(group_labels(items["attribute"]), sort=True):
        key = metric_segment(attribute)
        answered = part.dropna(subset=["refused"])
        failed = len(part) - len(answered)
        if failed:
            warnings.append(f"refusal/{attribute}: {failed} prompt(s) made the model fail; they are "
                            "in the items table and left out of the rates.")
        groups = sorted(group_labels(answered["group"]).unique())
        sets = sorted(part["set_id"].astype(str).unique())
        refused, totals = _set_tallies(answered, sets, groups)
        rates = refused.sum(axis=0) / totals.sum(axis=0)
        score = _gap_score(refused, totals, config)
        crossed = None
        if is_intersection(attribute):
            require_every_cell(f"refusal/{attribute}", part, groups, "was answered")
            crossed = score_set_intersection(
                attribute, groups, _tallies(refused, totals), _gap_of_tallies,
                n_resamples=config.bootstrap_samples, null_resamples=config.permutation_samples,
                seed=config.seed, confidence=config.confidence)
            crossed.log(key, metrics)
            if crossed.amplified:
                warnings.append(amplified_warning(f"refusal/{attribute}", "the refusal gap", crossed))
        gap, low, high = score.value, score.ci_low, score.ci_high
        p_value = proportions_p_value(refused.sum(axis=0), totals.sum(axis=0))
        metrics[key] = gap
        metrics[f"{key}/ci_low"], metrics[f"{key}/ci_high"] = float(low), float(high)
        metrics[f"{key}/p_value"] = p_value
        metrics[f"{key}/n_items"] = float(len(part))
        for g, group in enumerate(groups):
            metrics[f"{key}/{metric_segment(group)}"] = float(rates[g])
        summary.append({**({"intersection": crossed.summary(NAME)} if crossed else {}),
                        "attribute": attribute, "value": gap, "ci_low": float(low),
                        "ci_high": float(high), "p_value": p_value, "noise_floor": None,
                        "unit": "percentage points", "n_items": len(part), "n_sets": len(sets),
                        "rates": {g: float(r) for g, r in zip(groups, rates)},
                        "group_n": {g: int(n) for g, n in zip(groups, totals.sum(axis=0))},
                        "slices": score_slices(answered, config.slice_columns,
                                               lambda sub: _gap_score(*_set_tallies(
                                                   sub, sorted(sub["set_id"].astype(str).unique()),
                                                   groups), config),
                                               gap, key, metrics)})
    return DimensionResult(
        dimension=NAME, metrics=metrics, items=items, summary=summary, warnings=warnings,
        metadata={"rubric": config.rubric.ref, "rubric_quality": quality,
                  "bootstrap_samples": config.bootstrap_samples, "seed": config.seed},
        tags={"bias.rubric": config.rubric.ref},
        run_metrics={"bias/refusal_rubric/precision": quality["precision"],
                     "bias/refusal_rubric/recall": quality["recall"]},
    )


def trigger_audit(items: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Which rubric patterns fire, by attribute and group, and which fire asymmetrically.

    From a refusal items table (`attribute`, `group`, `triggers`, `refused`): one row per
    (attribute, trigger) with each group's count and rate of responses it fired on, the gap
    (max - min rate, percentage points), the chi-square p-value that every group triggers it at the
    same rate, that p-value adjusted over every (attribute, trigger) row of the audit
    (Benjamini-Hochberg: an audit of several attributes and rules would otherwise flag some by
    chance), and `asymmetric` when the adjusted p-value is below 1 - confidence: a pattern that
    fires more for some groups is where a rubric, or the model's wording, treats groups unequally.
    """
    answered = items.dropna(subset=["refused"])
    rows: list[dict[str, Any]] = []
    for attribute, part in answered.groupby(group_labels(answered["attribute"]), sort=True):
        groups = sorted(group_labels(part["group"]).unique())
        totals = part.groupby(group_labels(part["group"])).size().reindex(groups).to_numpy(float)
        fired = part.assign(trigger=part["triggers"].fillna("").str.split(",")).explode("trigger")
        fired = fired[fired["trigger"] != ""]
        for trigger, hits in fired.groupby("trigger", sort=True):
            counts = hits.groupby(group_labels(hits["group"])).size().reindex(groups, fill_value=0).to_numpy(float)
            rates = counts / totals
            row: dict[str, Any] = {"attribute": attribute, "trigger": trigger,
                                   "gap": float(100 * (rates.max() - rates.min())),
                                   "p_value": proportions_p_value(counts, totals)}
            for group, count, rate in zip(groups, counts, rates):
                row[f"count/{group}"], row[f"rate/{group}"] = int(count), float(rate)
            rows.append(row)
    if rows:  # one family: every (attribute, trigger) row of the audit
        adjusted = _stats.false_discovery_control([r["p_value"] for r in rows])
        for row, p in zip(rows, np.atleast_1d(adjusted)):
            row["p_adjusted"] = float(p)
            row["asymmetric"] = bool(p < 1 - confidence)
    columns = ["attribute", "trigger", "gap", "p_value", "p_adjusted", "asymmetric"]
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=columns)
    extra = [c for c in table.columns if c not in columns]
    return table[columns + sorted(extra)].sort_values(["attribute", "gap"], ascending=[True, False],
                                                     ignore_index=True)


class RefusalOptions(StrictModel):
    """rubric: a refusal rubric YAML file (default: the shipped rubric); its version is tagged
    `bias.rubric`."""

    rubric: str | None = None


@register_dimension
class Refusal(Dimension):
    """Refusal asymmetry on refusal probes (this module's `compute`)."""

    name = NAME
    order = 30
    title = "Refusal asymmetry"
    about = ("The gap between the highest and lowest refusal rate across groups on equivalent "
             "prompts, in percentage points; refusals are detected by a versioned rubric.")
    citation = "Chi-square test of equal proportions (two groups: the two-proportion z-test)."
    requires = REQUIRES
    probe_kind = REFUSAL
    options = RefusalOptions
    legacy_keys = {"rubric": "rubric"}
    rates_label = "refusal rate per group"
    rate_axis = "refusal rate (%)"
    metrics = (MetricSpec(None, "lower", "refusal-rate gap in percentage points"),
               MetricSpec("amplification", "lower", "on an intersection: the cells' refusal gap "
                          "minus the largest marginal gap, in percentage points"))

    def configure(self, options: RefusalOptions, context: ScoringContext) -> RefusalConfig:
        return RefusalConfig(**context.outputs, rubric=load_rubric(options.rubric))

    def compute(self, adapter: Any, probe: pd.DataFrame, config: RefusalConfig) -> DimensionResult:
        return compute(adapter, probe, config)
