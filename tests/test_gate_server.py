"""Server-side enforcement: a real `mlflow server --app-name bias-gate` on 127.0.0.1, driven with
MlflowClient and raw REST calls: protected aliases, waivers and their expiry, aliases bound to a use
case, and unreadable limitation records."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import mlflow
import pytest
import requests
import yaml
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import bias_gate_server
import mlflow_bias.probes as probes
from mlflow_bias.release.limitations import add_limitation, resolve_limitation
from mlflow_bias.adapters.models import log_causal_lm
from mlflow_bias.promotion.model_registry import gate

FAST = {"bootstrap_samples": 200, "permutation_samples": 500, "progress": False}
POLICY = {
    "name": "test", "version": "1.0.0",
    "rules": [{"metric": "lpbs", "threshold": 0.10, "direction": "max"}],
    "required_dimensions": ["lpbs"], "probes": ["tiny-occupations"],
    "protected_aliases": ["champion", "production"],
    "waivable_dimensions": ["lpbs"],
    "alias_use_cases": {"hiring-production": "hiring"},
}
# the server's override of the policy's bindings: eu-hiring is bound only here
ALIAS_USE_CASES = "hiring-production=hiring, support-bot=customer-support, eu-hiring=hiring"


@pytest.fixture
def server(tmp_path, skewed_lm, balanced_lm, tiny_probe):
    """Registry with screen v1 (biased, gated: blocked) and v2 (fair, gated: passed), served by
    `mlflow server --app-name bias-gate`; yields the server's URL."""
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(POLICY))
    probes.freeze(tiny_probe, "tiny-occupations", "1.0.0", card="# tiny occupations\n\nTest probe.")
    for lm in (skewed_lm, balanced_lm):
        with mlflow.start_run():
            log_causal_lm(*lm, registered_model_name="screen")
    gate("screen", 1, policy_path, **FAST)
    gate("screen", 2, policy_path, **FAST)

    env = {"MLFLOW_BIAS_POLICY": str(policy_path), "MLFLOW_BIAS_ALIAS_USE_CASES": ALIAS_USE_CASES}
    store = ["--backend-store-uri", mlflow.get_tracking_uri(), "--default-artifact-root", str(tmp_path / "mlruns")]
    with bias_gate_server.running(store, env, tmp_path / "server.log") as url:
        yield url


def _set_alias(url: str, name: str, alias: str, version: str) -> requests.Response:
    return requests.post(f"{url}/api/2.0/mlflow/registered-models/alias",
                         json={"name": name, "alias": alias, "version": version}, timeout=30)


def test_server_enforces_protected_aliases(server, tmp_path):
    remote = MlflowClient(tracking_uri=server, registry_uri=server)

    # passed version: promoted, through the client and through REST
    remote.set_registered_model_alias("screen", "champion", "2")
    assert str(remote.get_model_version_by_alias("screen", "champion").version) == "2"
    assert _set_alias(server, "screen", "production", "2").status_code == 200

    # blocked version: 403 with the reasons, whatever the client
    with pytest.raises(MlflowException, match="bias gate refused alias 'champion'.*screen/1 is blocked"):
        remote.set_registered_model_alias("screen", "champion", "1")
    response = _set_alias(server, "screen", "production", "1")
    assert response.status_code == 403
    body = response.json()
    assert body["error_code"] == "PERMISSION_DENIED"
    assert "bias/lpbs/gender" in body["message"]
    assert str(remote.get_model_version_by_alias("screen", "production").version) == "2"

    # a forged tag set through the server itself is not enough
    for key in ("bias.gate", "bias.gate.reasons"):
        remote.set_model_version_tag("screen", "1", key, "passed")
    assert _set_alias(server, "screen", "champion", "1").status_code == 403

    # aliases that are not protected pass through unchanged
    assert _set_alias(server, "screen", "staging", "1").status_code == 200
    assert str(remote.get_model_version_by_alias("screen", "staging").version) == "1"

    # the check's own failure (an unknown version) refuses: fail closed
    refused = _set_alias(server, "screen", "champion", "99")
    assert refused.status_code == 403
    assert "could not verify the version, so the alias was not set" in refused.json()["message"]
    # other requests are untouched
    assert requests.get(f"{server}/api/2.0/mlflow/registered-models/get",
                        params={"name": "screen"}, timeout=30).status_code == 200

    # on the same server (a start and two gated versions are slow): waivers, their expiry,
    # use-bound aliases and unreadable limitation records
    _waivers_use_bound_aliases_and_unreadable_records(server, remote, tmp_path / "policy.yaml")


