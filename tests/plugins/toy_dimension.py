"""A dimension added from outside the package, as a user would add one: this module and a
policy rule, nothing else.

`yes_gap`: on prompts identical but for the group, the largest difference between two groups'
share of answers that say "yes". Its probe kind, `yes_prompts`, has one row per prompt.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlflow_bias.adapters.base import PREDICT
from mlflow_bias.dimensions import Dimension, DimensionResult, MetricSpec, ProbeKind, register_dimension
from mlflow_bias.dimensions.base import OutputConfig
from mlflow_bias.core.stats import bootstrap_indices

YES_PROMPTS = ProbeKind(
    "yes_prompts",
    ("id", "attribute", "group", "question"),
    (),
    "yes/no questions that differ only in the group they mention",
)


@register_dimension
class YesGap(Dimension):
    name = "yes_gap"
    title = "Yes-rate gap"
    about = "The largest difference between two groups' share of 'yes' answers; 0 is parity."
    requires = PREDICT
    probe_kind = YES_PROMPTS
    metrics = (MetricSpec(None, "lower", "largest gap in the share of yes answers"),)

    def compute(self, adapter: Any, probe: pd.DataFrame, config: OutputConfig) -> DimensionResult:
        answers = adapter.predict(list(probe["question"]), column="input",
                                  batch_size=config.batch_size, progress=config.progress)
        items = probe.assign(answer=answers.outputs)
        items["yes"] = items["answer"].astype(str).str.strip().str.lower().str.startswith("yes")
        metrics: dict[str, float] = {}
        summary = []
        for attribute, part in items.groupby("attribute"):
            rates = part.groupby("group")["yes"].mean()
            gap = float(rates.max() - rates.min())
            part = part.sort_values("group")  # resampled within each group
            yes, groups = part["yes"].to_numpy(float), part["group"].to_numpy()
            draws = bootstrap_indices(groups, n_resamples=config.bootstrap_samples, seed=config.seed)
            gaps = [_gap(yes[d], groups[d]) for d in draws]
            alpha = (1 - config.confidence) / 2
            low, high = (float(q) for q in np.quantile(gaps, [alpha, 1 - alpha]))
            metrics[str(attribute)] = gap
            metrics[f"{attribute}/ci_low"], metrics[f"{attribute}/ci_high"] = low, high
            summary.append({"attribute": attribute, "value": gap, "ci_low": low, "ci_high": high,
                            "n_items": len(part), "rates": rates.to_dict()})
        return DimensionResult(self.name, metrics, items, summary)


def _gap(yes: np.ndarray, groups: np.ndarray) -> float:
    rates = [yes[groups == g].mean() for g in np.unique(groups)]
    return float(max(rates) - min(rates)) if len(rates) > 1 else 0.0
