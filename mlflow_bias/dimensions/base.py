"""What every dimension returns: a pure result, logged to MLflow elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from mlflow_bias.core.groups import group_labels
from mlflow_bias.core.metric_keys import SIBLING_STATISTICS, metric_segment  # noqa: F401 (public here too)

# the statistic every output dimension logs for outputs that could not be read
UNPARSED_RATE = "unparsed_rate"


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
    slice_columns: list[str] = field(default_factory=list)  # per-slice metrics for these columns


def record_unparsed(missing: "pd.Series", key: str, label: str, what: str,
                    metrics: dict[str, float], warnings: list[str]) -> None:
    """Log `<key>/unparsed_rate` (share of True in `missing`) and warn when it is not zero:
    outputs that could not be read are counted, never silently dropped."""
    rate = float(missing.mean())
    metrics[f"{key}/{UNPARSED_RATE}"] = rate
    if rate:
        warnings.append(f"{label}: {rate:.1%} of outputs {what} and were left out of the rates.")


def no_usable_outputs(items: "pd.DataFrame", dimension: str, output_column: str,
                      unreadable: str) -> Exception:
    """The error for a model none of whose outputs can be scored, saying why: it raised on every
    input (with its first errors), returned nothing, or returned what `unreadable` explains."""
    from mlflow_bias.core.errors import ModelOutputError

    errors = items["error"].dropna().astype(str) if "error" in items.columns else pd.Series([], dtype=str)
    outputs = items[output_column]
    table = f"the items table bias/{dimension}/items.json of this run lists each input's output and error"
    if len(errors) == len(items):
        distinct = list(dict.fromkeys(errors))[:3]
        message = (f"{dimension}: the model raised on all {len(items)} inputs, so there is nothing to "
                   f"score. First error(s): {' | '.join(distinct)}. Fix the model; {table}.")
    elif outputs.isna().all():
        message = (f"{dimension}: the model returned no output (None) for any of the {len(items)} "
                   f"inputs{f' and raised on {len(errors)}' if len(errors) else ''}. Make its predict "
                   f"return one answer per input; {table}.")
    else:
        message = (f"{dimension}: {unreadable} (first outputs: {outputs.dropna().head(3).tolist()}); "
                   f"{table}.")
    return ModelOutputError(message, items, dimension)


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


@dataclass(frozen=True)
class SliceScore:
    """A dimension's headline value on one slice of the probe, with its CI."""

    value: float
    ci_low: float
    ci_high: float
    n_items: int


def score_slices(part: "pd.DataFrame", slice_columns: list[str], score: Callable[["pd.DataFrame"], SliceScore],
                 overall: float, key: str, metrics: dict[str, float],
                 higher_is_worse: bool = True) -> list[dict[str, Any]]:
    """Score each value of each slice column on its rows of `part` (one attribute's items).

    Logs `<key>/slice/<column>/<value>` with `/ci_low` and `/ci_high`, and returns one row per
    slice, `flagged` when the slice is worse than the attribute overall beyond the slice's own
    uncertainty (its CI lies above the overall value; below it when lower is worse, as for
    disparate impact). `score` may raise ProbeSchemaError for a
    slice too small to score; that slice is skipped.
    """
    from mlflow_bias.core.errors import ProbeSchemaError

    rows: list[dict[str, Any]] = []
    for column in slice_columns:
        if column not in part.columns:
            continue
        for value, sub in part.groupby(group_labels(part[column]), sort=True):
            try:
                result = score(sub)
            except ProbeSchemaError:
                continue
            base = f"{key}/slice/{metric_segment(column)}/{metric_segment(value)}"
            metrics[base] = result.value
            metrics[f"{base}/ci_low"], metrics[f"{base}/ci_high"] = result.ci_low, result.ci_high
            rows.append({"column": column, "value": value, "score": result.value,
                         "ci_low": result.ci_low, "ci_high": result.ci_high,
                         "n_items": result.n_items,
                         "flagged": bool(result.ci_low > overall if higher_is_worse
                                         else result.ci_high < overall)})
    return rows
