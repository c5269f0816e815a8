"""Versioned release policies: per-metric thresholds and what else a passing evaluation needs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

from mlflow_bias.errors import BiasEvaluationError
from mlflow_bias.trust.keys import SigningKeyError, TrustedKey, load_trusted_keys

DEFAULT_POLICY = "default"


class PolicyError(BiasEvaluationError):
    """An invalid policy file."""


@dataclass(frozen=True)
class Rule:
    """One headline metric's threshold.

    `metric` is `<dimension>` (headline `bias/<dimension>/<attribute>`) or
    `<dimension>/<statistic>` (headline `bias/<dimension>/<attribute>/<statistic>`).
    """

    metric: str
    threshold: float
    direction: str = "max"  # max: value <= threshold passes; min: value >= threshold passes
    decide_on: str = "point"  # point, or ci: the CI bound on the failing side must pass too
    absolute: bool = False  # compare |value| (for signed effect sizes)

    @property
    def dimension(self) -> str:
        return self.metric.split("/", 1)[0]

    @property
    def statistic(self) -> str | None:
        parts = self.metric.split("/", 1)
        return parts[1] if len(parts) == 2 else None


@dataclass(frozen=True)
class Policy:
    name: str
    version: str
    rules: tuple[Rule, ...]
    description: str = ""
    required_dimensions: tuple[str, ...] = ()
    probes: tuple[str, ...] = ()
    min_probe_versions: dict[str, str] = field(default_factory=dict)
    allow_unregistered_probes: bool = False
    max_evaluation_age_days: float | None = None
    min_evaluation_policy_version: str | None = None
    protected_aliases: tuple[str, ...] = ("champion", "production")
    drift_tolerance: dict[str, float] = field(default_factory=dict)
    # dimensions whose failed threshold an open, owned, unexpired known-limitation record on the
    # model version may waive (the decision then reads passed-with-waiver, never passed)
    waivable_dimensions: tuple[str, ...] = ()
    # alias -> use case: promotion to such an alias is always gated (protected or not) and refused
    # for a version with an open known-limitation record restricting that use case
    alias_use_cases: dict[str, str] = field(default_factory=dict)
    # public keys whose signed evaluations the gate accepts; when any is set, an evaluation must
    # carry a valid attestation signed by one of them
    trusted_keys: tuple[TrustedKey, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def digest(self) -> str:
        """SHA-256 of the policy's content: two files with the same rules have the same digest.

        `alias_use_cases` and `trusted_keys` are left out: they are enforcement settings checked
        afresh at every decision and promotion (the server may override or extend them), and a
        signature that does not verify under them blocks whatever the digest says."""
        content = asdict(dataclasses.replace(self, alias_use_cases={}, trusted_keys=()))
        content.pop("alias_use_cases")
        content.pop("trusted_keys")
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()

    def rules_for(self, dimension: str) -> list[Rule]:
        return [r for r in self.rules if r.dimension == dimension]


_KEYS = {
    "name", "version", "description", "rules", "required_dimensions", "probes",
    "min_probe_versions", "allow_unregistered_probes", "max_evaluation_age_days",
    "min_evaluation_policy_version", "protected_aliases", "drift_tolerance", "waivable_dimensions",
    "alias_use_cases", "trusted_keys",
}
_RULE_KEYS = {"metric", "threshold", "direction", "decide_on", "absolute"}


def _fail(source: str, problem: str) -> PolicyError:
    return PolicyError(f"Invalid policy {source}: {problem}")


def _version(source: str, key: str, value: Any) -> str:
    try:
        Version(str(value))
    except InvalidVersion as exc:
        raise _fail(source, f"{key} {value!r} is not a version such as 1.0.0.") from exc
    return str(value)


# MLflow's rules for registered-model alias names (mlflow.utils.validation keeps them private)
_ALIAS_NAME = re.compile(r"^[\w\-]+$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
MAX_ALIAS_LENGTH = 255


def alias_name_problem(alias: Any) -> str | None:
    """Why `alias` cannot be an MLflow registered-model alias, or None when it can."""
    if not isinstance(alias, str) or not alias:
        return f"alias {alias!r} must be a non-empty string"
    if not _ALIAS_NAME.match(alias):
        return (f"alias {alias!r} is not a valid MLflow alias: names may only contain "
                "alphanumerics, underscores (_) and dashes (-)")
    if len(alias) > MAX_ALIAS_LENGTH:
        return f"alias {alias[:20]!r}... is longer than MLflow's {MAX_ALIAS_LENGTH} characters"
    if alias.lower() == "latest" or _VERSION_ALIAS.match(alias):
        return f"alias {alias!r} is reserved by MLflow ('latest' and v<number> refer to versions)"
    return None


def parse_alias_use_cases(raw: Any, source: str = "<dict>") -> dict[str, str]:
    """Validate an `alias_use_cases` mapping (alias -> use case); None means no bindings."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(source, "alias_use_cases must map aliases to use cases, e.g. "
                            "{hiring-production: hiring}.")
    bindings = {}
    for alias, use_case in raw.items():
        problem = alias_name_problem(alias)
        if problem:
            raise _fail(source, f"alias_use_cases: {problem}.")
        if not isinstance(use_case, str) or not use_case.strip():
            raise _fail(source, f"alias_use_cases.{alias}: the use case must be a non-empty string "
                                f"such as 'hiring', not {use_case!r}.")
        bindings[alias] = use_case.strip()
    return bindings


