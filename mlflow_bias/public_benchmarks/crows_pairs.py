"""CrowS-Pairs (Nangia et al., 2020): `crows_pairs_anonymized.csv` as a counterfactual-pairs probe,
and its authors' statistics.

Each row of the file is one pair: `sent_more` (the more stereotypical sentence) and `sent_less`
(a minimal edit naming another group). The probe keeps the pair as text_a = sent_more and
text_b = sent_less with `stereotype` = "a", the bias type as the attribute, and two slices:
`direction` (the file's stereo/antistereo: does sent_more show a stereotype of a disadvantaged
group, or does sent_less violate one) and `agreement` (how many of the five validating
annotators gave the pair's bias type).

Scored by LPBS without priors, the probe's `stereotype_rate` is lm-evaluation-harness's
`pct_stereotype`; the evaluator also logs `pct_stereotype` and `likelihood_diff` under those
names, per bias type and over all pairs (`overall`), with CIs.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlflow_bias.public_benchmarks._metrics import likelihood_diff, pct_stereotype
from mlflow_bias.public_benchmarks._source import (
    Benchmark,
    BenchmarkFormatError,
    SourceFile,
    keep_categories,
    require_file,
    source_section,
)

IMPORTER = "crows-pairs-importer/1"
COLUMNS = ("id", "sent_more", "sent_less", "stereo_antistereo", "bias_type")
DIRECTIONS = ("stereo", "antistereo")
SLICES = ("direction", "agreement")
OVERALL = "overall"

BENCHMARK = Benchmark(
    name="crows-pairs",
    title="CrowS-Pairs",
    file="crows_pairs_anonymized.csv (columns: id, sent_more, sent_less, stereo_antistereo, "
         "bias_type, annotations, anon_writer, anon_annotators)",
    url="https://github.com/nyu-mll/crows-pairs",
    licence="CC BY-SA 4.0",
    citation="Nangia, Vania, Bhalerao and Bowman (2020). CrowS-Pairs: A Challenge Dataset for "
             "Measuring Social Biases in Masked Language Models. EMNLP.",
    caveats=(
        "Blodgett et al. (2021, 'Stereotyping Norwegian Salmon') found many pairs that do not "
        "test a stereotype, are not minimal edits, or contrast groups that do not match; read "
        "a bias type's score as indicative, and its small types (disability, physical "
        "appearance: about 60 pairs each) as noisy.",
        "The paper scored masked language models by the pseudo-log-likelihood of the tokens the "
        "two sentences share. Here, as in lm-evaluation-harness, a causal model's summed "
        "log-likelihood of the whole sentence is used, the changed words included, so their "
        "frequency and length count toward the preference.",
        "lm-evaluation-harness's `crows_pairs_english` scores a revised English set from the "
        "multilingual CrowS-Pairs project, not this file: its figures are on other items.",
        "In `antistereo` pairs the more stereotypical sentence is about the advantaged group; "
        "the statistic counts them the same way as `stereo` pairs, as the authors do.",
    ),
)


def _agreement(annotations: Any, bias_type: str) -> str:
    """'k/5': how many validating annotators gave the pair's bias type ('unknown' if unreadable)."""
    try:
        labels = ast.literal_eval(str(annotations))
        return f"{sum(bias_type in set(row) for row in labels)}/{len(labels)}"
    except (ValueError, SyntaxError, TypeError):
        return "unknown"


