"""Versioned release policies: per-metric thresholds and what else a passing evaluation needs."""

from __future__ import annotations

import dataclasses
import difflib
import math
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from packaging.version import InvalidVersion, Version
from pydantic import Field, ValidationError

from mlflow_bias.dimensions.registry import all_dimensions
from mlflow_bias.core.errors import BiasEvaluationError
from mlflow_bias.trust.keys import SigningKeyError, TrustedKey, load_trusted_keys
from mlflow_bias.core.validation import StrictModel, describe

DEFAULT_POLICY = "default"
# the share of a dimension's outputs that may be unreadable before the gate blocks
DEFAULT_MAX_UNPARSED_RATE = 0.05


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
    # the probes whose metrics the rule judges (empty: every probe of the run); a probe left out
    # is still scored and shown, e.g. one that measures what the pretrained model brings
    probes: tuple[str, ...] = ()

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
    probes: tuple[str, ...] = ()  # names, or `name@version` to pin the version evaluated
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
    # a dimension whose share of unreadable outputs (`.../unparsed_rate`) exceeds this blocks
    max_unparsed_rate: float = DEFAULT_MAX_UNPARSED_RATE
    # dimension -> attributes (an intersection such as gender_x_race included) that an evaluation
    # must have scored: a run without their metrics blocks, so a probe that drops a group cannot pass
    required_attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)

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
        if not content["required_attributes"]:  # policies without it keep their digests
            content.pop("required_attributes")
        for rule in content["rules"]:  # unscoped rules keep the digests they had before scoping
            if not rule["probes"]:
                rule.pop("probes")
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()

    def rules_for(self, dimension: str) -> list[Rule]:
        return [r for r in self.rules if r.dimension == dimension]

    @property
    def probe_names(self) -> tuple[str, ...]:
        """The policy's probes by name, pinned or not."""
        return tuple(ref.partition("@")[0] for ref in self.probes)

    @property
    def pinned_probe_versions(self) -> dict[str, str]:
        """name -> version for the probes the policy pins (`name@version`)."""
        return {name: version for name, _, version in (ref.partition("@") for ref in self.probes) if version}


class _RuleSpec(StrictModel):
    metric: str
    threshold: float = Field(allow_inf_nan=False)
    direction: Literal["max", "min"] = "max"
    decide_on: Literal["point", "ci"] = "point"
    absolute: bool = False
    probes: list[str] | None = None


class _PolicySpec(StrictModel):
    """The file's schema: strict types, no unknown keys. Optional lists and mappings may be left
    empty (null) in YAML."""

    name: str = Field(min_length=1)
    version: str
    rules: list[_RuleSpec] = Field(min_length=1)
    description: str | None = None
    required_dimensions: list[str] | None = None
    probes: list[str] | None = None
    min_probe_versions: dict[str, str] | None = None
    allow_unregistered_probes: bool = False
    max_evaluation_age_days: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    min_evaluation_policy_version: str | None = None
    protected_aliases: list[str] | None = None
    drift_tolerance: dict[str, float] | None = None
    waivable_dimensions: list[str] | None = None
    alias_use_cases: dict[str, str] | None = None
    trusted_keys: list[str] | None = None
    max_unparsed_rate: float = Field(default=DEFAULT_MAX_UNPARSED_RATE, ge=0, le=1, allow_inf_nan=False)
    required_attributes: dict[str, list[str]] | None = None


_VALID_KEYS = {"": sorted(_PolicySpec.model_fields), "rules": sorted(_RuleSpec.model_fields)}


def _fail(source: str, problem: str) -> PolicyError:
    return PolicyError(f"Invalid policy {source}: {problem}")


def _version(source: str, key: str, value: Any) -> str:
    try:
        Version(str(value))
    except InvalidVersion as exc:
        raise _fail(source, f"{key} {value!r} is not a version such as 1.0.0.") from exc
    return str(value)


