"""Probe kinds: the columns a dimension reads from a probe, and the check of a probe's rows.

A dimension declares its kind (`Dimension.probe_kind`); the probe store detects and validates
probes against the kinds of the registered dimensions. The checks raise one error that lists
every problem found, so a malformed probe is fixed in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from mlflow_bias.core.errors import ProbeSchemaError
from mlflow_bias.core.intersections import intersection_problems


@dataclass(frozen=True)
class ProbeKind:
    """A probe kind: its name, required and optional columns, what its rows are, and the check
    that raises ProbeSchemaError listing every problem of a probe of this kind. `dimension` is
    the registered dimension that scores it (filled in by the registry)."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    description: str = ""
    validator: Callable[[pd.DataFrame], None] | None = None
    dimension: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional

    def validate(self, df: pd.DataFrame) -> None:
        """Check `df` against the kind's contract: the columns, then the kind's own check."""
        if self.validator is not None:
            self.validator(df)
            return
        require_columns(df, self, self.name.replace("_", "-"))
        problems = blank_and_duplicate_problems(df, self.required)
        if problems:
            raise ProbeSchemaError(f"The {self.name} probe is malformed: " + "; ".join(problems) + ".")


def blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype(str).str.strip() == "")


def validate_pairs(df: pd.DataFrame) -> None:
    """Check a counterfactual-pairs probe; raise one error listing every problem found."""
    kind = COUNTERFACTUAL_PAIRS
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
        bad = blank(df[column])
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
        blank_a, blank_b = blank(df["prior_a"]), blank(df["prior_b"])
        if (blank_a != blank_b).any():
            problems.append(f"{int((blank_a != blank_b).sum())} row(s) with only one prior")
    if "stereotype" in df.columns:
        values = df["stereotype"].fillna("").astype(str).str.strip().str.lower()
        bad = ~values.isin(["a", "b", ""])
        if bad.any():
            problems.append(
                f"stereotype must be 'a', 'b' or empty; found {sorted(set(values[bad]))[:5]}"
            )
    if not problems:
        problems += intersection_problems(df, ("group_a", "group_b"))
    if problems:
        raise ProbeSchemaError(
            "The counterfactual-pairs probe is malformed: " + "; ".join(problems) + "."
        )


def require_columns(df: pd.DataFrame, kind: "ProbeKind", label: str) -> tuple[str, ...]:
    """The kind's required columns, after checking the probe has them and has rows."""
    required = kind.required
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ProbeSchemaError(f"The {label} probe lacks the column(s): {', '.join(missing)}. "
                               f"Required: {', '.join(required)}.")
    if len(df) == 0:
        raise ProbeSchemaError(f"The {label} probe is empty.")
    return required


def validate_decisions(df: pd.DataFrame) -> None:
    """Schema of a decisions probe; one error listing every problem."""
    required = require_columns(df, DECISIONS, "decisions")
    problems = [p for p in blank_and_duplicate_problems(df, required) if "'group'" not in p]
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
    else:
        problems += intersection_problems(df)
    if "set_id" in df.columns and not problems:
        for attribute, part in df.groupby("attribute"):
            problems += set_problems(attribute, part)
            mixed = [str(k) for k, g in labels[part.index].groupby(part["set_id"]) if g.nunique() > 1]
            if mixed:
                problems.append(f"attribute {attribute!r}: set(s) {', '.join(mixed[:5])} have different "
                                "labels across their groups; a set is one input written once per group, "
                                "so its true outcome is the same for every group")
    if problems:
        raise ProbeSchemaError("The decisions probe is malformed: " + "; ".join(problems) + ".")


def validate_sets(df: pd.DataFrame, kind: str = "counterfactual_sets") -> None:
    """Counterfactual sets (CBS) or refusal probes: every set has each of its attribute's groups
    exactly once."""
    label = kind.replace("_", "-")
    required = require_columns(df, REFUSAL if kind == "refusal" else COUNTERFACTUAL_SETS, label)
    problems = blank_and_duplicate_problems(df, required, " (every row of a set needs its own id)")
    for attribute, part in df.groupby("attribute"):
        if part["group"].nunique() < 2:
            problems.append(f"attribute {attribute!r} has one group only ({part['group'].iloc[0]!r})")
            continue
        problems += set_problems(attribute, part)
    if not problems:
        problems += intersection_problems(df)
    if problems:
        raise ProbeSchemaError(f"The {label} probe is malformed: " + "; ".join(problems) + ".")


def set_problems(attribute: str, part: pd.DataFrame) -> list[str]:
    """Sets of one attribute that miss one of its groups or list a group twice."""
    groups = set(part["group"])
    per_set = part.groupby("set_id")["group"]
    incomplete = [str(k) for k, g in per_set if set(g) != groups]
    doubled = [str(k) for k, g in per_set if g.duplicated().any()]
    problems = []
    if incomplete:
        problems.append(f"attribute {attribute!r}: set(s) {', '.join(incomplete[:5])} miss a "
                        f"group (every set needs each of {sorted(groups)})")
    if doubled:
        problems.append(f"attribute {attribute!r}: set(s) {', '.join(doubled[:5])} list a group twice")
    return problems


def blank_and_duplicate_problems(df: pd.DataFrame, required: tuple[str, ...], hint: str = "") -> list[str]:
    """Problems shared by every probe kind's check: empty required cells and repeated ids."""
    problems = []
    for column in required:
        bad = blank(df[column])
        if bad.any():
            problems.append(f"{int(bad.sum())} row(s) with an empty {column!r}")
    if df["id"].duplicated().any():
        problems.append(f"duplicate ids: {', '.join(map(str, df.loc[df['id'].duplicated(), 'id'].head(3)))}"
                        + hint)
    return problems


def validate_association(df: pd.DataFrame) -> None:
    """WEAT/SEAT probe: every test has X, Y, A and B items, one protected attribute, no blank text."""
    required = require_columns(df, ASSOCIATION, "association")
    problems = blank_and_duplicate_problems(df, required)
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
    required = require_columns(df, RANKING, "ranking")
    problems = blank_and_duplicate_problems(df, required, " (every candidate row needs its own id)")
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


# -- the built-in kinds ----------------------------------------------------------------------------
BASE = ("id", "attribute")
COUNTERFACTUAL_PAIRS = ProbeKind(
    "counterfactual_pairs",
    BASE + ("condition", "group_a", "group_b", "text_a", "text_b"),
    ("prior_a", "prior_b", "stereotype"),
    "two texts identical but for the protected-group marker",
    validate_pairs,
)
COUNTERFACTUAL_SETS = ProbeKind(
    "counterfactual_sets",
    BASE + ("set_id", "group", "input"),
    ("label",),
    "inputs identical but for the group, one row per group",
    validate_sets,
)
REFUSAL = ProbeKind(
    "refusal",
    BASE + ("set_id", "group", "prompt"),
    (),
    "equivalent requests, one row per group",
    lambda df: validate_sets(df, "refusal"),
)
DECISIONS = ProbeKind(
    "decisions",
    BASE + ("group", "input", "label"),
    ("set_id",),
    "inputs with a true 0/1 outcome (with `set_id`: counterfactual sets, one input per group)",
    validate_decisions,
)
ASSOCIATION = ProbeKind(
    "association",
    BASE + ("test", "role", "text"),
    (),
    "WEAT/SEAT target (X, Y) and attribute (A, B) words or sentences",
    validate_association,
)
RANKING = ProbeKind(
    "ranking",
    BASE + ("list_id", "group", "input"),
    ("label",),
    "candidate lists to rank, one row per candidate with its group",
    validate_ranking,
)
