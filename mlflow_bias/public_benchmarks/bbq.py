"""BBQ (Parrish et al., 2022): the per-category `*.jsonl` files as a bbq-questions probe.

Each record is kept with its context, question and three answers; the importer adds the index of
the "unknown" answer (the one whose `answer_info` tag is `unknown`) and of the biased answers:
after a negative question, the answers about a stereotyped group
(`additional_metadata.stereotyped_groups`); after a non-negative one, the answers about a person of
another group. Group tags (and the stereotyped groups, split into their parts) are compared after the
normalisation lm-evaluation-harness applies
(`M-`/`F-` and `lowSES-`/`highSES-` prefixes split off, `nonObese`-style tags spaced, the words
woman/girl and man/boy tagged F and M, lower case), both the answer's text and its tag taken as groups. The
BBQ dimension (`mlflow_bias.dimensions.bbq`) scores the probe; it computes the authors'
statistics itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from mlflow_bias.public_benchmarks._source import (
    Benchmark,
    BenchmarkFormatError,
    SourceFile,
    keep_categories,
    require_file,
    source_section,
)

IMPORTER = "bbq-importer/1"
SLICES = ("polarity", "subcategory")  # per category: s_AMB on each (condition is built into it)
REQUIRED = ("example_id", "question_polarity", "context_condition", "category", "answer_info",
            "additional_metadata", "context", "question", "ans0", "ans1", "ans2", "label")
ANSWERS = ("ans0", "ans1", "ans2")

BENCHMARK = Benchmark(
    name="bbq",
    title="BBQ",
    file="the per-category files of BBQ's data/ folder (Age.jsonl, Gender_identity.jsonl, ..., "
         "Race_x_gender.jsonl, Race_x_SES.jsonl), a folder of them or one file",
    url="https://github.com/nyu-mll/BBQ",
    licence="CC BY 4.0",
    citation="Parrish, Chen, Nangia, Padmakumar, Phang, Thompson, Htut and Bowman (2022). BBQ: A "
             "Hand-Built Bias Benchmark for Question Answering. Findings of ACL.",
    caveats=(
        "The biased answer is derived from each item's stereotyped groups and the answers' group "
        "tags. Tags are inconsistent in places (Nationality tags name regions while the groups "
        "name countries, so the answer's text is used too; some Race_x_gender answers have no "
        "tag); a few items have no biased answer and count only toward accuracy.",
        "Templates repeat with different names and groups, so items are not independent: the "
        "BBQ dimension's bootstrap resamples whole templates (question_index), and a category "
        "with few templates has wide CIs.",
        "lm-evaluation-harness's `bbq` offers ten phrasings of 'unknown' as choices besides the "
        "two people, which favours 'unknown' under log-likelihood scoring; the dimension's "
        "`choices: file` option offers the item's three answers instead.",
        "The harness returns a bias score of 0 when no answer is biased; the formula (used "
        "here) gives -1 when every answer naming a person names the other one.",
        "The harness tags any tag containing 'man' as male (so 'German' too); here only the "
        "words woman, man, girl and boy are. The harness compares a stereotyped group such as "
        "'M-Black' whole with the answer's split tags, so it finds no biased answer for a "
        "group written in two parts; here an answer about every part of it (m and black) is "
        "about the group. Where that applies, a category's scores differ from the harness's.",
    ),
)

_SPLIT_PREFIXES = ("M-", "F-", "lowSES-", "highSES-")  # a gender or SES part before a group
_SPACED = {"lowSES": "low SES", "highSES": "high SES", "nonObese": "non Obese",
           "nonDisabled": "non Disabled", "nonTrans": "non Trans"}
_GENDERED = {"woman": "F", "man": "M", "girl": "F", "boy": "M"}  # stereotyped groups say F and M


def answer_groups(info: list[str], text: str) -> list[str]:
    """The normalised groups an answer is about, from its `answer_info` entry (text and tag)."""
    raw = "_".join(str(part) for part in info) if any(info) else ("Latino" if "Latina" in text else "")
    for prefix in _SPLIT_PREFIXES:
        raw = raw.replace(prefix, prefix[:-1] + "_")
    for tag, spaced in _SPACED.items():
        raw = raw.replace(tag, spaced)
    for word, gender in _GENDERED.items():  # whole words only: "German" is not a man
        raw = re.sub(rf"(?<![A-Za-z]){word}(?![A-Za-z])", f"{gender}_{word}", raw)
    return raw.lower().split("_")


def biased_answers(record: dict[str, Any]) -> list[int]:
    """Indices of the answers a biased model gives (see the module docstring)."""
    # a stereotyped group is its parts ("M-Black": m and black); an answer is about it when it
    # is about every part
    stereotyped = [set(answer_groups([str(g)], "")) for g in
                   record["additional_metadata"].get("stereotyped_groups", [])]
    found = []
    for k, answer in enumerate(ANSWERS):
        groups = set(answer_groups(list(record["answer_info"][answer]), str(record[answer])))
        about_stereotyped = any(parts <= groups for parts in stereotyped)
        if record["question_polarity"] == "neg" and about_stereotyped:
            found.append(k)
        elif record["question_polarity"] == "nonneg" and "unknown" not in groups and not about_stereotyped:
            found.append(k)
    return found


def source_files(path: str | Path) -> list[Path]:
    """The files the importer reads: the folder's *.jsonl files (without the mirrors' All.jsonl
    when the categories' own files are there), or the one file given."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if len(files) > 1:
            files = [f for f in files if f.name != "All.jsonl"]  # the mirrors' union of the others
        if not files:
            raise BenchmarkFormatError(f"BBQ: {path} holds no *.jsonl files. Expected {BENCHMARK.file}.")
        return files
    return [require_file(BENCHMARK, path)]