def parse_trusted_keys(raw: Any, source: str, base_dir: Path | None) -> tuple[TrustedKey, ...]:
    """`trusted_keys`: public key files (relative to the policy file's folder) or PEM text."""
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw):
        raise _fail(source, "trusted_keys must be a list of public key files or PEM texts, e.g. "
                            "[keys/bias-signing.pub.pem].")
    try:
        return load_trusted_keys(raw, base_dir, source="trusted_keys")
    except SigningKeyError as exc:
        raise _fail(source, exc.message) from exc


def parse_policy(raw: Any, source: str = "<dict>", base_dir: Path | None = None) -> Policy:
    """Validate a policy mapping; every problem gets an error naming the key and the fix.
    Relative `trusted_keys` paths are read from `base_dir` (the policy file's folder)."""
    if not isinstance(raw, dict):
        raise _fail(source, "the file must hold a mapping (name, version, rules, ...).")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise _fail(source, f"unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(_KEYS))}.")
    for key in ("name", "version", "rules"):
        if key not in raw:
            raise _fail(source, f"missing required key '{key}'.")
    if not isinstance(raw["rules"], list) or not raw["rules"]:
        raise _fail(source, "'rules' must be a non-empty list of {metric, threshold, direction}.")
    rules = []
    for i, item in enumerate(raw["rules"]):
        where = f"rule {i + 1}"
        if not isinstance(item, dict) or "metric" not in item or "threshold" not in item:
            raise _fail(source, f"{where} needs at least 'metric' and 'threshold'.")
        bad = sorted(set(item) - _RULE_KEYS)
        if bad:
            raise _fail(source, f"{where} has unknown key(s) {', '.join(bad)}; valid: {', '.join(sorted(_RULE_KEYS))}.")
        try:
            threshold = float(item["threshold"])
        except (TypeError, ValueError) as exc:
            raise _fail(source, f"{where} ({item['metric']}): threshold {item['threshold']!r} is not a number.") from exc
        direction = item.get("direction", "max")
        if direction not in ("max", "min"):
            raise _fail(source, f"{where} ({item['metric']}): direction must be 'max' (value <= threshold) or 'min' (value >= threshold), not {direction!r}.")
        decide_on = item.get("decide_on", "point")
        if decide_on not in ("point", "ci"):
            raise _fail(source, f"{where} ({item['metric']}): decide_on must be 'point' or 'ci', not {decide_on!r}.")
        metric = str(item["metric"]).strip("/")
        if metric.count("/") > 1 or not metric:
            raise _fail(source, f"{where}: metric must be '<dimension>' or '<dimension>/<statistic>', not {item['metric']!r}.")
        rules.append(Rule(metric, threshold, direction, decide_on, bool(item.get("absolute", False))))
    metrics = [r.metric for r in rules]
    duplicated = sorted({m for m in metrics if metrics.count(m) > 1})
    if duplicated:
        raise _fail(source, f"more than one rule for {', '.join(duplicated)}.")
    version = _version(source, "version", raw["version"])
    ruled = {r.dimension for r in rules}
    required = tuple(raw.get("required_dimensions") or ())
    unruled = sorted(set(required) - ruled)
    if unruled:
        raise _fail(source, f"required dimension(s) {', '.join(unruled)} have no rule; add a rule with their threshold.")
    min_versions = {str(k): _version(source, f"min_probe_versions.{k}", v)
                    for k, v in (raw.get("min_probe_versions") or {}).items()}
    age = raw.get("max_evaluation_age_days")
    if age is not None and (not isinstance(age, (int, float)) or age <= 0):
        raise _fail(source, "max_evaluation_age_days must be a positive number of days or null.")
    min_policy = raw.get("min_evaluation_policy_version")
    waivable = tuple(str(d) for d in (raw.get("waivable_dimensions") or ()))
    unknown_waivable = sorted(set(waivable) - ruled)
    if unknown_waivable:
        raise _fail(source, f"waivable dimension(s) {', '.join(unknown_waivable)} have no rule to waive.")
    return Policy(
        name=str(raw["name"]),
        version=version,
        rules=tuple(rules),
        description=str(raw.get("description", "")).strip(),
        required_dimensions=required,
        probes=tuple(raw.get("probes") or ()),
        min_probe_versions=min_versions,
        allow_unregistered_probes=bool(raw.get("allow_unregistered_probes", False)),
        max_evaluation_age_days=float(age) if age is not None else None,
        min_evaluation_policy_version=(
            _version(source, "min_evaluation_policy_version", min_policy) if min_policy else version
        ),
        protected_aliases=tuple(raw.get("protected_aliases") or ("champion", "production")),
        drift_tolerance={str(k): float(v) for k, v in (raw.get("drift_tolerance") or {}).items()},
        waivable_dimensions=waivable,
        alias_use_cases=parse_alias_use_cases(raw.get("alias_use_cases"), source),
        trusted_keys=parse_trusted_keys(raw.get("trusted_keys"), source, base_dir),
    )


def load_policy(policy: "str | Path | Policy | dict | None" = None) -> Policy:
    """A Policy from a YAML/JSON file, a mapping, an existing Policy, or None for the default."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, dict):
        return parse_policy(policy)
    if policy is None or str(policy) == DEFAULT_POLICY:
        text = resources.files("mlflow_bias.policies").joinpath("default.yaml").read_text()
        return parse_policy(yaml.safe_load(text), "default.yaml")
    path = Path(policy)
    if not path.is_file():
        raise PolicyError(f"No policy file at {path}. Pass a YAML file or omit it for the default policy.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyError(f"Invalid policy {path}: not valid YAML ({exc}).") from exc
    return parse_policy(raw, str(path), path.parent)
