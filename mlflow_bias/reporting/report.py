"""The scorecard: one JSON document per evaluation run, its plain-text rendering, and a
self-contained HTML page with plots (pure: no MLflow calls; `tracking` logs what is rendered here)."""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any

from mlflow_bias.core.metric_keys import metric_prefix, metric_segment

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
            for sl in row.get("slices", []):
                flag = "  <- worse than overall" if sl["flagged"] else ""
                lines.append(
                    f"  {'':<10} {row['attribute'] + '/' + sl['column'] + '=' + str(sl['value']):<30}"
                    f" {sl['score']:.3f} [{sl['ci_low']:.3f}, {sl['ci_high']:.3f}] n={sl['n_items']}{flag}"
                )
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


# -- the HTML page -------------------------------------------------------------------------------
# Everything below is pure: a scorecard dict (as logged to `bias/scorecard.json`) in, HTML text or
# PNG bytes out. The page is self-contained (inline CSS, plots as base64 data URIs, no scripts, no
# external fonts), so it opens from the MLflow UI's artifact view and from a file alike.

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


_COLORS = {"pass": "#1a7f37", "fail": "#cf222e", "none": "#0969da", "waived": "#9a6700",
           "muted": "#8c959f", "ink": "#24292f"}
_PALETTE = ["#0969da", "#bf8700", "#8250df", "#1a7f37", "#cf222e", "#57606a", "#e16f24", "#1b7c83"]
# Row keys of a dimension summary that the page shows in their own columns or tables.
_SHOWN_KEYS = {"attribute", "value", "ci_low", "ci_high", "p_value", "noise_floor", "n_items",
               "slices", "rates", "groups", "probabilities", "unit", "group_n"}


@dataclass(frozen=True)
class Plot:
    """One chart of the scorecard: its file name under `bias/plots/`, title, PNG bytes, and the
    page section (anchor) it belongs to."""

    name: str
    title: str
    png: bytes
    section: str

    @property
    def data_uri(self) -> str:
        import base64

        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


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


def _slug(*parts: Any) -> str:
    import re

    text = "-".join(str(p).replace("/", "-") for p in parts if p not in (None, ""))
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.-") or "plot"


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _num(value: Any, digits: int = 3) -> str:
    value = _finite(value)
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.1f}"
    return f"{value:.{digits}f}"


def _p(value: Any) -> str:
    value = _finite(value)
    if value is None:
        return "—"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _pct(value: Any) -> str:
    value = _finite(value)
    return "—" if value is None else f"{100 * value:.1f}%"


def _value_text(value: Any, unit: str | None) -> str:
    if unit == "percentage points":
        return "—" if _finite(value) is None else f"{value:.1f} pp"
    return _num(value)


def _ci_text(low: Any, high: Any, unit: str | None = None) -> str:
    if _finite(low) is None or _finite(high) is None:
        return "—"
    if unit == "percentage points":
        return f"[{low:.1f}, {high:.1f}]"
    return f"[{_num(low)}, {_num(high)}]"


def _threshold_text(rule: dict[str, Any]) -> str:
    op = "≤" if rule.get("direction", "max") == "max" else "≥"
    subject = "|value|" if rule.get("absolute") else ""
    basis = " (whole CI)" if rule.get("decide_on") == "ci" else ""
    return f"{subject} {op} {rule['threshold']:g}{basis}".strip()


def _segment(value: Any) -> str:
    return metric_segment(value)


