"""Decision metrics on a decisions probe (`group`, `input`, `label` = the true 0/1 outcome).

Per attribute, over the items whose output parses to a decision:
- statistical parity difference: max - min selection rate (P(decision = 1)) across groups;
- disparate impact: min / max selection rate (the four-fifths rule is a policy default);
- equal opportunity difference: max - min true-positive rate (P(decision = 1 | label = 1));
- equalised odds difference: the larger of the true- and false-positive-rate spreads;
- differential fairness: the epsilon of Foulds et al. (2020), the largest
  |log P(decision = y | s_i) - log P(decision = y | s_j)| over both decisions y and every pair of
  groups, each P smoothed as (n_ys + alpha) / (n_s + 2 alpha) (Dirichlet, `dirichlet_alpha`,
  default 1) so that a group with no selections gives a finite value;
- accuracy: the share of all the attribute's items whose decision equals the true outcome, an
  output that is no decision counting as wrong (task quality, so that a mitigation which breaks the
  task cannot pass as fair), also per group.
The same definitions as fairlearn's `demographic_parity_difference`/`_ratio`,
`equal_opportunity_difference` and `equalized_odds_difference`, for any number of groups.

An intersectional attribute (`gender_x_race`, groups `female_x_black`; see
`core.intersections`) is scored over its cells like any attribute, and also: each part's
marginal from the same rows (`<attribute>/marginal/<part>/<metric>`), and the amplification of
each metric (`<attribute>/<metric>/amplification`), the cells' gap minus the largest marginal
gap (for disparate impact the gap is 1 - ratio). Uncertainty: percentile bootstrap CIs (items
resampled within groups, or cells; with a `set_id` column, whole counterfactual sets, so that
groups that answer each set alike keep a gap of 0 in every resample; marginals and amplification
from the same resamples) and,
for the statistical parity difference, a permutation p-value (group labels shuffled). The
amplification's CI is the basic bootstrap interval instead: the largest gap over many small cells
is pushed up by noise alone, more in a resample than in the data, and the percentile interval
carried that push (on 600 decisions with no group effect at all, it lay wholly above 0). Its
p-value and noise floor come from decisions simulated with no difference between cells beyond the
widest part's (`amplification_null`); an amplification is flagged when its CI lies above 0 and
its p-value is below 1 - confidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from warnings import catch_warnings, simplefilter
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field
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
from mlflow_bias.core.intersections import attribute_parts, is_intersection, marginal_labels
from mlflow_bias.text.parsing import UNPARSED, DecisionParser
from mlflow_bias.dimensions.kinds import DECISIONS, validate_decisions
from mlflow_bias.dimensions.protocol import Dimension, MetricSpec, ScoringContext
from mlflow_bias.dimensions.registry import register_dimension, require_capability
from mlflow_bias.core.stats import (
    RESAMPLE_BLOCK_ELEMENTS,
    basic_interval,
    bootstrap_indices,
    set_bootstrap_indices,
    null_test,
    percentile_interval,
    run_starts,
)
from mlflow_bias.dimensions.intersection import require_every_cell
from mlflow_bias.core.validation import StrictModel

NAME = "parity"
REQUIRES = PREDICT
HEADLINES = ("statistical_parity_difference", "disparate_impact", "equal_opportunity_difference",
             "equalized_odds_difference", "differential_fairness")
AMPLIFICATION = "amplification"
MARGINAL = "marginal"


@dataclass
class ParityConfig(OutputConfig):
    parser: DecisionParser = field(default_factory=DecisionParser)
    dirichlet_alpha: float = 1.0  # the smoothing of differential fairness's probabilities


def _counts(decision: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group along the last axis: the decisions read (not NaN) and the 1s among them. An
    output that is no decision is NaN and counts in neither, so counterfactual sets can keep
    their rows, and their positions, when some outputs could not be read."""
    read = ~np.isnan(decision)
    return (np.add.reduceat(read.astype(float), starts, axis=-1),
            np.add.reduceat(np.where(read, decision, 0.0), starts, axis=-1))


