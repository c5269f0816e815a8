"""`evaluator_config={"bias": {...}}`, validated strictly into one immutable model."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator

from mlflow_bias.dimensions.protocol import Dimension, ScoringContext
from mlflow_bias.dimensions.registry import all_dimensions, scored_from_probes
from mlflow_bias.core.errors import ConfigError
from mlflow_bias.core.validation import StrictModel, describe


class BiasConfig(StrictModel):
    """Options of the `bias` evaluator: the settings every dimension shares, and each dimension's
    own options nested under its name (`{"cbs": {"categories": {...}}}`; see
    `mlflow-bias dimensions` for each dimension's options).

    batch_size: sequences per forward pass. bootstrap_samples / permutation_samples: resamples
    for CIs and null tests. seed: makes every resample reproducible. confidence: CI level.
    probes: extra probes scored in the same run (names, `name@version`, paths or DataFrames).
    dimensions: restrict to these dimensions (default: every dimension the probes call for).
    slice_columns: columns to report per-slice metrics for (default: the probe's declared ones).
    policy: release policy (YAML path; default: the shipped policy). Its version is tagged on the
    run (`bias.policy`) and its thresholds are used to warn when a probe's noise floor is too high.
    training_data: the model's fine-tuning data (path, DataFrame or datasets.Dataset, or
    {"data": ..., "text_column": ..., "targets": ..., "context_terms": [...]}): its representation
    audit is logged to the same run (`data/representation/...`, tables, chart, dataset input).
    model_version: label for the `bias.model_version` tag (default: derived from the model).
    progress: show progress bars. share_prefixes: reuse shared token prefixes (faster, same numbers).
    max_new_tokens: length of the greedy answers a transformers model gives the output dimensions.
    generation_dtype: precision of those answers ("bfloat16", "float16", "float32"; default: the
    model's own). Log-likelihoods stay in the model's dtype. generation_batch_size: prompts per
    generation batch (default: batch_size). Both are recorded with the model in the scorecard.
    signing_key: an Ed25519 private key file (`mlflow-bias keys generate`); the evaluation is then
    signed and `bias/attestation.json` logged. Default: the file named by MLFLOW_BIAS_SIGNING_KEY.
    probe_kind: the kind of the `data` probe when its columns fit more than one kind (e.g. a
    decisions probe that also has a `set_id` column); frozen probes carry their kind.

    The flat keys of earlier versions (`categories`, `verbalisers`, `decision_labels`, `rubric`,
    `ranking_k`) still work and warn (FutureWarning) that they belong under their dimension.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, arbitrary_types_allowed=True)

    batch_size: int = Field(32, ge=1)
    bootstrap_samples: int = Field(1000, ge=1)
    permutation_samples: int = Field(2000, ge=1)
    seed: int = Field(0, ge=0)
    confidence: float = Field(0.95, gt=0, lt=1, allow_inf_nan=False)
    probes: list[Any] = Field(default_factory=list)
    dimensions: list[str] | None = None
    slice_columns: list[str] | None = None
    policy: Any = None
    training_data: Any = None
    model_version: str | None = None
    progress: bool = True
    share_prefixes: bool = True
    max_new_tokens: int = Field(48, ge=1)
    generation_dtype: Literal["float32", "bfloat16", "float16"] | None = None
    generation_batch_size: int | None = Field(None, ge=1)
    signing_key: str | Path | None = None
    probe_kind: str | None = None
    # each dimension's validated options, by dimension name (filled by `from_dict`)
    dimension_options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("signing_key", mode="after")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return None if value is None else str(value)

    def options_for(self, dimension: Dimension) -> Any:
        """The dimension's options: as given, or its defaults."""
        return self.dimension_options.get(dimension.name) or dimension.options()

    def context(self, slice_columns: list[str], policy: Any) -> ScoringContext:
        """The settings every dimension shares, for one probe."""
        return ScoringContext(
            bootstrap_samples=self.bootstrap_samples, permutation_samples=self.permutation_samples,
            seed=self.seed, confidence=self.confidence, batch_size=self.batch_size,
            progress=self.progress, slice_columns=list(slice_columns), policy=policy)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> "BiasConfig":
        """Validate `evaluator_config["bias"]` strictly: unknown keys, wrong types (2.7 for a
        whole number, "no" for a boolean, a list where a mapping belongs) and invalid regexes
        are errors naming the key, the value and what was expected. A single probe, dimension
        or slice column may be given as a string."""
        raw = dict(raw or {})
        if "dimension_options" in raw:
            raise ConfigError("Invalid evaluator_config for 'bias': dimension_options: this key is "
                              "unknown; give each dimension's options under its name, e.g. "
                              "{'cbs': {'categories': {...}}}.")
        for key in ("probes", "dimensions", "slice_columns"):
            if isinstance(raw.get(key), str):
                raw[key] = [raw[key]]
        registered = all_dimensions()
        nested = {name: raw.pop(name) for name in list(raw) if name in registered}
        moved = _move_legacy_keys(raw, nested, registered)
        try:
            spec = cls.model_validate(raw)
        except ValidationError as exc:
            valid = sorted(set(cls.model_fields) - {"dimension_options"} | set(registered))
            raise ConfigError(f"Invalid evaluator_config for 'bias': "
                              f"{describe(exc, {'': valid}, hints=_HINTS)}.") from exc
        unknown = sorted(set(spec.dimensions or ()) - set(scored_from_probes()))
        if unknown:
            raise ConfigError(f"Invalid evaluator_config for 'bias': dimensions {unknown}: no such "
                              f"dimension; installed: {', '.join(scored_from_probes())}.")
        options = {name: _dimension_options(registered[name], value, moved.get(name, {}))
                   for name, value in nested.items()}
        return spec.model_copy(update={"dimension_options": options})


def _move_legacy_keys(raw: dict[str, Any], nested: dict[str, Any],
                      registered: dict[str, Dimension]) -> dict[str, dict[str, str]]:
    """Move the flat keys of earlier versions (`categories`) under their dimension, warning;
    return {dimension: {option: flat key}} so that errors name the key the user wrote."""
    moved: dict[str, dict[str, str]] = {}
    for dimension in registered.values():
        for flat, field_name in dimension.legacy_keys.items():
            if flat not in raw:
                continue
            target = nested.setdefault(dimension.name, {})
            if not isinstance(target, dict):
                continue  # reported as a type error of the nested options
            if field_name in target:
                raise ConfigError(f"Invalid evaluator_config for 'bias': {flat} is given both flat and "
                                  f"as {dimension.name}.{field_name}; keep {dimension.name}.{field_name}.")
            warnings.warn(f"evaluator_config key {flat!r} is deprecated: give it as "
                          f"{{'{dimension.name}': {{'{field_name}': ...}}}}.", FutureWarning, stacklevel=4)
            target[field_name] = raw.pop(flat)
            moved.setdefault(dimension.name, {})[field_name] = flat
    return moved


def _dimension_options(dimension: Dimension, value: Any, flat_keys: dict[str, str]) -> Any:
    """The dimension's options validated strictly; errors name each option as the user gave it
    (`cbs.categories`, or `categories` when given flat)."""

    def as_given(message: str) -> str:
        for field_name, flat in flat_keys.items():
            message = message.replace(f"{dimension.name}.{field_name}", flat)
        return message

    if not isinstance(value, dict):
        raise ConfigError(f"Invalid evaluator_config for 'bias': {dimension.name} = {value!r}: expected "
                          f"a mapping of its options ({', '.join(sorted(dimension.options.model_fields)) or 'it has none'}).")
    try:
        return dimension.options.model_validate(value)
    except ValidationError as exc:
        problems = describe(exc, {"": sorted(dimension.options.model_fields)}, hints=_HINTS,
                            prefix=dimension.name)
        raise ConfigError(as_given(f"Invalid evaluator_config for 'bias': {problems}.")) from exc
    except ConfigError as exc:  # the options' own checks (e.g. an invalid regex)
        raise ConfigError(as_given(str(exc))) from exc


_HINTS = {
    "confidence": "a number between 0 and 1 (exclusive), e.g. 0.95",
    "batch_size": "a whole number of at least 1", "bootstrap_samples": "a whole number of at least 1",
    "permutation_samples": "a whole number of at least 1", "max_new_tokens": "a whole number of at least 1",
    "generation_dtype": "'bfloat16', 'float16', 'float32', or None for the model's own dtype",
    "generation_batch_size": "a whole number of at least 1, or None for batch_size",
    "k": "a whole number of at least 1, or None", "seed": "a whole number of at least 0",
    "categories": "a mapping of category to a list of keywords or regexes, e.g. "
                  "{'advance': ['advance'], 'reject': ['reject']}",
    "decision_labels": "a mapping {'positive': [...], 'negative': [...]} of the outputs that count as "
                       "each decision",
}
