"""A tracking server that goes away in the middle of an evaluation, and comes back: a real
`mlflow server --app-name bias-gate`, killed from inside the model call and restarted on the same
port and stores."""

from __future__ import annotations

import logging
import time

import mlflow
import pytest
from mlflow.tracking import MlflowClient

import bias_gate_server
import mlflow_bias
import trust_fixtures as tf
from tracking_stores import copy_migrated_store
from mlflow_bias.cli import main
from mlflow_bias.release.gate import decide
from mlflow_bias.core.tracking_guard import TrackingUnavailableError

FAST = {"bootstrap_samples": 50, "permutation_samples": 50, "progress": False}


@pytest.fixture
def server(tmp_path, monkeypatch, template_tracking_db):
    store = ["--backend-store-uri", copy_migrated_store(template_tracking_db, tmp_path / "server.db", "mlflow-artifacts:/0"),
             "--artifacts-destination", str(tmp_path / "artifacts")]
    handle = bias_gate_server.BiasGateServer(store, {"MLFLOW_BIAS_PROBE_DIR": str(tmp_path / "user-probes")},
                                             tmp_path / "server.log")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", handle.start())
    mlflow.set_tracking_uri(handle.url)
    # MLflow's retries, shortened so that giving up takes seconds rather than minutes
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    monkeypatch.setenv("MLFLOW_BIAS_SLOW_WRITE_SECONDS", "1")
    tf.freeze_probe()
    yield handle
    handle.stop()


def _interrupted_evaluation(server, caplog) -> tuple[str, float, float]:
    """Evaluate with a model that kills the server while it answers; return the run id, when the
    server died and when the evaluation gave up."""
    killed_at = []

    def model(df):
        server.kill()
        killed_at.append(time.time())
        return ["ADVANCE"] * len(df)

    with caplog.at_level(logging.WARNING, logger="mlflow_bias"):
        with pytest.raises(TrackingUnavailableError) as raised:
            mlflow_bias.evaluate(model, tf.PROBE, **FAST)
    gave_up = time.time()
    message = raised.value.message
    run_id = raised.value.run_id
    assert f"did not answer while writing 10 metric(s) under bias/cbs to run {run_id}" in message
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES=2" in message
    assert "Already in the run: dataset input screen-sets@1.0.0; tag(s) bias.evaluated_at" in message
    assert f"mlflow-bias evaluate --resume {run_id}" in message
    return run_id, killed_at[0], gave_up


def test_an_outage_is_reported_within_seconds_and_the_run_is_recovered(server, caplog, tmp_path, capsys):
    run_id, killed_at, gave_up = _interrupted_evaluation(server, caplog)
    warnings = [r for r in caplog.records if "has not answered for 1 s" in r.getMessage()]
    assert warnings, [r.getMessage() for r in caplog.records]
    assert warnings[0].created - killed_at < 5  # said within seconds, while MLflow still retries
    assert "MLflow keeps retrying" in warnings[0].getMessage()
    assert gave_up - killed_at < 60
    assert (tmp_path / "state" / "interrupted" / f"{run_id}.json").is_file()

    # the server comes back: the half-written run is still RUNNING, and the gate blocks it
    server.start()
    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "RUNNING" and run.data.tags["bias.status"] == "running"
    assert "did not complete (bias.status=running)" in "; ".join(decide(run_id, tf.write_policy(tmp_path / "p.yaml")).reasons)
    assert main(["evaluate", "--resume", run_id]) == 0
    assert f"Run {run_id} marked failed: interrupted: The tracking server" in capsys.readouterr().out
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["bias.status"] == "failed"
    assert run.data.tags["bias.error"].startswith("interrupted: The tracking server")
    assert not (tmp_path / "state" / "interrupted" / f"{run_id}.json").exists()
    assert main(["evaluate", "--resume", run_id]) == 0
    assert "already marked failed" in capsys.readouterr().out

    # a second outage; this time the next evaluation marks the earlier run failed by itself
    second, _, _ = _interrupted_evaluation(server, caplog)
    server.start()
    assert MlflowClient().get_run(second).data.tags["bias.status"] == "running"
    mlflow_bias.evaluate(lambda df: ["ADVANCE"] * len(df), tf.PROBE, **FAST)
    recovered = MlflowClient().get_run(second)
    assert recovered.info.status == "FAILED" and recovered.data.tags["bias.error"].startswith("interrupted: ")
    assert mlflow.last_active_run().data.tags["bias.status"] == "completed"
