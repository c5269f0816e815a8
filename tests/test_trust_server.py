"""The trust checks through a real `mlflow server --app-name bias-gate` on 127.0.0.1, the way a
team shares MLflow: the server serves the artifacts itself (`mlflow-artifacts:` URIs), models are
logged, evaluated, gated and promoted through it, and every forgery is attempted with
MlflowClient and with raw REST calls against the server."""

from __future__ import annotations

import time

import mlflow
import pandas as pd
import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import bias_gate_server
import trust_fixtures as tf
from tracking_stores import copy_migrated_store
from mlflow_bias.release.gate import decide
from mlflow_bias.promotion.model_registry import gate, promote
from mlflow_bias.trust.keys import generate_keypair


@pytest.fixture(scope="module")
def served(tmp_path_factory, template_tracking_db):
    """A bias-gate server trusting one key (MLFLOW_BIAS_TRUSTED_KEYS), with its policy file (no
    keys of its own), its probe store, the key pairs and the server's URL."""
    root = tmp_path_factory.mktemp("served")
    trusted = generate_keypair(root / "keys")
    other = generate_keypair(root / "other-keys")
    policy = tf.write_policy(root / "policy.yaml")
    probe_dir = root / "user-probes"
    env = {"MLFLOW_BIAS_POLICY": str(policy), "MLFLOW_BIAS_TRUSTED_KEYS": str(trusted[1]),
           "MLFLOW_BIAS_PROBE_DIR": str(probe_dir)}
    # a migrated store, its default experiment's artifacts served as a fresh server would
    store = ["--backend-store-uri", copy_migrated_store(template_tracking_db, root / "server.db", "mlflow-artifacts:/0"),
             "--artifacts-destination", str(root / "served-artifacts")]
    with bias_gate_server.running(store, env, root / "server.log") as url:
        yield {"url": url, "policy": policy, "probe_dir": probe_dir, "trusted": trusted, "other": other,
               "keyed_policy": tf.write_policy(root / "keyed-policy.yaml", trusted_keys=[str(trusted[1])])}


