"""Which probe kind a frame is, its validation against that kind, and its slice columns.

The kinds themselves are declared by the dimensions that score them (`Dimension.probe_kind`)."""

from __future__ import annotations

import pandas as pd

from mlflow_bias.dimensions.kinds import (  # the built-in kinds' checks, importable from here too
    ProbeKind,
    validate_association,
    validate_decisions,
    validate_pairs,
    validate_ranking,
    validate_sets,
)
from mlflow_bias.dimensions.registry import probe_kinds
from mlflow_bias.core.errors import ProbeSchemaError

__all__ = ["MAX_SLICE_VALUES", "ProbeKind", "detect_kind", "slice_columns", "validate",
           "validate_association", "validate_decisions", "validate_pairs", "validate_ranking",
           "validate_sets"]
MAX_SLICE_VALUES = 50


def __getattr__(name: str) -> dict[str, ProbeKind]:
    if name == "KINDS":  # every registered probe kind, by name
        return probe_kinds()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _not_slices() -> set[str]:
    """Columns that never define a slice: those of any probe kind."""
    return {c for k in probe_kinds().values() for c in k.columns}


def detect_kind(df: pd.DataFrame, declared: str | None = None) -> ProbeKind:
    """The probe's kind: `declared` when given (a frozen probe's manifest, or the user), else the
    one kind whose required columns are all present. Columns that fit several kinds (a decisions
    probe with a `set_id` column fits the counterfactual sets too) are an error asking for the
    kind: never a guess."""
    columns = set(df.columns)
    kinds = probe_kinds()
    if declared is not None:
        if declared not in kinds:
            raise ProbeSchemaError(f"Unknown probe kind {declared!r}; kinds: {', '.join(kinds)}.")
        return kinds[declared]
    matches = [k for k in kinds.values() if set(k.required) <= columns]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = [k.name for k in matches]
        raise ProbeSchemaError(
            f"The probe's columns fit more than one probe kind: {', '.join(names)} "
            f"({'; '.join(f'{k.name}: {k.description}' for k in matches)}). Say which it is: "
            f"evaluator_config {{'probe_kind': {names[0]!r}}} for the evaluated data, or freeze it "
            f"with mlflow_bias.probes.freeze(..., kind={names[0]!r}); or drop the column(s) "
            f"{', '.join(sorted(columns & _distinguishing(matches)))} that belong to the other kind.")
    closest = min(kinds.values(), key=lambda k: len(set(k.required) - columns))
    missing = [c for c in closest.required if c not in columns]
    raise ProbeSchemaError(
        f"The probe matches no known probe kind. Closest is {closest.name!r} "
        f"({closest.description}), which lacks the column(s): {', '.join(missing)}. "
        f"Columns found: {', '.join(map(str, df.columns)) or 'none'}. Required for "
        f"{closest.name}: {', '.join(closest.required)}."
    )


def _distinguishing(kinds: list[ProbeKind]) -> set[str]:
    """Required columns that some of `kinds` need and others do not."""
    required = [set(k.required) for k in kinds]
    return set.union(*required) - set.intersection(*required)


def validate(df: pd.DataFrame, kind: str | None = None) -> ProbeKind:
    """Detect the probe's kind (or take `kind`) and check it against that kind's contract."""
    kind = detect_kind(df, kind)
    kind.validate(df)
    return kind


def slice_columns(df: pd.DataFrame, declared: list[str] | None = None) -> list[str]:
    """Columns to report per-slice metrics for.

    `declared` (from the probe manifest or `evaluator_config`) wins. Otherwise, any column outside
    the probe schemas whose values are strings repeated across rows (at most 50 distinct values,
    each seen at least twice on average) counts as a slice.
    """
    if declared is not None:
        unknown = [c for c in declared if c not in df.columns]
        if unknown:
            raise ProbeSchemaError(
                f"slice column(s) {', '.join(unknown)} are not in the probe; its columns are "
                f"{', '.join(map(str, df.columns))}."
            )
        return list(declared)
    found = []
    not_slices = _not_slices()
    for column in df.columns:
        if column in not_slices or df[column].dtype.kind in "biufc":
            continue
        distinct = df[column].nunique(dropna=True)
        if 2 <= distinct <= MAX_SLICE_VALUES and distinct * 2 <= len(df):
            found.append(column)
    return found
