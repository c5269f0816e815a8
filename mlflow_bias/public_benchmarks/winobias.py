"""WinoBias (Zhao et al., 2018): the `{pro,anti}_stereotyped_type{1,2}.txt.{dev,test}` files as a
coreference probe.

Each line is a sentence with two bracketed spans: the pronoun's referent and the pronoun
("[The developer] argued with the designer because [he] did not like the design."). Lines come in
pairs sharing a template, the first resolving the pronoun to the first person and the second to
the other, so each pair gives both candidates. Line i of a pro file and line i of the anti file of
the same type and split are the same sentence with the pronoun's gender swapped: one set, pro and
anti. Type 1 needs world knowledge to resolve; type 2 has a syntactic cue. A template that cannot
be read (a line without its two bracketed spans, a referent missing from its partner line: the
files have typos) is left out with both its sets, and listed on the card.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from mlflow_bias.public_benchmarks._source import (
    Benchmark,
    BenchmarkFormatError,
    SourceFile,
    keep_categories,
    source_section,
)

IMPORTER = "winobias-importer/1"
SLICES = ("type", "split", "gender")
FILE = re.compile(r"^(pro|anti)_stereotyped_type([12])\.txt\.(dev|test)$")
PRONOUNS = {"he": "male", "him": "male", "his": "male", "himself": "male",
            "she": "female", "her": "female", "hers": "female", "herself": "female"}
ARTICLE = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)

BENCHMARK = Benchmark(
    name="winobias",
    title="WinoBias",
    file="the folder of WinoBias' pro_stereotyped_type1.txt.dev, anti_stereotyped_type1.txt.dev, "
         "... files (wino/data in uclanlp/corefBias), one bracketed sentence per line",
    url="https://github.com/uclanlp/corefBias",
    licence="MIT (as given for the dataset's Hugging Face copy, uclanlp/wino_bias)",
    citation="Zhao, Wang, Yatskar, Ordonez and Chang (2018). Gender Bias in Coreference "
             "Resolution: Evaluation and Debiasing Methods. NAACL.",
    caveats=(
        "Stereotypes are the majority gender of 40 occupations in 2017 US labour statistics, "
        "and pronouns are binary (he/she): the probe says nothing about other genders.",
        "Type 1 sentences can only be resolved from world knowledge, type 2 from syntax: read "
        "the two types apart (slice `type`), as the authors report them.",
        "The authors measured coreference systems by F1; here a language model's choice between "
        "the two candidates is scored as lm-evaluation-harness scores Winogender, so the gap is "
        "an accuracy gap.",
        "Blodgett et al. (2021) list pitfalls of such templates (unnatural sentences, unclear "
        "constructs); the files have a few typos.",
    ),
)


class _Unreadable(ValueError):
    """A line (and so its template) that cannot be read."""


def _line(file: Path, number: int, text: str) -> tuple[str, str, str]:
    """(sentence without brackets or leading id, referent span, pronoun) of one line."""
    text = re.sub(r"^\d+\s+", "", text.strip())
    spans = re.findall(r"\[([^\[\]]+)\]", text)
    if len(spans) != 2:
        raise _Unreadable(
            f"{file.name} line {number} has {len(spans)} bracketed span(s); each line brackets the "
            "referent and the pronoun, e.g. '[The developer] argued with the designer because [he] "
            "did not like the design.'")
    pronoun = spans[1].strip()
    if pronoun.lower() not in PRONOUNS:
        raise _Unreadable(f"{file.name} line {number}: the second bracketed span {pronoun!r} is not a "
                          f"pronoun ({', '.join(PRONOUNS)})")
    return re.sub(r"\[([^\[\]]+)\]", r"\1", text), spans[0].strip(), pronoun


def _template(file: Path, k: int, lines: list[str]) -> list[dict]:
    """The two items of the template on lines k and k + 1 (0-based), or _Unreadable."""
    first, second = _line(file, k + 1, lines[k]), _line(file, k + 2, lines[k + 1])
    candidates = [ARTICLE.sub("", first[1]), ARTICLE.sub("", second[1])]
    items = []
    for offset, (sentence, _, pronoun) in enumerate((first, second)):
        for candidate in candidates:
            if candidate.lower() not in sentence.lower():
                raise _Unreadable(
                    f"{file.name} line {k + offset + 1}: {candidate!r}, the referent of line "
                    f"{k + (1 - offset) + 1} of the same template, is not in the sentence")
        items.append({"sentence": sentence, "pronoun": pronoun, "option_a": candidates[0],
                      "option_b": candidates[1], "label": offset})
    return items


def _file_items(file: Path) -> list[dict | str]:
    """Each line's item, or for both lines of a template that cannot be read, the reason."""
    lines = [t for t in file.read_text(encoding="utf-8").splitlines() if t.strip()]
    if not lines:
        raise BenchmarkFormatError(f"WinoBias: {file.name} has no sentences.")
    if len(lines) % 2:
        raise BenchmarkFormatError(
            f"WinoBias: {file.name} has {len(lines)} lines; its sentences come in pairs (one per "
            "referent of the same template), so the count must be even.")
    out: list[dict | str] = []
    for k in range(0, len(lines), 2):
        try:
            out += _template(file, k, lines)
        except _Unreadable as reason:
            out += [str(reason)] * 2
    return out


