"""Mitigations for what the training-data audit finds, each returning a NEW dataset of the same
type (pandas DataFrame in, DataFrame out; `datasets.Dataset` in, Dataset out) and a record of what
it did.

- `inverse_frequency_weights`: a weight column that brings each group's weighted share to its
  target (re-audit with `weight_column=`).
- `resample_balanced`: seeded over- or under-sampling of single-group examples to the target.
- `counterfactual_augment`: gender-swapped copies (or replacements) of every example: pronouns,
  gendered nouns, titles and first names (to a same-race name of the other gender).

Groups are found exactly as the audit finds them (`representation.example_groups`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar, Union

import datasets
import numpy as np
import pandas as pd

from mlflow_bias.data_audit.representation import (
    ExampleGroups,
    GroupDetector,
    example_groups,
    PEEK_ROWS,
    groups_and_target,
    peek_string_columns,
    resolve_text_column,
)
from mlflow_bias.core.errors import ConfigError, TrainingDataError
from mlflow_bias.text.lexicons import Lexicon
from mlflow_bias.text.swap import AttributeSwapper

InMemoryData = TypeVar("InMemoryData", pd.DataFrame, datasets.Dataset)
_InMemory = Union[pd.DataFrame, datasets.Dataset]


@dataclass
class MitigationRecord:
    """What a mitigation did: enough to reproduce it and to see its effect on the group counts.

    `counts_before`/`counts_after`: examples mentioning each group of `attribute` (weighted sums
    after reweighting)."""

    method: str
    attribute: str
    parameters: dict[str, Any]
    seed: int | None
    rows_before: int
    rows_after: int
    counts_before: dict[str, float]
    counts_after: dict[str, float]
    lexicon: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, e.g. for `mlflow.log_dict(record.to_dict(), "mitigation.json")`."""
        return asdict(self)


def _check_in_memory(data: Any) -> None:
    if not isinstance(data, (pd.DataFrame, datasets.Dataset)):
        raise TrainingDataError(
            f"Mitigations take a pandas DataFrame or a datasets.Dataset, not a {type(data).__name__}: "
            "load the file first (pandas.read_csv/read_json/read_parquet, or "
            "datasets.load_dataset(..., split='train') without streaming)."
        )


def _group_counts(sets: Sequence[frozenset[str]], groups: Sequence[str],
                  weights: Sequence[float] | None = None) -> dict[str, float]:
    counts = {g: 0.0 for g in groups}
    for i, found in enumerate(sets):
        for g in found:
            counts[g] = counts.get(g, 0.0) + (1.0 if weights is None else float(weights[i]))
    return counts


def _groups_and_target(found: ExampleGroups, attribute: str,
                       target: Mapping[str, float] | None) -> tuple[list[str], dict[str, float]]:
    observed = {g for groups in found.groups[attribute] for g in groups}
    return groups_and_target(found.detector, attribute, observed, target)


def _select(data: InMemoryData, indices: Sequence[int]) -> InMemoryData:
    if isinstance(data, pd.DataFrame):
        return data.iloc[list(indices)].reset_index(drop=True)
    return data.select(list(indices))


def _find(data: _InMemory, attribute: str, text_column: str | None,
          group_columns: Mapping[str, str] | None, lexicon: str | Path | Lexicon | None) -> ExampleGroups:
    _check_in_memory(data)
    if len(data) == 0:
        raise TrainingDataError("The data has no rows: there is nothing to mitigate.")
    return example_groups(data, attributes=[attribute], text_column=text_column,
                          group_columns=group_columns, lexicon=lexicon)


# --- (a) inverse-frequency weights ---------------------------------------------------------------

