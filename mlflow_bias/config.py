"""`evaluator_config={"bias": {...}}`, validated into a dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mlflow_bias.errors import ConfigError


@dataclass
class BiasConfig:
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
    """

    batch_size: int = 32
    bootstrap_samples: int = 1000
    permutation_samples: int = 2000
    seed: int = 0
    confidence: float = 0.95
    probes: list[Any] = field(default_factory=list)
    dimensions: list[str] | None = None
    slice_columns: list[str] | None = None
    policy: Any = None
    decision_labels: dict[str, list[Any]] | None = None
    categories: dict[str, list[str]] | None = None
    verbalisers: dict[str, Any] | None = None
    rubric: str | None = None
    training_data: Any = None
    model_version: str | None = None
    progress: bool = True
    share_prefixes: bool = True
    max_new_tokens: int = 48
    ranking_k: int | None = None
    signing_key: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> "BiasConfig":
        raw = dict(raw or {})
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - set(names))
        if unknown:
            raise ConfigError(
                f"Unknown evaluator_config key(s) for 'bias': {', '.join(unknown)}. "
                f"Valid keys: {', '.join(names)}."
            )
        for key in ("batch_size", "bootstrap_samples", "permutation_samples", "seed", "max_new_tokens",
                    "ranking_k"):
            if key in raw and not (key == "ranking_k" and raw[key] is None):
                try:
                    raw[key] = int(raw[key])
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"evaluator_config '{key}' must be an integer, "
                                      f"got {raw[key]!r}.") from exc
        for key in ("batch_size", "bootstrap_samples", "permutation_samples", "ranking_k"):
            if raw.get(key) is not None and raw[key] < 1:
                raise ConfigError(f"evaluator_config '{key}' must be at least 1, got {raw[key]}.")
        if "confidence" in raw and not 0 < float(raw["confidence"]) < 1:
            raise ConfigError("evaluator_config 'confidence' must be between 0 and 1, e.g. 0.95.")
        for key in ("probes", "dimensions", "slice_columns"):
            if key in raw and isinstance(raw[key], str):
                raw[key] = [raw[key]]
        return cls(**raw)
