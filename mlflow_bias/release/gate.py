"""The release decision: an evaluation run's logged metrics and tags, judged under a policy.

Fails closed: a failed or missing dimension, an unverifiable or stale probe, an evaluation under an
older policy, a metric whose value changed after it was logged, an evaluation of other model bytes
than the registered version's, a missing or invalid signature where the policy trusts signing
keys, or any error while deciding, blocks.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from mlflow.tracking import MlflowClient
from packaging.version import Version

from mlflow_bias.core.metric_keys import SIBLING_STATISTICS, MetricKey, metric_segment
from mlflow_bias.dimensions.registry import all_dimensions
from mlflow_bias.dimensions.base import UNPARSED_RATE
from mlflow_bias.core.labels import registered_version
from mlflow_bias.core.errors import BiasEvaluationError
from mlflow_bias.release.policy import MetricVerdict, Policy, Rule, judge, load_policy  # noqa: F401 (public here too)
from mlflow_bias.probes import verify
from mlflow_bias.trust.attestation import (
    ATTESTATION_PATH,
    AttestationError,
    disagreements,
    open_envelope,
    verify_signature,
)
from mlflow_bias.trust.evidence import UNREADABLE, changed_metrics, read_attestation
from mlflow_bias.trust.keys import SIGNING_KEY_ENV, fingerprint
from mlflow_bias.trust.model_digest import registered_version_manifest

PASSED, BLOCKED = "passed", "blocked"
PASSED_WITH_WAIVER = "passed-with-waiver"
DECISION_PATH = "bias/gate_decision.json"


@dataclass
class Decision:
    status: str
    run_id: str | None
    policy: str
    policy_digest: str
    verdicts: list[MetricVerdict] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    model_version: str | None = None
    evaluated_at: str | None = None
    # failed thresholds waived by a known-limitation record (part of the evidence)
    waivers: list[str] = field(default_factory=list)
    # the version's open known-limitation records, quoted (not part of the evidence digest)
    limitations: list[str] = field(default_factory=list)
    # the registered version's model digest, recomputed from its artifacts, and the digest of the
    # model bytes the evaluation says it measured
    model_digest: str | None = None
    evaluated_model_digest: str | None = None
    # who signed the evidence, or why it is unsigned (not part of the evidence digest: it is
    # verified afresh at every decision under the verifier's own trusted keys)
    signature: str = "not checked"
    decided_at: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    )

    @property
    def passed(self) -> bool:
        return self.status in (PASSED, PASSED_WITH_WAIVER)

    @property
    def digest(self) -> str:
        """SHA-256 over the evidence and the outcome (not the time of deciding): recomputing the
        decision from the same run under the same policy gives the same digest."""
        evidence = {
            "status": self.status,
            "run_id": self.run_id,
            "policy_digest": self.policy_digest,
            "model_version": self.model_version,
            "verdicts": [asdict(v) for v in self.verdicts],
            "reasons": self.reasons,
            "waivers": self.waivers,
            "model_digest": self.model_digest,
            "evaluated_model_digest": self.evaluated_model_digest,
        }
        return hashlib.sha256(json.dumps(evidence, sort_keys=True, default=str).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["digest"] = self.digest
        out["lines"] = [v.line() for v in self.verdicts]
        return out

    def summary(self) -> str:
        head = f"{self.status.upper()} under policy {self.policy}"
        if self.model_version:
            head += f" for {self.model_version}"
        if self.run_id:
            head += f" (evaluation run {self.run_id})"
        lines = [head, f"  evidence: {self.signature}"]
        if self.model_digest:
            lines.append(f"  model digest: {self.model_digest}")
        lines += [f"  {v.line()}" for v in self.verdicts]
        lines += [f"  reason: {r}" for r in self.reasons]
        lines += [f"  waiver: {w}" for w in self.waivers]
        lines += [f"  {line}" for line in self.limitations]
        return "\n".join(lines)


def _declared_statistics(dimension: str) -> frozenset[str]:
    """The statistics the registered dimension declares (`stereotype_rate` for LPBS)."""
    found = all_dimensions().get(dimension)
    return found.statistics if found is not None else frozenset()


def _judged_by(parsed: MetricKey | None, rule: Rule) -> bool:
    """Whether one reading of a key is what `rule` judges: the rule's dimension, no slice, and the
    attribute alone (never a CI sibling) or with exactly the rule's statistic."""
    if parsed is None or parsed.dimension != rule.dimension or parsed.slice is not None:
        return False
    if rule.statistic is None:  # never an uncertainty sibling or one of the dimension's statistics
        return (parsed.statistic is None and parsed.attribute not in SIBLING_STATISTICS
                and parsed.attribute not in _declared_statistics(rule.dimension))
    return parsed.statistic == rule.statistic and (
        "/" not in rule.statistic or rule.statistic in _declared_statistics(rule.dimension))