def _natural(column: pd.Series) -> pd.Series:
    """Sort key: pro before anti, set numbers as numbers."""
    if column.name == "condition":
        return column.map({"pro": 0, "anti": 1})
    if column.name == "set_id":
        return column.str.rsplit("-", n=1).str[-1].astype(int)
    return column


def source_files(path: str | Path) -> list[Path]:
    folder = Path(path)
    if not folder.is_dir():
        raise BenchmarkFormatError(f"WinoBias: {folder} is not a folder. Expected {BENCHMARK.file}.")
    files = sorted(f for f in folder.iterdir() if FILE.match(f.name))
    if not files:
        raise BenchmarkFormatError(
            f"WinoBias: {folder} holds no {{pro,anti}}_stereotyped_type{{1,2}}.txt.{{dev,test}} "
            "files.")
    return files


def read(path: str | Path, categories: list[str] | None = None) -> pd.DataFrame:
    """Every (type, split) with both its pro and anti file, as pro/anti sets; `categories`
    keeps those types (type1, type2)."""
    by_key: dict[tuple[str, str], dict[str, Path]] = {}
    skipped: list[str] = []
    for file in source_files(path):
        condition, number, split = FILE.match(file.name).groups()
        by_key.setdefault((f"type{number}", split), {})[condition] = file
    rows = []
    for (kind, split), files in sorted(by_key.items()):
        if set(files) != {"pro", "anti"}:
            have = next(iter(files.values())).name
            raise BenchmarkFormatError(
                f"WinoBias: {have} has no {'anti' if 'pro' in files else 'pro'} counterpart for "
                f"{kind} {split}; bring both files.")
        pro, anti = _file_items(files["pro"]), _file_items(files["anti"])
        if len(pro) != len(anti):
            raise BenchmarkFormatError(
                f"WinoBias: {files['pro'].name} has {len(pro)} sentences and {files['anti'].name} "
                f"{len(anti)}; line i of each is the same sentence with the pronoun swapped.")
        for i, (pro_item, anti_item) in enumerate(zip(pro, anti)):
            reasons = [r for r in (pro_item, anti_item) if isinstance(r, str)]
            if reasons:  # a template unreadable in either file leaves both of its sets out
                skipped += [r for r in reasons if r not in skipped]
                continue
            for condition, item in (("pro", pro_item), ("anti", anti_item)):
                rows.append({"id": f"winobias-{kind}-{split}-{condition}-{i + 1}", "attribute": "gender",
                             **item, "condition": condition, "set_id": f"{kind}-{split}-{i + 1}",
                             "gender": PRONOUNS[item["pronoun"].lower()], "type": kind, "split": split})
    if not rows:
        raise BenchmarkFormatError(f"WinoBias: no sentence of {path} could be read, e.g. {skipped[0]}.")
    probe = pd.DataFrame(rows).sort_values(["type", "split", "condition", "set_id"], key=_natural,
                                           kind="stable", ignore_index=True)
    probe = keep_categories(probe, categories, "type", benchmark="WinoBias", units="sentences",
                            kind="type", kinds="types", where=path)
    probe.attrs["skipped"] = skipped  # reported on the card by the importer
    return probe


def card(probe: pd.DataFrame, source: SourceFile, name: str, version: str, dropped: int) -> str:
    counts = probe.groupby(["type", "split", "condition"]).size().unstack(fill_value=0)
    sizes = "\n".join(f"| {t} | {s} | {int(r.get('pro', 0))} | {int(r.get('anti', 0))} |"
                      for (t, s), r in counts.iterrows())
    return f"""# {name}@{version}: WinoBias, imported

WinoBias sentences about two people, one of them named by an occupation, and a pronoun whose
referent agrees (pro) or disagrees (anti) with the occupation's majority gender. Kind:
coreference. {len(probe)} sentences in {probe['set_id'].nunique()} pro/anti sets.

## Mapping

- sentence: the line without its brackets (and leading id); pronoun: the second bracketed span;
  option_a / option_b: the referents of the template's two lines (articles dropped); label: which
  one this line's first bracket names.
- condition: pro or anti, from the file; set_id: the line's number within its type and split;
  slices type (type1/type2), split (dev/test), gender (of the pronoun).

| type | split | pro | anti |
|---|---|---|---|
{sizes}

## Metrics

The coreference dimension: accuracy on pro and on anti sentences, and their gap (the authors'
"Diff", pro minus anti), per attribute and per type, with CIs over sets.

{source_section(BENCHMARK, source)}"""