def _headlines(dim: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per headline statistic of a dimension: (attribute, statistic or None, its dict)."""
    rows = []
    for row in dim.get("attributes") or []:
        attribute = str(row.get("attribute", "?"))
        if "value" in row:
            rows.append({"attribute": attribute, "statistic": None, "stat": row, "row": row})
            continue
        for name, stat in row.items():  # several headline statistics per attribute (parity)
            if isinstance(stat, dict) and "value" in stat:
                rows.append({"attribute": attribute, "statistic": name, "stat": stat, "row": row})
    return rows


def _rule_for(policy: dict[str, Any] | None, dimension: str, statistic: str | None) -> dict | None:
    if not policy:
        return None
    wanted = dimension if statistic is None else f"{dimension}/{statistic}"
    return next((r for r in policy.get("rules") or [] if r.get("metric") == wanted), None)


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


def _gate_verdicts(gate: dict[str, Any] | None) -> dict[str, str]:
    """Metric key -> pass, fail or waived, from a logged gate decision."""
    if not gate:
        return {}
    lines = gate.get("lines") or []
    waivers = gate.get("waivers") or []
    out = {}
    for i, verdict in enumerate(gate.get("verdicts") or []):
        state = verdict.get("verdict", "fail")
        line = lines[i] if i < len(lines) else None
        if state == "fail" and line and any(w.startswith(line) for w in waivers):
            state = "waived"
        out[verdict.get("metric")] = state
    return out


def _gate_class(status: str | None) -> str:
    return {"passed": "pass", "passed-with-waiver": "waived", "blocked": "fail"}.get(status or "", "neutral")


def _mapping_table(mapping: dict[str, Any], percent: bool = False) -> dict[str, Any] | None:
    """A per-group mapping as a table: group -> number, or group -> {column: number}."""
    if not mapping:
        return None
    fmt = _pct if percent else _num
    values = list(mapping.values())
    if all(isinstance(v, dict) for v in values):
        columns: list[str] = []
        for v in values:
            columns += [c for c in v if c not in columns]
        rows = [[str(g)] + [(str(v[c]) if c == "n_items" and c in v else fmt(v.get(c))) for c in columns]
                for g, v in mapping.items()]
        return {"columns": ["group"] + [c.replace("_", " ") for c in columns], "rows": rows}
    return {"columns": ["group", "rate"], "rows": [[str(g), fmt(v)] for g, v in mapping.items()]}


def _extras(row: dict[str, Any]) -> list[tuple[str, str]]:
    """Secondary statistics of a summary row, readable."""
    out = []
    for key, value in row.items():
        if key in _SHOWN_KEYS or isinstance(value, (dict, list)):
            if key == "sizes" and isinstance(value, dict):
                out.append(("set sizes", ", ".join(f"{k} {v}" for k, v in value.items())))
            continue
        label = key.replace("_", " ")
        if key == "stereotype_rate":
            out.append(("stereotype-consistent items", _pct(value)))
        elif isinstance(value, bool):
            out.append((label, "yes" if value else "no"))
        elif isinstance(value, float):
            out.append((label, _num(value, 4 if key == "logprob_variance" else 3)))
        elif value is not None:
            out.append((label, str(value)))
    return out


def _slices(dim_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in dim_rows:
        holders = [(None, row)] if "value" in row else [
            (name, stat) for name, stat in row.items() if isinstance(stat, dict) and "value" in stat]
        for statistic, holder in holders:
            for sl in holder.get("slices") or []:
                out.append({"attribute": str(row.get("attribute")), "statistic": statistic,
                            "column": str(sl.get("column")), "value": str(sl.get("value")),
                            "score": _num(sl.get("score")), "ci": _ci_text(sl.get("ci_low"), sl.get("ci_high")),
                            "overall": _num(holder.get("value")), "n": sl.get("n_items"),
                            "flagged": bool(sl.get("flagged"))})
    return out


def _limitation_rows(limitations: Any) -> list[dict[str, Any]]:
    import dataclasses
    import datetime as dt

    rows = []
    for record in limitations or []:
        rec = dataclasses.asdict(record) if dataclasses.is_dataclass(record) else dict(record)
        try:
            overdue = rec.get("status") == "open" and dt.date.fromisoformat(str(rec.get("review_date"))) < dt.date.today()
        except ValueError:
            overdue = False
        rows.append({"id": rec.get("id"), "status": rec.get("status", "open"),
                     "what": f"{rec.get('dimension')}/{rec.get('attribute')}",
                     "value": _num(rec.get("value"), 4), "description": rec.get("description", ""),
                     "uses": ", ".join(rec.get("restricted_uses") or []) or "none",
                     "owner": rec.get("owner", ""), "review_date": rec.get("review_date", ""),
                     "overdue": overdue, "run_id": rec.get("run_id")})
    return rows


def _model_rows(model: dict[str, Any]) -> list[tuple[str, str]]:
    labels = {"model": "model", "model_id": "logged model", "model_class": "class", "dtype": "dtype",
              "context_token": "context token", "digest": "model digest"}
    return [(labels.get(k, k.replace("_", " ")), str(v)) for k, v in model.items()
            if k != "version" and v not in (None, "")]


def _build_view(scorecard: dict[str, Any], policy: dict[str, Any] | None,
                limitations: Any, plots: list[Plot], model_description: str | None) -> dict[str, Any]:
    gate = scorecard.get("gate")
    gate_verdicts = _gate_verdicts(gate)
    metrics, dimensions = [], []
    for i, dim in enumerate(scorecard.get("dimensions") or []):
        name = dim.get("dimension", "?")
        prefix = dim.get("metric_prefix") or metric_prefix(name)
        anchor = f"dim-{i}"
        title, about = _about(name)
        for h in _headlines(dim):
            stat, row = h["stat"], h["row"]
            unit = row.get("unit")
            key = f"{prefix}/{_segment(h['attribute'])}" + (f"/{h['statistic']}" if h["statistic"] else "")
            rule = _rule_for(policy, name, h["statistic"])
            verdict = _threshold_verdict(rule, key, stat) if rule else "none"
            metrics.append({
                "dimension": name, "anchor": anchor, "probe": dim.get("probe", ""), "key": key,
                "attribute": h["attribute"], "statistic": (h["statistic"] or "").replace("_", " "),
                "value": _value_text(stat.get("value"), unit),
                "ci": _ci_text(stat.get("ci_low"), stat.get("ci_high"), unit),
                "p_value": _p(stat.get("p_value")), "noise_floor": _num(stat.get("noise_floor")),
                "n": row.get("n_items", "—"),
                "threshold": _threshold_text(rule) if rule else "no rule",
                "verdict": verdict, "gate": gate_verdicts.get(key) if gate else None,
            })
        blocks = []
        for row in dim.get("attributes") or []:
            rates = row.get("rates")
            blocks.append({
                "attribute": str(row.get("attribute", "?")),
                "extras": _extras(row),
                "rates": _mapping_table(rates, percent=True) if isinstance(rates, dict) else None,
                "rates_title": _rates_label(name),
                "groups": _mapping_table(row.get("groups")) if isinstance(row.get("groups"), dict) else None,
                "probabilities": (_mapping_table(row.get("probabilities"))
                                  if isinstance(row.get("probabilities"), dict) else None),
            })
        meta = {k: v for k, v in (dim.get("metadata") or {}).items() if not isinstance(v, (dict, list))}
        dimensions.append({"anchor": anchor, "title": title, "about": about, "dimension": name,
                           "probe": dim.get("probe", ""), "prefix": prefix, "blocks": blocks,
                           "slices": _slices(dim.get("attributes") or []),
                           "metadata": [(k.replace("_", " "), str(v)) for k, v in meta.items()]})

    ruled = [m for m in metrics if m["verdict"] != "none"]
    failing = [m for m in ruled if m["verdict"] == "fail"]
    status = scorecard.get("status", "?")
    if gate:
        cls = _gate_class(gate.get("status"))
        headline = f"Gate: {gate.get('status', '?').replace('-', ' ').upper()}"
        detail = (f"{len(gate.get('verdicts') or [])} metric(s) judged under policy {gate.get('policy')}; "
                  f"{len(gate.get('reasons') or [])} blocking reason(s), "
                  f"{len(gate.get('waivers') or [])} waiver(s).")
    else:
        cls = "neutral" if not ruled else ("fail" if failing else "pass")
        headline = ("Within policy thresholds" if ruled and not failing else
                    f"{len(failing)} of {len(ruled)} metric(s) fail their threshold" if failing else
                    "No policy threshold applies")
        detail = "The release gate has not judged this evaluation yet; verdicts compare each value with the policy's threshold."
    if status == "failed":
        cls, headline = "fail", "Evaluation failed"
        detail = "The run stopped before every dimension was scored; the page shows what was computed."
    elif status != "completed":
        cls, headline = "neutral", f"Evaluation {status}"

    rubric = next((str(d["metadata"]["rubric"]) for d in scorecard.get("dimensions") or []
                   if (d.get("metadata") or {}).get("rubric")), None)
    config = scorecard.get("config") or {}
    gate_view = None
    if gate:
        lines = gate.get("lines") or []
        gate_view = {
            "status": gate.get("status"), "cls": _gate_class(gate.get("status")),
            "policy": gate.get("policy"), "policy_digest": gate.get("policy_digest"),
            "decided_at": gate.get("decided_at"), "run_id": gate.get("run_id"),
            "model_version": gate.get("model_version"), "digest": gate.get("digest"),
            "signature": gate.get("signature"), "model_digest": gate.get("model_digest"),
            "reasons": gate.get("reasons") or [], "waivers": gate.get("waivers") or [],
            "limitations": gate.get("limitations") or [],
            "verdicts": [{"line": lines[i] if i < len(lines) else v.get("metric"),
                          "state": gate_verdicts.get(v.get("metric"), v.get("verdict"))}
                         for i, v in enumerate(gate.get("verdicts") or [])],
        }
    audit = scorecard.get("training_data")
    training = None
    if audit:
        training = {"n_examples": audit.get("n_examples"), "lexicon": audit.get("lexicon"),
                    "warnings": audit.get("warnings") or [], "attributes": []}
        for attribute, shares in (audit.get("shares") or {}).items():
            targets = (audit.get("targets") or {}).get(attribute) or {}
            rows = [[str(g), _num(s), _num(targets.get(g)),
                     (f"{s - targets[g]:+.3f}" if _finite(s) is not None and _finite(targets.get(g)) is not None else "—")]
                    for g, s in shares.items()]
            training["attributes"].append({"attribute": attribute, "gap": _num((audit.get("gaps") or {}).get(attribute)),
                                           "rows": rows})
    model = scorecard.get("model") or {}
    signed_by = scorecard.get("signed_by")
    evidence = f"signed by {signed_by}" if signed_by else "unsigned"
    chips = [("model", model.get("version", "?")),
             ("evidence", evidence),
             ("policy", (policy or {}).get("ref") or config.get("policy") or "default"),
             ("evaluated", scorecard.get("created_at", "?")),
             ("mlflow-bias", scorecard.get("mlflow_bias_version", "?"))]
    plots_by_section: dict[str, list[Plot]] = {}
    for plot in plots:
        plots_by_section.setdefault(plot.section, []).append(plot)
    return {
        "model": {"version": model.get("version", "?"), "rows": _model_rows(model),
                  "description": model_description},
        "evidence": evidence,
        "status": status, "error": scorecard.get("error"), "created_at": scorecard.get("created_at"),
        "version": scorecard.get("mlflow_bias_version"), "seed": config.get("seed"),
        "banner": {"cls": cls, "headline": headline, "detail": detail, "chips": chips,
                   "counts": {"pass": sum(m["verdict"] == "pass" for m in metrics),
                              "fail": len(failing), "none": len(metrics) - len(ruled)}},
        "metrics": metrics, "dimensions": dimensions, "plots": plots_by_section,
        "training": training, "gate": gate_view,
        "limitations": _limitation_rows(limitations if limitations is not None else scorecard.get("limitations")),
        "probes": scorecard.get("probes") or [], "policy": policy, "rubric": rubric,
        "warnings": scorecard.get("warnings") or [],
        "config": [(k, json_text(v)) for k, v in config.items() if v not in (None, [], {})],
    }


def json_text(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, default=str)


# -- plots ---------------------------------------------------------------------------------------
def _figure(rows: int, *, base: float = 1.3, per_row: float = 0.42, width: float = 6.4):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, base + per_row * max(rows, 1)), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)
    ax.grid(axis="x", color="#eaeef2", linewidth=0.8)
    ax.set_axisbelow(True)
    return figure, ax


def _png(figure: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None}, facecolor="white")
    return buffer.getvalue()


def _errors(values: list[float], lows: list[Any], highs: list[Any]) -> list[list[float]]:
    below = [max(0.0, v - lo) if _finite(lo) is not None else 0.0 for v, lo in zip(values, lows)]
    above = [max(0.0, hi - v) if _finite(hi) is not None else 0.0 for v, hi in zip(values, highs)]
    return [below, above]


def _headline_plot(dim: dict[str, Any], policy: dict[str, Any] | None, anchor: str) -> Plot | None:
    from matplotlib.lines import Line2D

    name = dim.get("dimension", "?")
    prefix = dim.get("metric_prefix") or metric_prefix(name)
    entries = [h for h in _headlines(dim) if _finite(h["stat"].get("value")) is not None]
    if not entries:
        return None
    unit = entries[0]["row"].get("unit")
    figure, ax = _figure(len(entries))
    ys = list(range(len(entries)))[::-1]
    labels, handles = [], {}
    for y, h in zip(ys, entries):
        stat = h["stat"]
        value = float(stat["value"])
        key = f"{prefix}/{_segment(h['attribute'])}" + (f"/{h['statistic']}" if h["statistic"] else "")
        rule = _rule_for(policy, name, h["statistic"])
        verdict = _threshold_verdict(rule, key, stat) if rule else "none"
        color = _COLORS[verdict]
        ax.barh(y, value, height=0.55, color=color, alpha=0.22)
        low, high = _errors([value], [stat.get("ci_low")], [stat.get("ci_high")])
        ax.errorbar([value], [y], xerr=[low, high], fmt="o", color=color, ecolor=color,
                    elinewidth=1.8, capsize=4, markersize=6)
        if rule:
            thresholds = [rule["threshold"]] + ([-rule["threshold"]] if rule.get("absolute") else [])
            for t in thresholds:
                ax.vlines(t, y - 0.38, y + 0.38, colors=_COLORS["ink"], linestyles="--", linewidth=1.4)
            handles["threshold"] = Line2D([], [], color=_COLORS["ink"], linestyle="--", label="policy threshold")
        floor = _finite(stat.get("noise_floor"))
        if floor is not None:
            ax.plot([floor], [y], marker="D", color=_COLORS["muted"], markersize=5, linestyle="none")
            handles["noise"] = Line2D([], [], color=_COLORS["muted"], marker="D", linestyle="none",
                                      markersize=5, label="noise floor")
        label = h["attribute"] + (f"\n{h['statistic'].replace('_', ' ')}" if h["statistic"] else "")
        labels.append(label)
    handles["ci"] = Line2D([], [], color=_COLORS["ink"], marker="o", label="value, 95% CI")
    ax.axvline(0, color="#57606a", linewidth=0.8)
    ax.set_yticks(ys, labels)
    ax.set_ylim(-0.7, len(entries) - 0.3)
    ax.set_xlabel(f"{name} ({unit})" if unit else name, fontsize=9)
    ax.legend(handles=list(handles.values())[::-1], fontsize=8, loc="lower right", frameon=False,
              bbox_to_anchor=(1.0, 1.0), ncols=3)
    probe = dim.get("probe", "")
    return Plot(f"{_slug(prefix.removeprefix('bias/'))}-headline.png",
                f"{_about(name)[0]} on {probe}: value, 95% CI and threshold",
                _png(figure), anchor)


def _wilson(rate: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson interval of a rate measured on n items (its success count is rate * n, rounded)."""
    from mlflow_bias.core.stats import wilson_interval

    return wilson_interval(int(round(rate * n)), n, confidence)


def _group_plot(dim: dict[str, Any], row: dict[str, Any], anchor: str) -> Plot | None:
    """Per-group values of one attribute: refusal rates, category shares (stacked), or parity's
    selection and true-positive rates (selection rates with a 95% Wilson interval)."""
    name = dim.get("dimension", "?")
    prefix = (dim.get("metric_prefix") or metric_prefix(name)).removeprefix("bias/")
    attribute = str(row.get("attribute", "?"))
    rates, groups = row.get("rates"), row.get("groups")
    if isinstance(rates, dict) and rates and all(_finite(v) is not None for v in rates.values()):
        names = list(rates)
        figure, ax = _figure(len(names))
        ys = list(range(len(names)))[::-1]
        values = [100 * float(rates[g]) for g in names]
        ax.barh(ys, values, height=0.55, color=_PALETTE[0])
        counts = row.get("group_n") or {}
        intervals = [_wilson(float(rates[g]), int(counts[g])) if counts.get(g) else (None, None)
                     for g in names]
        if any(low is not None for low, _ in intervals):
            ax.errorbar(values, ys, xerr=_errors(values, [None if lo is None else 100 * lo for lo, _ in intervals],
                                                 [None if hi is None else 100 * hi for _, hi in intervals]),
                        fmt="none", ecolor=_COLORS["ink"], capsize=3, elinewidth=1.2)
            names_shown = [f"{g}\nn={counts.get(g, '?')}" for g in names]
        else:
            names_shown = names
        for y, v in zip(ys, values):
            ax.text(v, y, f" {v:.1f}%", va="bottom", fontsize=8)
        ax.set_yticks(ys, names_shown)
        ax.set_ylim(-0.7, len(names) - 0.3)
        ax.set_xlim(0, max(values + [1.0] + [100 * hi for _, hi in intervals if hi is not None]) * 1.18)
        ax.set_xlabel(_rates_label(name, "rate_axis")
                      + (" with 95% Wilson interval" if counts else ""), fontsize=9)
        title = f"{attribute}: rate per group"
    elif isinstance(rates, dict) and rates and all(isinstance(v, dict) for v in rates.values()):
        names = list(rates)
        categories: list[str] = []
        for v in rates.values():
            categories += [c for c in v if c not in categories]
        figure, ax = _figure(len(names), base=1.6)
        ys = list(range(len(names)))[::-1]
        left = [0.0] * len(names)
        for k, category in enumerate(categories):
            widths = [float(rates[g].get(category) or 0.0) for g in names]
            ax.barh(ys, widths, left=left, height=0.6, color=_PALETTE[k % len(_PALETTE)], label=str(category))
            for y, l, w in zip(ys, left, widths):
                if w >= 0.08:
                    ax.text(l + w / 2, y, f"{100 * w:.0f}%", ha="center", va="center", fontsize=8, color="white")
            left = [l + w for l, w in zip(left, widths)]
        counts = row.get("group_n") or {}
        if counts and categories:  # the first category's share, with a 95% Wilson interval
            first = [float(rates[g].get(categories[0]) or 0.0) for g in names]
            intervals = [_wilson(v, int(counts[g])) if counts.get(g) else (None, None)
                         for g, v in zip(names, first)]
            ax.errorbar(first, ys, xerr=_errors(first, [lo for lo, _ in intervals], [hi for _, hi in intervals]),
                        fmt="none", ecolor=_COLORS["ink"], capsize=3, elinewidth=1.2)
        ax.set_yticks(ys, [f"{g}\nn={counts[g]}" if g in counts else g for g in names])
        ax.set_ylim(-0.7, len(names) - 0.3)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of the group's outputs per category"
                      + (f" ('{categories[0]}' with 95% Wilson interval)" if counts else ""), fontsize=9)
        ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0),
                  ncols=min(4, len(categories)))
        title = f"{attribute}: output categories per group"
    elif isinstance(groups, dict) and groups:
        names = list(groups)
        figure, ax = _figure(len(names), per_row=0.62)
        ys = list(range(len(names)))[::-1]
        height = 0.36
        series = [("selection_rate", "selection rate", _PALETTE[0]),
                  ("true_positive_rate", "true-positive rate", _PALETTE[1])]
        for offset, (key, label, color) in zip((height / 2, -height / 2), series):
            values = [_finite(groups[g].get(key)) for g in names]
            shown = [v if v is not None else 0.0 for v in values]
            positions = [y + offset for y in ys]
            ax.barh(positions, shown, height=height, color=color, label=label)
            if key == "selection_rate":
                lows, highs = [], []
                for g, v in zip(names, values):
                    n = int(groups[g].get("n_items") or 0)
                    low, high = _wilson(v, n) if v is not None and n > 0 else (None, None)
                    lows.append(low)
                    highs.append(high)
                ax.errorbar(shown, positions, xerr=_errors(shown, lows, highs), fmt="none",
                            ecolor=_COLORS["ink"], capsize=3, elinewidth=1.2)
        ax.set_yticks(ys, [f"{g}\nn={groups[g].get('n_items', '?')}" for g in names])
        ax.set_xlim(0, 1.05)
        ax.set_xlabel("rate (selection rate with 95% Wilson interval)", fontsize=9)
        ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2)
        title = f"{attribute}: rates per group"
    else:
        return None
    return Plot(f"{_slug(prefix, attribute)}-groups.png", title, _png(figure), anchor)


