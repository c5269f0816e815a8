#!/usr/bin/env bash
# Set up, then evaluate SmolLM2-135M-Instruct on the shipped probes (LPBS on gender-occupation, CBS
# on hiring-summary, refusal asymmetry on refusal-requests, each at the version the README's figures
# were measured on), logging to ./mlflow.db, and print the scorecard. Arguments replace the
# defaults and go to `mlflow-bias evaluate`.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
export MLFLOW_TRACKING_URI=${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db}
if [ "$#" -eq 0 ]; then
  set -- --probe gender-occupation@2.0.0 --probe hiring-summary@2.0.0 --probe refusal-requests@2.0.0 \
         --config "$ROOT/scripts/main-job.yaml"
fi
exec "$ROOT/.venv/bin/mlflow-bias" evaluate "$@"