@pytest.fixture
def remote(served, monkeypatch):
    """Every MLflow call of the test goes through the server; the registry holds screen v1 (fair)
    and v2 (biased), logged through it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", served["url"])
    monkeypatch.setenv("MLFLOW_BIAS_PROBE_DIR", str(served["probe_dir"]))
    mlflow.set_tracking_uri(served["url"])
    client = MlflowClient(tracking_uri=served["url"], registry_uri=served["url"])
    try:
        client.get_registered_model("screen")
    except MlflowException:
        tf.freeze_probe()
        tf.register_screens()
    for alias in ("champion", "production"):
        try:
            client.delete_registered_model_alias("screen", alias)
        except MlflowException:
            pass
    return client


def _set_alias(url: str, alias: str, version: str) -> requests.Response:
    return requests.post(f"{url}/api/2.0/mlflow/registered-models/alias",
                         json={"name": "screen", "alias": alias, "version": version}, timeout=120)


def _refused(response: requests.Response) -> str:
    assert response.status_code == 403, response.text
    assert response.json()["error_code"] == "PERMISSION_DENIED"
    return response.json()["message"]


def test_honest_evaluation_through_the_server_passes_and_promotes(served, remote, monkeypatch):
    """The defect that sqlite hid: `mlflow.models.evaluate` logs each metric twice, a tracking
    server keeps both entries, and the gate used to block every honest evaluation for it."""
    monkeypatch.setenv("MLFLOW_BIAS_SIGNING_KEY", str(served["trusted"][0]))
    logged_model = remote.get_model_version("screen", "1").source  # models:/m-..., as log_model returns
    assert logged_model.startswith("models:/m-")
    with mlflow.start_run() as run:
        mlflow.models.evaluate(model=logged_model, data=tf.probe_frame(), model_type="bias",
                               evaluators=["bias"],
                               evaluator_config={"bias": {**tf.FAST, "policy": str(served["policy"])}})
    history = remote.get_metric_history(run.info.run_id, "bias/cbs/gender")
    assert len(history) == 2 and {m.value for m in history} == {0.0}
    assert remote.get_run(run.info.run_id).data.tags["bias.model_digest"].startswith("sha256:")

    decision = gate("screen", 1, served["keyed_policy"], evaluate_if_missing=False, client=remote)
    assert decision.passed, decision.summary()
    assert decision.signature.startswith(f"signed by ed25519:{served['trusted'][2][:16]}")
    assert _set_alias(served["url"], "champion", "1").status_code == 200
    remote.set_registered_model_alias("screen", "production", "1")
    promote("screen", 1, "champion", served["keyed_policy"], client=remote)
    assert {a: str(v) for a, v in remote.get_registered_model("screen").aliases.items()} == {"champion": "1", "production": "1"}

    # an honest but unsigned evaluation passes a policy without keys, and the server, which
    # trusts a key, refuses it
    monkeypatch.delenv("MLFLOW_BIAS_SIGNING_KEY")
    unsigned = tf.evaluate(1, served["policy"])
    decision = gate("screen", 1, served["policy"], evaluate_if_missing=False, client=remote)
    assert decision.passed and decision.run_id == unsigned, decision.summary()
    message = _refused(_set_alias(served["url"], "champion", "1"))
    assert "the evaluation has no attestation (bias/attestation.json)" in message


def test_forgeries_through_the_server_are_refused(served, remote, monkeypatch):
    url = served["url"]
    monkeypatch.setenv("MLFLOW_BIAS_SIGNING_KEY", str(served["trusted"][0]))
    honest = tf.evaluate(1, served["policy"])
    other_honest = tf.evaluate(1, served["policy"])
    assert decide(honest, served["keyed_policy"], model_version="screen/1", client=remote).passed

    # copied evidence: v1's signed run copied into one that claims v2, pointed at by v2's tags
    copied = tf.copy_evidence(remote, honest, bias__model_version="screen/2")
    tf.point_gate_at(remote, "2", copied)
    message = _refused(_set_alias(url, "champion", "2"))
    assert "screen/2 is blocked" in message and "the evidence is of another model" in message
    assert f"the attestation is of run {honest}, not of run {copied}" in message
    with pytest.raises(MlflowException, match="the evidence is of another model"):
        remote.set_registered_model_alias("screen", "production", "2")

    # metrics fabricated for v2 with v2's own digest, unsigned
    monkeypatch.delenv("MLFLOW_BIAS_SIGNING_KEY")
    fabricated = tf.copy_evidence(remote, tf.evaluate(2, served["policy"]))
    remote.log_metric(fabricated, "bias/cbs/gender", 0.0)
    tf.point_gate_at(remote, "2", fabricated)
    assert "the evaluation has no attestation" in _refused(_set_alias(url, "champion", "2"))

    # an honest evaluation of v1 signed by a key the server does not trust
    monkeypatch.setenv("MLFLOW_BIAS_SIGNING_KEY", str(served["other"][0]))
    untrusted = tf.evaluate(1, served["policy"])
    tf.point_gate_at(remote, "1", untrusted)
    assert "untrusted key" in _refused(_set_alias(url, "champion", "1"))

    # bias.gate.run_id pointed at v1's honest signed run from v2
    tf.point_gate_at(remote, "2", honest)
    message = _refused(_set_alias(url, "champion", "2"))
    assert "the evaluation is of screen/1, not screen/2" in message
    assert "its subject is model sha256:" in message

    # the attestation of another run swapped in
    swapped = tf.copy_evidence(remote, honest)
    remote.log_dict(swapped, tf.read_json(remote, other_honest, "bias/attestation.json"), "bias/attestation.json")
    tf.point_gate_at(remote, "1", swapped)
    assert f"the attestation is of run {other_honest}, not of run {swapped}" in _refused(
        _set_alias(url, "champion", "1"))

    # a tag edited on a signed run, through REST
    assert requests.post(f"{url}/api/2.0/mlflow/runs/set-tag", timeout=30, json={
        "run_id": honest, "key": f"bias.probe.{tf.PROBE}", "value": "1.0.0@" + "0" * 64}).ok
    tf.point_gate_at(remote, "1", honest)
    message = _refused(_set_alias(url, "champion", "1"))
    assert f"tag bias.probe.{tf.PROBE} is '1.0.0@{'0' * 64}' in the run" in message

    # a metric re-logged on a signed run (still passing), through REST
    assert requests.post(f"{url}/api/2.0/mlflow/runs/log-metric", timeout=30, json={
        "run_id": other_honest, "key": "bias/cbs/gender/ci_high", "value": 0.05,
        "timestamp": int(time.time() * 1000), "step": 0}).ok
    tf.point_gate_at(remote, "1", other_honest)
    message = _refused(_set_alias(url, "champion", "1"))
    assert "bias/cbs/gender/ci_high (0.0, 0.05) were logged with different values" in message
    assert "metric bias/cbs/gender/ci_high is 0.05 in the run but 0.0 in the attestation" in message

    # nothing was promoted; a fresh honest signed evaluation, gated, is
    assert remote.get_registered_model("screen").aliases == {}
    monkeypatch.setenv("MLFLOW_BIAS_SIGNING_KEY", str(served["trusted"][0]))
    fresh = tf.evaluate(1, served["policy"])
    assert gate("screen", 1, served["keyed_policy"], evaluate_if_missing=False, client=remote).run_id == fresh
    assert _set_alias(url, "champion", "1").status_code == 200


def test_a_malformed_server_policy_refuses_every_alias(served, remote):
    """`protected_aliases: champion` used to become the letters c, h, a, ... and let an ungated
    version take `champion` with HTTP 200; a policy the server cannot read now refuses."""
    policy = served["policy"]
    good = policy.read_text()
    try:
        for broken, expected in [
            (good.replace("protected_aliases:\n- champion\n- production\n", "protected_aliases: champion\n"),
             "protected_aliases = 'champion': expected a list"),
            (good.replace("metric: cbs", "metric: cbz"), "there is no dimension 'cbz'"),
        ]:
            assert broken != good
            policy.write_text(broken)
            for alias in ("champion", "staging"):  # unknown which aliases are protected: all refused
                message = _refused(_set_alias(served["url"], alias, "2"))
                assert "bias gate could not verify the version, so the alias was not set" in message
                assert expected in message
    finally:
        policy.write_text(good)
    assert remote.get_registered_model("screen").aliases == {}


def test_a_rule_scoped_to_one_probe_through_the_server(served, remote, tmp_path):
    """A run scored on a main and an extra probe, written and read through the server (where
    every metric is logged twice): a rule scoped to one probe judges that probe's reading only."""
    import mlflow_bias
    from mlflow_bias import probes

    copy = "screen-sets-copy"
    try:
        probes.resolve(copy)
    except Exception:  # noqa: BLE001 - not frozen yet in this server's probe store
        probes.freeze(tf.probe_frame().iloc[:-2], copy, "1.0.0", card="# copy\n\nTrust tests.")
    with mlflow.start_run() as run:
        mlflow_bias.evaluate("models:/screen/2", tf.PROBE, probes=[copy], **tf.FAST)
    verdicts = {}
    for scope in (tf.PROBE, copy):
        policy = tf.write_policy(tmp_path / f"{scope}.yaml", probes=[tf.PROBE, copy], rules=[
            {"metric": "cbs", "threshold": 0.10, "direction": "max", "probes": [scope]}])
        decision = decide(run.info.run_id, policy, client=remote)
        verdicts[scope] = [v.metric for v in decision.verdicts]
        assert not decision.passed  # the biased screen fails on either probe
    assert verdicts == {tf.PROBE: ["bias/cbs/gender"], copy: [f"bias/cbs/{copy}/gender"]}


