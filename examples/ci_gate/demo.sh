#!/usr/bin/env bash
# Demo of the CI gate: register two versions of a rule-based hiring screen (one name-blind, one
# with a referral-name shortcut), run gate.sh on both, and show that the pipeline passes (exit 0,
# promoted to 'champion') on the first and fails (exit 1, not promoted) on the second.
#
#   bash examples/ci_gate/demo.sh
#
# Runs in the current directory: the tracking store is MLFLOW_TRACKING_URI, default
# sqlite:///mlflow.db here. PYTHON (default: python) must have mlflow-bias installed.
# Exit status 0 when both gate runs ended as expected.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python}
MODEL=${MODEL:-hiring-screen-ci}
export MLFLOW_TRACKING_URI=${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
export BIAS_ALIAS=${BIAS_ALIAS:-champion}
# the mlflow-bias command next to PYTHON, unless one is given
if [[ -z "${MLFLOW_BIAS_CLI:-}" ]]; then
    BIN=$(dirname "$(command -v "$PYTHON")")
    if [[ -x "$BIN/mlflow-bias" ]]; then export MLFLOW_BIAS_CLI="$BIN/mlflow-bias"; fi
fi

echo "== training: registering two versions of $MODEL ($MLFLOW_TRACKING_URI)"
VERSIONS=$("$PYTHON" "$HERE/register_versions.py" "$MODEL" | tail -n 1) || exit 1
read -r PASSING BLOCKED <<<"$VERSIONS"

echo
bash "$HERE/gate.sh" "$MODEL" "$PASSING" "$HERE/policy.yaml"
RC_PASSING=$?
echo "gate.sh $MODEL $PASSING -> exit $RC_PASSING"

echo
bash "$HERE/gate.sh" "$MODEL" "$BLOCKED" "$HERE/policy.yaml"
RC_BLOCKED=$?
echo "gate.sh $MODEL $BLOCKED -> exit $RC_BLOCKED"

echo
if [[ $RC_PASSING -eq 0 && $RC_BLOCKED -eq 1 ]]; then
    echo "== demo OK: version $PASSING passed and is '$BIAS_ALIAS'; version $BLOCKED was blocked"
    exit 0
fi
echo "== demo FAILED: expected exits 0 and 1 (got $RC_PASSING and $RC_BLOCKED)"
exit 1
