"""What a dimension is: one class that describes itself and scores one probe kind.

A dimension declares everything the rest of the product needs to know about it, so that adding
one is one module (plus a policy rule):

- `name`, `title`, `about`, `citation`: what it measures, said for the scorecard and the docs;
- `requires`: the adapter capability it needs (`loglikelihood`, `generate`, `predict`, `embed`);
- `probe_kind`: the columns it reads and the check of a probe's rows (`ProbeKind`);
- `options`: a strict pydantic model of its own options, given nested in the evaluator config
  (`evaluator_config={"bias": {"cbs": {"categories": ...}}}`);
- `metrics`: the metrics a policy rule may judge, each with the direction that is better;
- `configure` turns the options and the run's shared settings into what `compute` takes;
- `compute(adapter, probe, config)` is the pure computation, returning a `DimensionResult`.

Register a dimension with `@register_dimension` (mlflow_bias.dimensions.registry); another package
adds one through the `mlflow_bias.dimensions` entry-point group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import pandas as pd

from mlflow_bias.dimensions.base import DimensionResult, OutputConfig
from mlflow_bias.dimensions.kinds import ProbeKind
from mlflow_bias.core.validation import StrictModel

Direction = Literal["lower", "higher", "near_zero", "near_half", "near_fifty"]
_DIRECTION_TEXT = {"lower": "lower is better", "higher": "higher is better",
                   "near_zero": "0 is parity", "near_half": "0.5 is parity",
                   "near_fifty": "50 (%) is parity"}


@dataclass(frozen=True)
class MetricSpec:
    """A metric a policy rule may judge: the headline `bias/<dimension>/<attribute>` when
    `statistic` is None, else `bias/<dimension>/<attribute>/<statistic>`."""

    statistic: str | None
    direction: Direction
    description: str = ""

    def rule_name(self, dimension: str) -> str:
        """The `metric` a policy rule uses for it: `cbs`, `parity/disparate_impact`."""
        return dimension if self.statistic is None else f"{dimension}/{self.statistic}"

    @property
    def direction_text(self) -> str:
        return _DIRECTION_TEXT[self.direction]


class NoOptions(StrictModel):
    """A dimension without options of its own."""


@dataclass(frozen=True)
class ScoringContext:
    """The run's settings every dimension shares: resampling for uncertainty, batching, progress,
    the probe's slice columns, and the release policy (some dimensions warn against its
    thresholds)."""

    bootstrap_samples: int = 1000
    permutation_samples: int = 2000
    seed: int = 0
    confidence: float = 0.95
    batch_size: int = 64
    progress: bool = True
    slice_columns: list[str] = field(default_factory=list)
    policy: Any = None

    @property
    def uncertainty(self) -> dict[str, Any]:
        """Keyword arguments of `UncertaintyConfig`."""
        return {"bootstrap_samples": self.bootstrap_samples,
                "permutation_samples": self.permutation_samples, "seed": self.seed,
                "confidence": self.confidence}

    @property
    def outputs(self) -> dict[str, Any]:
        """Keyword arguments of `OutputConfig`."""
        return {**self.uncertainty, "batch_size": self.batch_size, "progress": self.progress,
                "slice_columns": list(self.slice_columns)}


class Dimension:
    """Base class of every dimension; see the module docstring for what each attribute means.

    Subclasses set the class attributes and implement `compute`; `configure` has a default for
    dimensions whose config is `OutputConfig` plus nothing else."""

    name: ClassVar[str]
    title: ClassVar[str]
    about: ClassVar[str]
    citation: ClassVar[str] = ""
    requires: ClassVar[str]
    probe_kind: ClassVar[ProbeKind | None] = None  # None: not scored from a probe (trace replay)
    options: ClassVar[type[StrictModel]] = NoOptions
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()
    rates_label: ClassVar[str] = "share of outputs per category and group"  # per-group `rates`
    rate_axis: ClassVar[str] = "rate (%)"  # the axis of the per-group rate chart
    order: ClassVar[int] = 1000  # where it is listed among the dimensions
    # flat evaluator-config keys of earlier versions, mapped to this dimension's option fields
    legacy_keys: ClassVar[dict[str, str]] = {}

    def configure(self, options: Any, context: ScoringContext) -> Any:
        """What `compute` takes, from this dimension's options and the run's shared settings."""
        return OutputConfig(**context.outputs)

    def compute(self, adapter: Any, probe: pd.DataFrame, config: Any) -> DimensionResult:
        raise NotImplementedError

    # -- derived ---------------------------------------------------------------------------------
    @property
    def has_headline(self) -> bool:
        return any(m.statistic is None for m in self.metrics)

    @property
    def statistics(self) -> frozenset[str]:
        return frozenset(m.statistic for m in self.metrics if m.statistic is not None)

    def metric(self, statistic: str | None) -> MetricSpec | None:
        return next((m for m in self.metrics if m.statistic == statistic), None)

    def rule_metrics(self) -> list[str]:
        """The `metric` values a policy rule may use for this dimension."""
        return [m.rule_name(self.name) for m in self.metrics]

    def describe(self) -> dict[str, Any]:
        """A JSON-able card of the dimension (what `mlflow-bias dimensions` prints)."""
        kind = self.probe_kind
        return {
            "name": self.name, "title": self.title, "about": self.about, "citation": self.citation,
            "requires": self.requires,
            "probe_kind": None if kind is None else {
                "name": kind.name, "required": list(kind.required), "optional": list(kind.optional),
                "description": kind.description},
            "options": sorted(self.options.model_fields),
            "metrics": [{"metric": m.rule_name(self.name), "direction": m.direction,
                         "direction_text": m.direction_text, "description": m.description}
                        for m in self.metrics],
        }

    def __repr__(self) -> str:
        return f"<dimension {self.name}: {self.title}>"