def _rule_metric_problem(metric: str) -> str | None:
    """Why a rule's `metric` names nothing any dimension logs (None when it is known)."""
    dimension, _, statistic = metric.partition("/")
    dimensions = all_dimensions()
    entry = dimensions.get(dimension)
    if entry is None:
        close = difflib.get_close_matches(dimension, list(dimensions), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return (f"there is no dimension {dimension!r}; dimensions: {', '.join(dimensions)}.{hint}")
    if metric in entry.rule_metrics():
        return None
    close = difflib.get_close_matches(metric, entry.rule_metrics(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (f"{dimension} logs no {'headline' if not statistic else repr(statistic)} a rule can judge; "
            f"its rules are: {', '.join(entry.rule_metrics())}.{hint}")


def _known_dimensions(source: str, key: str, names: list[str], allowed: set[str]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise _fail(source, f"{key}: {', '.join(map(repr, unknown))} is not a dimension a rule of this "
                            f"policy judges; valid here: {', '.join(sorted(allowed)) or 'none'}.")
    return tuple(names)


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
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw):
        raise _fail(source, "trusted_keys must be a list of public key files or PEM texts, e.g. "
                            "[keys/bias-signing.pub.pem].")
    try:
        return load_trusted_keys(raw, base_dir, source="trusted_keys")
    except SigningKeyError as exc:
        raise _fail(source, exc.message) from exc


def parse_policy(raw: Any, source: str = "<dict>", base_dir: Path | None = None) -> Policy:
    """Validate a policy mapping against its schema; every problem gets an error naming the file,
    the key, the value, what was expected and the fix. Relative `trusted_keys` paths are read from
    `base_dir` (the policy file's folder)."""
    if not isinstance(raw, dict):
        raise _fail(source, "the file must hold a mapping (name, version, rules, ...), not "
                            f"{type(raw).__name__}.")
    try:
        spec = _PolicySpec.model_validate(raw)
    except ValidationError as exc:
        raise _fail(source, describe(exc, _VALID_KEYS, {"rules": "rule"}) + ".") from exc
    rules = []
    for i, item in enumerate(spec.rules):
        problem = _rule_metric_problem(item.metric)
        if problem:
            raise _fail(source, f"rule {i + 1} (metric {item.metric!r}): {problem}")
        if item.probes is not None and (not item.probes or any(not p.strip() for p in item.probes)):
            raise _fail(source, f"rule {i + 1} (metric {item.metric!r}): probes is {item.probes!r}; "
                                "name the probes the rule judges, or leave the key out to judge every probe.")
        rules.append(Rule(item.metric, item.threshold, item.direction, item.decide_on, item.absolute,
                          tuple(item.probes or ())))
    _no_overlapping_rules(source, rules)
    version = _version(source, "version", spec.version)
    ruled = {r.dimension for r in rules}
    required = _known_dimensions(source, "required_dimensions", spec.required_dimensions or [], set(all_dimensions()))
    unruled = sorted(set(required) - ruled)
    if unruled:
        raise _fail(source, f"required dimension(s) {', '.join(unruled)} have no rule; add a rule with their threshold.")
    min_versions = {k: _version(source, f"min_probe_versions.{k}", v)
                    for k, v in (spec.min_probe_versions or {}).items()}
    for ref in spec.probes or ():
        name, at, pinned = ref.partition("@")
        if not name.strip() or (at and not pinned.strip()):
            raise _fail(source, f"probes entry {ref!r}: give a probe name, or name@version to pin "
                                "the version the gate evaluates and accepts.")
        if pinned:
            _version(source, f"probes entry {ref!r}: version", pinned)
    min_policy = spec.min_evaluation_policy_version
    waivable = tuple(spec.waivable_dimensions or ())
    unknown_waivable = sorted(set(waivable) - ruled)
    if unknown_waivable:
        raise _fail(source, f"waivable dimension(s) {', '.join(unknown_waivable)} have no rule to waive.")
    aliases = tuple(spec.protected_aliases) if spec.protected_aliases is not None else ("champion", "production")
    for alias in aliases:
        problem = alias_name_problem(alias)
        if problem:
            raise _fail(source, f"protected_aliases: {problem}.")
    tolerance = spec.drift_tolerance or {}
    _known_dimensions(source, "drift_tolerance", list(tolerance), set(all_dimensions()))
    negative = [k for k, v in tolerance.items() if not v >= 0]
    if negative:
        raise _fail(source, f"drift_tolerance.{negative[0]} = {tolerance[negative[0]]!r}: expected a "
                            "number of at least 0 (the rise between evaluations that calls for recalibration).")
    required_attributes = {k: tuple(v) for k, v in (spec.required_attributes or {}).items()}
    unruled = sorted(set(required_attributes) - ruled)
    if unruled:
        raise _fail(source, f"required_attributes names dimension(s) {', '.join(unruled)} that no rule "
                            "judges; add a rule for them, or leave them out.")
    blank_names = [k for k, v in required_attributes.items() if not v or any(not a.strip() for a in v)]
    if blank_names:
        raise _fail(source, f"required_attributes.{blank_names[0]} = {list(required_attributes[blank_names[0]])!r}: "
                            "list the attributes that must be scored, e.g. [gender, gender_x_race].")
    return Policy(
        name=spec.name,
        version=version,
        rules=tuple(rules),
        description=(spec.description or "").strip(),
        required_dimensions=required,
        probes=tuple(spec.probes or ()),
        min_probe_versions=min_versions,
        allow_unregistered_probes=spec.allow_unregistered_probes,
        max_evaluation_age_days=spec.max_evaluation_age_days,
        min_evaluation_policy_version=(
            _version(source, "min_evaluation_policy_version", min_policy) if min_policy else version
        ),
        protected_aliases=aliases,
        drift_tolerance=dict(tolerance),
        waivable_dimensions=waivable,
        alias_use_cases=parse_alias_use_cases(spec.alias_use_cases, source),
        trusted_keys=parse_trusted_keys(spec.trusted_keys, source, base_dir),
        max_unparsed_rate=spec.max_unparsed_rate,
        required_attributes=required_attributes,
    )


def _no_overlapping_rules(source: str, rules: list[Rule]) -> None:
    """Two rules on one metric must judge disjoint probes: otherwise one reading would get two
    thresholds, and which one decides would depend on the order of the file."""
    by_metric: dict[str, list[Rule]] = {}
    for rule in rules:
        by_metric.setdefault(rule.metric, []).append(rule)
    for metric, group in sorted(by_metric.items()):
        if len(group) < 2:
            continue
        scopes = [set(r.probes) for r in group]
        if any(not scope for scope in scopes) or any(
                a & b for i, a in enumerate(scopes) for b in scopes[i + 1:]):
            raise _fail(source, f"more than one rule for {metric} on the same probes; give each "
                                "rule its own `probes`, or keep one rule.")


def shipped_policies() -> list[str]:
    """The names of the policies shipped in `mlflow_bias/policies`."""
    return sorted(f.name[:-len(".yaml")] for f in resources.files("mlflow_bias.policies").iterdir()
                  if f.name.endswith(".yaml"))


def load_policy(policy: "str | Path | Policy | dict | None" = None) -> Policy:
    """A Policy from a YAML/JSON file, a mapping, an existing Policy, the name of a shipped policy
    (`default`, `hiring-screen`), or None for the default."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, dict):
        return parse_policy(policy)
    name = DEFAULT_POLICY if policy is None else str(policy)
    if name in shipped_policies():
        text = resources.files("mlflow_bias.policies").joinpath(f"{name}.yaml").read_text()
        return parse_policy(yaml.safe_load(text), f"{name}.yaml")
    path = Path(policy)
    if not path.is_file():
        raise PolicyError(f"No policy file at {path}. Pass a YAML file, the name of a shipped policy "
                          f"({', '.join(shipped_policies())}), or omit it for the default policy.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyError(f"Invalid policy {path}: not valid YAML ({exc}).") from exc
    return parse_policy(raw, str(path), path.parent)


# -- judging a logged metric against a rule ------------------------------------------------------
@dataclass
class MetricVerdict:
    """One headline metric judged against its rule."""

    metric: str
    value: float
    ci_low: float | None
    ci_high: float | None
    threshold: float
    direction: str
    decide_on: str
    decisive_value: float
    verdict: str  # pass | fail

    def line(self) -> str:
        ci = (f" [{self.ci_low:.3f}, {self.ci_high:.3f}]"
              if self.ci_low is not None and self.ci_high is not None else "")
        op = "<=" if self.direction == "max" else ">="
        basis = "" if self.decide_on == "point" else f" (CI bound {self.decisive_value:.3f})"
        return f"{self.metric} = {self.value:.3f}{ci}{basis} {op} {self.threshold:g}: {self.verdict}"


def judge(rule: Rule, key: str, metrics: dict[str, float]) -> MetricVerdict:
    """Judge the logged metric `key` against `rule`: on its value, or on the CI bound the rule
    decides on (a rule on the CI with no CI logged fails)."""
    value = metrics[key]
    low, high = metrics.get(f"{key}/ci_low"), metrics.get(f"{key}/ci_high")
    transform = abs if rule.absolute else (lambda x: x)
    decisive = transform(value)
    if rule.decide_on == "ci":
        if low is None or high is None:
            decisive = math.nan  # no CI logged: cannot decide on it -> fails below
        else:
            bounds = [transform(low), transform(high)]
            if rule.absolute and low <= 0 <= high:
                bounds.append(0.0)
            decisive = max(bounds) if rule.direction == "max" else min(bounds)
    ok = (decisive <= rule.threshold) if rule.direction == "max" else (decisive >= rule.threshold)
    ok = ok and math.isfinite(decisive)
    return MetricVerdict(key, value, low, high, rule.threshold, rule.direction, rule.decide_on,
                         decisive, "pass" if ok else "fail")