def _judged_reading(key: str, rule: Rule, probe_names: set[str]) -> MetricKey | None:
    """The reading of `key` that `rule` judges, if any: the key is read without, then with, its
    first segment as a probe name, as an attribute may share a name with a probe."""
    for parsed in (MetricKey.parse(key), MetricKey.parse(key, probe_names)):
        if _judged_by(parsed, rule):
            return parsed
    return None


def main_probe(tags: dict[str, str]) -> str | None:
    """The run's main probe, whose metric keys carry no probe name: the one probe of the run
    (`bias.probe.<name>` tags) that is no extra probe's qualifier (`bias.dimension.<dim>.<name>`
    tags); None when that does not single out one probe."""
    probes = {t[len("bias.probe."):] for t in tags if t.startswith("bias.probe.")}
    qualifiers = {t.split(".", 3)[3] for t in tags if t.startswith("bias.dimension.") and t.count(".") >= 3}
    left = probes - qualifiers
    return next(iter(left)) if len(left) == 1 else None


def _in_scope(reading: MetricKey, rule: Rule, main: str | None) -> bool:
    """Whether the rule judges this reading's probe. A reading whose probe cannot be told (no
    single main probe) is judged: a scoped rule never lets an unattributed metric through."""
    if not rule.probes:
        return True
    probe = reading.qualifier or main
    return probe is None or probe in rule.probes


def headline_metrics(metrics: dict[str, float], rule: Rule, probe_names: set[str],
                     main: str | None = None) -> list[str]:
    """The logged metric keys a rule judges: `bias/<dim>/<attribute>[/<statistic>]`, or the same
    with an extra probe's name after the dimension, of the probes the rule is scoped to (`main`
    names the probe of the keys without a probe name); never CI siblings or slices."""
    keys = []
    for key in metrics:
        reading = _judged_reading(key, rule, probe_names)
        if reading is not None and _in_scope(reading, rule, main):
            keys.append(key)
    return sorted(keys)


def _probe_reasons(tags: dict[str, str], policy: Policy) -> list[str]:
    reasons = []
    for tag, ref in sorted(tags.items()):
        if not tag.startswith("bias.probe."):
            continue
        name = tag[len("bias.probe."):]
        version, _, digest = ref.partition("@")
        if version == "unregistered":
            if not policy.allow_unregistered_probes:
                reasons.append(f"probe '{name}' is not a registered probe version (sha256 {digest[:12]}…); "
                               "freeze it with mlflow_bias.probes.freeze and evaluate again")
            continue
        try:
            info = verify(name, version)
        except BiasEvaluationError as exc:
            reasons.append(f"probe {name}@{version} does not verify: {exc.message}")
            continue
        if info.content_digest != digest:
            reasons.append(f"probe {name}@{version} was evaluated with content sha256 {digest[:12]}…, "
                           f"but the stored version has {info.content_digest[:12]}…")
        minimum = policy.min_probe_versions.get(name)
        if minimum and Version(version) < Version(minimum):
            reasons.append(f"probe {name}@{version} is older than the policy's minimum {minimum}; "
                           "re-evaluate with the current probe")
    for name in policy.probe_names:
        if f"bias.probe.{name}" not in tags:
            reasons.append(f"the evaluation did not score the policy's probe '{name}'")
    for name, pinned in policy.pinned_probe_versions.items():
        scored = tags.get(f"bias.probe.{name}", "").partition("@")[0]
        if scored and scored != pinned:
            reasons.append(f"policy {policy.ref} pins probe {name}@{pinned}, and the evaluation scored "
                           f"{name}@{scored}: evaluate {name}@{pinned}, or revise the policy")
    return reasons


def _missing_attributes(metrics: dict[str, float], policy: Policy, probe_names: set[str]) -> list[str]:
    """The attributes the policy requires a dimension to have scored that the run has no metric of."""
    scored: set[tuple[str, str]] = set()
    for key in metrics:
        for parsed in (MetricKey.parse(key), MetricKey.parse(key, probe_names)):
            if parsed is not None and parsed.slice is None:
                scored.add((parsed.dimension, parsed.attribute))
    return [f"policy {policy.ref} requires {dimension} on attribute {attribute!r}, and the run has "
            f"no {dimension} metric for it: score a probe that has the attribute '{attribute}'"
            for dimension, attributes in sorted(policy.required_attributes.items())
            for attribute in attributes if (dimension, metric_segment(attribute)) not in scored]