def _slice_plot(dim: dict[str, Any], row: dict[str, Any], anchor: str) -> Plot | None:
    """Per-slice values with 95% CIs; slices worse than the attribute overall in red."""
    name = dim.get("dimension", "?")
    prefix = (dim.get("metric_prefix") or metric_prefix(name)).removeprefix("bias/")
    attribute = str(row.get("attribute", "?"))
    raw = []
    holders = [(None, row)] if "value" in row else [
        (n, s) for n, s in row.items() if isinstance(s, dict) and "value" in s]
    for statistic, holder in holders:
        for sl in holder.get("slices") or []:
            if _finite(sl.get("score")) is not None:
                raw.append((statistic, holder, sl))
    if not raw:
        return None
    raw = raw[:40]  # a longer list is in the slices table
    figure, ax = _figure(len(raw), per_row=0.32)
    ys = list(range(len(raw)))[::-1]
    for y, (statistic, holder, sl) in zip(ys, raw):
        color = _COLORS["fail"] if sl.get("flagged") else _COLORS["none"]
        score = float(sl["score"])
        low, high = _errors([score], [sl.get("ci_low")], [sl.get("ci_high")])
        ax.errorbar([score], [y], xerr=[low, high], fmt="o", color=color, ecolor=color, capsize=3,
                    markersize=5, elinewidth=1.5)
        overall = _finite(holder.get("value"))
        if overall is not None:
            ax.vlines(overall, y - 0.45, y + 0.45, colors=_COLORS["muted"], linewidth=1.2)
    ax.set_yticks(ys, [f"{sl['column']}={sl['value']}" + (f" ({s.replace('_', ' ')})" if s else "")
                       for s, _, sl in raw], fontsize=8)
    ax.set_ylim(-0.7, len(raw) - 0.3)
    ax.set_xlabel(f"{name} per slice (95% CI); grey tick: the attribute overall; red: flagged",
                  fontsize=8)
    return Plot(f"{_slug(prefix, attribute)}-slices.png", f"{attribute}: per slice", _png(figure), anchor)


