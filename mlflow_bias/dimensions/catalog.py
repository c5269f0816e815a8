"""What each dimension logs that a policy rule may judge, as plain data.

Policies are checked against this at load time (a rule on `cbz` or `parity/disparate_impakt` is
an error, not a rule that never matches), and it is read by the gate and the bias-gate server,
so it imports nothing: no dimension module, no model stack.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateableMetrics:
    """A dimension's judgeable metrics: the headline `bias/<dim>/<attribute>` when `headline`,
    and `bias/<dim>/<attribute>/<statistic>` for each of `statistics`."""

    dimension: str
    headline: bool
    statistics: frozenset[str] = frozenset()
    description: str = ""

    def metric_names(self) -> list[str]:
        """The `metric` values a policy rule may use for this dimension."""
        return ([self.dimension] if self.headline else []) + sorted(
            f"{self.dimension}/{s}" for s in self.statistics)


_UNPARSED = "unparsed_rate"
CATALOG: dict[str, GateableMetrics] = {m.dimension: m for m in (
    GateableMetrics("lpbs", True, frozenset({"stereotype_rate"}),
                    "log-probability bias score on counterfactual pairs"),
    GateableMetrics("cbs", True, frozenset({"flip_rate", "logprob_variance", _UNPARSED}),
                    "category bias score on counterfactual sets"),
    GateableMetrics("refusal", True, frozenset(), "refusal-rate gap in percentage points"),
    GateableMetrics("parity", False, frozenset({
        "statistical_parity_difference", "disparate_impact", "equal_opportunity_difference",
        "equalized_odds_difference", _UNPARSED}), "decision metrics"),
    GateableMetrics("association", True, frozenset(), "WEAT/SEAT effect size"),
    GateableMetrics("ranking", False, frozenset({"exposure_ratio", "topk_share_gap"}),
                    "exposure and top-k shares of ranked lists"),
    GateableMetrics("replay", True, frozenset({"mean_disagreement", "exact_match_rate"}),
                    "disagreement rate of swapped production traces"),
)}
# the statistic every output dimension logs for outputs that could not be read
UNPARSED_RATE = _UNPARSED


def known_metrics() -> list[str]:
    return [name for entry in CATALOG.values() for name in entry.metric_names()]