def _rates(decision: np.ndarray, label: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-group selection, true-positive and false-positive rates along the last axis (items
    sorted by group; NaN decisions left out); NaN where a group has no positive (or negative)
    true labels among its read decisions."""
    read = ~np.isnan(decision)
    value = np.where(read, decision, 0.0)
    sizes, chosen = _counts(decision, starts)
    positives = np.add.reduceat(read * label, starts, axis=-1)
    negatives = np.add.reduceat(read * (1 - label), starts, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        selected = chosen / sizes
        tpr = np.add.reduceat(value * label, starts, axis=-1) / positives
        fpr = np.add.reduceat(value * (1 - label), starts, axis=-1) / negatives
    return selected, tpr, fpr


def _spread(x: np.ndarray) -> np.ndarray:
    return np.max(x, axis=-1) - np.min(x, axis=-1)


def differential_fairness(decision: np.ndarray, starts: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Foulds et al.'s epsilon along the last axis (items sorted by group): the largest
    |log P(y | s_i) - log P(y | s_j)| over y in {0, 1} and pairs of groups, with
    P(y | s) = (n_ys + alpha) / (n_s + 2 alpha)."""
    sizes, selected = _counts(decision, starts)
    log_yes = np.log((selected + alpha) / (sizes + 2 * alpha))
    log_no = np.log((sizes - selected + alpha) / (sizes + 2 * alpha))
    return np.maximum(_spread(log_yes), _spread(log_no))


def headline_values(decision: np.ndarray, label: np.ndarray, starts: np.ndarray,
                    alpha: float = 1.0) -> dict[str, np.ndarray]:
    """Every headline metric along the last axis (items sorted by group, `starts` each group's
    first item); `alpha` smooths differential fairness."""
    selected, tpr, fpr = _rates(decision, label, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        impact = np.min(selected, axis=-1) / np.max(selected, axis=-1)
    return {
        "statistical_parity_difference": _spread(selected),
        "disparate_impact": impact,
        "equal_opportunity_difference": _spread(tpr),
        "equalized_odds_difference": np.maximum(_spread(tpr), _spread(fpr)),
        "differential_fairness": differential_fairness(decision, starts, alpha),
    }


def gap(name: str, value: np.ndarray) -> np.ndarray:
    """How far a headline is from parity, larger being worse: 1 - ratio for disparate impact,
    the value itself for the differences and epsilon."""
    return 1.0 - value if name == "disparate_impact" else value


@dataclass
class Marginal:
    """One part of an intersection: its groups' order over the cell-sorted rows, and its values."""

    part: str
    order: np.ndarray  # row positions sorted by this part's group
    starts: np.ndarray
    point: dict[str, np.ndarray]
    replicates: dict[str, np.ndarray]


def marginals(attribute: str, groups: np.ndarray, decision: np.ndarray, label: np.ndarray,
              index: np.ndarray, alpha: float) -> list[Marginal]:
    """Each part's headline values from the same rows (sorted by cell) and the same resamples
    `index` (drawn within cells, so position j always holds an item of the cell at j and its
    marginal group is fixed)."""
    found = []
    for position, part in enumerate(attribute_parts(attribute)):
        labels = np.asarray(marginal_labels(groups, position))
        order = np.argsort(labels, kind="stable")
        starts = run_starts(labels[order])
        point = headline_values(decision[order], label[order], starts, alpha)
        replicates = headline_values(decision[index][:, order], label[index][:, order], starts, alpha)
        found.append(Marginal(part, order, starts, point, replicates))
    return found


def amplification(name: str, cells: np.ndarray, parts: list[np.ndarray]) -> np.ndarray:
    """The cells' gap minus the largest marginal gap (elementwise over resamples)."""
    return gap(name, cells) - np.max(np.stack([gap(name, p) for p in parts]), axis=0)


def amplification_null(groups: np.ndarray, decision: np.ndarray, label: np.ndarray,
                       found: list[Marginal], position: int, *, n_resamples: int, seed: int,
                       alpha: float) -> dict[str, np.ndarray]:
    """Each metric's amplification on decisions simulated with no difference between cells beyond
    one part's: every row decides 1 with the observed rate of its group on part `position` and
    its true label, so the cells' true gap is that part's and the true amplification 0.

    Noise alone makes a gap over many small cells exceed a marginal's, so the observed
    amplification is compared with this null (its p-value and 95th percentile) rather than
    with 0 alone. Drawn in blocks of `RESAMPLE_BLOCK_ELEMENTS` decisions."""
    starts = run_starts(groups)
    marginal = found[position]
    part_of_row = np.empty(len(groups), dtype=np.int64)
    part_of_row[marginal.order] = np.repeat(np.arange(len(marginal.starts)),
                                            np.diff(np.append(marginal.starts, len(groups))))
    key = part_of_row * 2 + label.astype(np.int64)
    read = ~np.isnan(decision)
    rate = (np.bincount(key[read], weights=decision[read], minlength=key.max() + 1)
            / np.maximum(np.bincount(key[read], minlength=key.max() + 1), 1))[key]
    rng = np.random.default_rng(seed)
    rows = max(1, RESAMPLE_BLOCK_ELEMENTS // len(groups))
    draws: dict[str, list[np.ndarray]] = {name: [] for name in HEADLINES}
    for low in range(0, n_resamples, rows):
        simulated = (rng.random((min(rows, n_resamples - low), len(groups))) < rate).astype(float)
        simulated[:, ~read] = np.nan  # an unread output stays unread
        labels = np.broadcast_to(label, simulated.shape)
        cells = headline_values(simulated, labels, starts, alpha)
        parts = [headline_values(simulated[:, m.order], labels[:, m.order], m.starts, alpha)
                 for m in found]
        for name in HEADLINES:
            draws[name].append(amplification(name, cells[name], [p[name] for p in parts]))
    return {name: np.concatenate(values) for name, values in draws.items()}


def _by_group(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` sorted by group, and within a group by counterfactual set when it has sets."""
    keys = ["group", "set_id"] if "set_id" in frame.columns else ["group"]
    return frame.sort_values(keys, kind="stable", key=lambda column: group_labels(column))


def _complete_sets(frame: pd.DataFrame) -> bool:
    """Whether `frame` is counterfactual sets with every set in every group once."""
    if "set_id" not in frame.columns:
        return False
    sets = group_labels(frame["set_id"])
    every = set(sets)
    return all(len(ids) == len(every) and set(ids) == every
               for _, ids in sets.groupby(group_labels(frame["group"])))


def _resample(frame: pd.DataFrame, groups: np.ndarray, config: ParityConfig) -> tuple[np.ndarray, bool]:
    """Bootstrap indices over `frame` (sorted by `_by_group`, so that every group's block lists
    the sets in one order) and whether they are paired: complete counterfactual sets are
    resampled whole (`core.stats.set_bootstrap_indices`), anything else item by item within
    groups."""
    if _complete_sets(frame):
        return set_bootstrap_indices(run_starts(groups), group_labels(frame["set_id"]).nunique(),
                                     n_resamples=config.bootstrap_samples, seed=config.seed), True
    return bootstrap_indices(groups, n_resamples=config.bootstrap_samples, seed=config.seed), False


def _accuracy(part: pd.DataFrame, config: ParityConfig) -> tuple[float, float, float, dict[str, float]]:
    """Accuracy over every item of `part` (unparsed outputs count as wrong), its bootstrap CI
    (sets or items resampled, see `_resample`) and the accuracy of each group."""
    part = _by_group(part)
    correct = (part["decision"].to_numpy(dtype=float) == part["label"].to_numpy(dtype=float)).astype(float)
    groups = group_labels(part["group"]).to_numpy()
    index, _ = _resample(part, groups, config)
    low, high = percentile_interval(correct[index].mean(axis=-1), config.confidence)
    by_group = {str(g): float(correct[groups == g].mean()) for g in np.unique(groups)}
    return float(correct.mean()), float(low), float(high), by_group


def _paired_parity_p_value(decision: np.ndarray, n_groups: int, config: ParityConfig) -> float:
    """The statistical parity difference's p-value when the groups are counterfactual sets: the
    decisions of each set shuffled among its groups (the exchangeable unit is the set, not the
    item). `decision` is sorted by group, then set, every group holding every set once."""
    table = decision.reshape(n_groups, -1)
    observed = float(np.ptp(np.nanmean(table, axis=1)))
    rng = np.random.default_rng(config.seed)
    null = []
    for start in range(0, config.permutation_samples, 256):
        size = min(256, config.permutation_samples - start)
        order = np.argsort(rng.random((size, *table.shape)), axis=1)  # a shuffle per set
        shuffled = np.take_along_axis(np.broadcast_to(table, order.shape), order, axis=1)
        with np.errstate(invalid="ignore"), catch_warnings():
            simplefilter("ignore", RuntimeWarning)  # a group with no read decision in a shuffle
            null.append(np.ptp(np.nanmean(shuffled, axis=2), axis=1))
    return null_test(observed, np.concatenate(null), exact=False).p_value


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
    valid = _by_group(valid)
    groups = group_labels(valid["group"]).to_numpy()
    if len(np.unique(groups)) < 2:
        raise ProbeSchemaError("a slice with one group has no parity statistic")
    decision, label = valid["decision"].to_numpy(dtype=float), valid["label"].to_numpy(dtype=float)
    starts = run_starts(groups)
    value = float(headline_values(decision, label, starts, config.dirichlet_alpha)[name])
    index, _ = _resample(valid, groups, config)
    replicates = headline_values(decision[index], label[index], starts, config.dirichlet_alpha)[name]
    low, high = percentile_interval(replicates, config.confidence, skip="nan")
    return SliceScore(value, low, high, int((~np.isnan(decision)).sum()))


def _score_intersection(attribute: str, groups: np.ndarray, decision: np.ndarray, label: np.ndarray,
                        index: np.ndarray, point: dict[str, np.ndarray],
                        replicates: dict[str, np.ndarray], config: ParityConfig,
                        metrics: dict[str, float], warnings: list[str]) -> dict[str, Any]:
    """Log each part's marginal and each metric's amplification, with CIs from the cells'
    resamples; warn where the whole amplification CI lies above 0. The summary's part."""
    key = metric_segment(attribute)
    found = marginals(attribute, groups, decision, label, index, config.dirichlet_alpha)
    summary: dict[str, Any] = {"parts": [m.part for m in found], "marginals": {}, AMPLIFICATION: {}}
    for marginal in found:
        values = summary["marginals"][marginal.part] = {}
        for name in HEADLINES:
            value = float(marginal.point[name])
            low, high = percentile_interval(marginal.replicates[name], config.confidence, skip="nan")
            stem = f"{key}/{MARGINAL}/{metric_segment(marginal.part)}/{name}"
            metrics[stem], metrics[f"{stem}/ci_low"], metrics[f"{stem}/ci_high"] = value, low, high
            values[name] = {"value": value, "ci_low": low, "ci_high": high}
    nulls: dict[int, dict[str, np.ndarray]] = {}
    for name in HEADLINES:
        value = float(amplification(name, point[name], [m.point[name] for m in found]))
        resampled = amplification(name, replicates[name], [m.replicates[name] for m in found])
        low, high = basic_interval(value, resampled, config.confidence, skip="nan")
        widest = int(np.nanargmax([gap(name, m.point[name]) for m in found])
                     if any(np.isfinite(gap(name, m.point[name])) for m in found) else 0)
        if widest not in nulls:
            nulls[widest] = amplification_null(groups, decision, label, found, widest,
                                               n_resamples=config.permutation_samples,
                                               seed=config.seed, alpha=config.dirichlet_alpha)
        null = nulls[widest][name]
        null = null[np.isfinite(null)]
        tested = null_test(value, null, exact=False) if null.size and np.isfinite(value) else None
        p_value = tested.p_value if tested else float("nan")
        floor = tested.noise_floor if tested else float("nan")
        stem = f"{key}/{name}/{AMPLIFICATION}"
        metrics[stem], metrics[f"{stem}/ci_low"], metrics[f"{stem}/ci_high"] = value, low, high
        metrics[f"{stem}/p_value"], metrics[f"{stem}/noise_floor"] = p_value, floor
        amplified = bool(np.isfinite(low) and low > 0 and p_value < 1 - config.confidence)
        summary[AMPLIFICATION][name] = {"value": value, "ci_low": low, "ci_high": high,
                                        "p_value": p_value, "noise_floor": floor,
                                        "amplified": amplified}
        if amplified:
            largest = max(float(gap(name, m.point[name])) for m in found)
            warnings.append(
                f"parity/{attribute}: {name} is amplified at the intersection: the cells' gap "
                f"{float(gap(name, point[name])):.3f} exceeds the largest marginal gap {largest:.3f} "
                f"by {value:.3f} [{low:.3f}, {high:.3f}] (p = {p_value:.4f} against cells that differ "
                f"only as the widest part does), so the parts alone understate the bias.")
    return summary


def compute(adapter: Any, probe: pd.DataFrame, config: ParityConfig) -> DimensionResult:
    """Score the decision metrics per attribute on a decisions probe."""
    require_capability(adapter, PREDICT, "parity")
    validate_decisions(probe)
    probe = probe.reset_index(drop=True)
    predictions = adapter.predict(list(probe["input"].astype(str)), column="input",
                                  batch_size=config.batch_size, progress=config.progress)
    parsed = config.parser.parse(predictions.outputs)
    sets = ["set_id"] if "set_id" in probe.columns else []
    items = probe[["id", "attribute", *sets, "group", "input", "label",
                   *[c for c in config.slice_columns if c in probe.columns and c not in sets]]].copy()
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
        valid = _by_group(part.dropna(subset=["decision"]))
        read_groups = sorted(set(group_labels(valid["group"])))
        if len(read_groups) < 2:
            raise ProbeSchemaError(f"parity/{attribute}: fewer than two groups have a parsed decision.")
        if is_intersection(attribute):
            require_every_cell(f"parity/{attribute}", part, read_groups, "reads as a decision",
                               "Set evaluator_config decision_labels to what the model returns, or fix "
                               "the model's outputs for these inputs")
        # counterfactual sets keep every row in place (an unread output is NaN, left out of the
        # rates), so that whole sets can still be resampled; other probes score the read rows
        scored = _by_group(part) if _complete_sets(part) else valid
        groups = group_labels(scored["group"]).to_numpy()
        decision = scored["decision"].to_numpy(dtype=float)
        label = scored["label"].to_numpy(dtype=float)
        starts = run_starts(groups)
        names = groups[starts]
        point = headline_values(decision, label, starts, config.dirichlet_alpha)
        index, paired = _resample(scored, groups, config)
        if "set_id" in scored.columns and not paired:
            warnings.append(
                f"parity/{attribute}: the counterfactual sets are not complete (a set misses a "
                "group), so the groups were resampled on their own, not as sets (wider CIs).")
        replicates = headline_values(decision[index], label[index], starts, config.dirichlet_alpha)
        row: dict[str, Any] = {"attribute": attribute, "n_items": len(valid), "groups": {},
                               "paired_resampling": paired}
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
        p_value = (_paired_parity_p_value(decision, len(names), config) if paired
                   else _parity_p_value(decision, groups, config))
        metrics[f"{key}/statistical_parity_difference/p_value"] = p_value
        row["statistical_parity_difference"]["p_value"] = p_value
        selected, tpr, fpr = _rates(decision, label, starts)
        for g, sr, tp, fp in zip(names, selected, tpr, fpr):
            metrics[f"{key}/selection_rate/{metric_segment(g)}"] = float(sr)
            metrics[f"{key}/true_positive_rate/{metric_segment(g)}"] = float(tp)
            row["groups"][str(g)] = {"selection_rate": float(sr), "true_positive_rate": float(tp),
                                     "false_positive_rate": float(fp),
                                     "accuracy": accuracy_by_group[str(g)],
                                     "n_items": int(((groups == g) & ~np.isnan(decision)).sum())}
        if is_intersection(attribute):
            row["intersection"] = _score_intersection(attribute, groups, decision, label, index,
                                                      point, replicates, config, metrics, warnings)
        for name in HEADLINES:
            row[name]["slices"] = score_slices(
                scored, config.slice_columns, lambda sub, name=name: _slice_score(sub, name, config),
                float(point[name]), f"{key}/{name}", metrics,
                higher_is_worse=name != "disparate_impact")
        summary.append(row)
    return DimensionResult(
        dimension=NAME, metrics=metrics, items=items, summary=summary, warnings=warnings,
        metadata={"parser": config.parser.version, "bootstrap_samples": config.bootstrap_samples,
                  "seed": config.seed, "dirichlet_alpha": config.dirichlet_alpha},
    )


class ParityOptions(StrictModel):
    """decision_labels: {"positive": [...], "negative": [...]}: which model outputs count as a
    positive or negative decision (default: 1/0, True/False, yes/no). dirichlet_alpha: the
    smoothing of differential fairness's probabilities (default 1; larger pulls small groups'
    rates toward 1/2)."""

    decision_labels: dict[Literal["positive", "negative"], list[str | int | float | bool]] | None = None
    dirichlet_alpha: float = Field(1.0, gt=0)


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
        MetricSpec("differential_fairness", "lower", "Foulds et al.'s epsilon: largest log-ratio of "
                   "smoothed decision probabilities between two groups"),
        *(MetricSpec(f"{name}/{AMPLIFICATION}", "lower", "on an intersection: the cells' gap minus "
                     "the largest marginal gap") for name in HEADLINES),
        MetricSpec("unparsed_rate", "lower", "share of outputs that are no decision"),
        MetricSpec("accuracy", "higher", "share of decisions that match the true outcome (task "
                   "quality; an output that is no decision counts as wrong)"),
    )

    def configure(self, options: ParityOptions, context: ScoringContext) -> ParityConfig:
        return ParityConfig(**context.outputs, parser=DecisionParser.from_config(options.decision_labels),
                            dirichlet_alpha=options.dirichlet_alpha)

    def compute(self, adapter: Any, probe: pd.DataFrame, config: ParityConfig) -> DimensionResult:
        return compute(adapter, probe, config)
