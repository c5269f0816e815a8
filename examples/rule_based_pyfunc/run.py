"""Evaluate and gate a rule-based model (no log-probabilities) on the output dimensions.

    python examples/rule_based_pyfunc/run.py

Logs `screener.RuleBasedScreener` to MLflow and registers it, evaluates the registered version on
the shipped probes `hiring-summary` (CBS), `loan-decisions` (decision metrics) and
`refusal-requests` (refusal asymmetry) twice, once with `mlflow.models.evaluate` and once with the
shorter `mlflow_bias.evaluate`, gates it under `policy.yaml`, prints the scorecard and tries to
promote it. Tracking store: `sqlite:///mlflow.db` in the working directory unless
MLFLOW_TRACKING_URI is set. Exit status 0 when the example ran (the gate is expected to block).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(HERE))
warnings.filterwarnings("ignore", message=".*type hints.*")  # a rule-based model needs no signature

import mlflow  # noqa: E402

import mlflow_bias  # noqa: E402
from mlflow_bias.text.lexicons import names  # noqa: E402
from mlflow_bias.promotion.model_registry import PromotionRefused, gate, promote  # noqa: E402
from mlflow_bias.reporting.report import HTML_PATH, SCORECARD_PATH, format_scorecard  # noqa: E402
from screener import RuleBasedScreener  # noqa: E402

MODEL_NAME = "rule-based-screener"
EXPERIMENT = "rule-based-screener"
POLICY = HERE / "policy.yaml"
# the bias evaluator's configuration, shared by both ways of calling it
CONFIG = {
    # CBS: map the screener's text to categories (case-insensitive, whole words)
    "cbs": {"categories": {"advance": ["advance"], "reject": ["reject"]}},
    # decision metrics: which outputs are a positive decision
    "parity": {"decision_labels": {"positive": ["approve"], "negative": ["deny"]}},
    # scored in the same run as the main probe (hiring-summary)
    "probes": ["loan-decisions@1.0.0", "refusal-requests@1.0.0"],
    # the policy the run is evaluated under (tagged bias.policy; the gate checks it)
    "policy": str(POLICY),
    "seed": 0,
    "progress": False,
}
HEADLINES = [
    "bias/cbs/gender", "bias/cbs/race", "bias/cbs/race/flip_rate",
    "bias/cbs/race/rate/white/advance", "bias/cbs/race/rate/black/advance",
    "bias/parity/loan-decisions/gender/disparate_impact",
    "bias/parity/loan-decisions/race/disparate_impact",
    "bias/parity/loan-decisions/race/statistical_parity_difference",
    "bias/parity/loan-decisions/race/equal_opportunity_difference",
    "bias/refusal/refusal-requests/gender", "bias/refusal/refusal-requests/religion",
]


def log_and_register() -> str:
    """Log the screener as a pyfunc model and register it; return `models:/name/version`."""
    screener = RuleBasedScreener(referral_names=names(race="white"))
    with mlflow.start_run(run_name="log rule-based screener"):
        info = mlflow.pyfunc.log_model(
            name="screener",
            python_model=screener,
            code_paths=[str(HERE / "screener.py")],  # the class travels with the model
            registered_model_name=MODEL_NAME,
            pip_requirements=[f"mlflow=={mlflow.__version__}"],
        )
    return f"models:/{MODEL_NAME}/{info.registered_model_version}"


def show(title: str, metrics: dict[str, float]) -> None:
    print(f"\n{title}")
    for key in HEADLINES:
        low, high = metrics.get(f"{key}/ci_low"), metrics.get(f"{key}/ci_high")
        ci = f"  [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
        print(f"  {key:<64} {metrics[key]:7.3f}{ci}")


def main() -> int:
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))
    mlflow.set_experiment(EXPERIMENT)
    uri = log_and_register()
    version = uri.rsplit("/", 1)[1]
    print(f"Registered {uri}")

    # 1. the MLflow way: mlflow.models.evaluate with the bias evaluator
    # a pinned version, hash-verified: the figures in the README were measured on it
    probe = mlflow_bias.probes.load("hiring-summary", "1.0.0")
    with mlflow.start_run(run_name="bias: mlflow.models.evaluate"):
        result = mlflow.models.evaluate(
            model=uri,
            data=probe.to_pandas(),
            model_type="bias",
            evaluators=["bias"],
            evaluator_config={"bias": CONFIG},
        )
    show("mlflow.models.evaluate:", result.metrics)

    # 2. the short way: probe names, paths, Datasets or DataFrames; the config as keywords
    short = mlflow_bias.evaluate(uri, "hiring-summary@1.0.0", run_name="bias: mlflow_bias.evaluate",
                                 **CONFIG)
    show("mlflow_bias.evaluate (same model, probes and seed):", short.metrics)
    same = all(result.metrics[k] == short.metrics[k] for k in HEADLINES)
    print(f"  identical headline numbers: {same}")

    # 3. the release gate: reuses the newest evaluation of the version made under this policy
    decision = gate(MODEL_NAME, version, policy=POLICY)
    print(f"\nGate decision ({decision.status}):\n{decision.summary()}")

    # 4. the scorecard of the gated run, as text and as the HTML page logged to the run
    scorecard = mlflow.artifacts.load_dict(f"runs:/{decision.run_id}/{SCORECARD_PATH}")
    print(f"\n{format_scorecard(scorecard)}")
    run = mlflow.get_run(decision.run_id)
    html = Path("scorecard.html")
    html.write_text(mlflow.artifacts.load_text(f"runs:/{decision.run_id}/{HTML_PATH}"), encoding="utf-8")
    print(f"\nHTML scorecard: {run.info.artifact_uri}/{HTML_PATH} (a copy: {html.resolve()})")

    # 5. promotion is refused while the version is blocked
    try:
        promote(MODEL_NAME, version, "champion", policy=POLICY)
        print(f"\n{MODEL_NAME}/{version} promoted to 'champion'")
    except PromotionRefused as refused:
        print(f"\nPromotion to 'champion' refused: {refused.message}")
    print(f"\nOpen the MLflow UI: mlflow ui --backend-store-uri {mlflow.get_tracking_uri()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
