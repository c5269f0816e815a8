"""Decision metrics on a decisions probe (`group`, `input`, `label` = the true 0/1 outcome).

Per attribute, over the items whose output parses to a decision:
- statistical parity difference: max - min selection rate (P(decision = 1)) across groups;
- disparate impact: min / max selection rate (the four-fifths rule is a policy default);
- equal opportunity difference: max - min true-positive rate (P(decision = 1 | label = 1));
- equalised odds difference: the larger of the true- and false-positive-rate spreads;
- accuracy: the share of all the attribute's items whose decision equals the true outcome, an
  output that is no decision counting as wrong (task quality, so that a mitigation which breaks the
  task cannot pass as fair), also per group.
The same definitions as fairlearn's `demographic_parity_difference`/`_ratio`,
`equal_opportunity_difference` and `equalized_odds_difference`, for any number of groups.
Uncertainty: percentile bootstrap CIs (items resampled within groups) and, for the statistical
parity difference, a permutation p-value (group labels shuffled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as _stats

from mlflow_bias.core.groups import group_labels
from mlflow_bias.adapters.base import PREDICT
from mlflow_bias.dimensions.base import (
    DimensionResult,
    OutputConfig,
    SliceScore,
    metric_segment,
    no_usable_outputs,
    record_unparsed,
    score_slices,
)
from mlflow_bias.core.errors import ProbeSchemaError
from mlflow_bias.text.parsing import UNPARSED, DecisionParser
from mlflow_bias.dimensions.kinds import DECISIONS, validate_decisions
from mlflow_bias.dimensions.protocol import Dimension, MetricSpec, ScoringContext
from mlflow_bias.dimensions.registry import register_dimension, require_capability
from mlflow_bias.core.stats import bootstrap_indices, percentile_interval, run_starts
from mlflow_bias.core.validation import StrictModel

NAME = "parity"
REQUIRES = PREDICT
HEADLINES = ("statistical_parity_difference", "disparate_impact", "equal_opportunity_difference",
             "equalized_odds_difference")


@dataclass
class ParityConfig(OutputConfig):
    parser: DecisionParser = field(default_factory=DecisionParser)


def _rates(decision: np.ndarray, label: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-group selection, true-positive and false-positive rates along the last axis (items
    sorted by group); NaN where a group has no positive (or negative) true labels."""
    sizes = np.diff(np.append(starts, decision.shape[-1]))
    selected = np.add.reduceat(decision, starts, axis=-1) / sizes
    positives = np.add.reduceat(label, starts, axis=-1)
    negatives = np.add.reduceat(1 - label, starts, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.add.reduceat(decision * label, starts, axis=-1) / positives
        fpr = np.add.reduceat(decision * (1 - label), starts, axis=-1) / negatives
    return selected, tpr, fpr


def _spread(x: np.ndarray) -> np.ndarray:
    return np.max(x, axis=-1) - np.min(x, axis=-1)


def headline_values(decision: np.ndarray, label: np.ndarray, starts: np.ndarray) -> dict[str, np.ndarray]:
    selected, tpr, fpr = _rates(decision, label, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        impact = np.min(selected, axis=-1) / np.max(selected, axis=-1)
    return {
        "statistical_parity_difference": _spread(selected),
        "disparate_impact": impact,
        "equal_opportunity_difference": _spread(tpr),
        "equalized_odds_difference": np.maximum(_spread(tpr), _spread(fpr)),
    }


def _accuracy(part: pd.DataFrame, config: ParityConfig) -> tuple[float, float, float, dict[str, float]]:
    """Accuracy over every item of `part` (unparsed outputs count as wrong), its bootstrap CI
    (items resampled within groups) and the accuracy of each group."""
    part = part.sort_values("group", kind="stable")
    correct = (part["decision"].to_numpy(dtype=float) == part["label"].to_numpy(dtype=float)).astype(float)
    groups = group_labels(part["group"]).to_numpy()
    index = bootstrap_indices(groups, n_resamples=config.bootstrap_samples, seed=config.seed)
    low, high = percentile_interval(correct[index].mean(axis=-1), config.confidence)
    by_group = {str(g): float(correct[groups == g].mean()) for g in np.unique(groups)}
    return float(correct.mean()), float(low), float(high), by_group


def _parity_p_value(decision: np.ndarray, groups: np.ndarray, config: ParityConfig) -> float:
    samples = tuple(decision[groups == g] for g in np.unique(groups))

    def spread(*xs, axis):
        return np.max(np.stack([x.mean(axis=axis) for x in xs]), axis=0) - \
            np.min(np.stack([x.mean(axis=axis) for x in xs]), axis=0)

    result = _stats.permutation_test(samples, spread, permutation_type="independent",
                                     vectorized=True, n_resamples=config.permutation_samples,
                                     alternative="greater",
                                     random_state=np.random.default_rng(config.seed))
    return float(result.pvalue)


def _slice_score(valid: pd.DataFrame, name: str, config: ParityConfig) -> SliceScore:
    """One headline statistic on a slice's parsed decisions, with its bootstrap CI."""
    valid = valid.sort_values("group", kind="stable")
    groups = group_labels(valid["group"]).to_numpy()
    if len(np.unique(groups)) < 2:
        raise ProbeSchemaError("a slice with one group has no parity statistic")
    decision, label = valid["decision"].to_numpy(dtype=float), valid["label"].to_numpy(dtype=float)
    starts = run_starts(groups)
    value = float(headline_values(decision, label, starts)[name])
    index = bootstrap_indices(groups, n_resamples=config.bootstrap_samples, seed=config.seed)
    replicates = headline_values(decision[index], label[index], starts)[name]
    low, high = percentile_interval(replicates, config.confidence, skip="nan")
    return SliceScore(value, low, high, len(valid))


def compute(adapter: Any, probe: pd.DataFrame, config: ParityConfig) -> DimensionResult:
    """Score the decision metrics per attribute on a decisions probe."""
    require_capability(adapter, PREDICT, "parity")
    validate_decisions(probe)
    probe = probe.reset_index(drop=True)
    predictions = adapter.predict(list(probe["input"].astype(str)), column="input",
                                  batch_size=config.batch_size, progress=config.progress)
    parsed = config.parser.parse(predictions.outputs)
    items = probe[["id", "attribute", "group", "input", "label",
                   *[c for c in config.slice_columns if c in probe.columns]]].copy()
    items["output"] = [None if o is None else str(o) for o in predictions.outputs]
    items["decision"] = np.where(parsed == UNPARSED, np.nan, parsed)
    items["error"] = predictions.errors
    items["label"] = pd.to_numeric(items["label"]).astype(int)
    if (parsed == UNPARSED).all():
        raise no_usable_outputs(
            items, NAME, "output",
            "no output could be read as a decision. Set evaluator_config decision_labels="
            "{'positive': [...], 'negative': [...]} to what the model returns")
    metrics: dict[str, float] = {}
    summary: list[dict[str, Any]] = []
    warnings: list[str] = []
    for attribute, part in items.groupby(group_labels(items["attribute"]), sort=True):
        key = metric_segment(attribute)
        record_unparsed(part["decision"].isna(), key, f"parity/{attribute}", "were not a decision",
                        metrics, warnings)
        valid = part.dropna(subset=["decision"]).sort_values("group", kind="stable")
        groups = group_labels(valid["group"]).to_numpy()
        if len(np.unique(groups)) < 2:
            raise ProbeSchemaError(f"parity/{attribute}: fewer than two groups have a parsed decision.")
        decision = valid["decision"].to_numpy(dtype=float)
        label = valid["label"].to_numpy(dtype=float)
        starts = run_starts(groups)
        names = groups[starts]
        point = headline_values(decision, label, starts)
        index = bootstrap_indices(groups, n_resamples=config.bootstrap_samples, seed=config.seed)
        replicates = headline_values(decision[index], label[index], starts)
        row: dict[str, Any] = {"attribute": attribute, "n_items": len(valid), "groups": {}}
        for name in HEADLINES:
            value = float(point[name])
            low, high = percentile_interval(replicates[name], config.confidence, skip="nan")
            metrics[f"{key}/{name}"] = value
            metrics[f"{key}/{name}/ci_low"] = float(low)
            metrics[f"{key}/{name}/ci_high"] = float(high)
            row[name] = {"value": value, "ci_low": float(low), "ci_high": float(high)}
            if not np.isfinite(value):
                warnings.append(f"parity/{attribute}: {name} is undefined (a group has no "
                                "positive outcomes or no selections).")
        accuracy, acc_low, acc_high, accuracy_by_group = _accuracy(part, config)
        metrics[f"{key}/accuracy"] = accuracy
        metrics[f"{key}/accuracy/ci_low"], metrics[f"{key}/accuracy/ci_high"] = acc_low, acc_high
        row["accuracy"] = {"value": accuracy, "ci_low": acc_low, "ci_high": acc_high}
        p_value = _parity_p_value(decision, groups, config)
        metrics[f"{key}/statistical_parity_difference/p_value"] = p_value
        row["statistical_parity_difference"]["p_value"] = p_value
        selected, tpr, fpr = _rates(decision, label, starts)
        for g, sr, tp, fp in zip(names, selected, tpr, fpr):
            metrics[f"{key}/selection_rate/{metric_segment(g)}"] = float(sr)
            metrics[f"{key}/true_positive_rate/{metric_segment(g)}"] = float(tp)
            row["groups"][str(g)] = {"selection_rate": float(sr), "true_positive_rate": float(tp),
                                     "false_positive_rate": float(fp),
                                     "accuracy": accuracy_by_group[str(g)],
                                     "n_items": int((groups == g).sum())}
        for name in HEADLINES:
            row[name]["slices"] = score_slices(
                valid, config.slice_columns, lambda sub, name=name: _slice_score(sub, name, config),
                float(point[name]), f"{key}/{name}", metrics,
                higher_is_worse=name != "disparate_impact")
        summary.append(row)
    return DimensionResult(
        dimension=NAME, metrics=metrics, items=items, summary=summary, warnings=warnings,
        metadata={"parser": config.parser.version, "bootstrap_samples": config.bootstrap_samples,
                  "seed": config.seed},
    )


class ParityOptions(StrictModel):
    """decision_labels: {"positive": [...], "negative": [...]}: which model outputs count as a
    positive or negative decision (default: 1/0, True/False, yes/no)."""

    decision_labels: dict[Literal["positive", "negative"], list[str | int | float | bool]] | None = None


@register_dimension
class Parity(Dimension):
    """Decision metrics on decisions with known outcomes (this module's `compute`)."""

    name = NAME
    order = 40
    title = "Decision parity"
    about = ("Selection and true-positive rates per group on decisions with known outcomes: "
             "statistical parity, disparate impact, equal opportunity and equalised odds.")
    citation = ("Feldman et al. (2015), Certifying and Removing Disparate Impact; Hardt, Price, "
                "Srebro (2016), Equality of Opportunity in Supervised Learning.")
    requires = REQUIRES
    probe_kind = DECISIONS
    options = ParityOptions
    legacy_keys = {"decision_labels": "decision_labels"}
    metrics = (
        MetricSpec("statistical_parity_difference", "near_zero", "difference of selection rates"),
        MetricSpec("disparate_impact", "higher", "lowest over highest selection rate; 1 is parity"),
        MetricSpec("equal_opportunity_difference", "near_zero", "difference of true-positive rates"),
        MetricSpec("equalized_odds_difference", "lower", "largest gap in true- or false-positive rate"),
        MetricSpec("unparsed_rate", "lower", "share of outputs that are no decision"),
        MetricSpec("accuracy", "higher", "share of decisions that match the true outcome (task "
                   "quality; an output that is no decision counts as wrong)"),
    )

    def configure(self, options: ParityOptions, context: ScoringContext) -> ParityConfig:
        return ParityConfig(**context.outputs, parser=DecisionParser.from_config(options.decision_labels))

    def compute(self, adapter: Any, probe: pd.DataFrame, config: ParityConfig) -> DimensionResult:
        return compute(adapter, probe, config)