def _unreadable_outputs(metrics: dict[str, float], policy: Policy) -> list[str]:
    """A dimension that could not read more of the model's outputs than the policy allows: its
    score was computed on the rest, which can hide exactly the bias it measures."""
    reasons = []
    for key, value in sorted(metrics.items()):
        if not key.startswith("bias/") or not key.endswith(f"/{UNPARSED_RATE}") or "/slice/" in key:
            continue
        if not value <= policy.max_unparsed_rate:  # NaN blocks too
            reasons.append(f"{key} = {value:.3f} > max_unparsed_rate {policy.max_unparsed_rate:g}: "
                           f"{value:.1%} of the outputs could not be read, so the score leaves them "
                           "out; fix the categories or decision labels (overlapping patterns are "
                           "listed in the run's warnings) or the model's output format, and re-evaluate")
    return reasons


def _bind_to_model(decision: Decision, tags: dict[str, str], client: MlflowClient) -> None:
    """Check that the evaluation measured the registered version's bytes: its
    `bias.model_digest` against the digest recomputed now from the version's artifacts."""

    reasons = decision.reasons
    label = decision.model_version or tags.get("bias.model_version")
    decision.evaluated_model_digest = tags.get("bias.model_digest")
    registered = registered_version(label)
    if registered is None:
        reasons.append(f"the evaluation is of {label or 'an unnamed model'}, which is not a registered "
                       "model version, so the gate cannot check which model bytes it measured")
        return
    try:
        decision.model_digest = registered_version_manifest(*registered, client=client).digest
    except Exception as exc:  # noqa: BLE001 - unreadable artifacts: the binding cannot be checked
        reasons.append(f"the artifacts of {label} could not be read to check which model the "
                       f"evaluation measured: {type(exc).__name__}: {exc}")
        return
    if not decision.evaluated_model_digest:
        reasons.append("the evaluation run has no bias.model_digest, so it does not say which model "
                       f"bytes it measured; re-evaluate {label} with this version of mlflow-bias")
    elif decision.evaluated_model_digest != decision.model_digest:
        reasons.append(f"the evaluation measured model {decision.evaluated_model_digest}, but {label}'s "
                       f"artifacts are {decision.model_digest}: the evidence is of another model; "
                       f"evaluate {label} itself")


def _check_signature(decision: Decision, run_id: str, policy: Policy, tags: dict[str, str],
                     metrics: dict[str, float], client: MlflowClient) -> None:
    """Where the policy trusts signing keys, require a valid attestation by one of them that
    agrees with the run and names the registered version's digest as its subject."""
    if not policy.trusted_keys:
        decision.signature = ("unsigned: the policy trusts no signing key, so the evidence is bound to "
                              "the model's bytes but not to who measured them")
        return
    trusted = ", ".join(fingerprint(k.keyid) for k in policy.trusted_keys)
    raw = read_attestation(client, run_id)
    if raw is None:
        decision.signature = "missing"
        decision.reasons.append(
            f"the evaluation has no attestation ({ATTESTATION_PATH}); policy {policy.ref} accepts only "
            f"evaluations signed by {trusted}: re-evaluate with {SIGNING_KEY_ENV} set")
        return
    try:
        opened = open_envelope({} if raw is UNREADABLE else raw)
        key = verify_signature(opened, policy.trusted_keys)
    except AttestationError as exc:
        decision.signature = f"rejected: {exc.reason}"
        decision.reasons.append(f"{exc.reason}: {exc.message}")
        return
    problems = disagreements(opened, run_id=run_id, metrics=metrics, tags=tags)
    if decision.model_digest and opened.subject_digest != decision.model_digest:
        problems.insert(0, f"its subject is model {opened.subject_digest}, not {decision.model_version}'s "
                           f"{decision.model_digest}")
    if problems:
        decision.signature = f"rejected: signed by {fingerprint(key.keyid)} but disagrees with the run"
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        decision.reasons.append(f"the run disagrees with its signed attestation: {shown}")
        return
    decision.signature = f"signed by {fingerprint(key.keyid)} ({key.source}), verified"


def _waiver(decision: Decision, policy: Policy, dimension: str, attribute: str,
            client: MlflowClient, now: _dt.datetime | None) -> tuple[str, str] | None:
    """("valid", the record) that waives a failed (dimension, attribute), ("expired", why) when
    its review date has passed, or None when the policy or the version allows no waiver."""
    if dimension not in policy.waivable_dimensions or not decision.model_version:
        return None
    from mlflow_bias.release.limitations import list_limitations

    name, _, version = decision.model_version.rpartition("/")
    records = [r for r in list_limitations(name, version, client=client)
               if r.dimension == dimension and r.attribute == attribute]
    if not records:
        return None
    today = (now or _dt.datetime.now(_dt.timezone.utc)).date()
    current = [r for r in records if _dt.date.fromisoformat(r.review_date) >= today]
    if not current:
        latest = max(records, key=lambda r: r.review_date)
        return "expired", f"waiver {latest.id} expired on {latest.review_date}"
    return "valid", current[0].line()


