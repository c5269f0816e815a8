"""The gate on the MLflow model registry: tag a version passed/blocked, and promote (set an alias)
only a version whose decision, recomputed from its evaluation run, passes."""

from __future__ import annotations

import json
from typing import Any

from mlflow.tracking import MlflowClient

from mlflow_bias.core.errors import BiasEvaluationError
from mlflow_bias.release.evaluations import latest_evaluation, model_version_label
from mlflow_bias.release.gate import DECISION_PATH, Decision, decide
from mlflow_bias.release.limitations import limitation_lines, restricting
from mlflow_bias.release.policy import load_policy
from mlflow_bias.reporting.report import SCORECARD_PATH
from mlflow_bias.reporting.scorecard_page import log_scorecard_html

GATE_TAGS = ("bias.gate", "bias.gate.run_id", "bias.gate.policy", "bias.gate.reasons",
             "bias.gate.evaluated_at", "bias.gate.digest")
MAX_TAG_CHARS = 5000


class PromotionRefused(BiasEvaluationError):
    """Promotion to a gated (protected or use-bound) alias was refused; `decision` says why."""

    def __init__(self, message: str, decision: Decision | None = None) -> None:
        super().__init__(message)
        self.decision = decision


def log_decision(decision: Decision, client: MlflowClient | None = None) -> None:
    """Write the decision to its evaluation run (JSON, tag) and into the run's scorecard (JSON and
    the HTML page, which then shows the decision and the version's known limitations)."""
    if decision.run_id is None:
        return
    client = client or MlflowClient()
    payload = decision.to_dict()
    client.log_dict(decision.run_id, payload, DECISION_PATH)
    client.set_tag(decision.run_id, "bias.gate", decision.status)
    try:
        scorecard = client.download_artifacts(decision.run_id, SCORECARD_PATH)
    except Exception:  # noqa: BLE001 - a run without a scorecard keeps just the decision file
        return
    with open(scorecard, encoding="utf-8") as f:
        card = json.load(f)
    card["gate"] = payload
    client.log_dict(decision.run_id, card, SCORECARD_PATH)

    log_scorecard_html(decision.run_id, card, client=client)


def tag_version(name: str, version: str | int, decision: Decision, client: MlflowClient | None = None) -> None:
    client = client or MlflowClient()
    values = {
        "bias.gate": decision.status,
        "bias.gate.run_id": decision.run_id or "",
        "bias.gate.policy": f"{decision.policy}@{decision.policy_digest[:12]}",
        "bias.gate.reasons": ("; ".join(decision.reasons) or "all rules passed")[:MAX_TAG_CHARS],
        "bias.gate.evaluated_at": decision.evaluated_at or "",
        "bias.gate.digest": decision.digest,
    }
    for key, value in values.items():
        client.set_model_version_tag(name, str(version), key, value)


def gate(
    name: str,
    version: str | int,
    policy: Any = None,
    *,
    evaluate_if_missing: bool = True,
    client: MlflowClient | None = None,
    **evaluate_config: Any,
) -> Decision:
    """Decide on a registered model version and tag it. Reuses its newest evaluation run, or
    evaluates it on the policy's probes when it has none (or when that run used another policy)."""
    client = client or MlflowClient()
    policy = load_policy(policy)
    client.get_model_version(name, str(version))  # a clear MLflow error for an unknown version
    label = model_version_label(name, version)
    run_id = latest_evaluation(name, version, client)
    if evaluate_if_missing and (run_id is None or _policy_of(client, run_id) != policy.ref):
        run_id = _evaluate(name, version, policy, evaluate_config)
    decision = decide(run_id, policy, model_version=label, client=client)
    decision.limitations = limitation_lines(name, version, client)
    log_decision(decision, client)
    tag_version(name, version, decision, client)
    return decision


def _policy_of(client: MlflowClient, run_id: str) -> str | None:
    return client.get_run(run_id).data.tags.get("bias.policy")


def _evaluate(name: str, version: str | int, policy, config: dict[str, Any]) -> str:
    import mlflow

    from mlflow_bias.evaluation.api import evaluate

    if not policy.probes:
        raise BiasEvaluationError(
            f"{name}/{version} has no bias evaluation and policy {policy.ref} lists no probes to "
            "evaluate it with. Evaluate it first, or add `probes:` to the policy."
        )
    first, *extra = policy.probes
    config = {**config, "policy": policy, "probes": extra}
    evaluate(f"models:/{name}/{version}", first, run_name=f"bias-gate {name}/{version}", **config)
    return mlflow.last_active_run().info.run_id


def check_promotion(
    name: str, version: str | int, policy: Any = None, client: MlflowClient | None = None,
    alias: str | None = None,
) -> Decision:
    """Recompute the version's decision from its gated evaluation run and check it against the
    version's `bias.gate.digest`. Raise PromotionRefused unless it passes; never trust a tag alone.

    `passed` and `passed-with-waiver` both pass. When `alias` is bound to a use case by the
    policy's `alias_use_cases`, also refuse a version with an open known-limitation record that
    restricts that use case (a waiving record included). Records that cannot be read refuse."""
    client = client or MlflowClient()
    policy = load_policy(policy)
    tags = client.get_model_version(name, str(version)).tags
    label = model_version_label(name, version)
    run_id = tags.get("bias.gate.run_id") or None
    decision = decide(run_id, policy, model_version=label, client=client)
    use_case = policy.alias_use_cases.get(alias) if alias else None
    try:
        decision.limitations = limitation_lines(name, version, client)
        restricted = restricting(name, version, use_case, client) if use_case else []
    except Exception as exc:  # noqa: BLE001 - fail closed: unreadable records refuse
        raise PromotionRefused(
            f"{label} cannot be promoted: its known-limitation records could not be read, so "
            f"whether they restrict {f'alias {alias!r}' if alias else 'the alias'} is unknown: "
            f"{getattr(exc, 'message', None) or f'{type(exc).__name__}: {exc}'}",
            decision,
        ) from exc
    if not decision.passed:
        raise PromotionRefused(f"{label} is blocked: {'; '.join(decision.reasons)}", decision)
    if tags.get("bias.gate") != decision.status or tags.get("bias.gate.digest") != decision.digest:
        raise PromotionRefused(
            f"{label} has no gate decision matching its evaluation under policy {policy.ref} "
            f"(bias.gate={tags.get('bias.gate', 'missing')}); run `mlflow-bias gate --model "
            f"{name} --version {version}` first.",
            decision,
        )
    if restricted:
        records = "; ".join(f"limitation {r.id} ({r.dimension}/{r.attribute}: {r.description})"
                            for r in restricted)
        raise PromotionRefused(
            f"{label} may not hold alias '{alias}', which is bound to use case '{use_case}': "
            f"open {records} restricts that use. Resolve the limitation (`mlflow-bias limitation "
            f"resolve --model {name} --version {version} --id {restricted[0].id} --resolution "
            f"...`) or promote to an alias not bound to '{use_case}'.",
            decision,
        )
    return decision


def promote(
    name: str, version: str | int, alias: str = "champion", policy: Any = None,
    client: MlflowClient | None = None,
) -> Decision:
    """Point `alias` at the version if its gate passes under the current policy (and, for an
    alias bound to a use case, no open limitation restricts that use); else refuse."""
    client = client or MlflowClient()
    decision = check_promotion(name, version, policy, client, alias=alias)
    client.set_registered_model_alias(name, alias, str(version))
    return decision
