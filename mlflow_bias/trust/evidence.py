"""The evidence of an evaluation in its MLflow run: the attestation file, the digests of the
tables it logged, and signing at the end of an evaluation. The only module of `trust` that
reads or writes MLflow runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from mlflow.tracking import MlflowClient

from mlflow_bias.core.hashing import file_sha256
from mlflow_bias.core.labels import registered_version
from mlflow_bias.trust.artifact_access import local_artifact_path
from mlflow_bias.trust.attestation import (
    ATTESTATION_PATH,
    EVIDENCE_METRIC_PREFIXES,
    AttestationError,
    OpenedAttestation,
    build_statement,
    disagreements,
    evaluation_predicate,
    open_envelope,
    sign_statement,
    verify_signature,
)
from mlflow_bias.trust.keys import TRUSTED_KEYS_ENV, TrustedKey, fingerprint

SIGNED_BY_TAG = "bias.signed_by"  # for search and display only; the gate reads the attestation
UNREADABLE = object()  # an attestation file that exists but is not JSON


def run_artifact_uri(client: MlflowClient, run_id: str, path: str) -> str:
    return f"{client.get_run(run_id).info.artifact_uri.rstrip('/')}/{path}"


def read_attestation(client: MlflowClient, run_id: str) -> Any:
    """The run's `bias/attestation.json` as parsed JSON, None when the run has none, or
    UNREADABLE when the file is there but is not JSON."""
    try:
        with local_artifact_path(run_artifact_uri(client, run_id, ATTESTATION_PATH), client) as path:
            text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return UNREADABLE


def artifact_digests(client: MlflowClient, run_id: str, paths: list[str]) -> dict[str, str]:
    """`sha256:<hex>` of each artifact file, read back from the store as it was logged."""
    digests = {}
    for path in paths:
        with local_artifact_path(run_artifact_uri(client, run_id, path), client) as local:
            digests[path] = "sha256:" + file_sha256(local)
    return digests


def sign_evaluation(run_id: str, signer: Any, *, tags: dict[str, str], metrics: dict[str, float],
                    tables: list[str], policy_digest: str, evaluator_version: str,
                    client: MlflowClient | None = None) -> str:
    """Sign what the evaluator logged and write `bias/attestation.json`; return the key id.

    `tags` and `metrics` are what the evaluator wrote (from memory, not read back, so nothing
    written to the run by someone else is signed); `tables` are artifact paths, whose digests
    are read back from the store."""
    client = client or MlflowClient()
    predicate = evaluation_predicate(
        run_id=run_id, tags=tags, metrics=metrics,
        tables=artifact_digests(client, run_id, tables),
        policy_digest=policy_digest, evaluator_version=evaluator_version)
    statement = build_statement(tags["bias.model_version"], tags["bias.model_digest"], predicate)
    envelope = sign_statement(statement, signer)
    client.log_dict(run_id, envelope, ATTESTATION_PATH)
    keyid = signer.public_key.keyid
    client.set_tag(run_id, SIGNED_BY_TAG, fingerprint(keyid))
    return keyid


def changed_metrics(client: MlflowClient, run_id: str, keys: Iterable[str]) -> list[str]:
    """Metrics whose history holds more than one value, each shown with its values: a value
    changed after the evaluation wrote it. The same value written twice is no change:
    `mlflow.models.evaluate` logs the evaluator's metrics again (linked to the model), and a
    tracking server keeps both entries."""
    changed = []
    for key in keys:
        values = sorted({repr(float(m.value)) for m in client.get_metric_history(run_id, key)})
        if len(values) > 1:
            changed.append(f"{key} ({', '.join(values)})")
    return changed


@dataclass
class Verification:
    """`mlflow-bias verify`: each check of a run's attestation, and the statement it holds."""

    run_id: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # (check, passed, detail)
    statement: dict[str, Any] | None = None

    @property
    def verified(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)

    def add(self, check: str, ok: bool, detail: str) -> None:
        self.checks.append((check, ok, detail))

    def summary(self) -> str:
        lines = [f"{'ok  ' if ok else 'FAIL'} {check}: {detail}" for check, ok, detail in self.checks]
        verdict = "VERIFIED" if self.verified else "NOT VERIFIED"
        return "\n".join(lines + [f"{verdict}: evaluation run {self.run_id}"])


def verify_run(run_id: str, keys: Iterable[TrustedKey], client: MlflowClient | None = None) -> Verification:
    """Check a run's attestation the way the gate does, and more: the envelope, the signature
    against `keys`, the statement against the run's metrics, tags and metric histories, the
    digests of its tables, and its subject against the model's artifacts as they are now."""
    from mlflow_bias.trust.model_digest import registered_version_manifest

    client = client or MlflowClient()
    report = Verification(run_id)
    run = client.get_run(run_id)
    raw = read_attestation(client, run_id)
    if raw is None:
        report.add("attestation", False, f"the run has no {ATTESTATION_PATH}: it was not signed")
        return report
    try:
        opened = open_envelope({} if raw is UNREADABLE else raw)
    except AttestationError as exc:
        report.add("attestation", False, exc.message)
        return report
    report.statement = opened.statement
    report.add("attestation", True, f"a DSSE envelope around an in-toto statement, signed by "
               f"{', '.join(fingerprint(k) for k in opened.keyids)}")
    keys = list(keys)
    if not keys:
        report.add("signature", False, f"not checked: give the signer's public key with --key (or set "
                                       f"{TRUSTED_KEYS_ENV})")
    else:
        try:
            key = verify_signature(opened, keys)
            report.add("signature", True, f"verifies with {fingerprint(key.keyid)} ({key.source})")
        except AttestationError as exc:
            report.add("signature", False, exc.message)
    problems = disagreements(opened, run_id=run_id, metrics=run.data.metrics, tags=run.data.tags)
    report.add("run agrees with the statement", not problems, "; ".join(problems) or
               f"{len(opened.predicate['metrics'])} metrics and {len(opened.predicate['tags'])} tags match")
    evidence = [k for k in run.data.metrics if k.startswith(EVIDENCE_METRIC_PREFIXES)]
    changed = changed_metrics(client, run_id, evidence)
    report.add("metric histories", not changed,
               f"changed after logging: {', '.join(changed)}" if changed else "no value was changed")
    _check_tables(report, client, opened)
    registered = registered_version(opened.predicate.get("model_version"))
    if registered is None:
        report.add("model", False, f"{opened.predicate.get('model_version')} is not a registered model "
                                   "version, so its bytes cannot be re-hashed")
    else:
        current = registered_version_manifest(*registered, client=client).digest
        report.add("model", current == opened.subject_digest,
                   f"{'/'.join(registered)} is {current}" + ("" if current == opened.subject_digest
                                                             else f", but the statement names {opened.subject_digest}"))
    return report


def _check_tables(report: Verification, client: MlflowClient, opened: OpenedAttestation) -> None:
    signed: dict[str, str] = opened.predicate.get("tables") or {}
    bad = []
    for path, digest in sorted(signed.items()):
        try:
            if artifact_digests(client, report.run_id, [path])[path] != digest:
                bad.append(f"{path} changed")
        except FileNotFoundError:
            bad.append(f"{path} is missing")
    report.add("tables", not bad, "; ".join(bad) or f"{len(signed)} table(s) match their digests")
