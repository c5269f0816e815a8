"""What the page view and the charts both read from a scorecard: finite numbers, a dimension's
title and rate labels, its headline statistics with their metric keys, and each statistic's
verdict under the policy rule that applies to it."""

from __future__ import annotations

import math
from typing import Any

from mlflow_bias.core.metric_keys import metric_prefix, metric_segment


def _finite(value: Any) -> float | None:
    """A finite number as float; None for anything else (NaN, inf, bool, text, missing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _about(name: str) -> tuple[str, str]:
    """(title, explanation) of a dimension from its registered description; a dimension that is
    not installed here (a plugin's, read from another machine's run) shows its name."""
    from mlflow_bias.dimensions.registry import all_dimensions

    dimension = all_dimensions().get(name)
    return (dimension.title, dimension.about) if dimension is not None else (name, "")


def _rates_label(name: str, what: str = "rates_label") -> str:
    """What a dimension's per-group `rates` are: the table caption (`rates_label`) or the chart
    axis (`rate_axis`)."""
    from mlflow_bias.dimensions.protocol import Dimension
    from mlflow_bias.dimensions.registry import all_dimensions

    return getattr(all_dimensions().get(name, Dimension), what)


def _dimension_prefix(dim: dict[str, Any]) -> str:
    """The metric prefix of a dimension summary: the one it was logged under, else
    `bias/<dimension>`."""
    return dim.get("metric_prefix") or metric_prefix(dim.get("dimension", "?"))


def _statistics(row: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """The headline statistics of one attribute row as (name, its dict): the row itself (name
    None) when it holds one value, else each statistic it holds (parity has several)."""
    if "value" in row:
        return [(None, row)]
    return [(name, stat) for name, stat in row.items() if isinstance(stat, dict) and "value" in stat]


def _headlines(dim: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per headline statistic of a dimension: (attribute, statistic or None, its dict)."""
    return [{"attribute": str(row.get("attribute", "?")), "statistic": name, "stat": stat, "row": row}
            for row in dim.get("attributes") or [] for name, stat in _statistics(row)]


def _metric_key(prefix: str, headline: dict[str, Any]) -> str:
    """The logged metric key of a headline statistic: `<prefix>/<attribute>[/<statistic>]`."""
    statistic = headline["statistic"]
    return f"{prefix}/{metric_segment(headline['attribute'])}" + (f"/{statistic}" if statistic else "")


def _rule_for(policy: dict[str, Any] | None, dimension: str, statistic: str | None,
              probe: str | None = None) -> dict | None:
    """The policy rule on a dimension's statistic (`<dimension>[/<statistic>]`) that judges
    `probe`'s metrics, if any (a rule scoped to other probes leaves it shown but not judged)."""
    if not policy:
        return None
    wanted = dimension if statistic is None else f"{dimension}/{statistic}"
    name = probe.partition("@")[0] if probe else None  # the scorecard names probes name@version
    return next((r for r in policy.get("rules") or [] if r.get("metric") == wanted
                 and (not r.get("probes") or not name or name in r["probes"])), None)


def _threshold_verdict(rule: dict[str, Any], key: str, stat: dict[str, Any]) -> str:
    """pass or fail, judged exactly as the gate judges the logged metric."""
    from mlflow_bias.release.policy import judge
    from mlflow_bias.release.policy import Rule

    value = _finite(stat.get("value"))
    metrics = {key: math.nan if value is None else value}
    for side in ("ci_low", "ci_high"):
        if _finite(stat.get(side)) is not None:
            metrics[f"{key}/{side}"] = float(stat[side])
    fields = {k: rule[k] for k in ("metric", "threshold", "direction", "decide_on", "absolute") if k in rule}
    return judge(Rule(**fields), key, metrics).verdict
