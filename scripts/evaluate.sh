#!/usr/bin/env bash
# The main job on the embedded defaults: set up, then evaluate SmolLM2-135M-Instruct on the shipped
# gender-occupation probe, logging to ./mlflow.db, and print the scorecard.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
export MLFLOW_TRACKING_URI=${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db}
exec "$ROOT/.venv/bin/mlflow-bias" evaluate "$@"
