"""What every dimension returns: a pure result, logged to MLflow elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


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
