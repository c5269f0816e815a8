"""Did a mitigation help? Compare two evaluation runs metric by metric, with a CI for each change,
on the full probe and on its held-out slice, and flag what got worse ("mitigation can shift bias")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from mlflow_bias.core.metric_keys import MetricKey
from mlflow_bias.dimensions import lpbs
from mlflow_bias.release.gate import headline_metrics, main_probe
from mlflow_bias.release.policy import Rule, load_policy


@dataclass
class MetricChange:
    metric: str
    value_a: float
    value_b: float
    diff: float  # b - a
    ci_low: float | None
    ci_high: float | None
    direction: str
    verdict: str  # improved | worse | no clear change | no CI
    paired: bool | None = None
    heldout: dict[str, Any] | None = None

    def line(self) -> str:
        ci = f" [{self.ci_low:+.3f}, {self.ci_high:+.3f}]" if self.ci_low is not None else ""
        held = ""
        if self.heldout and "diff" in self.heldout:
            held = (f"; held-out {self.heldout['diff']:+.3f} "
                    f"[{self.heldout['ci_low']:+.3f}, {self.heldout['ci_high']:+.3f}]")
        return (f"{self.metric}: {self.value_a:.3f} -> {self.value_b:.3f} ({self.diff:+.3f}{ci}"
                f"{held}) {self.verdict}")


@dataclass
class Comparison:
    run_a: str
    run_b: str
    policy: str
    changes: list[MetricChange] = field(default_factory=list)

    @property
    def worse(self) -> list[MetricChange]:
        return [c for c in self.changes if c.verdict == "worse"]

    def to_dict(self) -> dict[str, Any]:
        return {"run_a": self.run_a, "run_b": self.run_b, "policy": self.policy,
                "changes": [asdict(c) for c in self.changes],
                "worse": [c.metric for c in self.worse]}

    def summary(self) -> str:
        lines = [f"Run {self.run_b} against {self.run_a} (policy {self.policy}):"]
        lines += [f"  {c.line()}" for c in self.changes]
        if self.worse:
            lines.append("  WORSE: " + ", ".join(c.metric for c in self.worse)
                         + " - the change shifted bias; re-check the full scorecard")
        return "\n".join(lines)


def _verdict(direction: str, low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "no CI"
    better_if_negative = direction == "max"
    if high < 0:
        return "improved" if better_if_negative else "worse"
    if low > 0:
        return "worse" if better_if_negative else "improved"
    return "no clear change"


def _probe_tags(run) -> dict[str, str]:
    return {k: v for k, v in run.data.tags.items() if k.startswith("bias.probe.")}


def compare(
    run_a: str,
    run_b: str,
    policy: Any = None,
    *,
    heldout_fraction: float = 0.2,
    bootstrap_samples: int = 1000,
    seed: int = 0,
    client: MlflowClient | None = None,
    log: bool = True,
) -> Comparison:
    """Compare evaluation run B (e.g. after mitigation) with run A, per headline metric."""
    client = client or MlflowClient()
    policy = load_policy(policy)
    a, b = client.get_run(run_a), client.get_run(run_b)
    paired = _probe_tags(a) == _probe_tags(b)
    names = {t[len("bias.probe."):] for t in {**_probe_tags(a), **_probe_tags(b)}}
    config = lpbs.LPBSConfig(bootstrap_samples=bootstrap_samples, seed=seed)
    comparison = Comparison(run_a, run_b, policy.ref)
    cache: dict[str, dict[str, dict[str, Any]]] = {}
    for rule in policy.rules:
        keys_a = set(headline_metrics(a.data.metrics, rule, names, main_probe(a.data.tags)))
        for key in sorted(keys_a & set(headline_metrics(b.data.metrics, rule, names, main_probe(b.data.tags)))):
            comparison.changes.append(_change(rule, key, a, b, paired, config, heldout_fraction, cache,
                                              names))
    if log:
        client.log_dict(run_b, comparison.to_dict(), f"bias/comparison/{run_a}.json")
    return comparison


def _change(rule: Rule, key: str, a, b, paired: bool, config, heldout_fraction: float,
            cache: dict, probe_names: set[str]) -> MetricChange:
    va, vb = a.data.metrics[key], b.data.metrics[key]
    change = MetricChange(key, va, vb, vb - va, None, None, rule.direction, "no CI")
    if rule.dimension != lpbs.NAME:
        return change  # item-level comparison exists for LPBS; others report the point change
    parsed = MetricKey.parse(key, probe_names)
    if parsed is None or not parsed.is_headline:
        return change
    table = f"{parsed.prefix}/items.json"
    if table not in cache:
        items_a = mlflow.load_table(table, run_ids=[a.info.run_id])
        items_b = mlflow.load_table(table, run_ids=[b.info.run_id])
        rows = lpbs.compare_items(items_a, items_b, config, paired=paired,
                                  heldout_fraction=heldout_fraction)
        cache[table] = {r["attribute"]: r for r in rows}
    row = cache[table].get(parsed.attribute)
    if row is None:
        return change
    change.ci_low, change.ci_high, change.paired = row["ci_low"], row["ci_high"], row["paired"]
    change.heldout = row["heldout"]
    change.verdict = _verdict(rule.direction, change.ci_low, change.ci_high)
    return change
