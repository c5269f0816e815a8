"""`mlflow server --app-name bias-gate`: the MLflow tracking server, refusing (403) any request that
would point a protected alias at a model version whose bias gate has not passed, or a use-bound
alias at such a version or at one with an open known limitation restricting the alias's use case.

Settings (environment of the server): `MLFLOW_BIAS_POLICY` (policy YAML; default policy otherwise),
`MLFLOW_BIAS_PROTECTED_ALIASES` (comma-separated; default: the policy's protected aliases) and
`MLFLOW_BIAS_ALIAS_USE_CASES` (`alias=use-case` pairs, comma-separated; default: the policy's
`alias_use_cases`) and `MLFLOW_BIAS_TRUSTED_KEYS` (public key files separated by commas, or PEM
text; added to the policy's `trusted_keys`: with any trusted key, only evaluations signed by one
of them pass). A use-bound alias is gated even when it is not protected. Every other request goes
through unchanged. If the check itself fails (a malformed setting included), the alias is not set.

The check is the client's (`registry.check_promotion`): the decision is recomputed from the
version's evaluation run, the model digest from the version's artifacts, and the signature from
the run's attestation, on every request.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

from flask import Flask, Response, jsonify, request

from mlflow_bias.release.policy import Policy, load_policy, parse_alias_use_cases
from mlflow_bias.promotion.model_registry import PromotionRefused, check_promotion
from mlflow_bias.trust.keys import TRUSTED_KEYS_ENV, trusted_keys_from_env

_logger = logging.getLogger(__name__)
ALIAS_ENDPOINT = "/mlflow/registered-models/alias"


def protected_aliases(policy: Policy) -> set[str]:
    configured = os.environ.get("MLFLOW_BIAS_PROTECTED_ALIASES")
    if configured is not None:
        return {a.strip() for a in configured.split(",") if a.strip()}
    return set(policy.protected_aliases)


def alias_use_cases(policy: Policy) -> dict[str, str]:
    """alias -> use case: `MLFLOW_BIAS_ALIAS_USE_CASES` (e.g. `hiring-production=hiring,
    support-bot=customer-support`; empty: none) when set, else the policy's `alias_use_cases`."""
    configured = os.environ.get("MLFLOW_BIAS_ALIAS_USE_CASES")
    if configured is None:
        return dict(policy.alias_use_cases)
    pairs = {}
    for item in (i.strip() for i in configured.split(",")):
        if not item:
            continue
        alias, sep, use_case = item.partition("=")
        if not sep:
            raise ValueError(f"MLFLOW_BIAS_ALIAS_USE_CASES: {item!r} is not alias=use-case")
        pairs[alias.strip()] = use_case
    return parse_alias_use_cases(pairs, "MLFLOW_BIAS_ALIAS_USE_CASES")


def _server_client():
    """A client on the server's own stores (not on an HTTP tracking URI: no loop through itself)."""
    from mlflow.server import BACKEND_STORE_URI_ENV_VAR, REGISTRY_STORE_URI_ENV_VAR
    from mlflow.tracking import MlflowClient

    backend = os.environ.get(BACKEND_STORE_URI_ENV_VAR)
    registry = os.environ.get(REGISTRY_STORE_URI_ENV_VAR) or backend
    return MlflowClient(tracking_uri=backend, registry_uri=registry)


def _refuse(message: str) -> tuple[Response, int]:
    return jsonify({"error_code": "PERMISSION_DENIED", "message": message}), 403


def enforce_protected_aliases() -> Any:
    """Flask `before_request` hook: None lets the request through; a response refuses it."""
    if request.method != "POST" or not request.path.endswith(ALIAS_ENDPOINT):
        return None
    try:
        body = request.get_json(silent=True) or {}
        policy = load_policy(os.environ.get("MLFLOW_BIAS_POLICY"))
        # neither the bindings nor the trusted keys are part of the policy digest, so the server's
        # settings keep decisions made under the same policy file valid
        policy = dataclasses.replace(
            policy, alias_use_cases=alias_use_cases(policy),
            trusted_keys=policy.trusted_keys + trusted_keys_from_env(os.environ.get(TRUSTED_KEYS_ENV)))
        alias = str(body.get("alias", ""))
        if alias not in protected_aliases(policy) | set(policy.alias_use_cases):
            return None
        name, version = str(body.get("name", "")), str(body.get("version", ""))
        check_promotion(name, version, policy, client=_server_client(), alias=alias)
        _logger.info("bias gate: %s/%s may hold alias %s", name, version, alias)
        return None
    except PromotionRefused as refused:
        return _refuse(f"bias gate refused alias '{body.get('alias')}': {refused.message}")
    except Exception as exc:  # noqa: BLE001 - fail closed: an error in the check refuses
        _logger.exception("bias gate check failed")
        return _refuse(f"bias gate could not verify the version, so the alias was not set: "
                       f"{type(exc).__name__}: {exc}")


def create_app(app: Flask | None = None):
    """App factory for `mlflow server --app-name bias-gate`."""
    from mlflow.environment_variables import _MLFLOW_SGI_NAME
    from mlflow.server import app as mlflow_app

    app = app or mlflow_app
    app.before_request(enforce_protected_aliases)
    if _MLFLOW_SGI_NAME.get() == "uvicorn":
        from mlflow.server.fastapi_app import create_fastapi_app

        return create_fastapi_app(app)
    return app
