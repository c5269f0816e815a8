"""The gate against someone with write access to the tracking store (sqlite, Python client and
CLI): evaluations bound to the model's bytes, signed evaluations verified against trusted keys,
and each forgery that write access allows, refused with its own reason."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import trust_fixtures as tf
from mlflow_bias.cli import main
from mlflow_bias.core.errors import BiasEvaluationError
from mlflow_bias.release.gate import decide
from mlflow_bias.release.policy import PolicyError, load_policy
from mlflow_bias.promotion.model_registry import PromotionRefused, gate, promote
from mlflow_bias.trust.attestation import PAYLOAD_TYPE, PREDICATE_TYPE, build_statement, sign_statement
from mlflow_bias.trust.keys import SigningKeyError, generate_keypair, load_signer
from mlflow_bias.trust.model_digest import manifest_of_directory, registered_version_manifest


@pytest.fixture
def screens():
    tf.freeze_probe()
    tf.register_screens()
    return MlflowClient()


@pytest.fixture
def keys(tmp_path):
    """Two key pairs: `trusted` (in the policy) and `other` (an attacker's own)."""
    trusted = generate_keypair(tmp_path / "keys")
    other = generate_keypair(tmp_path / "other-keys")
    return {"trusted": trusted, "other": other}


def _hashlib_manifest_digest(folder: Path) -> str:
    """The model digest written out with hashlib alone: SHA-256 over [[path, "sha256", hex], ...]."""
    files = sorted((p.relative_to(folder).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest())
                   for p in folder.rglob("*") if p.is_file())
    listing = json.dumps([[path, "sha256", sha] for path, sha in files], separators=(",", ":"))
    return "sha256:" + hashlib.sha256(listing.encode()).hexdigest()


# -- model binding ---------------------------------------------------------------------------------
def test_model_digest_is_a_manifest_of_every_file_with_its_name(tmp_path):
    model = tmp_path / "model"
    (model / "data").mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "data" / "weights.bin").write_bytes(b"\x00\x01fair")
    (model / "data" / "spare.bin").write_bytes(b"\x00\x01biased")
    manifest = manifest_of_directory(model)
    assert manifest.digest == _hashlib_manifest_digest(model)
    assert dict(manifest.files)["data/weights.bin"] == hashlib.sha256(b"\x00\x01fair").hexdigest()
    # swapping the contents of two files keeps the multiset of file digests but changes the model
    (model / "data" / "weights.bin").write_bytes(b"\x00\x01biased")
    (model / "data" / "spare.bin").write_bytes(b"\x00\x01fair")
    swapped = manifest_of_directory(model)
    assert sorted(sha for _, sha in swapped.files) == sorted(sha for _, sha in manifest.files)
    assert swapped.digest != manifest.digest
    assert manifest.differences(swapped) == ["data/spare.bin changed", "data/weights.bin changed"]


def test_evaluation_records_the_digest_of_the_registered_bytes(screens, tmp_path):
    policy = tf.write_policy(tmp_path / "policy.yaml")
    run_id = tf.evaluate(1, policy)
    tags = screens.get_run(run_id).data.tags
    folder = Path(screens.get_model_version_download_uri("screen", "1"))
    assert tags["bias.model_digest"] == _hashlib_manifest_digest(folder)
    assert tags["bias.model_digest"] == registered_version_manifest("screen", 1).digest
    assert tags["bias.model_digest"] != registered_version_manifest("screen", 2).digest
    logged = tf.read_json(screens, run_id, "bias/model_manifest.json")
    assert logged["digest"] == tags["bias.model_digest"] and {f["path"] for f in logged["files"]} >= {"MLmodel"}
    assert "bias/attestation.json" not in {f.path for f in screens.list_artifacts(run_id, "bias")}


