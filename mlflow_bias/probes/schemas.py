"""Column contracts of each probe kind, and validation with errors that list what to fix."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mlflow_bias.errors import ProbeSchemaError


@dataclass(frozen=True)
class ProbeKind:
    name: str
    dimension: str  # the dimension that scores this kind
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    description: str = ""


BASE = ("id", "attribute")
KINDS: dict[str, ProbeKind] = {
    k.name: k
    for k in (
        ProbeKind(
            "counterfactual_pairs",
            "lpbs",
            BASE + ("condition", "group_a", "group_b", "text_a", "text_b"),
            ("prior_a", "prior_b", "stereotype"),
            "two texts identical but for the protected-group marker",
        ),
        ProbeKind(
            "counterfactual_sets",
            "cbs",
            BASE + ("set_id", "group", "input"),
            ("label",),
            "inputs identical but for the group, one row per group",
        ),
        ProbeKind(
            "refusal",
            "refusal",
            BASE + ("set_id", "group", "prompt"),
            (),
            "equivalent requests, one row per group",
        ),
        ProbeKind(
            "decisions",
            "parity",
            BASE + ("group", "input", "label"),
            (),
            "inputs with a true 0/1 outcome",
        ),
        ProbeKind(
            "association",
            "association",
            BASE + ("test", "role", "text"),
            (),
            "WEAT/SEAT target (X, Y) and attribute (A, B) words or sentences",
        ),
        ProbeKind(
            "ranking",
            "ranking",
            BASE + ("list_id", "group", "input"),
            ("label",),
            "candidate lists to rank, one row per candidate with its group",
        ),
    )
}

# Columns that never define a slice.
_NOT_SLICES = {c for k in KINDS.values() for c in k.required + k.optional}
MAX_SLICE_VALUES = 50


def detect_kind(df: pd.DataFrame, declared: str | None = None) -> ProbeKind:
    """The probe's kind: `declared` when given (a frozen probe's manifest, or the user), else the
    one kind whose required columns are all present. Columns that fit several kinds (a decisions
    probe with a `set_id` column fits the counterfactual sets too) are an error asking for the
    kind: never a guess."""
    columns = set(df.columns)
    if declared is not None:
        if declared not in KINDS:
            raise ProbeSchemaError(f"Unknown probe kind {declared!r}; kinds: {', '.join(KINDS)}.")
        return KINDS[declared]
    matches = [k for k in KINDS.values() if set(k.required) <= columns]
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
    closest = min(KINDS.values(), key=lambda k: len(set(k.required) - columns))
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


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype(str).str.strip() == "")


def validate_pairs(df: pd.DataFrame) -> None:
    """Check a counterfactual-pairs probe; raise one error listing every problem found."""
    kind = KINDS["counterfactual_pairs"]
    problems: list[str] = []
    missing = [c for c in kind.required if c not in df.columns]
    if missing:
        raise ProbeSchemaError(
            f"The counterfactual-pairs probe lacks the column(s): {', '.join(missing)}. "
            f"Required: {', '.join(kind.required)}; optional: {', '.join(kind.optional)}."
        )
    if len(df) == 0:
        raise ProbeSchemaError(
            "The probe is empty: it has the right columns but no rows. Score a probe with at "
            "least a few hundred items per attribute."
        )
    for column in kind.required:
        bad = _blank(df[column])
        if bad.any():
            problems.append(f"{int(bad.sum())} row(s) with an empty {column!r} (first ids: "
                            f"{', '.join(map(str, df.loc[bad, 'id'].head(3)))})")
    if df["id"].duplicated().any():
        dup = df.loc[df["id"].duplicated(), "id"].head(3)
        problems.append(f"duplicate ids: {', '.join(map(str, dup))}")
    same_text = df["text_a"] == df["text_b"]
    if same_text.any():
        problems.append(
            f"{int(same_text.sum())} row(s) where text_a equals text_b, so nothing was swapped "
            f"(first ids: {', '.join(map(str, df.loc[same_text, 'id'].head(3)))})"
        )
    same_group = df["group_a"] == df["group_b"]
    if same_group.all():
        problems.append(
            "every row has group_a equal to group_b: the probe holds one group only; a pair must "
            "contrast two groups"
        )
    elif same_group.any():
        problems.append(f"{int(same_group.sum())} row(s) where group_a equals group_b")
    has_a, has_b = "prior_a" in df.columns, "prior_b" in df.columns
    if has_a != has_b:
        problems.append("prior_a and prior_b must be given together (or neither)")
    elif has_a:
        blank_a, blank_b = _blank(df["prior_a"]), _blank(df["prior_b"])
        if (blank_a != blank_b).any():
            problems.append(f"{int((blank_a != blank_b).sum())} row(s) with only one prior")
    if "stereotype" in df.columns:
        values = df["stereotype"].fillna("").astype(str).str.strip().str.lower()
        bad = ~values.isin(["a", "b", ""])
        if bad.any():
            problems.append(
                f"stereotype must be 'a', 'b' or empty; found {sorted(set(values[bad]))[:5]}"
            )
    if problems:
        raise ProbeSchemaError(
            "The counterfactual-pairs probe is malformed: " + "; ".join(problems) + "."
        )


def _require_columns(df: pd.DataFrame, kind: str, label: str) -> tuple[str, ...]:
    """The kind's required columns, after checking the probe has them and has rows."""
    required = KINDS[kind].required
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ProbeSchemaError(f"The {label} probe lacks the column(s): {', '.join(missing)}. "
                               f"Required: {', '.join(required)}.")
    if len(df) == 0:
        raise ProbeSchemaError(f"The {label} probe is empty.")
    return required


