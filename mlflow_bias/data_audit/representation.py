"""Representation of protected groups in a fine-tuning dataset (pure: no MLflow calls).

For each protected attribute (gender, race, ...) every example is assigned the set of groups it
mentions: by whole-word, case-insensitive matches of a versioned lexicon's terms in its text
(`mlflow_bias/lexicon_files/`), or by the value of an explicit group column. Then:

- count n_g: the number of examples that mention group g. An example that mentions several groups
  of an attribute counts once for each; `none` and `multiple` count the examples that mention no
  group and more than one group of the attribute.
- share_g = n_g / sum_h n_h (so the shares of an attribute sum to 1), compared with a target
  population distribution t_g (unless given: the lexicon's documented default target for the
  attribute where it has one, else uniform over the attribute's groups):
  difference_g = share_g - t_g and **gap = max_g |share_g - t_g|** (the largest per-group
  deviation, in [0, 1]; for two groups it equals the total variation distance).
- co-occurrence with context terms (occupations by default; whole words, case-insensitive, also
  in their -s/-es plural): n_gt = examples that mention both group g and term t, N_t = sum_g n_gt,
  N = sum_g n_g. The skew of (g, t) is the smoothed log odds ratio of g against the attribute's
  other groups among the term's mentions, relative to the same odds over all mentions:

      log_ratio(g, t) = ln[(n_gt + a) / (N_t - n_gt + a)] - ln[(n_g + a) / (N - n_g + a)]

  with a = `alpha` = 0.5 added to every count (the Haldane-Anscombe correction) so that a zero
  count gives a finite value. 0 means the term goes with g exactly as often as g appears overall; +ln 3 means the
  odds of g are three times higher with the term. For two groups the two values of a term are
  opposite. The pairs with the largest |log_ratio| among terms with N_t >= `min_count` are flagged.

With `weight_column` (e.g. after `mitigation.inverse_frequency_weights`) every count is a sum of
example weights instead, so a re-audit shows what training on the weighted data would see.

Files are streamed (`datasets.load_dataset(..., streaming=True)`), never loaded whole, and their
rows are hashed on the way (SHA-256) so the audit can name exactly what it read.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, Union

import datasets
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mlflow_bias.core.metric_keys import metric_segment
from mlflow_bias.core.errors import ConfigError, TrainingDataError
from mlflow_bias.text.lexicons import DEFAULT_LEXICON, Lexicon, load_lexicon

NAME = "representation"
METRIC_PREFIX = "data/representation"
DEFAULT_ALPHA = 0.5
DEFAULT_MIN_COUNT = 5
DEFAULT_TOP_K = 10
# Occupations often studied for gender and race stereotypes (e.g. in WinoBias and in US labour
# statistics); single words or phrases, matched as whole words with an optional -s/-es plural.
DEFAULT_CONTEXT_TERMS: tuple[str, ...] = (
    "engineer", "nurse", "doctor", "teacher", "secretary", "programmer", "scientist", "lawyer",
    "ceo", "manager", "pilot", "mechanic", "carpenter", "electrician", "plumber", "surgeon",
    "receptionist", "librarian", "hairdresser", "housekeeper", "cashier", "accountant",
    "architect", "firefighter", "chef", "janitor", "developer", "designer", "professor",
    "farmer", "soldier", "police officer", "dancer", "writer",
)
# File suffix -> the `datasets` builder that streams it (shared with trace replay).
FILE_READERS = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet",
                 ".pq": "parquet"}
_ATTRIBUTE_METRICS = ("gap", "none_rate", "multiple_rate")
PEEK_ROWS = 100  # rows read to tell which columns hold text

TrainingData = Union[pd.DataFrame, datasets.Dataset, datasets.IterableDataset, str, Path]


_WORD = re.compile(r"\w+")


@dataclass
class TermMatcher:
    """Finds which of `terms` a text contains: whole words (a phrase may span any whitespace),
    case-insensitively, so "he" never matches inside "the" or "shell". With `plurals`, a term also
    matches itself followed by -s or -es ("engineers", "bosses").

    Single-word terms are looked up in a set of the text's words (several times faster than one
    large regular expression); only multi-word or punctuated terms go through a regex."""

    terms: Sequence[str]
    plurals: bool = False
    _canonical: set[str] = field(default_factory=set, init=False, repr=False)
    _words: frozenset[str] = field(default=frozenset(), init=False, repr=False)
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._canonical = {" ".join(str(t).split()).lower() for t in self.terms if str(t).strip()}
        self._words = frozenset(t for t in self._canonical if _WORD.fullmatch(t))
        phrases = sorted(self._canonical - self._words, key=lambda t: (-len(t), t))
        if phrases:
            body = "|".join(r"\s+".join(map(re.escape, term.split())) for term in phrases)
            suffix = "(?:e?s)?" if self.plurals else ""
            self._pattern = re.compile(rf"(?<!\w)(?:{body}){suffix}(?!\w)", re.IGNORECASE)

    def find(self, text: str) -> set[str]:
        """The distinct terms found in `text`, as canonical lower-case terms."""
        if not text or not self._canonical:
            return set()
        found: set[str] = set()
        if self._words:
            for token in set(_WORD.findall(text.lower())):
                if token in self._words:
                    found.add(token)
                elif self.plurals and token.endswith("s"):
                    if token[:-1] in self._words:
                        found.add(token[:-1])
                    elif token.endswith("es") and token[:-2] in self._words:
                        found.add(token[:-2])
                    elif token.endswith("ies") and token[:-3] + "y" in self._words:
                        found.add(token[:-3] + "y")  # secretaries -> secretary
        if self._pattern is not None:
            found.update(self._canonicalise(match) for match in self._pattern.findall(text))
        return found

    def _canonicalise(self, match: str) -> str:
        found = " ".join(match.split()).lower()
        if found in self._canonical or not self.plurals:
            return found
        return found[:-1] if found[:-1] in self._canonical else found[:-2]


def column_groups(value: Any) -> frozenset[str]:
    """Groups given by a group-column value: a label, a list of labels, or empty/None/NaN (none)."""
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return frozenset(group for item in value for group in column_groups(item))
    if _is_missing(value):
        return frozenset()
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)  # an integer column with gaps is read as floats: 1.0 is group "1"
    label = str(value).strip()
    return frozenset({label}) if label else frozenset()


@dataclass
class GroupDetector:
    """Which groups of each protected attribute an example mentions: by lexicon terms found in its
    text (whole words, case-insensitive), or by the value of one group column per attribute."""

    attributes: list[str]
    lexicon: Lexicon | None = None
    group_columns: dict[str, str] = field(default_factory=dict)
    _matchers: dict[str, TermMatcher] = field(default_factory=dict, repr=False)
    _term_group: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.lexicon is not None:
            for attribute in self.attributes:
                self._term_group[attribute] = self.lexicon.group_of_term(attribute)
                self._matchers[attribute] = TermMatcher(list(self._term_group[attribute]))

    @classmethod
    def build(
        cls,
        *,
        lexicon: str | Path | Lexicon | None = None,
        group_columns: Mapping[str, str] | None = None,
        attributes: Sequence[str] | None = None,
    ) -> "GroupDetector":
        """Lexicon mode (the shipped default lexicon when neither is given) or group-column mode."""
        if group_columns and lexicon is not None:
            raise ConfigError(
                "Pass either group_columns (groups read from columns) or a lexicon (groups found "
                "in the text), not both."
            )
        if group_columns:
            columns = {str(a): str(c) for a, c in dict(group_columns).items()}
            chosen = list(columns) if attributes is None else [str(a) for a in attributes]
            unknown = [a for a in chosen if a not in columns]
            if unknown:
                raise ConfigError(f"Attribute(s) {unknown} have no group column; group_columns "
                                  f"names: {', '.join(columns)}.")
            return cls(chosen, None, {a: columns[a] for a in chosen})
        loaded = lexicon if isinstance(lexicon, Lexicon) else load_lexicon(lexicon or DEFAULT_LEXICON)
        chosen = loaded.attributes if attributes is None else [str(a) for a in attributes]
        unknown = [a for a in chosen if a not in loaded.groups]
        if unknown:
            raise ConfigError(f"Lexicon {loaded.ref} has no attribute(s) {unknown}; it has: "
                              f"{', '.join(loaded.attributes)}.")
        if not chosen:
            raise ConfigError("No attribute to audit: pass attributes or group_columns.")
        return cls(list(chosen), loaded)

    def known_groups(self, attribute: str) -> tuple[str, ...]:
        """The attribute's groups when the lexicon defines them; () for a group column."""
        return self.lexicon.groups[attribute] if self.lexicon is not None else ()

    def detect(self, attribute: str, text: str, row: Mapping[str, Any] | None = None) -> frozenset[str]:
        """The groups of `attribute` that an example (its text, or its row's group column) mentions."""
        if self.lexicon is None:
            return column_groups((row or {}).get(self.group_columns[attribute]))
        mapping = self._term_group[attribute]
        return frozenset(mapping[term] for term in self._matchers[attribute].find(text))