CELL_NAMES = {"female_x_black": "Lakisha", "female_x_white": "Emily", "male_x_black": "Jamal",
              "male_x_white": "Greg"}


def _freeze_cells_probes() -> None:
    """`screen-cells`: each resume once per gender x race cell; `screen-cells-gender`: the same
    rows read as gender alone (what a team that never scored the intersection has)."""
    from mlflow_bias import probes

    rows = [{"id": f"c{i}-{cell}", "set_id": f"c{i}", "attribute": "gender_x_race", "group": cell,
             "input": f"Resume: {name}, engineer with {i % 10} years of experience."}
            for i in range(40) for cell, name in CELL_NAMES.items()]
    cells = pd.DataFrame(rows)
    for name, frame in (("screen-cells", cells),
                        ("screen-cells-gender", cells.assign(attribute="gender", group=cells["group"].str.split("_x_").str[0],
                                                             set_id=cells["set_id"] + "-" + cells["group"].str.split("_x_").str[1]))):
        try:
            probes.resolve(name)
        except Exception:  # noqa: BLE001 - not frozen yet in this server's probe store
            probes.freeze(frame, name, "1.0.0", card=f"# {name}\n\nTrust tests.")


def test_a_required_intersection_and_its_amplification_through_the_server(served, remote, monkeypatch):
    """The server's policy requires CBS on gender_x_race and holds a rule on its amplification.
    The biased screen (it advances Greg from 1 year: one cell, white men) passes CBS on gender
    alone, is refused on the intersection's amplification, and is refused when only gender was
    scored; metrics forged onto its signed gender-only run to fake the intersection are caught by
    the attestation."""
    import mlflow_bias

    _freeze_cells_probes()
    policy = served["policy"]
    good = policy.read_text()
    url = served["url"]
    monkeypatch.setenv("MLFLOW_BIAS_SIGNING_KEY", str(served["trusted"][0]))
    try:
        # no probe list: only required_attributes stands between a gender-only run and the alias
        tf.write_policy(policy, version="2.0.0", probes=[],
                        required_attributes={"cbs": ["gender_x_race"]},
                        rules=[{"metric": "cbs", "threshold": 0.45, "direction": "max"},
                               {"metric": "cbs/amplification", "threshold": 0.05, "direction": "max"}])
        mlflow_bias.evaluate("models:/screen/2", "screen-cells", policy=str(policy), **tf.FAST)
        cells = mlflow.last_active_run().info.run_id
        metrics = remote.get_run(cells).data.metrics
        assert metrics["bias/cbs/gender_x_race"] == pytest.approx(0.4)  # Greg: 1-4 years advanced
        assert metrics["bias/cbs/gender_x_race/marginal/gender"] == pytest.approx(0.2)
        assert metrics["bias/cbs/gender_x_race/amplification"] == pytest.approx(0.2)
        tf.point_gate_at(remote, "2", cells)
        message = _refused(_set_alias(url, "champion", "2"))
        assert "screen/2 is blocked" in message
        assert "bias/cbs/gender_x_race/amplification = 0.200" in message

        # scored on gender alone: CBS 0.2 passes its rule, but the required intersection is missing
        mlflow_bias.evaluate("models:/screen/2", "screen-cells-gender", policy=str(policy), **tf.FAST)
        alone = mlflow.last_active_run().info.run_id
        assert remote.get_run(alone).data.metrics["bias/cbs/gender"] == pytest.approx(0.2)
        tf.point_gate_at(remote, "2", alone)
        message = _refused(_set_alias(url, "champion", "2"))
        assert "requires cbs on attribute 'gender_x_race'" in message

        # the intersection's metrics forged onto the signed gender-only run, through REST
        for key in ("bias/cbs/gender_x_race", "bias/cbs/gender_x_race/ci_high",
                    "bias/cbs/gender_x_race/amplification", "bias/cbs/gender_x_race/amplification/ci_high"):
            assert requests.post(f"{url}/api/2.0/mlflow/runs/log-metric", timeout=30, json={
                "run_id": alone, "key": key, "value": 0.0, "timestamp": int(time.time() * 1000),
                "step": 0}).ok
        tf.point_gate_at(remote, "2", alone)
        message = _refused(_set_alias(url, "champion", "2"))
        assert "screen/2 is blocked" in message
        assert "bias/cbs/gender_x_race" in message and "attestation" in message

        # the fair screen, scored on the intersection: passes, and the server lets it take the alias
        mlflow_bias.evaluate("models:/screen/1", "screen-cells", policy=str(policy), **tf.FAST)
        fair = mlflow.last_active_run().info.run_id
        assert gate("screen", 1, policy, evaluate_if_missing=False, client=remote).run_id == fair
        response = _set_alias(url, "champion", "1")
        assert response.status_code == 200, response.text
    finally:
        policy.write_text(good)
        for alias in ("champion", "production"):
            try:
                remote.delete_registered_model_alias("screen", alias)
            except MlflowException:
                pass