def validate_decisions(df: pd.DataFrame) -> None:
    """Schema of a decisions probe; one error listing every problem."""
    required = _require_columns(df, "decisions", "decisions")
    problems = [p for p in _blank_and_duplicate_problems(df, required) if "'group'" not in p]
    labels = pd.to_numeric(df["label"], errors="coerce")
    bad = ~labels.isin([0, 1])
    if bad.any():
        problems.append(f"label must be 0 or 1 (the true outcome); found {sorted(map(str, set(df.loc[bad, 'label'])))[:5]}")
    for attribute, part in df.groupby("attribute"):
        if part["group"].nunique() < 2:
            problems.append(f"attribute {attribute!r} has one group only ({part['group'].iloc[0]!r}); "
                            "decision metrics compare at least two groups")
    if df["group"].isna().any() or (df["group"].astype(str).str.strip() == "").any():
        problems.append("some rows have an empty group")
    if problems:
        raise ProbeSchemaError("The decisions probe is malformed: " + "; ".join(problems) + ".")


def validate_sets(df: pd.DataFrame, kind: str = "counterfactual_sets") -> None:
    """Counterfactual sets (CBS) or refusal probes: every set has each of its attribute's groups
    exactly once."""
    label = kind.replace("_", "-")
    required = _require_columns(df, kind, label)
    problems = _blank_and_duplicate_problems(df, required, " (every row of a set needs its own id)")
    for attribute, part in df.groupby("attribute"):
        groups = set(part["group"])
        if len(groups) < 2:
            problems.append(f"attribute {attribute!r} has one group only ({next(iter(groups))!r})")
            continue
        per_set = part.groupby("set_id")["group"]
        incomplete = [str(k) for k, g in per_set if set(g) != groups]
        doubled = [str(k) for k, g in per_set if g.duplicated().any()]
        if incomplete:
            problems.append(f"attribute {attribute!r}: set(s) {', '.join(incomplete[:5])} miss a "
                            f"group (every set needs each of {sorted(groups)})")
        if doubled:
            problems.append(f"attribute {attribute!r}: set(s) {', '.join(doubled[:5])} list a group twice")
    if problems:
        raise ProbeSchemaError(f"The {label} probe is malformed: " + "; ".join(problems) + ".")