def validate_target(attribute: str, target: Mapping[str, Any] | None, groups: Sequence[str],
                    *, fixed_groups: bool) -> dict[str, float]:
    """The target distribution of an attribute: uniform over `groups` when None; otherwise checked
    (numbers >= 0 summing to 1, one for each group; with `fixed_groups` False it may also name
    groups absent from the data)."""
    if target is None:
        if not groups:
            return {}
        return {group: 1.0 / len(groups) for group in groups}
    if not isinstance(target, Mapping) or not target:
        raise ConfigError(f"The target for {attribute!r} must be a non-empty mapping group -> share, "
                          "e.g. {'female': 0.5, 'male': 0.5}.")
    shares: dict[str, float] = {}
    for group, value in target.items():
        try:
            share = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"Target share of {attribute}/{group} is {value!r}, not a number.") from None
        if not math.isfinite(share) or share < 0:
            raise ConfigError(f"Target share of {attribute}/{group} is {value!r}; shares must be "
                              "finite numbers >= 0.")
        shares[str(group)] = share
    total = sum(shares.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"The target for {attribute!r} sums to {total:g}; its shares must sum to 1 "
                          f"(given: {shares}).")
    unknown = [g for g in shares if fixed_groups and g not in groups]
    if unknown:
        raise ConfigError(f"The target for {attribute!r} names unknown group(s) {unknown}; the groups "
                          f"are: {', '.join(groups)}.")
    missing = [g for g in groups if g not in shares]
    if missing:
        raise ConfigError(f"The target for {attribute!r} gives no share for group(s) {missing}; give "
                          "every group a share (0 is allowed).")
    return shares