def decide(
    run_id: str | None,
    policy: Any = None,
    *,
    model_version: str | None = None,
    client: MlflowClient | None = None,
    now: _dt.datetime | None = None,
) -> Decision:
    """Judge evaluation run `run_id` under `policy` (default policy if None). Never raises for a
    bad evaluation: every problem is a reason, and any reason blocks."""
    policy = load_policy(policy)
    decision = Decision(BLOCKED, run_id, policy.ref, policy.digest, model_version=model_version)
    if run_id is None:
        decision.reasons.append("no bias evaluation exists for this model version")
        return decision
    try:
        _decide_into(decision, run_id, policy, client or MlflowClient(), now)
    except Exception as exc:  # noqa: BLE001 - the gate fails closed on its own errors
        decision.verdicts.clear()
        decision.reasons.append(f"the gate could not decide: {type(exc).__name__}: {exc}")
    passing = not decision.reasons and decision.verdicts
    decision.status = (PASSED_WITH_WAIVER if decision.waivers else PASSED) if passing else BLOCKED
    if decision.status == BLOCKED and not decision.reasons:
        decision.reasons.append("no rule of the policy matched any logged metric")
    return decision


def _decide_into(decision: Decision, run_id: str, policy: Policy, client: MlflowClient,
                 now: _dt.datetime | None) -> None:
    run = client.get_run(run_id)
    tags, metrics = run.data.tags, run.data.metrics
    reasons = decision.reasons
    decision.evaluated_at = tags.get("bias.evaluated_at")
    status = tags.get("bias.status")
    if status != "completed":
        detail = f": {tags['bias.error']}" if tags.get("bias.error") else ""
        reasons.append(f"the evaluation did not complete (bias.status={status or 'missing'}){detail}")
    for tag, value in sorted(tags.items()):
        if tag.startswith("bias.dimension.") and value.startswith("failed"):
            reasons.append(f"dimension {tag[len('bias.dimension.'):]} {value}")
    evaluated_model = tags.get("bias.model_version")
    if decision.model_version and evaluated_model != decision.model_version:
        reasons.append(f"the evaluation is of {evaluated_model or 'an unknown model'}, "
                       f"not {decision.model_version}")
    evaluated_policy = tags.get("bias.policy", "")
    name, _, version = evaluated_policy.partition("@")
    if name != policy.name or not version or Version(version) < Version(policy.min_evaluation_policy_version):
        reasons.append(f"the evaluation was made under policy {evaluated_policy or 'none'}; policy "
                       f"{policy.name} needs {policy.min_evaluation_policy_version} or newer: re-evaluate")
    if policy.max_evaluation_age_days is not None and decision.evaluated_at:
        age = (now or _dt.datetime.now(_dt.timezone.utc)) - _dt.datetime.fromisoformat(decision.evaluated_at)
        if age.total_seconds() > policy.max_evaluation_age_days * 86400:
            reasons.append(f"the evaluation is {age.days} days old; the policy accepts at most "
                           f"{policy.max_evaluation_age_days:g}: re-evaluate")
    reasons += _probe_reasons(tags, policy)

    probe_names = {t[len("bias.probe."):] for t in tags if t.startswith("bias.probe.")}
    judged: list[str] = []
    for rule in policy.rules:
        keys = headline_metrics(metrics, rule, probe_names, main_probe(tags))
        if not keys and rule.dimension in policy.required_dimensions:
            reasons.append(f"required dimension '{rule.dimension}' has no {rule.metric} metric in the run")
        for key in keys:
            verdict = judge(rule, key, metrics)
            decision.verdicts.append(verdict)
            judged += [key, f"{key}/ci_low", f"{key}/ci_high"]
            if verdict.verdict == "fail":
                attribute = _judged_reading(key, rule, probe_names).attribute
                waiver = _waiver(decision, policy, rule.dimension, attribute, client, now)
                if waiver is None:
                    reasons.append(verdict.line())
                elif waiver[0] == "expired":
                    reasons.append(f"{verdict.line()}; its {waiver[1]}")
                else:
                    decision.waivers.append(f"{verdict.line()} waived by {waiver[1]}")
    reasons += _missing_attributes(metrics, policy, probe_names)
    reasons += _unreadable_outputs(metrics, policy)
    changed = changed_metrics(client, run_id, [k for k in judged if k in metrics])
    if changed:
        reasons.append(f"metric(s) {', '.join(changed)} were logged with different values in the "
                       "evaluation run: values changed after evaluation are not trusted")
    _bind_to_model(decision, tags, client)
    _check_signature(decision, run_id, policy, tags, metrics, client)
