"""`evaluator_config={"bias": {...}}`, validated strictly into one immutable model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator

from mlflow_bias.dimensions import SCORED
from mlflow_bias.errors import ConfigError
from mlflow_bias.validation import StrictModel, describe


class BiasConfig(StrictModel):
    """Options of the `bias` evaluator.

    batch_size: sequences per forward pass. bootstrap_samples / permutation_samples: resamples
    for CIs and null tests. seed: makes every resample reproducible. confidence: CI level.
    probes: extra probes scored in the same run (names, `name@version`, paths or DataFrames).
    dimensions: restrict to these dimensions (default: every dimension the probes call for).
    slice_columns: columns to report per-slice metrics for (default: the probe's declared ones).
    policy: release policy (YAML path; default: the shipped policy). Its version is tagged on the
    run (`bias.policy`) and its thresholds are used to warn when a probe's noise floor is too high.
    decision_labels: {"positive": [...], "negative": [...]}: which model outputs count as a positive
    or negative decision for the parity dimension (default: 1/0, True/False, yes/no).
    categories: {"advance": ["advance", "recommend"], "reject": ["reject"]}: keyword/regex map from
    text outputs to categories for CBS (default: each output is its own category).
    verbalisers: {"advance": ["ADVANCE"], "reject": ["REJECT"], "answer_prefix": ""}: for models
    that give log-probabilities, CBS reads each input's category from the likelihood of these
    answers instead of generating text, and adds Ahn & Oh's log-probability variance.
    rubric: refusal rubric YAML (default: the shipped rubric); its version is tagged `bias.rubric`.
    training_data: the model's fine-tuning data (path, DataFrame or datasets.Dataset, or
    {"data": ..., "text_column": ..., "targets": ..., "context_terms": [...]}): its representation
    audit is logged to the same run (`data/representation/...`, tables, chart, dataset input).
    model_version: label for the `bias.model_version` tag (default: derived from the model).
    progress: show progress bars. share_prefixes: reuse shared token prefixes (faster, same numbers).
    max_new_tokens: length of the greedy answers a transformers model gives the output dimensions.
    ranking_k: the top-k cut-off of the ranking dimension's shares (default 10, at most a list's
    length).
    signing_key: an Ed25519 private key file (`mlflow-bias keys generate`); the evaluation is then
    signed and `bias/attestation.json` logged. Default: the file named by MLFLOW_BIAS_SIGNING_KEY.
    probe_kind: the kind of the `data` probe when its columns fit more than one kind (e.g. a
    decisions probe that also has a `set_id` column); frozen probes carry their kind.
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
    decision_labels: dict[Literal["positive", "negative"], list[str | int | float | bool]] | None = None
    categories: dict[str, list[str]] | None = None
    verbalisers: dict[str, Any] | None = None
    rubric: str | Path | None = None
    training_data: Any = None
    model_version: str | None = None
    progress: bool = True
    share_prefixes: bool = True
    max_new_tokens: int = Field(48, ge=1)
    ranking_k: int | None = Field(None, ge=1)
    signing_key: str | Path | None = None
    probe_kind: str | None = None

    @field_validator("rubric", "signing_key", mode="after")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> "BiasConfig":
        """Validate `evaluator_config["bias"]` strictly: unknown keys, wrong types (2.7 for a
        whole number, "no" for a boolean, a list where a mapping belongs) and invalid regexes
        are errors naming the key, the value and what was expected. A single probe, dimension
        or slice column may be given as a string."""
        raw = dict(raw or {})
        for key in ("probes", "dimensions", "slice_columns"):
            if isinstance(raw.get(key), str):
                raw[key] = [raw[key]]
        try:
            spec = cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(f"Invalid evaluator_config for 'bias': "
                              f"{describe(exc, {'': sorted(cls.model_fields)}, hints=_HINTS)}.") from exc
        unknown = sorted(set(spec.dimensions or ()) - set(SCORED))
        if unknown:
            raise ConfigError(f"Invalid evaluator_config for 'bias': dimensions {unknown}: no such "
                              f"dimension; installed: {', '.join(SCORED)}.")
        for name, patterns in (spec.categories or {}).items():
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ConfigError(
                        f"Invalid evaluator_config for 'bias': categories.{name} pattern {pattern!r} "
                        f"is not a valid regular expression ({exc}); escape special characters "
                        f"(re.escape) or write a plain word.") from exc
        if spec.categories is not None and len(spec.categories) < 2:
            raise ConfigError("Invalid evaluator_config for 'bias': categories needs at least two "
                              "categories, e.g. {'advance': ['advance'], 'reject': ['reject']}.")
        return spec


_HINTS = {
    "confidence": "a number between 0 and 1 (exclusive), e.g. 0.95",
    "batch_size": "a whole number of at least 1", "bootstrap_samples": "a whole number of at least 1",
    "permutation_samples": "a whole number of at least 1", "max_new_tokens": "a whole number of at least 1",
    "ranking_k": "a whole number of at least 1, or None", "seed": "a whole number of at least 0",
    "categories": "a mapping of category to a list of keywords or regexes, e.g. "
                  "{'advance': ['advance'], 'reject': ['reject']}",
    "decision_labels": "a mapping {'positive': [...], 'negative': [...]} of the outputs that count as "
                       "each decision",
}
