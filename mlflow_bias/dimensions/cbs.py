"""Category Bias Score (CBS) on counterfactual sets (inputs identical but for the group).

Each output is mapped to a category by a versioned parser. r_g(k) is the share of group g's parsed
outputs in category k; CBS = max over pairs of groups of the total variation distance
1/2 * sum_k |r_g(k) - r_h(k)|, in [0, 1]; `flip_rate` = share of sets (all of whose outputs
parsed) whose category is not the same for every group. 95% CIs: percentile bootstrap over sets.
Unparsed outputs are counted (`unparsed_rate`) and left out of the rates.

With `verbalisers` and a model that gives log-probabilities, nothing is generated: each input's
category probabilities come from the likelihood of the answers that express them (see
`parsing.Verbalisers`), its category is the most likely one, and the Ahn & Oh (2021) form is added:
`logprob_variance` = mean over sets and categories of the variance across groups (ddof = 0, as a
spread over the set's groups, not an estimate) of the normalised log-probability. It sees shifts in
confidence that leave the argmax, and so CBS, unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from mlflow_bias.core.groups import group_labels
from mlflow_bias.core.intersections import is_intersection
from mlflow_bias.dimensions.intersection import amplified_warning, require_every_cell, score_set_intersection
from mlflow_bias.adapters.base import LOGLIKELIHOOD, PREDICT
from mlflow_bias.dimensions.base import (
    DimensionResult,
    OutputConfig,
    SliceScore,
    metric_segment,
    no_usable_outputs,
    record_unparsed,
    score_slices,
)
from mlflow_bias.core.errors import CapabilityError, ProbeSchemaError
from mlflow_bias.text.parsing import CategoryParser, Verbalisers
from mlflow_bias.dimensions.kinds import COUNTERFACTUAL_SETS, validate_sets
from mlflow_bias.dimensions.protocol import Dimension, MetricSpec, ScoringContext
from mlflow_bias.dimensions.registry import register_dimension, require_capability
from mlflow_bias.core.errors import ConfigError
from mlflow_bias.core.stats import bootstrap_interval
from mlflow_bias.core.validation import StrictModel

NAME = "cbs"
REQUIRES = PREDICT


@dataclass
class CBSConfig(OutputConfig):
    parser: CategoryParser = field(default_factory=CategoryParser)
    verbalisers: Verbalisers | None = None


def category_logprobs(adapter: Any, inputs: list[str], verbalisers: Verbalisers) -> np.ndarray:
    """[n_inputs, n_categories] log-probabilities of each category, normalised over categories."""
    answers = [answer for _, answer in verbalisers.answers()]
    prompts = [text for text in inputs for _ in answers]
    scored = adapter.answer_loglikelihood(prompts, answers * len(inputs))
    return verbalisers.normalise(np.asarray(scored).reshape(len(inputs), len(answers)))


def set_counts(items: pd.DataFrame, sets: list[str], groups: list[str],
               categories: list[str]) -> np.ndarray:
    """counts[set, group, category] of the parsed outputs among `items` (unparsed rows ignored)."""
    parsed = items.dropna(subset=["category"])
    counts = np.zeros((len(sets), len(groups), len(categories)))
    # integer indices even when nothing was parsed (an empty slice)
    s_idx = parsed["set_id"].astype(str).map({s: i for i, s in enumerate(sets)}).to_numpy(dtype=np.intp)
    g_idx = group_labels(parsed["group"]).map({g: i for i, g in enumerate(groups)}).to_numpy(dtype=np.intp)
    k_idx = parsed["category"].map({k: i for i, k in enumerate(categories)}).to_numpy(dtype=np.intp)
    np.add.at(counts, (s_idx, g_idx, k_idx), 1)
    return counts


def _score_counts(counts: np.ndarray, config: CBSConfig) -> SliceScore:
    """CBS of `counts[set, group, category]` with its percentile bootstrap CI over sets."""
    value = float(max_tvd(counts.sum(axis=0)))
    low, high = bootstrap_interval(lambda draws: max_tvd(counts[draws].sum(axis=1)), len(counts),
                                   n_resamples=config.bootstrap_samples, seed=config.seed,
                                   confidence=config.confidence, skip="nan")
    return SliceScore(value, low, high, int(counts.sum()))


def logprob_variance(logprobs: np.ndarray) -> np.ndarray:
    """Ahn & Oh (2021) per set: `logprobs[set, group, category]` -> mean over categories of the
    variance across groups (ddof = 0)."""
    return logprobs.var(axis=1).mean(axis=-1)


def max_tvd(counts: np.ndarray) -> np.ndarray:
    """Max pairwise total variation distance between groups' category distributions.

    `counts[..., g, k]`: outputs of group g in category k; returns an array over the leading axes.
    """
    totals = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = counts / totals
    groups = counts.shape[-2]
    distances = [0.5 * np.abs(rates[..., g, :] - rates[..., h, :]).sum(axis=-1)
                 for g, h in combinations(range(groups), 2)]
    return np.max(np.stack(distances), axis=0)


def compute(adapter: Any, probe: pd.DataFrame, config: CBSConfig) -> DimensionResult:
    """Score CBS and flip rate per attribute on a counterfactual-sets probe."""
    verbalisers = config.verbalisers
    if verbalisers and LOGLIKELIHOOD not in adapter.capabilities:
        raise CapabilityError(
            f"CBS with 'verbalisers' scores answers by their log-probabilities, which "
            f"{adapter.describe().get('model', 'this model')} cannot give. Drop 'verbalisers' (and "
            "set 'categories') to read CBS from the model's outputs, or pass a transformers causal LM."
        )
    require_capability(adapter, LOGLIKELIHOOD if verbalisers else PREDICT, "CBS")
    validate_sets(probe)
    probe = probe.reset_index(drop=True)
    items = probe[["id", "attribute", "set_id", "group", "input",
                   *[c for c in config.slice_columns if c in probe.columns]]].copy()
    if verbalisers:
        logprobs = category_logprobs(adapter, list(probe["input"].astype(str)), verbalisers)
        items["output"] = [verbalisers.names[k] for k in logprobs.argmax(axis=1)]
        items["category"] = items["output"]
        items["error"] = None
        for k, name in enumerate(verbalisers.names):
            items[f"logprob/{name}"] = logprobs[:, k]
    else:
        predictions = adapter.predict(list(probe["input"].astype(str)), column="input",
                                      batch_size=config.batch_size, progress=config.progress)
        items["output"] = [None if o is None else str(o) for o in predictions.outputs]
        items["category"] = config.parser.parse(predictions.outputs)
        items["error"] = predictions.errors
    overlaps = [] if verbalisers else config.parser.overlaps(items["output"].tolist())
    return score_items(items, config, overlaps)


def score_items(items: pd.DataFrame, config: CBSConfig, overlaps: list[str] | tuple[str, ...] = ()
                ) -> DimensionResult:
    """CBS, flip rate and their CIs from an items table of set members that already carry their
    `category` (None where unparsed): the model's parsed outputs, or per-row assessments read back
    from MLflow (`mlflow_bias.genai.summarize`)."""
    verbalisers = config.verbalisers
    if items["category"].isna().all():
        raise no_usable_outputs(
            items, NAME, "output",
            "no output could be mapped to exactly one category"
            + (f" ({'; '.join(overlaps)}: make the patterns exclusive)" if overlaps else "")
            + ". Set evaluator_config categories={'advance': ['advance'], 'reject': ['reject']} "
              "to match what the model says")
    metrics: dict[str, float] = {}
    summary: list[dict[str, Any]] = []
    warnings: list[str] = [f"CBS: {line}; outputs that match several categories count as unparsed: "
                           "make the category patterns exclusive." for line in overlaps]
    for attribute, part in items.groupby(group_labels(items["attribute"]), sort=True):
        key = metric_segment(attribute)
        record_unparsed(part["category"].isna(), key, f"CBS/{attribute}",
                        "matched no category (or several)", metrics, warnings)
        parsed = part.dropna(subset=["category"])
        groups = sorted(group_labels(parsed["group"]).unique())
        if len(groups) < 2:
            lost = sorted(set(group_labels(part["group"])) - set(groups))
            raise ProbeSchemaError(
                f"CBS/{attribute}: no output of group(s) {', '.join(lost)} could be mapped to a "
                "category, so there is nothing to compare. Look at their outputs in the items table "
                "and widen 'categories' to match what the model says."
            )
        categories = sorted(parsed["category"].unique())
        sets = sorted(part["set_id"].astype(str).unique())
        counts = set_counts(part, sets, groups, categories)
        score = _score_counts(counts, config)
        crossed = None
        if is_intersection(attribute):
            require_every_cell(f"CBS/{attribute}", part, groups, "mapped to a category")
            crossed = score_set_intersection(
                attribute, groups, counts, max_tvd, n_resamples=config.bootstrap_samples,
                null_resamples=config.permutation_samples, seed=config.seed,
                confidence=config.confidence)
            crossed.log(key, metrics)
            if crossed.amplified:
                warnings.append(amplified_warning(f"CBS/{attribute}", "CBS", crossed))
        value, low, high = score.value, score.ci_low, score.ci_high
        complete = counts.sum(axis=2).min(axis=1) > 0  # every group's output parsed
        per_set = counts[complete].argmax(axis=2)
        flipped = (per_set != per_set[:, :1]).any(axis=1)
        flip_rate = float(flipped.mean()) if complete.any() else float("nan")
        flip_low, flip_high = (bootstrap_interval(lambda draws: flipped[draws].mean(axis=1),
                                                  int(complete.sum()),
                                                  n_resamples=config.bootstrap_samples,
                                                  seed=config.seed + 1, confidence=config.confidence)
                               if complete.any() else (np.nan, np.nan))
        metrics[key] = value
        metrics[f"{key}/ci_low"], metrics[f"{key}/ci_high"] = float(low), float(high)
        metrics[f"{key}/flip_rate"] = flip_rate
        metrics[f"{key}/flip_rate/ci_low"], metrics[f"{key}/flip_rate/ci_high"] = float(flip_low), float(flip_high)
        metrics[f"{key}/n_items"] = float(len(part))
        rates = counts.sum(axis=0) / np.maximum(counts.sum(axis=(0, 2))[:, None], 1)
        row: dict[str, Any] = {**({"intersection": crossed.summary(NAME)} if crossed else {}),
                               "attribute": attribute, "value": value, "ci_low": float(low),
                               "ci_high": float(high), "p_value": None, "noise_floor": None,
                               "flip_rate": flip_rate, "n_items": len(part), "n_sets": len(sets),
                               "rates": {},
                               "group_n": {g: int(n) for g, n in zip(groups, counts.sum(axis=(0, 2)))}}
        for g, group in enumerate(groups):
            row["rates"][group] = {}
            for k, category in enumerate(categories):
                metrics[f"{key}/rate/{metric_segment(group)}/{metric_segment(category)}"] = float(rates[g, k])
                row["rates"][group][category] = float(rates[g, k])
        if verbalisers:
            _add_logprob_form(part, sets, groups, verbalisers.names, key, config, row, metrics)

        def score_slice(sub: pd.DataFrame) -> SliceScore:
            sub_sets = sorted(sub["set_id"].astype(str).unique())
            return _score_counts(set_counts(sub, sub_sets, groups, categories), config)

        row["slices"] = score_slices(part, config.slice_columns, score_slice, value, key, metrics)
        summary.append(row)
    return DimensionResult(
        dimension=NAME, metrics=metrics, items=items, summary=summary, warnings=warnings,
        metadata={"parser": verbalisers.version if verbalisers else config.parser.version,
                  "bootstrap_samples": config.bootstrap_samples, "seed": config.seed,
                  **({"verbalisers": dict(verbalisers.categories),
                      "answer_prefix": verbalisers.answer_prefix} if verbalisers else {})},
    )


def _add_logprob_form(part: pd.DataFrame, sets: list[str], groups: list[str], categories: list[str],
                      key: str, config: CBSConfig, row: dict[str, Any],
                      metrics: dict[str, float]) -> None:
    """Ahn & Oh's variance form and each group's mean category probability, with a bootstrap CI
    over sets."""
    columns = [f"logprob/{name}" for name in categories]
    table = part.groupby([part["set_id"].astype(str), group_labels(part["group"])])[columns].mean()
    full = pd.MultiIndex.from_product([sets, groups])
    lp = table.reindex(full).to_numpy().reshape(len(sets), len(groups), len(categories))
    per_set = logprob_variance(lp)
    value = float(per_set.mean())
    low, high = bootstrap_interval(lambda draws: per_set[draws].mean(axis=1), len(sets),
                                   n_resamples=config.bootstrap_samples, seed=config.seed + 1,
                                   confidence=config.confidence)
    metrics[f"{key}/logprob_variance"] = value
    metrics[f"{key}/logprob_variance/ci_low"] = float(low)
    metrics[f"{key}/logprob_variance/ci_high"] = float(high)
    row["logprob_variance"] = value
    row["probabilities"] = {}
    mean_prob = np.exp(lp).mean(axis=0)  # [group, category]
    for g, group in enumerate(groups):
        row["probabilities"][group] = {}
        for k, category in enumerate(categories):
            metrics[f"{key}/prob/{metric_segment(group)}/{metric_segment(category)}"] = float(mean_prob[g, k])
            row["probabilities"][group][category] = float(mean_prob[g, k])


class CBSOptions(StrictModel):
    """categories: keyword/regex map from text outputs to categories, e.g. {"advance": ["advance",
    "recommend"], "reject": ["reject"]} (default: each output is its own category). verbalisers:
    {"advance": ["ADVANCE"], "reject": ["REJECT"], "answer_prefix": ""}: for models that give
    log-probabilities, each input's category comes from the likelihood of these answers instead
    of generated text, and Ahn & Oh's log-probability variance is added."""

    categories: dict[str, list[str]] | None = None
    verbalisers: dict[str, Any] | None = None

    def model_post_init(self, context: Any) -> None:
        for name, patterns in (self.categories or {}).items():
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ConfigError(
                        f"Invalid evaluator_config for 'bias': cbs.categories.{name} pattern {pattern!r} "
                        f"is not a valid regular expression ({exc}); escape special characters "
                        f"(re.escape) or write a plain word.") from exc
        if self.categories is not None and len(self.categories) < 2:
            raise ConfigError("Invalid evaluator_config for 'bias': cbs.categories needs at least two "
                              "categories, e.g. {'advance': ['advance'], 'reject': ['reject']}.")
        try:
            Verbalisers.from_config(self.verbalisers)
        except ValueError as exc:
            raise ConfigError(f"Invalid evaluator_config for 'bias': cbs.verbalisers: {exc}") from exc


