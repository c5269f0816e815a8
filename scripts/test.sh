#!/usr/bin/env bash
# Set up, then run the whole test suite (unit, integration with MLflow, real SmolLM2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
