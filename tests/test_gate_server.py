"""Server-side enforcement: a real `mlflow server --app-name bias-gate` on 127.0.0.1, driven with
MlflowClient and raw REST calls."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import requests
import yaml
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import mlflow_bias.probes as probes
from mlflow_bias.models import log_causal_lm
from mlflow_bias.registry import gate

FAST = {"bootstrap_samples": 200, "permutation_samples": 500, "progress": False}
POLICY = {
    "name": "test", "version": "1.0.0",
    "rules": [{"metric": "lpbs", "threshold": 0.10, "direction": "max"}],
    "required_dimensions": ["lpbs"], "probes": ["tiny-occupations"],
    "protected_aliases": ["champion", "production"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    port = _free_port()
    env = {**os.environ, "MLFLOW_BIAS_POLICY": str(policy_path),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = open(tmp_path / "server.log", "w")
    process = subprocess.Popen(
        ["mlflow", "server", "--app-name", "bias-gate", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", mlflow.get_tracking_uri(),
         "--default-artifact-root", str(tmp_path / "mlruns")],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if requests.get(f"{url}/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None:
                raise RuntimeError((tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        else:
            raise RuntimeError("mlflow server did not start in 90 s: "
                               + (tmp_path / "server.log").read_text()[-3000:])
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _set_alias(url: str, name: str, alias: str, version: str) -> requests.Response:
    return requests.post(f"{url}/api/2.0/mlflow/registered-models/alias",
                         json={"name": name, "alias": alias, "version": version}, timeout=30)


def test_server_enforces_protected_aliases(server):
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
