"""Signed evaluations: an in-toto Statement v1 about the measured model, in a DSSE envelope signed
with Ed25519, and the checks that tie it to the run it claims to describe.

Pure functions over dicts: nothing here reads or writes MLflow. The statement's subject is the
model digest (`bias.model_digest`); its predicate holds the run id, the model version, the probes,
policy and rubric, every metric the evaluation logged, the digests of its tables, the time and
the evaluator's version. Statement construction and validation use `in_toto_attestation`;
envelopes, signing and verification use `securesystemslib`'s DSSE implementation.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any, Iterable

from mlflow_bias.core.errors import BiasEvaluationError
from mlflow_bias.trust.keys import TrustedKey, fingerprint

ATTESTATION_PATH = "bias/attestation.json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://mlflow-bias.dev/attestation/bias-evaluation/v1"
# run tags that carry evidence: one that is in the run but not in the statement was added later
EVIDENCE_TAG_PREFIXES = ("bias.probe.", "bias.dimension.")
# run metrics that carry evidence (the gate reads bias/...; the training-data audit logs data/...)
EVIDENCE_METRIC_PREFIXES = ("bias/", "data/")


class AttestationError(BiasEvaluationError):
    """An attestation that cannot be read or does not verify; `reason` is the short cause."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _number(value: float) -> float | str:
    """JSON has no NaN or infinity: those are written as the strings Python's float() reads."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


def _same_number(signed: Any, logged: float) -> bool:
    try:
        signed = float(signed)
    except (TypeError, ValueError):
        return False
    return (math.isnan(signed) and math.isnan(logged)) or signed == logged


def subject_digest(model_digest: str) -> dict[str, str]:
    """`sha256:<hex>` (or `weights-sha256:<hex>`) as an in-toto digest set."""
    algorithm, sep, value = model_digest.partition(":")
    if not sep or not value:
        raise ValueError(f"model digest {model_digest!r} is not '<algorithm>:<hex>'")
    return {algorithm: value}


def evaluation_predicate(*, run_id: str, tags: dict[str, str], metrics: dict[str, float],
                         tables: dict[str, str], policy_digest: str,
                         evaluator_version: str) -> dict[str, Any]:
    """What the evaluator attests: everything the gate reads, as the evaluator logged it."""
    probes = sorted(f"{tag[len('bias.probe.'):]}@{ref}" for tag, ref in tags.items()
                    if tag.startswith("bias.probe."))
    return {
        "run_id": run_id,
        "model_version": tags.get("bias.model_version"),
        "model_digest": tags.get("bias.model_digest"),
        "probes": probes,
        "policy": {"ref": tags.get("bias.policy"), "digest": policy_digest},
        "rubric": tags.get("bias.rubric"),
        "evaluated_at": tags.get("bias.evaluated_at"),
        "metrics": {key: _number(value) for key, value in sorted(metrics.items())},
        "tables": dict(sorted(tables.items())),
        "tags": dict(sorted(tags.items())),
        "evaluator": {"name": "mlflow-bias", "version": evaluator_version},
    }


def build_statement(subject_name: str, model_digest: str, predicate: dict[str, Any]) -> dict[str, Any]:
    """An in-toto Statement v1 (validated by in_toto_attestation) as a plain dict."""
    from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
    from in_toto_attestation.v1.statement import Statement

    subject = ResourceDescriptor(name=subject_name, digest=subject_digest(model_digest)).pb
    Statement([subject], PREDICATE_TYPE, predicate).validate()
    return {"_type": STATEMENT_TYPE,
            "subject": [{"name": subject_name, "digest": subject_digest(model_digest)}],
            "predicateType": PREDICATE_TYPE, "predicate": predicate}


def sign_statement(statement: dict[str, Any], signer: Any) -> dict[str, Any]:
    """A DSSE envelope (as its JSON dict) around the statement, signed by `signer`."""
    from securesystemslib.dsse import Envelope

    payload = json.dumps(statement, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    envelope = Envelope(payload, PAYLOAD_TYPE, {})
    envelope.sign(signer)
    return envelope.to_dict()


@dataclass(frozen=True)
class OpenedAttestation:
    """An envelope whose format is valid, with its statement; not yet verified."""

    envelope: Any  # securesystemslib.dsse.Envelope
    statement: dict[str, Any]
    keyids: tuple[str, ...]

    @property
    def predicate(self) -> dict[str, Any]:
        return self.statement["predicate"]

    @property
    def subject_digest(self) -> str | None:
        subjects = self.statement.get("subject") or [{}]
        digests = subjects[0].get("digest") or {}
        return next((f"{algorithm}:{value}" for algorithm, value in digests.items()), None)


def _malformed(problem: str) -> AttestationError:
    return AttestationError(f"{ATTESTATION_PATH} is not a valid DSSE envelope: {problem}. It must be "
                            "the file the evaluator wrote; re-evaluate with a signing key.",
                            "malformed attestation")


def open_envelope(raw: Any) -> OpenedAttestation:
    """Check an envelope's format and read its in-toto statement (signatures not yet checked)."""
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement
    from securesystemslib.dsse import Envelope

    if not isinstance(raw, dict):
        raise _malformed(f"it holds a {type(raw).__name__}, not a JSON object")
    missing = [k for k in ("payload", "payloadType", "signatures") if k not in raw]
    if missing:
        raise _malformed(f"missing field(s) {', '.join(missing)}")
    if raw["payloadType"] != PAYLOAD_TYPE:
        raise _malformed(f"payloadType is {raw['payloadType']!r}, not {PAYLOAD_TYPE!r}")
    if not isinstance(raw["signatures"], list) or not raw["signatures"]:
        raise _malformed("it carries no signature")
    try:
        envelope = Envelope.from_dict(json.loads(json.dumps(raw)))  # from_dict edits its input
        statement = json.loads(base64.b64decode(raw["payload"], validate=True))
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise _malformed(f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - securesystemslib's FormatError and kin
        raise _malformed(f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(statement, dict):
        raise _malformed("its payload is not a JSON object")
    if statement.get("_type") != STATEMENT_TYPE:
        raise _malformed(f"its payload is not an in-toto Statement v1 (_type {statement.get('_type')!r})")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise AttestationError(
            f"{ATTESTATION_PATH} has predicate type {statement.get('predicateType')!r}; the gate "
            f"reads only bias evaluations ({PREDICATE_TYPE}).", "unknown predicate type")
    try:
        Statement.copy_from_pb(json_format.ParseDict(statement, statement_pb2.Statement())).validate()
    except (ValueError, json_format.ParseError) as exc:
        raise _malformed(f"its statement is invalid ({exc})") from exc
    if not isinstance(statement.get("predicate"), dict) or not isinstance(
            statement["predicate"].get("metrics"), dict) or not isinstance(statement["predicate"].get("tags"), dict):
        raise _malformed("its predicate lacks the metrics and tags of a bias evaluation")
    return OpenedAttestation(envelope, statement, tuple(envelope.signatures))


def verify_signature(opened: OpenedAttestation, trusted: Iterable[TrustedKey]) -> TrustedKey:
    """The trusted key whose signature verifies; AttestationError naming why none does."""
    from securesystemslib.exceptions import VerificationError

    trusted = list(trusted)
    by_id = {k.keyid: k for k in trusted}
    try:
        accepted = opened.envelope.verify([k.key for k in trusted], 1)
    except VerificationError:
        accepted = {}
    if accepted:
        return by_id[next(iter(accepted))]
    named = [by_id[k] for k in opened.keyids if k in by_id]
    if named:
        raise AttestationError(
            f"the signature of {ATTESTATION_PATH} by trusted key {fingerprint(named[0].keyid)} does "
            "not verify: the statement or the signature was changed after signing.", "bad signature")
    signers = ", ".join(fingerprint(k) for k in opened.keyids)
    raise AttestationError(
        f"{ATTESTATION_PATH} is signed by {signers}, which is not a trusted key "
        f"(trusted: {', '.join(fingerprint(k) for k in by_id) or 'none'}).", "untrusted key")


def disagreements(opened: OpenedAttestation, *, run_id: str, metrics: dict[str, float],
                  tags: dict[str, str]) -> list[str]:
    """Where the run differs from what its statement attests (empty when they agree)."""
    predicate = opened.predicate
    out = []
    if predicate.get("run_id") != run_id:
        out.append(f"the attestation is of run {predicate.get('run_id')}, not of run {run_id}")
    signed_digest = predicate.get("tags", {}).get("bias.model_digest")
    if signed_digest != opened.subject_digest:
        out.append(f"the statement's subject {opened.subject_digest} is not its model digest {signed_digest}")
    signed_metrics: dict[str, Any] = predicate["metrics"]
    for key, value in sorted(signed_metrics.items()):
        if key not in metrics:
            out.append(f"metric {key} is attested but missing from the run")
        elif not _same_number(value, metrics[key]):
            out.append(f"metric {key} is {metrics[key]!r} in the run but {value!r} in the attestation")
    for key in sorted(k for k in metrics if k.startswith(EVIDENCE_METRIC_PREFIXES) and k not in signed_metrics):
        out.append(f"metric {key} is in the run but not in the attestation")
    signed_tags: dict[str, Any] = predicate["tags"]
    for key, value in sorted(signed_tags.items()):
        if tags.get(key) != value:
            out.append(f"tag {key} is {tags.get(key)!r} in the run but {value!r} in the attestation")
    for key in sorted(k for k in tags if k.startswith(EVIDENCE_TAG_PREFIXES) and k not in signed_tags):
        out.append(f"tag {key} is in the run but not in the attestation")
    return out