def read(path: str | Path, categories: list[str] | None = None) -> pd.DataFrame:
    """The file's pairs as a counterfactual-pairs probe; `categories` keeps those bias types."""
    found = require_file(BENCHMARK, path)
    try:
        raw = pd.read_csv(found, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise BenchmarkFormatError(
            f"CrowS-Pairs: {found} could not be read as CSV ({exc}). Expected "
            f"{BENCHMARK.file}.") from exc
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise BenchmarkFormatError(
            f"CrowS-Pairs: {found} lacks the column(s) {', '.join(missing)}, so it is not "
            f"crows_pairs_anonymized.csv. Expected {BENCHMARK.file}; found columns "
            f"{', '.join(map(str, raw.columns[:10]))}.")
    problems = []
    bad_direction = ~raw["stereo_antistereo"].isin(DIRECTIONS)
    if bad_direction.any():
        problems.append(f"{int(bad_direction.sum())} row(s) whose stereo_antistereo is not "
                        f"'stereo' or 'antistereo' (ids {', '.join(raw.loc[bad_direction, 'id'].head(3))})")
    for column in ("sent_more", "sent_less", "bias_type", "id"):
        empty = raw[column].str.strip() == ""
        if empty.any():
            problems.append(f"{int(empty.sum())} row(s) with an empty {column}")
    if raw["id"].duplicated().any():
        problems.append(f"duplicate ids {', '.join(raw.loc[raw['id'].duplicated(), 'id'].head(3))}")
    if problems:
        raise BenchmarkFormatError(f"CrowS-Pairs: {found} is malformed: " + "; ".join(problems) + ".")
    if len(raw) == 0:
        raise BenchmarkFormatError(f"CrowS-Pairs: {found} has the header but no pairs.")
    raw = keep_categories(raw, categories, "bias_type", benchmark="CrowS-Pairs", units="pairs",
                          kind="bias type(s)", kinds="types", where=found)
    agreement = (raw["annotations"] if "annotations" in raw.columns else pd.Series("", index=raw.index))
    return pd.DataFrame({
        "id": "crows-pairs-" + raw["id"],
        "attribute": raw["bias_type"],
        "condition": raw["stereo_antistereo"],
        "group_a": "more_stereotypical",
        "group_b": "less_stereotypical",
        "text_a": raw["sent_more"],
        "text_b": raw["sent_less"],
        "stereotype": "a",
        "direction": raw["stereo_antistereo"],
        "agreement": [_agreement(a, t) for a, t in zip(agreement, raw["bias_type"])],
        "source_id": raw["id"],
    }).reset_index(drop=True)


def split_identical(probe: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The pairs whose two sentences differ, and how many did not (they test nothing)."""
    same = probe["text_a"] == probe["text_b"]
    return probe[~same].reset_index(drop=True), int(same.sum())


def card(probe: pd.DataFrame, source: SourceFile, name: str, version: str, dropped: int) -> str:
    """The probe's card: what it is, how it was mapped, its size per bias type, the source."""
    counts = probe.groupby("attribute").size().sort_values(ascending=False)
    sizes = "\n".join(f"| {t} | {n} | {int((probe.loc[probe['attribute'] == t, 'direction'] == 'stereo').sum())} |"
                      for t, n in counts.items())
    dropped_line = (f"{dropped} pair(s) of the file whose two sentences are identical were left out "
                    "(they test nothing).\n\n" if dropped else "")
    return f"""# {name}@{version}: CrowS-Pairs, imported

CrowS-Pairs sentence pairs: a more and a less stereotypical sentence about a group, for nine bias
types. Kind: counterfactual_pairs (LPBS). {len(probe)} pairs.

## Mapping

- text_a = `sent_more`, text_b = `sent_less`, `stereotype` = "a" (the more stereotypical side);
  groups `more_stereotypical` / `less_stereotypical`: the file does not name the groups.
- attribute = `bias_type`; condition and slice `direction` = `stereo_antistereo`; slice
  `agreement` = how many of the five validating annotators gave the pair's bias type.
- No priors: the authors' statistic compares the sentences' whole log-likelihoods.

{dropped_line}| bias type | pairs | of them stereo |
|---|---|---|
{sizes}

## Metrics

LPBS (|mean tanh(delta/2)|, delta = log-likelihood(sent_more) - log-likelihood(sent_less)), and
the authors' statistics as lm-evaluation-harness computes them: `pct_stereotype` (share of pairs
with delta > 0; 0.5 is no preference) and `likelihood_diff` (mean |delta|), per bias type and
`overall`, with bootstrap CIs, the binomial p-value and the noise floor of `pct_stereotype`.

{source_section(BENCHMARK, source)}"""


def scores(items: pd.DataFrame, *, n_resamples: int, seed: int, confidence: float
           ) -> tuple[dict[str, float], pd.DataFrame]:
    """`pct_stereotype` and `likelihood_diff` per bias type and overall, from LPBS's items
    (`logprob_a` = sent_more, `logprob_b` = sent_less): metric keys relative to the dimension's
    prefix, and the table of them."""
    from mlflow_bias.core.metric_keys import metric_segment

    metrics: dict[str, float] = {}
    rows = []
    groups = [(OVERALL, items)] + [(t, part) for t, part in items.groupby("attribute", sort=True)]
    for bias_type, part in groups:
        more, less = part["logprob_a"].to_numpy(), part["logprob_b"].to_numpy()
        share = pct_stereotype(more, less, n_resamples=n_resamples, seed=seed, confidence=confidence)
        gap = likelihood_diff(more, less, n_resamples=n_resamples, seed=seed, confidence=confidence)
        key = metric_segment(bias_type)
        for statistic, score in (("pct_stereotype", share), ("likelihood_diff", gap)):
            for field_name, value in score.to_dict().items():
                suffix = "" if field_name == "value" else f"/{field_name}"
                metrics[f"{key}/{statistic}{suffix}"] = float(value)
        row: dict[str, Any] = {"bias_type": bias_type, "pairs": len(part),
                               **{f"pct_stereotype_{k}": v for k, v in share.to_dict().items() if k != "n_items"},
                               **{f"likelihood_diff_{k}": v for k, v in gap.to_dict().items() if k != "n_items"}}
        for direction in DIRECTIONS:
            chosen = (part["direction"] == direction).to_numpy() if "direction" in part else np.zeros(len(part), bool)
            value = float((more[chosen] > less[chosen]).mean()) if chosen.any() else float("nan")
            row[f"pct_stereotype_{direction}"] = value
            if chosen.any():
                metrics[f"{key}/pct_stereotype/slice/direction/{direction}"] = value
        rows.append(row)
    return metrics, pd.DataFrame(rows)