def _refusal(response: requests.Response) -> str:
    assert response.status_code == 403, response.text
    assert response.json()["error_code"] == "PERMISSION_DENIED"
    return response.json()["message"]


def _alias_version(client: MlflowClient, alias: str) -> str:
    return str(client.get_model_version_by_alias("screen", alias).version)


def _waivers_use_bound_aliases_and_unreadable_records(server: str, remote: MlflowClient,
                                                      policy_path: Path) -> None:
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()

    # use restriction: v2 passes, but an open record restricting hiring keeps it off hiring aliases
    add_limitation("screen", 2, dimension="lpbs", attribute="gender",
                   description="Ranks resumes that use she lower.", restricted_uses=["hiring"],
                   owner="rai-team", review_date=future, client=remote)
    for alias in ("hiring-production", "eu-hiring"):  # bound by the policy / by the server's env
        message = _refusal(_set_alias(server, "screen", alias, "2"))
        assert f"bias gate refused alias '{alias}'" in message
        assert f"may not hold alias '{alias}', which is bound to use case 'hiring'" in message
        assert "limitation L1 (lpbs/gender: Ranks resumes that use she lower.)" in message
        assert "Resolve the limitation" in message and "an alias not bound to 'hiring'" in message
    with pytest.raises(MlflowException, match="bound to use case 'hiring'.*limitation L1"):
        remote.set_registered_model_alias("screen", "hiring-production", "2")
    assert _set_alias(server, "screen", "support-bot", "2").status_code == 200
    remote.set_registered_model_alias("screen", "champion", "2")
    resolve_limitation("screen", 2, "L1", "Re-ranked and re-evaluated.", client=remote)
    assert _set_alias(server, "screen", "hiring-production", "2").status_code == 200
    assert _alias_version(remote, "hiring-production") == "2"

    # a use-bound alias is gated although it is not protected: blocked v1 is refused
    assert "screen/1 is blocked" in _refusal(_set_alias(server, "screen", "support-bot", "1"))

    # waiver: v1 fails lpbs (waivable); an open, owned, unexpired record waives it once re-gated
    add_limitation("screen", 1, dimension="lpbs", attribute="gender",
                   description="Prefers he for engineers.", restricted_uses=["hiring"],
                   owner="rai-team", review_date=future, client=remote)
    waived = gate("screen", 1, policy_path, evaluate_if_missing=False, client=remote)
    assert waived.status == "passed-with-waiver" and waived.reasons == [], waived.summary()
    assert "waived by limitation L1 [open] lpbs/gender" in waived.summary()
    assert any(line.startswith("limitation L1 [open] lpbs/gender") for line in waived.limitations)
    assert remote.get_model_version("screen", "1").tags["bias.gate"] == "passed-with-waiver"
    quoted = mlflow.artifacts.load_dict(f"runs:/{waived.run_id}/bias/gate_decision.json")
    assert quoted["status"] == "passed-with-waiver" and "limitation L1" in quoted["waivers"][0]
    remote.set_registered_model_alias("screen", "champion", "1")
    assert _set_alias(server, "screen", "production", "1").status_code == 200
    assert _set_alias(server, "screen", "support-bot", "1").status_code == 200
    # ... but not to an alias bound to the use case the waiving record restricts
    message = _refusal(_set_alias(server, "screen", "hiring-production", "1"))
    assert "use case 'hiring'" in message and "limitation L1 (lpbs/gender: Prefers he" in message
    assert _alias_version(remote, "hiring-production") == "2"

    # expiry: the record's review date moved into the past blocks, and the server names it
    record = json.loads(remote.get_model_version("screen", "1").tags["bias.limitation.L1"])
    remote.set_model_version_tag("screen", "1", "bias.limitation.L1",
                                 json.dumps({**record, "review_date": "2020-01-01"}))
    message = _refusal(_set_alias(server, "screen", "production", "1"))
    assert "screen/1 is blocked" in message and "its waiver L1 expired on 2020-01-01" in message
    assert gate("screen", 1, policy_path, evaluate_if_missing=False, client=remote).status == "blocked"

    # fail closed: an unreadable record refuses every gated alias, even for a passing version
    remote.set_model_version_tag("screen", "2", "bias.limitation.L1", "{edited by hand")
    for alias in ("champion", "support-bot", "hiring-production"):
        message = _refusal(_set_alias(server, "screen", alias, "2"))
        assert "known-limitation records could not be read" in message
        assert "bias.limitation.L1 of screen/2 is not a valid limitation record" in message
    assert _alias_version(remote, "champion") == "1"
    assert _set_alias(server, "screen", "staging", "2").status_code == 200  # not gated
