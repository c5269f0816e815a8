"""StereoSet (Nadeem et al., 2021): `dev.json` as a stereoset probe.

The file holds `data.intrasentence` and `data.intersentence`, lists of items with an id, a target
term, a bias type (gender, profession, race, religion), a context and three sentences, each with
its `gold_label` (stereotype, anti-stereotype, unrelated). Each item becomes one row with its three
completions; the intrasentence context (with its BLANK) is kept for reading only, since each
intrasentence sentence is the context with the blank filled.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mlflow_bias.public_benchmarks._source import (
    Benchmark,
    BenchmarkFormatError,
    SourceFile,
    keep_categories,
    require_file,
    source_section,
)

IMPORTER = "stereoset-importer/1"
SLICES = ()
TASKS = ("intrasentence", "intersentence")
LABELS = {"stereotype": "stereotype", "anti-stereotype": "anti_stereotype", "unrelated": "unrelated"}

BENCHMARK = Benchmark(
    name="stereoset",
    title="StereoSet",
    file="dev.json ({'version': ..., 'data': {'intrasentence': [...], 'intersentence': [...]}}), "
         "moinnadeem/StereoSet data/",
    url="https://github.com/moinnadeem/StereoSet",
    licence="CC BY-SA 4.0",
    citation="Nadeem, Bethke and Reddy (2021). StereoSet: Measuring stereotypical bias in "
             "pretrained language models. ACL.",
    caveats=(
        "Blodgett et al. (2021) found many StereoSet items that do not express a stereotype, "
        "mix up groups, or are ungrammatical; per-target scores rest on a handful of items.",
        "Only the development set is public; the test set's figures in the paper are not "
        "reproducible from it.",
        "The authors scored GPT-2 with their own per-token probabilities and a next-sentence "
        "head; here a completion's score is its log-likelihood per character (the "
        "harness's acc_norm), so figures compare with the paper's only roughly.",
    ),
)


def _item(task: str, number: int, item: dict) -> dict:
    where = f"StereoSet: {task} item {number} ({item.get('id', 'no id')})"
    missing = [k for k in ("id", "target", "bias_type", "context", "sentences") if k not in item]
    if missing:
        raise BenchmarkFormatError(f"{where} lacks {', '.join(missing)}; each item has id, target, "
                                   "bias_type, context and three sentences.")
    completions = {}
    for sentence in item["sentences"]:
        label = LABELS.get(str(sentence.get("gold_label")))
        if label is None or "sentence" not in sentence:
            raise BenchmarkFormatError(f"{where}: a sentence without a sentence text or with a "
                                       f"gold_label other than {', '.join(LABELS)}.")
        completions[label] = str(sentence["sentence"])
    if len(completions) != 3 or len(item["sentences"]) != 3:
        raise BenchmarkFormatError(f"{where} needs exactly one stereotype, one anti-stereotype and "
                                   "one unrelated sentence.")
    return {"id": f"stereoset-{task}-{item['id']}", "attribute": str(item["bias_type"]),
            "target": str(item["target"]), "task": task, "passage": str(item["context"]),
            **completions, "source_id": str(item["id"])}


def read(path: str | Path, categories: list[str] | None = None) -> pd.DataFrame:
    """Both tasks' items; `categories` keeps those bias types."""
    found = require_file(BENCHMARK, path)
    try:
        raw = json.loads(found.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchmarkFormatError(f"StereoSet: {found} is not JSON ({exc}). Expected {BENCHMARK.file}.") from exc
    data = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(data, dict) or not any(isinstance(data.get(t), list) for t in TASKS):
        raise BenchmarkFormatError(f"StereoSet: {found} has no data.intrasentence or "
                                   f"data.intersentence list. Expected {BENCHMARK.file}.")
    rows = [_item(task, n, item) for task in TASKS for n, item in enumerate(data.get(task) or [], 1)]
    if not rows:
        raise BenchmarkFormatError(f"StereoSet: {found} has no items.")
    probe = pd.DataFrame(rows)
    return keep_categories(probe, categories, "attribute", benchmark="StereoSet", units="items",
                           kind="bias type", kinds="types", where=found)


def card(probe: pd.DataFrame, source: SourceFile, name: str, version: str, dropped: int) -> str:
    counts = probe.groupby(["attribute", "task"]).size().unstack(fill_value=0)
    sizes = "\n".join(f"| {b} | {int(r.get('intrasentence', 0))} | {int(r.get('intersentence', 0))} | "
                      f"{probe.loc[probe['attribute'] == b, 'target'].nunique()} |" for b, r in counts.iterrows())
    return f"""# {name}@{version}: StereoSet, imported

StereoSet contexts about a target term with a stereotypical, an anti-stereotypical and an
unrelated completion. Kind: stereoset. {len(probe)} items.

## Mapping

- attribute = `bias_type`; target, task (intrasentence or intersentence) and context (as
  `passage`) kept; the three
  sentences by their gold_label as stereotype, anti_stereotype and unrelated.

| bias type | intrasentence | intersentence | target terms |
|---|---|---|---|
{sizes}

## Metrics

The StereoSet dimension: ss, lms and icat as the authors define them (per target term, then
averaged), per bias type, per task and overall, with bootstrap CIs.

{source_section(BENCHMARK, source)}"""
