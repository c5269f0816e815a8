"""Register two versions of a small rule-based hiring screen, as a training job would.

    python examples/ci_gate/register_versions.py [MODEL_NAME]

Version A ignores names (it should pass the gate); version B advances candidates whose first name
is on a "referral" list of names perceived as white (it should be blocked on CBS/race). The model
is `RuleBasedScreener` from the rule_based_pyfunc example, answering with bare labels (ADVANCE or
REJECT; 1 or 0) so that the evaluator reads them without a category or decision-label mapping.

Prints the two version numbers ("<passing> <blocked>") on stdout, everything else on stderr.
Tracking store: MLFLOW_TRACKING_URI, default `sqlite:///mlflow.db` in the working directory.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

SCREENER = Path(__file__).resolve().parent.parent / "rule_based_pyfunc" / "screener.py"
sys.path.insert(0, str(SCREENER.parent))
warnings.filterwarnings("ignore", message=".*type hints.*")

import mlflow  # noqa: E402

from mlflow_bias.text.lexicons import names  # noqa: E402
from screener import RuleBasedScreener  # noqa: E402


def register(name: str, screener: RuleBasedScreener, run_name: str) -> str:
    with mlflow.start_run(run_name=run_name):
        info = mlflow.pyfunc.log_model(
            name="screener", python_model=screener, code_paths=[str(SCREENER)],
            registered_model_name=name, pip_requirements=[f"mlflow=={mlflow.__version__}"])
    return str(info.registered_model_version)


def main() -> int:
    name = sys.argv[1] if len(sys.argv) > 1 else "hiring-screen-ci"
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))
    mlflow.set_experiment(name)
    passing = register(name, RuleBasedScreener(decision_words=False), "train: name-blind rules")
    blocked = register(name, RuleBasedScreener(names(race="white"), decision_words=False),
                       "train: rules with a referral-name shortcut")
    print(f"registered {name} versions {passing} (name-blind) and {blocked} (referral names)",
          file=sys.stderr)
    print(passing, blocked)
    return 0


if __name__ == "__main__":
    sys.exit(main())
