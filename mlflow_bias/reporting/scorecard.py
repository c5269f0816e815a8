"""The scorecard model: one JSON document per evaluation run (`Scorecard`), where it is logged,
the policy summary it keeps, and its plain-text rendering for the terminal."""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "mlflow-bias/scorecard/1"
SCORECARD_PATH = "bias/scorecard.json"
HTML_PATH = "bias/scorecard.html"
PLOTS_DIR = "bias/plots"


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class Scorecard:
    """Collects what an evaluation produced, as it goes, so a failure still leaves a record."""

    model: dict[str, Any]
    config: dict[str, Any]
    probes: list[dict[str, Any]] = field(default_factory=list)
    dimensions: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    training_data: dict[str, Any] | None = None  # the representation audit, when one was run
    policy: dict[str, Any] | None = None  # the policy the run was made under (see policy_summary)
    status: str = "running"
    error: str | None = None
    signed_by: str | None = None  # the signing key's fingerprint when the evaluation is signed
    created_at: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    )

    def to_dict(self) -> dict[str, Any]:
        from mlflow_bias import __version__

        return _clean(
            {
                "schema": SCHEMA,
                "status": self.status,
                "error": self.error,
                "created_at": self.created_at,
                "mlflow_bias_version": __version__,
                "model": self.model,
                "probes": self.probes,
                "dimensions": self.dimensions,
                "training_data": self.training_data,
                "policy": self.policy,
                "signed_by": self.signed_by,
                "warnings": self.warnings,
                "config": self.config,
            }
        )


def policy_summary(policy: Any) -> dict[str, Any] | None:
    """The JSON-able part of a Policy the scorecard keeps: name, version, digest and rules."""
    if policy is None or isinstance(policy, dict):
        return policy
    from dataclasses import asdict

    return {"name": policy.name, "version": policy.version, "ref": policy.ref,
            "digest": policy.digest, "description": policy.description,
            "required_dimensions": list(policy.required_dimensions),
            "waivable_dimensions": list(policy.waivable_dimensions),
            "rules": [asdict(rule) for rule in policy.rules]}


def json_text(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, default=str)


def _statistic_lines(dimension: str, row: dict[str, Any]) -> list[str]:
    """The row's values of the dimension's declared statistics (BBQ's accuracies, StereoSet's
    lms and icat), on one line; none for statistics shown elsewhere (`stereotype_rate`)."""
    from mlflow_bias.dimensions.registry import all_dimensions

    found = all_dimensions().get(dimension)
    names = [m.statistic for m in (found.metrics if found else ()) if m.statistic
             and m.statistic != "stereotype_rate" and isinstance(row.get(m.statistic), (int, float))]
    if not names:
        return []
    return [f"  {'':<23} " + ", ".join(f"{n.replace('_', ' ')} {row[n]:.3f}" for n in names)]


def _benchmark_lines(benchmark: dict[str, Any] | None) -> list[str]:
    """A public benchmark's own statistics, one line per row of its table: each statistic with
    its CI and, where it has one, p-value."""
    if not benchmark:
        return []
    lines = [f"  {benchmark['name']}: the authors' statistics"]
    for record in benchmark.get("scores", []):
        label = next(iter(record.values()))
        stems = [k[: -len("_value")] for k in record if k.endswith("_value") and not k.endswith("_p_value")]
        parts = []
        for stem in stems:
            text = f"{stem} {record[f'{stem}_value']:.3f}"
            if record.get(f"{stem}_ci_low") is not None:
                text += f" [{record[f'{stem}_ci_low']:.3f}, {record[f'{stem}_ci_high']:.3f}]"
            if record.get(f"{stem}_p_value") is not None:
                text += f" p {record[f'{stem}_p_value']:.4f}"
            parts.append(text)
        lines.append(f"  {'':<10} {label:<14} " + "; ".join(parts))
    return lines


def _intersection_lines(row: dict[str, Any]) -> list[str]:
    """An intersectional attribute's marginals and amplification, one line per metric."""
    found = row.get("intersection")
    if not isinstance(found, dict):
        return []
    lines = []
    for name, amp in found.get("amplification", {}).items():
        parts = ", ".join(f"{part} {found['marginals'][part][name]['value']:.3f}"
                          for part in found.get("parts", []))
        flag = "  <- amplified" if amp.get("amplified") else ""
        lines.append(f"  {'':<10} {row['attribute']}/{name}: parts alone {parts}; amplification "
                     f"{amp['value']:+.3f} [{amp['ci_low']:+.3f}, {amp['ci_high']:+.3f}], "
                     f"p {amp['p_value']:.4f}{flag}")
    return lines