def groups_and_target(detector: GroupDetector, attribute: str, observed: Iterable[str],
                      target: Mapping[str, Any] | None) -> tuple[list[str], dict[str, float]]:
    """The groups reported for an attribute and its checked target: the lexicon's groups, or for
    a group column the groups observed plus any the target names (a target must give a share to
    every observed group)."""
    known = detector.known_groups(attribute)
    if known:
        default = detector.lexicon.default_targets.get(attribute) if detector.lexicon else None
        if target is None:
            target = default
        elif default and isinstance(target, Mapping):
            # a group the lexicon targets at 0 by default (nonbinary) may be left out: 0 it stays
            target = {**{g: 0.0 for g, share in default.items() if share == 0}, **target}
        return list(known), validate_target(attribute, target, known, fixed_groups=True)
    seen = sorted(set(observed))
    groups = sorted(set(seen) | set(target or {}))
    return groups, validate_target(attribute, target, seen if target else groups, fixed_groups=False)


def log_ratio(n_gt: float, term_total: float, n_g: float, total: float, alpha: float) -> float:
    """Smoothed log odds ratio of group g with term t vs g overall (see the module docstring)."""
    return (math.log((n_gt + alpha) / (term_total - n_gt + alpha))
            - math.log((n_g + alpha) / (total - n_g + alpha)))


