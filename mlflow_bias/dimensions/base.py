"""What every dimension returns: a pure result, logged to MLflow elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# Statistics logged beside a headline metric `bias/<dimension>/<attribute>` as
# `bias/<dimension>/<attribute>/<statistic>`; the gate never mistakes them for headlines.
SIBLING_STATISTICS = frozenset(
    {"ci_low", "ci_high", "p_value", "noise_floor", "n_items", "stereotype_rate"}
)


@dataclass
class UncertaintyConfig:
    """What every dimension needs to attach uncertainty to its numbers, reproducibly."""

    bootstrap_samples: int = 1000
    permutation_samples: int = 2000
    seed: int = 0
    confidence: float = 0.95


@dataclass
class OutputConfig(UncertaintyConfig):
    """Dimensions that score the model's outputs call it in batches, with a progress bar."""

    batch_size: int = 64
    progress: bool = True


def record_unparsed(missing: "pd.Series", key: str, label: str, what: str,
                    metrics: dict[str, float], warnings: list[str]) -> None:
    """Log `<key>/unparsed_rate` (share of True in `missing`) and warn when it is not zero:
    outputs that could not be read are counted, never silently dropped."""
    rate = float(missing.mean())
    metrics[f"{key}/unparsed_rate"] = rate
    if rate:
        warnings.append(f"{label}: {rate:.1%} of outputs {what} and were left out of the rates.")


@dataclass
class DimensionResult:
    """One dimension scored on one probe.

    `metrics` keys are relative to `bias/<dimension>/` (e.g. `gender`, `gender/ci_low`);
    `items` is the per-item table; `tables` holds further named tables; `summary` has one
    JSON-able row per attribute (value, CI, p-value, ...) for the scorecard.
    """

    dimension: str
    metrics: dict[str, float]
    items: pd.DataFrame
    summary: list[dict[str, Any]]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # run tags, e.g. the rubric version
    run_metrics: dict[str, float] = field(default_factory=dict)  # full keys, e.g. rubric quality
