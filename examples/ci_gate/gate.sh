#!/usr/bin/env bash
# Bias release gate for a CI/CD pipeline: run it after training has registered a model version.
#
#   gate.sh MODEL VERSION [POLICY]
#
# Runs `mlflow-bias gate` on the registered version (which reuses the version's newest evaluation
# made under POLICY, or evaluates it on the policy's probes) and then:
#   passed / passed-with-waiver -> `mlflow-bias promote` to $BIAS_ALIAS (default: champion); exit 0
#   blocked                     -> prints the reasons, does not promote; exit 1
#   promotion refused           -> prints why; exit 1
#   the gate could not run      -> (bad arguments, unknown model or version, unreadable policy,
#                                  tracking server unreachable) prints the error; exit 2
#
# Environment: MLFLOW_TRACKING_URI (the tracking/registry server), BIAS_ALIAS (alias to promote
# to; empty: gate only), MLFLOW_BIAS_CLI (the command to run, default: mlflow-bias).
set -uo pipefail

usage() { echo "usage: $0 MODEL VERSION [POLICY]" >&2; exit 2; }
[[ $# -ge 2 && $# -le 3 ]] || usage
MODEL=$1
VERSION=$2
POLICY=${3:-}
ALIAS=${BIAS_ALIAS-champion}
CLI=${MLFLOW_BIAS_CLI:-mlflow-bias}
# MLflow's UserWarnings (e.g. a pyfunc without type hints) are noise in a pipeline log
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore::UserWarning}
POLICY_ARGS=()
[[ -n "$POLICY" ]] && POLICY_ARGS=(--policy "$POLICY")

# GitHub Actions shows ::error:: lines as annotations; elsewhere they are plain lines.
annotate() {
    if [[ -n "${GITHUB_ACTIONS:-}" ]]; then echo "::error title=bias gate::$1"; else echo "$1"; fi
}

echo "== bias gate: $MODEL/$VERSION under ${POLICY:-the default policy}"
OUTPUT=$("$CLI" gate --model "$MODEL" --version "$VERSION" "${POLICY_ARGS[@]}" --no-progress 2>&1)
RC=$?
# the decision, without progress bars and MLflow's warnings about the model's type hints
echo "$OUTPUT" | grep -v -e 'Downloading artifacts' -e 'UserWarning: ' \
    -e '^  color_warning($' -e '^  warnings.warn($'

# `mlflow-bias gate` exits 0 when the version passes and 1 when it is blocked; 2 is a usage or
# configuration error. Any other failure (e.g. an unknown model version raises in MLflow and
# exits 1 too) is told apart by the decision line the gate prints first.
STATUS=$(echo "$OUTPUT" | grep -m1 -oE '^(PASSED-WITH-WAIVER|PASSED|BLOCKED) under policy' | cut -d' ' -f1)
if [[ $RC -eq 1 && "$STATUS" == "BLOCKED" ]]; then
    annotate "BLOCKED: $MODEL/$VERSION did not pass the bias gate; it was not promoted."
    echo "$OUTPUT" | sed -n 's/^  reason: /  - /p'
    exit 1
fi
if [[ $RC -ne 0 || -z "$STATUS" ]]; then
    annotate "ERROR: the bias gate could not decide on $MODEL/$VERSION (exit $RC); see the output above."
    exit 2
fi
echo "== $MODEL/$VERSION: $STATUS"

if [[ -z "$ALIAS" ]]; then
    exit 0
fi
# promote recomputes the decision from the evaluation run and checks it against the version's
# bias.gate.digest tag, so an alias is never set on the strength of a tag alone
if ! "$CLI" promote --model "$MODEL" --version "$VERSION" --alias "$ALIAS" "${POLICY_ARGS[@]}"; then
    annotate "REFUSED: $MODEL/$VERSION passed the gate but could not be promoted to '$ALIAS'."
    exit 1
fi
exit 0