@dataclass
class RepresentationResult:
    """Representation audit of one dataset.

    `counts`: one row per (attribute, group): count, share, target, difference = share - target.
    `cooccurrence`: one row per (attribute, term, group) for terms seen with a group: count n_gt,
    term_total N_t, share n_gt / N_t, baseline_share n_g / N, log_ratio (module docstring).
    `flagged`: the most skewed of those pairs per attribute (|log_ratio| ranked, N_t >= min_count),
    with direction `over` or `under`. `lexicon` is `name@version`, or None with group columns.
    """

    counts: pd.DataFrame
    shares: dict[str, dict[str, float]]
    targets: dict[str, dict[str, float]]
    gaps: dict[str, float]
    none_counts: dict[str, float]
    multiple_counts: dict[str, float]
    cooccurrence: pd.DataFrame
    flagged: pd.DataFrame
    n_examples: int
    total_weight: float
    lexicon: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def attributes(self) -> list[str]:
        return list(self.shares)

    def none_rate(self, attribute: str) -> float:
        """Share of examples (of total weight) mentioning no group of the attribute."""
        return self.none_counts[attribute] / self.total_weight if self.total_weight else math.nan

    def multiple_rate(self, attribute: str) -> float:
        """Share of examples (of total weight) mentioning several groups of the attribute."""
        return self.multiple_counts[attribute] / self.total_weight if self.total_weight else math.nan

    def summary_table(self) -> pd.DataFrame:
        """One row per attribute: mentions, none/multiple counts and rates, gap."""
        rows = []
        for attribute in self.attributes:
            mentions = float(self.counts.loc[self.counts["attribute"] == attribute, "count"].sum())
            rows.append({
                "attribute": attribute, "n_examples": self.n_examples, "mentions": mentions,
                "none": self.none_counts[attribute], "multiple": self.multiple_counts[attribute],
                "none_rate": self.none_rate(attribute), "multiple_rate": self.multiple_rate(attribute),
                "gap": self.gaps[attribute],
            })
        return pd.DataFrame(rows, columns=["attribute", "n_examples", "mentions", "none", "multiple",
                                           "none_rate", "multiple_rate", "gap"])

    def metrics(self) -> dict[str, float]:
        """MLflow metrics: `data/representation/<attribute>/<group>` (share), `…/<attribute>/gap`,
        `…/none_rate`, `…/multiple_rate`, and `data/representation/n_examples`. An attribute that
        no example mentions has no share or gap metric (they are undefined)."""
        metrics: dict[str, float] = {f"{METRIC_PREFIX}/n_examples": float(self.n_examples)}
        for attribute in self.attributes:
            key = f"{METRIC_PREFIX}/{metric_segment(attribute)}"
            if not math.isnan(self.gaps[attribute]):
                for group, share in self.shares[attribute].items():
                    metrics[f"{key}/{metric_segment(group)}"] = float(share)
                metrics[f"{key}/gap"] = float(self.gaps[attribute])
            metrics[f"{key}/none_rate"] = float(self.none_rate(attribute))
            metrics[f"{key}/multiple_rate"] = float(self.multiple_rate(attribute))
        return metrics

    def summary(self, max_pairs: int = 10) -> str:
        """A readable report: per attribute the group table and gap, then the flagged pairs."""
        source = self.metadata.get("path") or self.metadata.get("source", "data")
        by = f"lexicon {self.lexicon}" if self.lexicon else "group columns " + ", ".join(
            f"{a}={c}" for a, c in self.metadata.get("group_columns", {}).items())
        lines = [f"Representation audit of {source}: {self.n_examples:,} examples ({by})"]
        for attribute in self.attributes:
            none, multiple = self.none_rate(attribute), self.multiple_rate(attribute)
            gap = self.gaps[attribute]
            if math.isnan(gap):
                lines += ["", f"{attribute}: no example mentions any of its groups "
                              f"({', '.join(map(str, self.shares[attribute])) or 'none known'})"]
                continue
            lines += ["", f"{attribute}: gap {gap:.3f} (max |share - target|); "
                          f"no group {none:.1%}, several groups {multiple:.1%}",
                      f"  {'group':<16}{'count':>10}{'share':>9}{'target':>9}{'diff':>9}"]
            table = self.counts[self.counts["attribute"] == attribute]
            for row in table.to_dict("records"):
                lines.append(f"  {str(row['group'])[:15]:<16}{row['count']:>10,.0f}"
                             f"{row['share']:>9.3f}{row['target']:>9.3f}{row['difference']:>+9.3f}")
        if len(self.flagged):
            lines += ["", "Most skewed group x term co-occurrences (smoothed log odds ratio vs the "
                          f"group's overall odds; terms seen >= {self.metadata.get('min_count')} times):"]
            for row in self.flagged.head(max_pairs).to_dict("records"):
                lines.append(f"  {row['attribute'][:12]:<13}{str(row['group'])[:15]:<16}"
                             f"{row['term'][:20]:<21}{row['count']:>7,.0f} of {row['term_total']:<7,.0f}"
                             f"share {row['share']:.2f} vs {row['baseline_share']:.2f}  "
                             f"log-ratio {row['log_ratio']:+.2f}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no tables)."""
        return {
            "n_examples": self.n_examples, "lexicon": self.lexicon, "shares": self.shares,
            "targets": self.targets, "gaps": self.gaps, "none_counts": self.none_counts,
            "multiple_counts": self.multiple_counts, "metadata": self.metadata,
            "warnings": self.warnings,
        }


# --- reading the data ----------------------------------------------------------------------------

@dataclass
class _Source:
    """Uniform batch access to the supported data types."""

    columns: list[str]
    string_columns: list[str]
    total: int | None
    kind: str
    streamed: bool
    read: Callable[[list[str] | None], Iterator[dict[str, list[Any]]]]
    path: str | None = None


def _is_string_feature(feature: Any) -> bool:
    return isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return False
    return bool(pd.isna(value))


def peek_string_columns(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    """Columns whose non-null values in the first rows are all strings (at least one)."""
    out = []
    for column in columns:
        values = [row.get(column) for row in rows if not _is_missing(row.get(column))]
        if values and all(isinstance(v, str) for v in values):
            out.append(column)
    return out


def _open_iterable(ds: datasets.IterableDataset, kind: str, path: str | None, batch_size: int) -> _Source:
    try:
        first = list(ds.take(PEEK_ROWS))
    except Exception as exc:  # a malformed file surfaces here, on first read
        raise TrainingDataError(f"Cannot read {path or 'the dataset'}: {exc}") from exc
    if not first:
        raise TrainingDataError(f"{path or 'The dataset'} has no rows: there is nothing to audit.")
    columns = list(ds.column_names or first[0].keys())
    if ds.features is not None:
        strings = [c for c, f in ds.features.items() if _is_string_feature(f)]
    else:
        strings = peek_string_columns(first, columns)

    def read(_: list[str] | None) -> Iterator[dict[str, list[Any]]]:
        try:
            yield from ds.iter(batch_size=batch_size)
        except TrainingDataError:
            raise
        except Exception as exc:
            raise TrainingDataError(f"Cannot read {path or 'the dataset'}: {exc}") from exc

    return _Source(columns, strings, None, kind, True, read, path)


def _open(data: TrainingData, batch_size: int) -> _Source:
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise TrainingDataError(f"No file at {path}. Pass a CSV, JSONL or parquet file, a pandas "
                                    "DataFrame or a datasets.Dataset.")
        reader = FILE_READERS.get(path.suffix.lower())
        if reader is None:
            raise TrainingDataError(f"Cannot read {path}: use a .csv, .jsonl or .parquet file.")
        try:
            ds = datasets.load_dataset(reader, data_files=str(path), streaming=True, split="train")
        except Exception as exc:
            raise TrainingDataError(f"Cannot read {path} as {reader}: {exc}") from exc
        return _open_iterable(ds, "file", str(path.resolve()), batch_size)
    if isinstance(data, datasets.IterableDataset):
        return _open_iterable(data, "datasets.IterableDataset", None, batch_size)
    if isinstance(data, datasets.Dataset):
        if len(data) == 0:
            raise TrainingDataError("The dataset has no rows: there is nothing to audit.")
        strings = [c for c, f in data.features.items() if _is_string_feature(f)]

        def read_dataset(columns: list[str] | None) -> Iterator[dict[str, list[Any]]]:
            selected = data.select_columns(columns) if columns is not None else data
            yield from selected.iter(batch_size=batch_size)

        return _Source(list(data.column_names), strings, len(data), "datasets.Dataset", False,
                       read_dataset)
    if isinstance(data, pd.DataFrame):
        if len(data) == 0:
            raise TrainingDataError("The DataFrame has no rows: there is nothing to audit.")
        frame = data.rename(columns=str)
        strings = peek_string_columns(frame.head(PEEK_ROWS).to_dict("records"), list(frame.columns))

        def read_frame(columns: list[str] | None) -> Iterator[dict[str, list[Any]]]:
            selected = frame if columns is None else frame[columns]
            for start in range(0, len(selected), batch_size):
                yield selected.iloc[start:start + batch_size].to_dict("list")

        return _Source(list(frame.columns), strings, len(frame), "pandas.DataFrame", False, read_frame)
    raise TrainingDataError(
        f"Cannot audit a {type(data).__name__}: pass a pandas DataFrame, a datasets.Dataset or "
        "IterableDataset, or a CSV/JSONL/parquet path."
    )


def resolve_text_column(columns: Sequence[str], string_columns: Sequence[str], text_column: str | None,
                        exclude: Iterable[str] = ()) -> str:
    """The text column: the one given (checked), else the only string column not in `exclude`.
    A column that holds no text is never audited, and a column named `text` that holds none is
    an error rather than a reason to audit another column."""
    if text_column is not None:
        if text_column not in columns:
            raise TrainingDataError(f"The data has no text column {text_column!r}; its columns are: "
                                    f"{', '.join(columns)}. Pass text_column (--text-column).")
        if text_column not in string_columns:
            raise TrainingDataError(f"Column {text_column!r} does not hold text (its first values are "
                                    f"not strings); the audit counts words in text. Pass the column "
                                    f"that holds the examples' text (--text-column); string columns: "
                                    f"{', '.join(string_columns) or 'none'}.")
        return text_column
    if "text" in columns and "text" not in string_columns:
        raise TrainingDataError("The data's 'text' column does not hold text (its first values are not "
                                "strings), so the audit will not guess another column. Fix the data, or "
                                f"pass the column to audit (--text-column); string columns: "
                                f"{', '.join(string_columns) or 'none'}.")
    excluded = set(exclude)
    candidates = [c for c in string_columns if c not in excluded]
    if len(candidates) == 1:
        return candidates[0]
    problem = "no string column" if not candidates else f"several string columns ({', '.join(candidates)})"
    raise TrainingDataError(f"Cannot tell which column holds the text: the data has {problem}; its "
                            f"columns are: {', '.join(columns)}. Pass text_column (--text-column).")


def _row_digest_line(batch: dict[str, list[Any]], i: int) -> bytes:
    row = {column: values[i] for column, values in batch.items()}
    return (json.dumps(row, sort_keys=True, default=str, ensure_ascii=False) + "\n").encode("utf-8")


def _weight(value: Any, column: str) -> float:
    try:
        weight = float(value)
    except (TypeError, ValueError):
        weight = math.nan
    if not math.isfinite(weight) or weight < 0:
        raise TrainingDataError(f"Weight column {column!r} holds {value!r}; weights must be finite "
                                "numbers >= 0.")
    return weight


# --- the audit -----------------------------------------------------------------------------------

@dataclass
class ExampleGroups:
    """Per example, the set of groups of each attribute it mentions (for the mitigations)."""

    text_column: str
    detector: GroupDetector
    groups: dict[str, list[frozenset[str]]]
    n_examples: int


def example_groups(
    data: TrainingData,
    *,
    attributes: Sequence[str] | None = None,
    text_column: str | None = None,
    group_columns: Mapping[str, str] | None = None,
    lexicon: str | Path | Lexicon | None = None,
    batch_size: int = 1000,
) -> ExampleGroups:
    """The groups each example mentions, found exactly as the audit finds them (held in memory:
    one small set per example and attribute)."""
    detector = GroupDetector.build(lexicon=lexicon, group_columns=group_columns, attributes=attributes)
    source, group_cols = _open_with_group_columns(data, batch_size, detector)
    text = resolve_text_column(source.columns, source.string_columns, text_column, exclude=group_cols)
    found: dict[str, list[frozenset[str]]] = {a: [] for a in detector.attributes}
    for batch in source.read(None if source.streamed else list(dict.fromkeys([text, *group_cols]))):
        for i, raw in enumerate(batch[text]):
            example_text = "" if _is_missing(raw) else str(raw)
            row = {column: batch[column][i] for column in group_cols}
            for attribute, sets in found.items():
                sets.append(detector.detect(attribute, example_text, row))
    return ExampleGroups(text, detector, found, len(next(iter(found.values()), [])))


def _open_with_group_columns(data: TrainingData, batch_size: int,
                             detector: "GroupDetector") -> tuple["_Source", list[str]]:
    """Open the data and check it has the detector's group columns."""
    source = _open(data, batch_size)
    group_cols = list(detector.group_columns.values())
    missing = [c for c in group_cols if c not in source.columns]
    if missing:
        raise TrainingDataError(f"The data has no group column(s) {missing}; its columns are: "
                                f"{', '.join(source.columns)}.")
    return source, group_cols


@dataclass
class _Tally:
    counts: Counter = field(default_factory=Counter)
    cooccurrence: Counter = field(default_factory=Counter)
    none: float = 0.0
    multiple: float = 0.0


def audit_representation(
    data: TrainingData,
    *,
    text_column: str | None = None,
    group_columns: Mapping[str, str] | None = None,
    lexicon: str | Path | Lexicon | None = None,
    attributes: Sequence[str] | None = None,
    targets: Mapping[str, Mapping[str, float]] | None = None,
    context_terms: Sequence[str] | None = None,
    alpha: float = DEFAULT_ALPHA,
    min_count: int = DEFAULT_MIN_COUNT,
    top_k: int = DEFAULT_TOP_K,
    weight_column: str | None = None,
    batch_size: int = 1000,
    progress: bool = True,
) -> RepresentationResult:
    """Count the groups of each protected attribute a fine-tuning dataset mentions, compare their
    shares with target distributions, and measure group x context-term co-occurrence skew.

    `data`: DataFrame, `datasets.Dataset`/`IterableDataset`, or a CSV/JSONL/parquet path (streamed).
    Groups come from `group_columns` ({attribute: column}) or else from `lexicon` (default: the
    newest shipped `protected-groups`), restricted to `attributes`. `targets`:
    {attribute: {group: share}}, uniform when an attribute has none. `context_terms`: default
    DEFAULT_CONTEXT_TERMS; [] skips co-occurrence. Definitions: see the module docstring.
    """
    if alpha <= 0:
        raise ConfigError(f"alpha is {alpha}; the smoothing constant must be > 0 (default 0.5).")
    if min_count < 0 or top_k < 0:
        raise ConfigError("min_count and top_k must be >= 0.")
    if batch_size < 1:
        raise ConfigError("batch_size must be >= 1.")
    detector = GroupDetector.build(lexicon=lexicon, group_columns=group_columns, attributes=attributes)
    targets = dict(targets or {})
    unknown_targets = [a for a in targets if a not in detector.attributes]
    if unknown_targets:
        raise ConfigError(f"Target(s) given for attribute(s) {unknown_targets} that are not audited; "
                          f"audited: {', '.join(detector.attributes)}.")
    if detector.lexicon is not None:  # check targets before reading a possibly huge file
        for attribute, target in targets.items():
            groups_and_target(detector, attribute, (), target)
    terms = list(dict.fromkeys(" ".join(str(t).split()).lower()
                               for t in (DEFAULT_CONTEXT_TERMS if context_terms is None else context_terms)
                               if str(t).strip()))
    term_matcher = TermMatcher(terms, plurals=True)

    source, group_cols = _open_with_group_columns(data, batch_size, detector)
    if weight_column is not None and weight_column not in source.columns:
        raise TrainingDataError(f"The data has no weight column {weight_column!r}; its columns are: "
                                f"{', '.join(source.columns)}.")
    text = resolve_text_column(source.columns, source.string_columns, text_column,
                               exclude=[*group_cols, *([weight_column] if weight_column else [])])
    needed = list(dict.fromkeys([text, *group_cols, *([weight_column] if weight_column else [])]))

    tallies = {attribute: _Tally() for attribute in detector.attributes}
    digest = hashlib.sha256() if source.streamed else None
    n_examples, total_weight = 0, 0.0
    with tqdm(total=source.total, unit=" examples", desc="Auditing representation",
              disable=not progress) as bar:
        for batch in source.read(None if source.streamed else needed):
            size = len(batch[text])
            for i in range(size):
                if digest is not None:
                    digest.update(_row_digest_line(batch, i))
                raw = batch[text][i]
                example_text = "" if _is_missing(raw) else str(raw)
                weight = 1.0 if weight_column is None else _weight(batch[weight_column][i], weight_column)
                found = term_matcher.find(example_text)
                row = {column: batch[column][i] for column in group_cols}
                for attribute, tally in tallies.items():
                    groups = detector.detect(attribute, example_text, row)
                    if not groups:
                        tally.none += weight
                    elif len(groups) > 1:
                        tally.multiple += weight
                    for group in groups:
                        tally.counts[group] += weight
                        for term in found:
                            tally.cooccurrence[group, term] += weight
                n_examples += 1
                total_weight += weight
            bar.update(size)
    if n_examples == 0:
        raise TrainingDataError("The data has no rows: there is nothing to audit.")

    count_rows, cooc_rows, flagged_parts = [], [], []
    shares: dict[str, dict[str, float]] = {}
    resolved_targets: dict[str, dict[str, float]] = {}
    gaps: dict[str, float] = {}
    warnings: list[str] = []
    for attribute, tally in tallies.items():
        groups, target = groups_and_target(detector, attribute, tally.counts, targets.get(attribute))
        _check_metric_segments(attribute, groups)
        mentions = float(sum(tally.counts.values()))
        attribute_shares = {g: (tally.counts[g] / mentions if mentions else math.nan) for g in groups}
        if not mentions:
            warnings.append(f"No example mentions any {attribute} group; its shares and gap are "
                            "undefined.")
        gaps[attribute] = (max(abs(attribute_shares[g] - target[g]) for g in groups)
                           if mentions and groups else math.nan)
        shares[attribute] = attribute_shares
        resolved_targets[attribute] = target
        for g in groups:
            count_rows.append({"attribute": attribute, "group": g, "count": float(tally.counts[g]),
                               "share": attribute_shares[g], "target": target[g],
                               "difference": attribute_shares[g] - target[g]})
        rows = _cooccurrence_rows(attribute, groups, terms, tally, mentions, alpha)
        cooc_rows.extend(rows)
        flagged_parts.append(_flag(rows, min_count, top_k))

    cooc_columns = ["attribute", "term", "group", "count", "term_total", "share", "baseline_share",
                    "log_ratio"]
    cooccurrence = pd.DataFrame(cooc_rows, columns=cooc_columns)
    flagged = pd.DataFrame([r for part in flagged_parts for r in part],
                           columns=[*cooc_columns, "direction"])
    metadata: dict[str, Any] = {
        "source": source.kind, "path": source.path, "columns": source.columns, "text_column": text,
        "group_columns": dict(detector.group_columns), "context_terms": terms, "alpha": alpha,
        "min_count": min_count, "top_k": top_k, "weight_column": weight_column,
        "gap_definition": "max over groups of |share - target|",
    }
    if digest is not None:
        metadata["digest"] = digest.hexdigest()
    if detector.lexicon is not None:
        metadata["lexicon_sha256"] = detector.lexicon.sha256
    return RepresentationResult(
        counts=pd.DataFrame(count_rows, columns=["attribute", "group", "count", "share", "target",
                                                 "difference"]),
        shares=shares, targets=resolved_targets, gaps=gaps,
        none_counts={a: t.none for a, t in tallies.items()},
        multiple_counts={a: t.multiple for a, t in tallies.items()},
        cooccurrence=cooccurrence, flagged=flagged, n_examples=n_examples,
        total_weight=total_weight,
        lexicon=detector.lexicon.ref if detector.lexicon is not None else None,
        metadata=metadata, warnings=warnings,
    )


def _check_metric_segments(attribute: str, groups: Sequence[str]) -> None:
    """Group names must give distinct metric keys that do not clash with the attribute's own."""
    seen: dict[str, str] = {}
    for group in groups:
        segment = metric_segment(group)
        if segment in _ATTRIBUTE_METRICS or segment in seen:
            other = seen.get(segment, f"the metric {attribute}/{segment}")
            raise ConfigError(
                f"Group {group!r} of {attribute!r} would be logged under the same MLflow key as "
                f"{other!r} ({METRIC_PREFIX}/{metric_segment(attribute)}/{segment}); rename it."
            )
        seen[segment] = group


def _cooccurrence_rows(attribute: str, groups: Sequence[str], terms: Sequence[str], tally: _Tally,
                       mentions: float, alpha: float) -> list[dict[str, Any]]:
    rows = []
    for term in terms:
        term_total = float(sum(tally.cooccurrence[g, term] for g in groups))
        if not term_total:
            continue
        for g in groups:
            n_gt, n_g = float(tally.cooccurrence[g, term]), float(tally.counts[g])
            rows.append({
                "attribute": attribute, "term": term, "group": g, "count": n_gt,
                "term_total": term_total, "share": n_gt / term_total,
                "baseline_share": n_g / mentions,
                "log_ratio": log_ratio(n_gt, term_total, n_g, mentions, alpha),
            })
    return rows


def _flag(rows: list[dict[str, Any]], min_count: int, top_k: int) -> list[dict[str, Any]]:
    """The top_k rows by |log_ratio| whose term was seen with the attribute >= min_count times,
    of groups the data mentions (a group never mentioned has no skew, only its smoothing)."""
    eligible = [r for r in rows if r["term_total"] >= min_count and abs(r["log_ratio"]) > 1e-12
                and r["baseline_share"] > 0]
    # rounded so that the two opposite values of a two-group term tie exactly (then by name)
    eligible.sort(key=lambda r: (-round(abs(r["log_ratio"]), 9), r["term"], r["group"]))
    return [{**r, "direction": "over" if r["log_ratio"] > 0 else "under"} for r in eligible[:top_k]]
