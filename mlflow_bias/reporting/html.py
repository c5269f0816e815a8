"""The scorecard as one self-contained HTML page: the view model the template reads, and its
rendering. Pure: a scorecard dict (as logged to `bias/scorecard.json`) in, HTML text and the
embedded charts out. The page has inline CSS, charts as base64 data URIs, no scripts and no
external fonts, so it opens from the MLflow UI's artifact view and from a file alike. The
template is `mlflow_bias/templates/scorecard.html.j2`, loaded as package data."""

from __future__ import annotations

import functools
from typing import Any

from mlflow_bias.reporting._common import (
    _about, _dimension_prefix, _finite, _headlines, _metric_key, _rates_label, _rule_for,
    _statistics, _threshold_verdict,
)
from mlflow_bias.reporting.plots import Plot, make_plots
from mlflow_bias.reporting.scorecard import json_text, policy_summary

# Row keys of a dimension summary that the page shows in their own columns or tables.
_SHOWN_KEYS = {"attribute", "value", "ci_low", "ci_high", "p_value", "noise_floor", "n_items",
               "slices", "rates", "groups", "probabilities", "unit", "group_n"}


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
        rows = [[str(g)] + [(str(v[c]) if (c == "n_items" or isinstance(v.get(c), str)) and c in v
                             else _p(v.get(c)) if c == "p_value" else fmt(v.get(c))) for c in columns]
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


def _intersection(row: dict[str, Any]) -> dict[str, Any] | None:
    """An intersectional attribute's table: each metric on the cells, on each part alone, and
    its amplification with CI, p-value and flag."""
    found = row.get("intersection")
    if not isinstance(found, dict):
        return None
    parts = [str(p) for p in found.get("parts") or []]
    marginals = found.get("marginals") or {}
    rows = []
    for name, amp in (found.get("amplification") or {}).items():
        rows.append({
            "statistic": name.replace("_", " "),
            "cells": _num((row.get(name) or {}).get("value", row.get("value"))),
            "marginals": [_num(((marginals.get(p) or {}).get(name) or {}).get("value")) for p in parts],
            "amplification": _num(amp.get("value")), "ci": _ci_text(amp.get("ci_low"), amp.get("ci_high")),
            "p_value": _p(amp.get("p_value")), "flagged": bool(amp.get("amplified")),
        })
    return {"parts": parts, "rows": rows}


def _slices(dim_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in dim_rows:
        for statistic, holder in _statistics(row):
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


def _benchmark_table(benchmark: dict[str, Any] | None) -> dict[str, Any] | None:
    """The public benchmark's own statistics (`scores` records) as a table: a statistic's
    `_value`, `_ci_low` and `_ci_high` shown as the statistic and its CI, numbers rounded."""
    if not benchmark or not benchmark.get("scores"):
        return None
    records = benchmark["scores"]
    keys = list(records[0])
    columns: list[tuple[str, Any]] = []  # (header, cell of a record)
    for key in keys:
        stem = key[: -len("_ci_low")] if key.endswith("_ci_low") else None
        if key.endswith("_ci_high") or (stem and f"{stem}_ci_high" not in keys):
            continue
        if stem:
            columns.append(("95% CI", lambda r, s=stem: _ci_text(r.get(f"{s}_ci_low"), r.get(f"{s}_ci_high"))))
            continue
        label = key[: -len("_value")] if key.endswith("_value") else key
        label = label.replace("_noise_floor", " noise floor").replace("_p_value", " p")
        columns.append((label.replace("_", " "), lambda r, k=key: (
            _num(r.get(k)) if isinstance(r.get(k), float) else str(r.get(k, "")))))
    return {"name": benchmark.get("name", "?"), "columns": [h for h, _ in columns],
            "rows": [[cell(r) for _, cell in columns] for r in records]}


def _build_view(scorecard: dict[str, Any], policy: dict[str, Any] | None,
                limitations: Any, plots: list[Plot], model_description: str | None) -> dict[str, Any]:
    gate = scorecard.get("gate")
    gate_verdicts = _gate_verdicts(gate)
    metrics, dimensions = [], []
    for i, dim in enumerate(scorecard.get("dimensions") or []):
        name = dim.get("dimension", "?")
        prefix = _dimension_prefix(dim)
        anchor = f"dim-{i}"
        title, about = _about(name)
        for h in _headlines(dim):
            stat, row = h["stat"], h["row"]
            unit = row.get("unit")
            key = _metric_key(prefix, h)
            rule = _rule_for(policy, name, h["statistic"], dim.get("probe"))
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
                "intersection": _intersection(row),
                "pairs": _mapping_table(row.get("pairs")) if isinstance(row.get("pairs"), dict) else None,
            })
        meta = {k: v for k, v in (dim.get("metadata") or {}).items() if not isinstance(v, (dict, list))}
        benchmark = _benchmark_table(dim.get("benchmark"))
        dimensions.append({"anchor": anchor, "title": title, "about": about, "dimension": name,
                           "probe": dim.get("probe", ""), "prefix": prefix, "blocks": blocks,
                           "slices": _slices(dim.get("attributes") or []), "benchmark": benchmark,
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
    policy = policy_summary(policy) if policy is not None else scorecard.get("policy")
    plots, problems = make_plots(scorecard, policy=policy)
    view = _build_view(scorecard, policy, limitations, plots, model_description)
    view["warnings"] = list(view["warnings"]) + problems
    return _page_template().render(**view), plots


@functools.lru_cache(maxsize=1)
def _page_template() -> Any:
    """The page's Jinja template, compiled once per process: compiling it costs more than
    rendering it (about 0.1 s a page)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("mlflow_bias", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("scorecard.html.j2")


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