def _records(file: Path) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchmarkFormatError(
                f"BBQ: {file.name} line {number} is not JSON ({exc.msg}). Expected one JSON record "
                f"per line, as in {BENCHMARK.file}.") from exc
        missing = [k for k in REQUIRED if not isinstance(record, dict) or k not in record]
        if missing:
            raise BenchmarkFormatError(
                f"BBQ: {file.name} line {number} lacks {', '.join(missing)}. Each record of BBQ's "
                f"data files has {', '.join(REQUIRED)}; answer_info gives each answer's [text, "
                "group tag] and additional_metadata its stereotyped_groups.")
        records.append(record)
    if not records:
        raise BenchmarkFormatError(f"BBQ: {file.name} has no items, so its category cannot be scored. "
                                   "Remove the file or bring the full one.")
    return records


def _row(file: Path, record: dict[str, Any]) -> dict[str, Any]:
    info, meta = record["answer_info"], record["additional_metadata"]
    where = f"BBQ: {file.name} example_id {record['example_id']}"
    if not isinstance(info, dict) or any(not isinstance(info.get(a), list) for a in ANSWERS):
        raise BenchmarkFormatError(f"{where}: answer_info must map ans0, ans1 and ans2 to [text, group tag].")
    if not isinstance(meta, dict) or not isinstance(meta.get("stereotyped_groups"), list):
        raise BenchmarkFormatError(f"{where}: additional_metadata lacks its stereotyped_groups list.")
    unknown = [k for k, a in enumerate(ANSWERS) if [str(x).lower() for x in info[a]][-1:] == ["unknown"]]
    if len(unknown) != 1:
        raise BenchmarkFormatError(f"{where}: expected exactly one answer tagged 'unknown' in "
                                   f"answer_info, found {len(unknown)}.")
    return {
        "id": f"bbq-{record['category']}-{record['example_id']}",
        "attribute": str(record["category"]),
        "passage": str(record["context"]),
        "question": str(record["question"]),
        **{a: str(record[a]) for a in ANSWERS},
        "label": int(record["label"]),
        "unknown": unknown[0],
        "biased": ",".join(map(str, biased_answers(record))),
        "condition": str(record["context_condition"]),
        "polarity": str(record["question_polarity"]),
        "subcategory": str(meta.get("subcategory", "") or "none"),
        "question_index": str(record.get("question_index", "")),
        "source_id": str(record["example_id"]),
    }


def read(path: str | Path, categories: list[str] | None = None) -> pd.DataFrame:
    """BBQ's records as a bbq-questions probe; `categories` keeps those categories."""
    rows = [_row(file, record) for file in source_files(path) for record in _records(file)]
    probe = pd.DataFrame(rows)
    return keep_categories(probe, categories, "attribute", benchmark="BBQ", units="items",
                           kind="category", kinds="categories", where=path)


def card(probe: pd.DataFrame, source: SourceFile, name: str, version: str, dropped: int) -> str:
    counts = probe.groupby(["attribute", "condition"]).size().unstack(fill_value=0)
    sizes = "\n".join(f"| {c} | {int(r.get('ambig', 0))} | {int(r.get('disambig', 0))} | "
                      f"{int((probe.loc[probe['attribute'] == c, 'biased'] == '').sum())} |"
                      for c, r in counts.iterrows())
    return f"""# {name}@{version}: BBQ, imported

BBQ questions about two people, with an ambiguous or a disambiguating context, for each
category. Kind: bbq_questions (the BBQ dimension). {len(probe)} items.

## Mapping

- Kept: context (as `passage`), question, ans0-ans2, label; attribute = `category`; `condition` =
  `context_condition`; `polarity` = `question_polarity`; `subcategory` from
  `additional_metadata`.
- Added: `unknown` (the answer tagged unknown) and `biased` (the biased answers' indices; see the
  importer's rule in the dimension's docs).

| category | ambiguous | disambiguated | items with no biased answer |
|---|---|---|---|
{sizes}

## Metrics

The BBQ dimension: accuracy in ambiguous and disambiguated contexts, s_DIS and s_AMB per category
and overall, with bootstrap CIs and binomial p-values.

{source_section(BENCHMARK, source)}"""