def test_copied_evidence_is_refused_without_any_key(screens, tmp_path, capsys):
    """The attack in the report: v1's honest evaluation copied into a run that claims v2."""
    policy = tf.write_policy(tmp_path / "policy.yaml")
    honest = tf.evaluate(1, policy)
    assert gate("screen", 1, policy, evaluate_if_missing=False).passed
    forged = tf.copy_evidence(screens, honest, bias__model_version="screen/2")
    tf.point_gate_at(screens, "2", forged)
    v1_digest = registered_version_manifest("screen", 1).digest
    v2_digest = registered_version_manifest("screen", 2).digest

    decision = gate("screen", 2, policy, evaluate_if_missing=False)
    assert decision.status == "blocked" and decision.run_id == forged
    assert (f"the evaluation measured model {v1_digest}, but screen/2's artifacts are {v2_digest}"
            in "; ".join(decision.reasons)), decision.summary()
    assert decision.model_digest == v2_digest and decision.evaluated_model_digest == v1_digest
    with pytest.raises(PromotionRefused, match="screen/2 is blocked: .*evidence is of another model"):
        promote("screen", 2, "champion", policy)
    assert main(["gate", "--model", "screen", "--version", "2", "--policy", str(policy), "--no-evaluate"]) == 1
    assert main(["promote", "--model", "screen", "--version", "2", "--policy", str(policy)]) == 1
    assert "evidence is of another model" in capsys.readouterr().err
    assert screens.get_registered_model("screen").aliases == {}

    # without keys the digest is all the gate can bind to: a forger who also writes v2's digest
    # passes, and the decision says the evidence is unsigned (the README's "Trust" section)
    fabricated = tf.copy_evidence(screens, honest, bias__model_version="screen/2",
                                  bias__model_digest=v2_digest)
    unsigned = decide(fabricated, policy, model_version="screen/2")
    assert unsigned.passed and unsigned.signature.startswith("unsigned: the policy trusts no signing key")