def inverse_frequency_weights(
    data: InMemoryData,
    attribute: str = "gender",
    *,
    target: Mapping[str, float] | None = None,
    weight_column: str = "weight",
    text_column: str | None = None,
    group_columns: Mapping[str, str] | None = None,
    lexicon: str | Path | Lexicon | None = None,
) -> tuple[InMemoryData, MitigationRecord]:
    """Add a `weight_column` of sample weights that bring each group's weighted share to its target.

    With n_g the examples mentioning group g, N = sum_g n_g and t_g the target share (uniform by
    default), group g's factor is f_g = t_g * N / n_g (1 for a group already at its target). An
    example mentioning one group g gets f_g; one mentioning several groups gets the mean of their
    factors (it stands for all of them: neither boosted like the rarest nor cut like the commonest);
    one mentioning no group gets 1 (the audit's shares do not see it). Weights are then scaled to
    mean 1 over all rows. Without several-group examples the weighted shares equal the targets
    exactly; with them the gap shrinks but may not close. A group no example mentions cannot be
    weighted up (a warning says so).
    """
    found = _find(data, attribute, text_column, group_columns, lexicon)
    columns = list(data.columns) if isinstance(data, pd.DataFrame) else data.column_names
    if weight_column in columns:
        raise TrainingDataError(f"The data already has a column {weight_column!r}; pass another "
                                "weight_column or drop it first.")
    sets = found.groups[attribute]
    groups, shares = _groups_and_target(found, attribute, target)
    counts = _group_counts(sets, groups)
    mentions = sum(counts.values())
    if not mentions:
        raise TrainingDataError(f"No example mentions any {attribute} group: there is nothing to "
                                "reweight.")
    warnings = [f"No example mentions {attribute} group {g!r}; weighting cannot raise its share "
                f"to the target {shares[g]:g}." for g in groups if counts[g] == 0 and shares[g] > 0]
    factor = {g: shares[g] * mentions / counts[g] for g in groups if counts[g] > 0}
    raw = np.array([1.0 if not s else float(np.mean([factor[g] for g in s])) for s in sets])
    if raw.sum() <= 0:
        raise ConfigError(f"Every weight would be 0 under the target {shares}; give some group of "
                          "the data a positive target share.")
    weights = raw * len(raw) / raw.sum()
    if isinstance(data, pd.DataFrame):
        out = data.copy()
        out[weight_column] = weights
    else:
        out = data.add_column(weight_column, weights.tolist(), feature=datasets.Value("float64"))
    record = MitigationRecord(
        method="inverse_frequency_weights", attribute=attribute,
        parameters={"target": shares, "weight_column": weight_column,
                    "factors": factor, "text_column": found.text_column,
                    "several_groups": "mean of the groups' factors", "no_group": 1.0,
                    "normalisation": "mean 1 over all rows"},
        seed=None, rows_before=len(raw), rows_after=len(raw), counts_before=counts,
        counts_after=_group_counts(sets, groups, weights),
        lexicon=found.detector.lexicon.ref if found.detector.lexicon else None, warnings=warnings,
    )
    return out, record


# --- (b) group-balanced resampling ---------------------------------------------------------------

def _round(x: float) -> int:
    return int(math.floor(x + 0.5))