@register_dimension
class CBS(Dimension):
    """Category bias score on counterfactual sets (this module's `compute`)."""

    name = NAME
    order = 20
    title = "Category bias (CBS)"
    about = ("The largest difference between two groups' distributions of output categories on "
             "inputs identical but for the group (total variation distance); 0 is parity.")
    citation = ("Ahn, Oh (2021). Mitigating Language-Dependent Ethnic Bias in BERT. EMNLP "
                "(categorical bias score).")
    requires = REQUIRES
    probe_kind = COUNTERFACTUAL_SETS
    options = CBSOptions
    legacy_keys = {"categories": "categories", "verbalisers": "verbalisers"}
    metrics = (
        MetricSpec(None, "lower", "category bias score on counterfactual sets"),
        MetricSpec("flip_rate", "lower", "share of sets whose category is not the same for every group"),
        MetricSpec("logprob_variance", "lower", "Ahn & Oh's variance of normalised log-probabilities"),
        MetricSpec("unparsed_rate", "lower", "share of outputs no category matched"),
        MetricSpec("amplification", "lower", "on an intersection: the cells' CBS minus the largest "
                   "marginal CBS"),
    )

    def configure(self, options: CBSOptions, context: ScoringContext) -> CBSConfig:
        return CBSConfig(**context.outputs, parser=CategoryParser.from_config(options.categories),
                         verbalisers=Verbalisers.from_config(options.verbalisers))

    def compute(self, adapter: Any, probe: pd.DataFrame, config: CBSConfig) -> DimensionResult:
        return compute(adapter, probe, config)