# -- signed evaluations ----------------------------------------------------------------------------
def test_signed_evaluation_passes_promotes_and_verifies(screens, keys, tmp_path, monkeypatch, capsys):
    private, public, keyid = keys["trusted"]
    assert oct(private.stat().st_mode & 0o777) == "0o600"
    policy = tf.write_policy(tmp_path / "policy.yaml", trusted_keys=["keys/bias-signing.pub.pem"])
    monkeypatch.setenv("MLFLOW_BIAS_SIGNING_KEY", str(private))
    run_id = tf.evaluate(1, policy)

    envelope = tf.read_json(screens, run_id, "bias/attestation.json")
    assert envelope["payloadType"] == PAYLOAD_TYPE and [s["keyid"] for s in envelope["signatures"]] == [keyid]
    # the Ed25519 signature over DSSE's pre-authentication encoding, checked with `cryptography` alone
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    payload = base64.b64decode(envelope["payload"])
    pae = b"DSSEv1 %d %b %d %b" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(payload), payload)
    load_pem_public_key(public.read_bytes()).verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae)

    statement = json.loads(payload)
    run = screens.get_run(run_id)
    predicate = statement["predicate"]
    assert statement["_type"] == "https://in-toto.io/Statement/v1" and statement["predicateType"] == PREDICATE_TYPE
    assert statement["subject"] == [{"name": "screen/1", "digest": {
        "sha256": registered_version_manifest("screen", 1).digest.split(":")[1]}}]
    probe_ref = run.data.tags[f"bias.probe.{tf.PROBE}"]
    assert predicate["run_id"] == run_id and predicate["probes"] == [f"{tf.PROBE}@{probe_ref}"]
    assert predicate["policy"] == {"ref": "trust-test@1.0.0", "digest": load_policy(policy).digest}
    assert predicate["model_version"] == "screen/1" and predicate["evaluated_at"] == run.data.tags["bias.evaluated_at"]
    bias_metrics = {k: v for k, v in run.data.metrics.items() if k.startswith("bias/")}
    assert predicate["metrics"] == bias_metrics  # every metric, headline, CI and the rest
    assert {"bias/cbs/gender", "bias/cbs/gender/ci_low", "bias/cbs/gender/ci_high"} <= set(bias_metrics)
    items = Path(screens.download_artifacts(run_id, "bias/cbs/items.json")).read_bytes()
    assert predicate["tables"]["bias/cbs/items.json"] == "sha256:" + hashlib.sha256(items).hexdigest()
    assert predicate["evaluator"]["name"] == "mlflow-bias"

    decision = gate("screen", 1, policy, evaluate_if_missing=False)
    assert decision.passed, decision.summary()
    assert decision.signature.startswith(f"signed by ed25519:{keyid[:16]}") and decision.signature.endswith("verified")
    promote("screen", 1, "champion", policy)
    assert {a: str(v) for a, v in screens.get_registered_model("screen").aliases.items()} == {"champion": "1"}

    capsys.readouterr()
    assert main(["verify", run_id, "--key", str(public)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[: out.index("\nok  ")])["predicate"]["run_id"] == run_id
    assert f"VERIFIED: evaluation run {run_id}" in out and "FAIL" not in out
    assert main(["verify", run_id, "--key", str(keys["other"][1])]) == 1
    assert "which is not a trusted key" in capsys.readouterr().out
    assert main(["verify", run_id]) == 1  # no key given: the signature is not checked

    html = Path(screens.download_artifacts(run_id, "bias/scorecard.html")).read_text()
    assert f"signed by ed25519:{keyid[:16]}" in html


def test_every_forgery_of_signed_evidence_is_refused_with_its_reason(screens, keys, tmp_path, monkeypatch):
    private, public, keyid = keys["trusted"]
    policy = tf.write_policy(tmp_path / "policy.yaml", trusted_keys=[str(public)])
    monkeypatch.setenv("MLFLOW_BIAS_SIGNING_KEY", str(private))
    honest = tf.evaluate(1, policy)
    second = tf.evaluate(1, policy)
    assert decide(honest, policy, model_version="screen/1").passed

    def reasons(run_id: str, version: str = "1") -> str:
        decision = decide(run_id, policy, model_version=f"screen/{version}")
        assert decision.status == "blocked", decision.summary()
        return "; ".join(decision.reasons)

    # metrics fabricated with the right model digest, but no signature
    monkeypatch.delenv("MLFLOW_BIAS_SIGNING_KEY")
    unsigned = tf.evaluate(2, policy)
    fabricated = tf.copy_evidence(screens, unsigned)
    screens.log_metric(fabricated, "bias/cbs/gender", 0.0)
    assert "the evaluation has no attestation (bias/attestation.json)" in reasons(fabricated, "2")
    # an honest evaluation signed by a key the policy does not trust
    monkeypatch.setenv("MLFLOW_BIAS_SIGNING_KEY", str(keys["other"][0]))
    untrusted = tf.evaluate(1, policy)
    assert (f"untrusted key: bias/attestation.json is signed by ed25519:{keys['other'][2][:16]}, which "
            "is not a trusted key") in reasons(untrusted)
    # v1's signed evidence copied, attestation and all, into a run for v2
    copied = tf.copy_evidence(screens, honest, bias__model_version="screen/2")
    text = reasons(copied, "2")
    assert "the evidence is of another model" in text
    assert f"the attestation is of run {honest}, not of run {copied}" in text
    assert "tag bias.model_version is 'screen/2' in the run but 'screen/1' in the attestation" in text
    # a metric re-logged with another value, which still passes
    relogged = tf.copy_evidence(screens, honest)
    screens.log_metric(honest, "bias/cbs/gender/ci_high", 0.05)
    text = reasons(honest)
    assert "bias/cbs/gender/ci_high (0.0, 0.05) were logged with different values" in text
    assert "metric bias/cbs/gender/ci_high is 0.05 in the run but 0.0 in the attestation" in text
    # the attestation of another run swapped in
    screens.log_dict(relogged, tf.read_json(screens, second, "bias/attestation.json"), "bias/attestation.json")
    assert f"the attestation is of run {second}, not of run {relogged}" in reasons(relogged)
    # a tag edited after signing: a stale evaluation made to look fresh
    screens.set_tag(second, "bias.evaluated_at", "2031-01-01T00:00:00+00:00")
    assert "tag bias.evaluated_at is '2031-01-01T00:00:00+00:00' in the run" in reasons(second)
    # the statement edited after signing
    fresh = tf.copy_evidence(screens, untrusted)
    envelope = tf.read_json(screens, honest, "bias/attestation.json")
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["run_id"] = fresh
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    screens.log_dict(fresh, envelope, "bias/attestation.json")
    assert (f"bad signature: the signature of bias/attestation.json by trusted key ed25519:{keyid[:16]} "
            "does not verify") in reasons(fresh)
    # a statement of another kind, signed by the trusted key itself
    other_kind = build_statement("screen/1", registered_version_manifest("screen", 1).digest,
                                 {"metrics": {}, "tags": {}})
    other_kind["predicateType"] = "https://slsa.dev/provenance/v1"
    screens.log_dict(fresh, sign_statement(other_kind, load_signer(private)), "bias/attestation.json")
    assert "unknown predicate type" in reasons(fresh)
    # not an envelope at all
    screens.log_text(fresh, "{not json", "bias/attestation.json")
    assert "malformed attestation: bias/attestation.json is not a valid DSSE envelope" in reasons(fresh)
    screens.log_dict(fresh, {"payload": "@@@", "payloadType": PAYLOAD_TYPE, "signatures": [{"keyid": keyid, "sig": "AA=="}]},
                     "bias/attestation.json")
    assert "malformed attestation" in reasons(fresh)


# -- bad input -------------------------------------------------------------------------------------
def test_bad_keys_and_policies_get_clear_errors(screens, keys, tmp_path, monkeypatch, capsys):
    private, public, _ = keys["trusted"]
    policy = tf.write_policy(tmp_path / "policy.yaml")
    for path, message in [(tmp_path / "nope.pem", "The signing key .*nope.pem does not exist"),
                          (tmp_path, "is not a file"),
                          (public, "is a public key; signing needs the private key")]:
        monkeypatch.setenv("MLFLOW_BIAS_SIGNING_KEY", str(path))
        with pytest.raises(SigningKeyError, match=message):
            tf.evaluate(1, policy)
    (tmp_path / "junk.pem").write_text("hello")
    with pytest.raises(SigningKeyError, match="is not a PEM private key"):
        load_signer(tmp_path / "junk.pem")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    (tmp_path / "ec.pem").write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(SigningKeyError, match=r"is not an Ed25519 key \(EC.*\); evaluations are signed with Ed25519"):
        load_signer(tmp_path / "ec.pem")
    # nothing was logged as completed by the refused evaluations
    finished = screens.search_runs(["0"], "tags.`bias.status` = 'completed'")
    assert finished == []

    with pytest.raises(PolicyError, match=r"Trusted key .*bias-signing.pem is a private key"):
        load_policy(tf.write_policy(tmp_path / "p1.yaml", trusted_keys=[str(private)]))
    with pytest.raises(PolicyError, match=r"trusted key file .*missing.pub.pem does not exist"):
        load_policy(tf.write_policy(tmp_path / "p2.yaml", trusted_keys=["missing.pub.pem"]))
    with pytest.raises(PolicyError, match=r"trusted_keys = \{'a': 1\}: expected a list"):
        load_policy(tf.write_policy(tmp_path / "p3.yaml", trusted_keys={"a": 1}))
    # PEM text works as well as a file, and the keys change no policy digest
    inline = load_policy(tf.write_policy(tmp_path / "p4.yaml", trusted_keys=[public.read_text()]))
    assert inline.trusted_keys[0].keyid == keys["trusted"][2]
    assert inline.digest == load_policy(policy).digest

    with pytest.raises(SigningKeyError, match="already exist"):
        generate_keypair(tmp_path / "keys")
    assert main(["keys", "generate", "--out", str(tmp_path / "keys")]) == 2
    assert "never overwritten" in capsys.readouterr().err


def test_an_unbound_model_cannot_be_signed(tmp_path, monkeypatch, keys):
    import mlflow_bias

    tf.freeze_probe()
    monkeypatch.setenv("MLFLOW_BIAS_SIGNING_KEY", str(keys["trusted"][0]))
    with pytest.raises(BiasEvaluationError, match="A signed evaluation names the model bytes it measured"):
        mlflow_bias.evaluate(lambda df: ["ADVANCE"] * len(df), tf.PROBE, **tf.FAST)


def test_limitation_on_the_ranking_dimension_is_accepted(screens, capsys):
    assert main(["limitation", "add", "--model", "screen", "--version", "1", "--dimension", "ranking",
                 "--attribute", "gender", "--description", "Lists men first.", "--owner", "rai",
                 "--review-date", "2030-01-01", "--restricted-use", "hiring"]) == 0


def test_the_package_root_and_the_gate_do_not_import_torch():
    """Gating, serving and evaluating a pyfunc model never load torch; a transformers adapter does,
    on first use."""
    code = ("import sys, mlflow_bias, mlflow_bias.promotion.server, mlflow_bias.promotion.model_registry, mlflow_bias.cli, "
            "mlflow_bias.release.gate\n"
            "heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "from mlflow_bias.dimensions.registry import all_dimensions\n"
            "from mlflow_bias.adapters import resolve_adapter, PyfuncOutputs\n"
            "assert callable(mlflow_bias.evaluate) and len(all_dimensions()) >= 7\n"
            "assert isinstance(resolve_adapter(lambda df: ['x'] * len(df)), PyfuncOutputs)\n"
            "assert 'torch' not in sys.modules, 'evaluation path imported torch'\n"
            "from mlflow_bias.adapters import HFCausalLM\n"
            "assert 'torch' in sys.modules and HFCausalLM.__module__ == 'mlflow_bias.adapters.hf'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr[-2000:]
