#!/usr/bin/env bash
# The main job on the embedded defaults: set up, then run the hiring-screen story on
# SmolLM2-135M-Instruct (fine-tune on skewed data, measure, mitigate, fine-tune again, re-measure,
# compare, gate, promote), logging to ./mlflow.db, and print the scorecards side by side.
# Arguments go to `mlflow-bias demo` (e.g. --quick for a small version).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
export MLFLOW_TRACKING_URI=${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db}
exec "$ROOT/.venv/bin/mlflow-bias" demo "$@"