def _blank_and_duplicate_problems(df: pd.DataFrame, required: tuple[str, ...], hint: str = "") -> list[str]:
    """Problems shared by every probe kind's check: empty required cells and repeated ids."""
    problems = []
    for column in required:
        bad = _blank(df[column])
        if bad.any():
            problems.append(f"{int(bad.sum())} row(s) with an empty {column!r}")
    if df["id"].duplicated().any():
        problems.append(f"duplicate ids: {', '.join(map(str, df.loc[df['id'].duplicated(), 'id'].head(3)))}"
                        + hint)
    return problems


def validate_association(df: pd.DataFrame) -> None:
    """WEAT/SEAT probe: every test has X, Y, A and B items, one protected attribute, no blank text."""
    required = _require_columns(df, "association", "association")
    problems = _blank_and_duplicate_problems(df, required)
    roles = df["role"].astype(str)
    bad_roles = sorted(set(roles) - {"X", "Y", "A", "B"})
    if bad_roles:
        problems.append(f"role must be X, Y (targets) or A, B (attributes); found {bad_roles[:5]}")
    for test, part in df.groupby("test"):
        absent = [r for r in ("X", "Y", "A", "B") if not (part["role"] == r).any()]
        if absent:
            problems.append(f"test {test!r} has no {'/'.join(absent)} items")
        if part["attribute"].nunique() > 1:
            problems.append(f"test {test!r} mixes attributes {sorted(map(str, part['attribute'].unique()))}")
    if problems:
        raise ProbeSchemaError("The association probe is malformed: " + "; ".join(problems) + ".")


def validate_ranking(df: pd.DataFrame) -> None:
    """Ranking probe: unique ids, every list of one attribute with at least two groups and two
    candidates, optional 0/1 relevance labels; one error listing every problem."""
    required = _require_columns(df, "ranking", "ranking")
    problems = _blank_and_duplicate_problems(df, required, " (every candidate row needs its own id)")
    if "label" in df.columns:
        labels = pd.to_numeric(df["label"], errors="coerce")
        bad = ~labels.isin([0, 1]) & df["label"].notna()
        if bad.any():
            problems.append(f"label must be 0 or 1 (relevance) or empty; found "
                            f"{sorted(map(str, set(df.loc[bad, 'label'])))[:5]}")
    lists = df.groupby(df["list_id"].astype(str))
    mixed = [k for k, part in lists if part["attribute"].nunique() > 1]
    if mixed:
        problems.append(f"list(s) {', '.join(mixed[:5])} mix attributes (each list compares the "
                        "groups of one attribute)")
    single = [f"{k} ({part['group'].iloc[0]!r})" for k, part in lists
              if part["group"].nunique() < 2 and k not in mixed]
    if single:
        problems.append(f"list(s) {', '.join(single[:5])} hold one group only; a ranking compares "
                        "at least two groups in the same list")
    if problems:
        raise ProbeSchemaError("The ranking probe is malformed: " + "; ".join(problems) + ".")


_VALIDATORS = {
    "counterfactual_pairs": validate_pairs,
    "counterfactual_sets": validate_sets,
    "refusal": lambda df: validate_sets(df, "refusal"),
    "decisions": validate_decisions,
    "association": validate_association,
    "ranking": validate_ranking,
}


def validate(df: pd.DataFrame, kind: str | None = None) -> ProbeKind:
    """Detect the probe's kind (or take `kind`) and check it against that kind's contract."""
    kind = detect_kind(df, kind)
    if kind.name in _VALIDATORS:
        _VALIDATORS[kind.name](df)
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
    for column in df.columns:
        if column in _NOT_SLICES or df[column].dtype.kind in "biufc":
            continue
        distinct = df[column].nunique(dropna=True)
        if 2 <= distinct <= MAX_SLICE_VALUES and distinct * 2 <= len(df):
            found.append(column)
    return found
