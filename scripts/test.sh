#!/usr/bin/env bash
# Set up, then run the whole test suite (unit, integration with MLflow, real SmolLM2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# The HTML scorecard tests open the page in headless Chromium (Debian's chromium package).
CHROMIUM=${MLFLOW_BIAS_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium package for the HTML scorecard tests..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
  else
    echo "error: $CHROMIUM is missing; the HTML scorecard tests need it. Install Debian's chromium" \
         "package (sudo apt-get install -y chromium) or set MLFLOW_BIAS_CHROMIUM to a Chromium binary." >&2
    exit 1
  fi
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
# One worker per core (pytest-xdist), each test module on one worker so that its module-scoped
# fixtures (a server, a Spark session) are made once. MLFLOW_BIAS_TEST_WORKERS=0 runs in one process.
exec .venv/bin/python -m pytest -n "${MLFLOW_BIAS_TEST_WORKERS:-auto}" --dist loadfile "$@"
