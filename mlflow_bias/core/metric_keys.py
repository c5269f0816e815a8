"""Names of the metrics mlflow-bias logs.

Layout: `bias/<dimension>[/<qualifier>]/<attribute>[/<statistic>][/slice/<column>/<value>[/<slice
statistic>]]`. The qualifier is the name of an extra probe scored by the same dimension (the first
probe of a dimension has none); the statistic may span several segments (`exposure_ratio/ci_low`,
`rate/<group>/<category>`); a headline is the key with no statistic, or the one a policy rule
names. Every segment is made safe by `metric_segment`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Collection

ROOT = "bias"
SLICE = "slice"

# Uncertainty statistics logged beside every headline metric `bias/<dimension>/<attribute>` as
# `bias/<dimension>/<attribute>/<statistic>`; a dimension declares its own statistics (LPBS's
# `stereotype_rate`) in its `MetricSpec`s. The gate never mistakes either for a headline.
SIBLING_STATISTICS = frozenset({"ci_low", "ci_high", "p_value", "noise_floor", "n_items"})


def metric_segment(value: Any) -> str:
    """A value (attribute, group, slice) made safe for an MLflow metric key segment."""
    text = re.sub(r"[^\w.\- ]+", "_", str(value)).strip(" ._") or "blank"
    return text[:60]


def metric_prefix(dimension: str, qualifier: str | None = None) -> str:
    """`bias/<dimension>[/<qualifier>]`: the prefix of a dimension's metrics and tables."""
    return f"{ROOT}/{dimension}" + (f"/{qualifier}" if qualifier else "")


def dimension_of(key: str) -> str | None:
    """The dimension of a `bias/<dimension>/...` key (None for other keys)."""
    parts = key.split("/")
    return parts[1] if len(parts) > 1 and parts[0] == ROOT else None


@dataclass(frozen=True)
class MetricKey:
    """One metric key taken apart; `build()` gives back the key string."""

    dimension: str
    attribute: str
    statistic: str | None = None
    qualifier: str | None = None
    slice: tuple[str, str] | None = None  # (column, value)
    slice_statistic: str | None = None  # e.g. ci_low of a slice's value

    @property
    def prefix(self) -> str:
        """`bias/<dimension>[/<qualifier>]`, where the dimension's tables are logged too."""
        return metric_prefix(self.dimension, self.qualifier)

    @property
    def is_headline(self) -> bool:
        """An attribute's own value: no statistic and no slice."""
        return self.statistic is None and self.slice is None

    def build(self) -> str:
        parts = [self.prefix, self.attribute]
        if self.statistic:
            parts.append(self.statistic)
        if self.slice is not None:
            parts += [SLICE, *self.slice]
            if self.slice_statistic:
                parts.append(self.slice_statistic)
        return "/".join(parts)

    @classmethod
    def parse(cls, key: str, qualifiers: Collection[str] = ()) -> "MetricKey | None":
        """The parts of `key`, or None when it is not a `bias/<dimension>/<attribute>...` key.

        The segment after the dimension is read as a qualifier when it is one of `qualifiers`
        (the extra probes' names) and an attribute follows it; otherwise it is the attribute.
        A key with a `slice` segment where no attribute, column or value can be is not a metric
        key of this layout (None).
        """
        parts = key.split("/")
        if len(parts) < 3 or parts[0] != ROOT:
            return None
        dimension, rest = parts[1], parts[2:]
        qualifier = None
        if len(rest) > 1 and rest[0] in qualifiers:
            qualifier, rest = rest[0], rest[1:]
        if SLICE in (qualifier, rest[0]):
            return None
        attribute, rest = rest[0], rest[1:]
        where: tuple[str, str] | None = None
        slice_statistic = None
        if SLICE in rest:
            at = rest.index(SLICE)
            tail = rest[at + 1:]
            if len(tail) < 2:
                return None
            where, slice_statistic = (tail[0], tail[1]), "/".join(tail[2:]) or None
            rest = rest[:at]
        return cls(dimension, attribute, "/".join(rest) or None, qualifier, where, slice_statistic)
