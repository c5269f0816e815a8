#!/usr/bin/env bash
# The main job on the embedded defaults: set up, then evaluate SmolLM2-135M-Instruct on the shipped
# probes (LPBS on gender-occupation, CBS on hiring-summary, refusal asymmetry on refusal-requests),
# logging to ./mlflow.db, and print the scorecard. Arguments replace the defaults and go to
# `mlflow-bias evaluate`.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
export MLFLOW_TRACKING_URI=${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db}
if [ "$#" -eq 0 ]; then
  set -- --probe gender-occupation --probe hiring-summary --probe refusal-requests \
         --config "$ROOT/scripts/main-job.yaml"
fi
exec "$ROOT/.venv/bin/mlflow-bias" evaluate "$@"