def resample_balanced(
    data: InMemoryData,
    attribute: str = "gender",
    *,
    strategy: str = "oversample",
    target: Mapping[str, float] | None = None,
    seed: int = 0,
    text_column: str | None = None,
    group_columns: Mapping[str, str] | None = None,
    lexicon: str | Path | Lexicon | None = None,
) -> tuple[InMemoryData, MitigationRecord]:
    """Over- or under-sample the examples that mention exactly one group so that each group's
    count of mentioning examples m_g is proportional to its target t_g.

    Examples mentioning no group or several groups are kept once, unchanged (resampling them would
    move several groups at once); their mentions count toward m_g. `oversample` keeps every row
    and adds copies: the new total is T = max_g m_g / t_g and group g gets round(t_g T) mentions;
    a group needing k extra rows out of n single-group examples gets k // n full copies of each
    and k % n more drawn without replacement. `undersample` keeps a seeded random subset (without
    replacement) with T = min_g m_g / t_g. Copies are appended after the original rows; kept rows
    keep their order. Same data, target and seed give the same rows.
    """
    if strategy not in ("oversample", "undersample"):
        raise ConfigError(f"strategy is {strategy!r}; use 'oversample' or 'undersample'.")
    found = _find(data, attribute, text_column, group_columns, lexicon)
    sets = found.groups[attribute]
    groups, shares = _groups_and_target(found, attribute, target)
    counts = _group_counts(sets, groups)
    singles: dict[str, list[int]] = {g: [] for g in groups}
    for i, s in enumerate(sets):
        if len(s) == 1:
            singles[next(iter(s))].append(i)
    shared = {g: int(counts[g]) - len(singles[g]) for g in groups}  # by several-group examples
    positive = [g for g in groups if shares[g] > 0]
    empty = [g for g in positive if counts[g] == 0]
    if empty:
        raise TrainingDataError(
            f"No example mentions {attribute} group(s) {empty}, so resampling cannot give them "
            "their target share: use counterfactual_augment, or give them target 0."
        )
    rng = np.random.default_rng(seed)
    warnings: list[str] = []
    if strategy == "oversample":
        total = max(counts[g] / shares[g] for g in positive)
        extra: list[int] = []
        for g in positive:
            need = _round(shares[g] * total) - shared[g] - len(singles[g])
            if need <= 0:
                continue
            pool = np.array(singles[g])
            if not len(pool):
                raise TrainingDataError(
                    f"Every example mentioning {attribute} group {g!r} also mentions another group, so "
                    "oversampling cannot raise its share alone: use counterfactual_augment."
                )
            chosen = np.concatenate([np.tile(pool, need // len(pool)),
                                     np.sort(rng.choice(pool, need % len(pool), replace=False))])
            extra.extend(int(i) for i in chosen)
        indices = list(range(len(sets))) + extra
        zero = [g for g in groups if shares[g] == 0 and counts[g] > 0]
        if zero:
            warnings.append(f"Oversampling only adds examples, so {attribute} group(s) {zero} keep "
                            "their examples despite a target of 0; use strategy='undersample' "
                            "to remove them.")
    else:
        total = min(counts[g] / shares[g] for g in positive)
        keep = set(range(len(sets))) - {i for g in groups for i in singles[g]}
        for g in groups:
            wanted = _round(shares[g] * total) - shared[g]
            if wanted < 0:
                warnings.append(f"Examples that mention {attribute} group {g!r} with other groups "
                                "already exceed its target; its share stays above the target.")
            wanted = min(max(wanted, 0), len(singles[g]))
            if wanted:
                keep.update(int(i) for i in rng.choice(np.array(singles[g]), wanted, replace=False))
        indices = sorted(keep)
    after = [sets[i] for i in indices]
    record = MitigationRecord(
        method=f"resample_balanced/{strategy}", attribute=attribute,
        parameters={"strategy": strategy, "target": shares, "text_column": found.text_column},
        seed=seed, rows_before=len(sets), rows_after=len(indices), counts_before=counts,
        counts_after=_group_counts(after, groups),
        lexicon=found.detector.lexicon.ref if found.detector.lexicon else None, warnings=warnings,
    )
    return _select(data, indices), record


# --- (c) counterfactual data augmentation ---------------------------------------------------------

def counterfactual_augment(
    data: InMemoryData,
    *,
    text_columns: str | Sequence[str] | None = None,
    mode: str = "append",
    lexicon: str | Path | Lexicon | None = None,
    extra_pairs: Mapping[str, str] | None = None,
    flag_column: str | None = None,
) -> tuple[InMemoryData, MitigationRecord]:
    """Counterfactual data augmentation for gender (the rules: `mlflow_bias.text.swap`).

    `mode="append"` (default) keeps every row and appends a swapped copy of each row whose text
    changed (rows with nothing to swap are not duplicated); `mode="replace"` swaps the text in
    place. `text_columns`: the column(s) to swap, the same way in every column of a row (default:
    the only string column). `flag_column`, if given, is added: True on swapped rows. Other columns
    are copied unchanged. Deterministic (no seed).
    """
    if mode not in ("append", "replace"):
        raise ConfigError(f"mode is {mode!r}; use 'append' (add swapped copies) or 'replace'.")
    _check_in_memory(data)
    if len(data) == 0:
        raise TrainingDataError("The data has no rows: there is nothing to augment.")
    swapper = AttributeSwapper("gender", lexicon=lexicon, extra_pairs=extra_pairs)
    frame_columns = list(data.columns) if isinstance(data, pd.DataFrame) else data.column_names
    if flag_column is not None and flag_column in frame_columns:
        raise TrainingDataError(f"The data already has a column {flag_column!r}; pass another "
                                "flag_column.")
    if text_columns is None:
        found = example_groups(data, attributes=["gender"], lexicon=swapper.lexicon)
        columns = [found.text_column]
    else:
        columns = [text_columns] if isinstance(text_columns, str) else list(text_columns)
        head = data.head(PEEK_ROWS) if isinstance(data, pd.DataFrame) else data.select(
            range(min(PEEK_ROWS, len(data)))).to_pandas()
        strings = peek_string_columns(head.to_dict("records"), frame_columns)
        for column in columns:
            resolve_text_column(frame_columns, strings, column)
    originals = {c: (data[c].tolist() if isinstance(data, pd.DataFrame) else list(data[c]))
                 for c in columns}
    swapped = {c: [swapper.swap(t).text if isinstance(t, str) else t for t in values]
               for c, values in originals.items()}
    n_rows = len(data)
    changed = [i for i in range(n_rows)
               if any(isinstance(originals[c][i], str) and swapped[c][i] != originals[c][i]
                      for c in columns)]
    changed_set = set(changed)
    rows = list(range(n_rows)) if mode == "replace" else changed
    new_text = {c: [swapped[c][i] for i in rows] for c in columns}

    if isinstance(data, pd.DataFrame):
        copies = data.iloc[rows].copy()
        for c in columns:
            copies[c] = new_text[c]
        if flag_column:
            copies[flag_column] = [i in changed_set for i in rows]
        if mode == "replace":
            out = copies.reset_index(drop=True)
        else:
            base = data.copy()
            if flag_column:
                base[flag_column] = False
            out = pd.concat([base, copies], ignore_index=True)
    else:
        copies = data.select(rows)
        for c in columns:
            copies = copies.remove_columns(c).add_column(c, new_text[c], feature=data.features[c])
        copies = copies.select_columns(frame_columns)
        if flag_column:
            copies = copies.add_column(flag_column, [i in changed_set for i in rows])
        if mode == "replace":
            out = copies
        else:
            base = data.add_column(flag_column, [False] * n_rows) if flag_column else data
            out = datasets.concatenate_datasets([base, copies])

    detector = GroupDetector.build(lexicon=swapper.lexicon, attributes=["gender"])
    groups = swapper.lexicon.groups["gender"]

    def gender_counts(texts: dict[str, list[Any]], indices: Sequence[int]) -> dict[str, float]:
        sets = [detector.detect("gender", "\n".join(texts[c][i] for c in columns
                                                    if isinstance(texts[c][i], str)))
                for i in indices]
        return _group_counts(sets, groups)

    before = gender_counts(originals, range(n_rows))
    swapped_counts = gender_counts(swapped, rows)
    after = (swapped_counts if mode == "replace"
             else {g: before[g] + swapped_counts[g] for g in groups})
    record = MitigationRecord(
        method=f"counterfactual_augment/{mode}", attribute="gender",
        parameters={"mode": mode, "text_columns": columns, "extra_pairs": dict(extra_pairs or {}),
                    "rows_swapped": len(changed), "flag_column": flag_column},
        seed=None, rows_before=n_rows, rows_after=len(out), counts_before=before,
        counts_after=after, lexicon=swapper.lexicon.ref,
    )
    return out, record