def _training_plots(audit: dict[str, Any]) -> list[Plot]:
    plots = []
    for attribute, shares in (audit.get("shares") or {}).items():
        names = [g for g in shares]
        if not names:
            continue
        targets = (audit.get("targets") or {}).get(attribute) or {}
        figure, ax = _figure(len(names), per_row=0.55)
        ys = list(range(len(names)))[::-1]
        height = 0.38
        observed = [_finite(shares[g]) or 0.0 for g in names]
        target = [_finite(targets.get(g)) or 0.0 for g in names]
        ax.barh([y + height / 2 for y in ys], observed, height=height, color=_PALETTE[0], label="observed share")
        ax.barh([y - height / 2 for y in ys], target, height=height, color="#d0d7de", edgecolor="#57606a",
                label="target share")
        ax.set_yticks(ys, names)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of group mentions", fontsize=9)
        ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2)
        plots.append(Plot(f"training-data-{_slug(attribute)}.png", f"Training data: {attribute}",
                          _png(figure), "training-data"))
    return plots


def make_plots(scorecard: dict[str, Any], *, policy: Any = None) -> tuple[list[Plot], list[str]]:
    """Every chart of the scorecard, and a note for each chart that could not be drawn (a chart
    never stops the page)."""
    policy = policy_summary(policy) if policy is not None else scorecard.get("policy")
    plots: list[Plot] = []
    problems: list[str] = []
    for i, dim in enumerate(scorecard.get("dimensions") or []):
        anchor = f"dim-{i}"
        jobs = [("headline", lambda dim=dim: [_headline_plot(dim, policy, anchor)])]
        for row in dim.get("attributes") or []:
            jobs.append((f"groups of {row.get('attribute')}", lambda row=row, dim=dim: [_group_plot(dim, row, anchor)]))
            jobs.append((f"slices of {row.get('attribute')}", lambda row=row, dim=dim: [_slice_plot(dim, row, anchor)]))
        for what, job in jobs:
            try:
                plots += [p for p in job() if p is not None]
            except Exception as exc:  # noqa: BLE001 - a chart is a view; the numbers stay in the tables
                problems.append(f"The {dim.get('dimension')} chart ({what}) could not be drawn: "
                                f"{type(exc).__name__}: {exc}")
    if scorecard.get("training_data"):
        try:
            plots += _training_plots(scorecard["training_data"])
        except Exception as exc:  # noqa: BLE001
            problems.append(f"The training-data chart could not be drawn: {type(exc).__name__}: {exc}")
    seen: dict[str, int] = {}
    unique = []
    for plot in plots:  # two attributes may share a file-safe name
        count = seen.get(plot.name, 0)
        seen[plot.name] = count + 1
        if count:
            stem = plot.name.removesuffix(".png")
            plot = Plot(f"{stem}-{count + 1}.png", plot.title, plot.png, plot.section)
        unique.append(plot)
    return unique, problems