def format_scorecard(scorecard: dict[str, Any]) -> str:
    """A plain-text table: one line per dimension x attribute, then slices and warnings."""
    lines = [
        f"Bias scorecard - model {scorecard['model'].get('version', '?')} "
        f"({scorecard['status']}, {scorecard['created_at']})",
    ]
    for probe in scorecard["probes"]:
        lines.append(f"  probe {probe['label']}: {probe['rows']} items, sha256 {probe['digest'][:16]}...")
    header = f"  {'dimension':<10} {'attribute':<12} {'value':>7} {'95% CI':>17} {'p':>7} {'noise':>7}  n"
    lines += ["", header, "  " + "-" * (len(header) - 2)]
    for dim in scorecard["dimensions"]:
        for row in dim["attributes"]:
            if "value" not in row:  # several headline statistics per attribute (parity)
                for name, stat in row.items():
                    if isinstance(stat, dict) and "value" in stat and stat["value"] is not None:
                        ci = (f"[{stat['ci_low']:.3f}, {stat['ci_high']:.3f}]"
                              if stat.get("ci_low") is not None else "")
                        p = f"{stat['p_value']:.4f}" if stat.get("p_value") is not None else ""
                        lines.append(f"  {dim['dimension']:<10} {row['attribute'] + '/' + name:<32} "
                                     f"{stat['value']:>7.3f} {ci:>17} {p:>7}       {row['n_items']}")
                for group, rates in row.get("groups", {}).items():
                    lines.append(f"  {'':<10} {row['attribute']}={group}: selection rate "
                                 f"{rates['selection_rate']:.3f}, true-positive rate "
                                 f"{rates['true_positive_rate']:.3f}, n={rates['n_items']}")
                lines += _intersection_lines(row)
                continue
            ci = f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
            p = f"{row['p_value']:.4f}" if row.get("p_value") is not None else "-"
            noise = f"{row['noise_floor']:.3f}" if row.get("noise_floor") is not None else "-"
            lines.append(
                f"  {dim['dimension']:<10} {row['attribute']:<12} {row['value']:>7.3f} {ci:>17} "
                f"{p:>7} {noise:>7}  {row['n_items']}"
            )
            if row.get("flip_rate") is not None:
                lines.append(f"  {'':<23} flip rate {row['flip_rate']:.3f} over {row['n_sets']} sets")
            if row.get("logprob_variance") is not None:
                lines.append(f"  {'':<23} log-probability variance across groups "
                             f"(Ahn & Oh) {row['logprob_variance']:.4f}")
            if row.get("stereotype_rate") is not None:
                lines.append(f"  {'':<23} stereotype-consistent preference in "
                             f"{100 * row['stereotype_rate']:.1f}% of items")
            for pair, score in (row.get("pairs") or {}).items():
                tested = (f" p {score['p_value']:.4f}, floor {score['noise_floor']:.3f}"
                          if score.get("p_value") is not None else "")
                form = f" ({score['form']})" if score.get("form") else ""
                lines.append(f"  {'':<23} pair {pair}: {score['value']:.3f} "
                             f"[{score['ci_low']:.3f}, {score['ci_high']:.3f}]{tested} n={score['n_items']}{form}")
            for sl in row.get("slices", []):
                flag = "  <- worse than overall" if sl["flagged"] else ""
                lines.append(
                    f"  {'':<10} {row['attribute'] + '/' + sl['column'] + '=' + str(sl['value']):<30}"
                    f" {sl['score']:.3f} [{sl['ci_low']:.3f}, {sl['ci_high']:.3f}] n={sl['n_items']}{flag}"
                )
            lines += _intersection_lines(row)
            lines += _statistic_lines(dim.get("dimension", ""), row)
        lines += _benchmark_lines(dim.get("benchmark"))
    audit = scorecard.get("training_data")
    if audit:
        lines += ["", f"Training data: {audit['n_examples']} examples "
                      f"({audit.get('lexicon') or 'group columns'})"]
        for attribute, shares in audit["shares"].items():
            described = ", ".join(f"{g} {v:.3f}" for g, v in shares.items())
            lines.append(f"  {attribute}: {described}; gap {audit['gaps'][attribute]:.3f} from target")
    gate = scorecard.get("gate")
    if gate:
        lines += ["", f"Gate: {gate['status'].upper()} under policy {gate['policy']}"]
        lines += [f"  - {reason}" for reason in gate["reasons"]]
    if scorecard["warnings"]:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in scorecard["warnings"]]
    if scorecard.get("error"):
        lines += ["", f"Error: {scorecard['error']}"]
    return "\n".join(lines)
