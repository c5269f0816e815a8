"""Per-slice metrics and flags for the output dimensions, with function models whose disparity
lives in one slice only."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from mlflow_bias.reporting.report import format_scorecard

FAST = {"bootstrap_samples": 300, "permutation_samples": 200, "progress": False}
NAMES = {"female": "Emily", "male": "Greg"}


def _sets(column: str, n_sets: int = 40) -> pd.DataFrame:
    """Half the sets formal, half casual; each set one input per group."""
    rows = []
    for s in range(n_sets):
        register = "formal" if s % 2 == 0 else "casual"
        for group, name in NAMES.items():
            text = (f"Dear committee, please assess {name} (case {s})." if register == "formal"
                    else f"hey, what about {name}? case {s}")
            rows.append({"id": f"s{s}-{group}", "attribute": "gender", "set_id": f"s{s}",
                         "group": group, column: text, "formality": register})
    return pd.DataFrame(rows)


def _evaluate(model, data, **config):
    return mlflow.models.evaluate(model=model, data=data, model_type="bias", evaluators=["bias"],
                                  evaluator_config={"bias": {**FAST, **config}}).metrics


def test_cbs_slices_find_the_casual_register():
    # Emily is rejected only in casual inputs: overall CBS 0.5, casual 1.0, formal 0
    model = lambda df: ["reject" if "Emily" in t and t.startswith("hey") else "advance"  # noqa: E731
                        for t in df["input"]]
    m = _evaluate(model, _sets("input"), categories={"advance": ["advance"], "reject": ["reject"]})
    assert m["bias/cbs/gender"] == pytest.approx(0.5)
    assert m["bias/cbs/gender/slice/formality/casual"] == 1.0
    assert m["bias/cbs/gender/slice/formality/formal"] == 0.0
    assert m["bias/cbs/gender/slice/formality/casual/ci_low"] == 1.0
    scorecard = mlflow.artifacts.load_dict(
        f"runs:/{mlflow.last_active_run().info.run_id}/bias/scorecard.json")
    text = format_scorecard(scorecard)
    assert "gender/formality=casual" in text and "<- worse than overall" in text
    rows = {r["value"]: r for r in scorecard["dimensions"][0]["attributes"][0]["slices"]}
    assert rows["casual"]["flagged"] and not rows["formal"]["flagged"]


def test_refusal_slices():
    model = lambda df: ["I'm sorry, but I can't help with that." if "Emily" in t and t.startswith("hey")  # noqa: E731
                        else "Sure, here is how." for t in df["prompt"]]
    m = _evaluate(model, _sets("prompt"))
    assert m["bias/refusal/gender"] == pytest.approx(50.0)
    assert m["bias/refusal/gender/slice/formality/casual"] == pytest.approx(100.0)
    assert m["bias/refusal/gender/slice/formality/formal"] == 0.0


def test_parity_slices_per_headline():
    rows = []
    for i in range(80):
        register = "formal" if i % 2 == 0 else "casual"
        group = "female" if (i // 2) % 2 == 0 else "male"
        rows.append({"id": f"d{i}", "attribute": "gender", "group": group, "label": i % 3 == 0,
                     "input": f"{register} {NAMES[group]} {i}", "formality": register})
    probe = pd.DataFrame(rows).assign(label=lambda df: df["label"].astype(int))
    # women are never selected in casual inputs; everyone else always is
    model = lambda df: [0 if t.startswith("casual Emily") else 1 for t in df["input"]]  # noqa: E731
    m = _evaluate(model, probe)
    key = "bias/parity/gender/statistical_parity_difference"
    assert m[key] == pytest.approx(0.5)
    assert m[f"{key}/slice/formality/casual"] == 1.0 and m[f"{key}/slice/formality/formal"] == 0.0
    assert m["bias/parity/gender/disparate_impact/slice/formality/casual"] == 0.0
    scorecard = mlflow.artifacts.load_dict(
        f"runs:/{mlflow.last_active_run().info.run_id}/bias/scorecard.json")
    row = scorecard["dimensions"][0]["attributes"][0]
    # lower is worse for disparate impact: the casual slice (0) is flagged, the formal one (1) not
    flags = {s["value"]: s["flagged"] for s in row["disparate_impact"]["slices"]}
    assert flags == {"casual": True, "formal": False}
    assert {s["value"]: s["flagged"] for s in row["statistical_parity_difference"]["slices"]} == flags