def plot_groups(scorecard: dict[str, Any], *, policy: Any = None) -> list[tuple[str, bytes]]:
    """The scorecard's charts as (file name, PNG bytes), as logged under `bias/plots/`."""
    return [(plot.name, plot.png) for plot in make_plots(scorecard, policy=policy)[0]]


def render_report(
    scorecard: dict[str, Any],
    *,
    policy: Any = None,
    limitations: Any = None,
    model_description: str | None = None,
) -> tuple[str, list[Plot]]:
    """The scorecard as one self-contained HTML page, and the charts embedded in it.

    `policy` (a Policy or its summary) gives thresholds and directions; default: the policy stored
    in the scorecard. `limitations`: the model version's known-limitation records (Limitation
    objects or dicts). `model_description`: the registered version's description. Every text is
    HTML-escaped; a chart that cannot be drawn becomes a warning on the page.
    """
    import jinja2

    policy = policy_summary(policy) if policy is not None else scorecard.get("policy")
    plots, problems = make_plots(scorecard, policy=policy)
    view = _build_view(scorecard, policy, limitations, plots, model_description)
    view["warnings"] = list(view["warnings"]) + problems
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("mlflow_bias", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("scorecard.html.j2").render(**view), plots


def render_html(
    scorecard: dict[str, Any],
    *,
    policy: Any = None,
    limitations: Any = None,
    model_description: str | None = None,
) -> str:
    """The scorecard as one self-contained HTML page (see `render_report`)."""
    return render_report(scorecard, policy=policy, limitations=limitations,
                         model_description=model_description)[0]
