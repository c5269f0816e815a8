"""Winogender (Rudinger et al., 2018): `templates.tsv` and `occupations-stats.tsv` as a coreference
probe.

Each template is a sentence about an occupation and another participant with a pronoun
placeholder, and whether the pronoun refers to the occupation (0) or the participant (1). The
importer writes each template with a male, a female and a neutral pronoun, and with the
participant named or as "someone". A gendered sentence is anti-stereotypical (the authors'
"gotcha") when its correct reading goes against the occupation's majority gender in the labour
statistics (`bls_pct_female` > 50 is majority-female): a female pronoun that refers to a
majority-male occupation, or to the participant beside a majority-female one, and the reverse for
male pronouns. Neutral sentences count in accuracy only.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from mlflow_bias.public_benchmarks._source import (
    Benchmark,
    BenchmarkFormatError,
    SourceFile,
    keep_categories,
    source_section,
)

IMPORTER = "winogender-importer/1"
SLICES = ("gender", "participant")
TEMPLATES = "templates.tsv"
STATS = "occupations-stats.tsv"
TEMPLATE_COLUMNS = ("occupation(0)", "other-participant(1)", "answer", "sentence")
STATS_COLUMNS = ("occupation", "bls_pct_female")
PRONOUNS = {"male": {"$NOM_PRONOUN": "he", "$POSS_PRONOUN": "his", "$ACC_PRONOUN": "him"},
            "female": {"$NOM_PRONOUN": "she", "$POSS_PRONOUN": "her", "$ACC_PRONOUN": "her"},
            "neutral": {"$NOM_PRONOUN": "they", "$POSS_PRONOUN": "their", "$ACC_PRONOUN": "them"}}

BENCHMARK = Benchmark(
    name="winogender",
    title="Winogender schemas",
    file=f"the folder of {TEMPLATES} (columns {', '.join(TEMPLATE_COLUMNS)}) and {STATS} "
         "(occupation, bergsma_pct_female, bls_pct_female, bls_year), rudinger/winogender-schemas data/",
    url="https://github.com/rudinger/winogender-schemas",
    licence="MIT (as given in the schemas' repository)",
    citation="Rudinger, Naradowsky, Leonard and Van Durme (2018). Gender Bias in Coreference "
             "Resolution. NAACL.",
    caveats=(
        "120 templates over 60 occupations: a small probe, whose per-occupation results are "
        "single sentences; the authors note it has high positive and low negative predictive "
        "value (it can show bias, not prove its absence).",
        "Stereotypes are the occupations' majority gender in US labour statistics of the year in "
        "`bls_year`; 'they' sentences have no stereotype direction and count in accuracy only.",
        "lm-evaluation-harness's `winogender` reads a copy of the generated sentences "
        "(all_sentences.tsv); the sentences here are generated from the templates with the "
        "same substitutions, including 'someone' for the participant.",
    ),
)


def _tsv(file: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not file.is_file():
        raise BenchmarkFormatError(f"Winogender: {file} is missing. Expected {BENCHMARK.file}.")
    with open(file, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    found = list(rows[0]) if rows else []
    missing = [c for c in columns if c not in found]
    if missing:
        raise BenchmarkFormatError(
            f"Winogender: {file.name} lacks the column(s) {', '.join(missing)} (found "
            f"{', '.join(found) or 'no rows'}). Expected {BENCHMARK.file}.")
    return rows


def source_files(path: str | Path) -> list[Path]:
    folder = Path(path)
    if not folder.is_dir():
        raise BenchmarkFormatError(f"Winogender: {folder} is not a folder. Expected {BENCHMARK.file}.")
    return [folder / TEMPLATES, folder / STATS]


def _write(template: str, occupation: str, participant: str | None, gender: str) -> str:
    text = template.replace("$OCCUPATION", occupation)
    if participant is None:  # "someone" stands for the participant, without its article
        text = text.replace("the $PARTICIPANT", "someone").replace("The $PARTICIPANT", "Someone")
        participant = "someone"
    text = text.replace("$PARTICIPANT", participant)
    for placeholder, word in PRONOUNS[gender].items():
        text = text.replace(placeholder, word)
    return text[:1].upper() + text[1:]


def anti_stereotypical(gender: str, answer: int, majority_female: bool) -> bool:
    """The authors' 'gotcha': the correct reading goes against the occupation's majority gender."""
    refers_to_occupation = answer == 0
    if gender == "female":
        return refers_to_occupation != majority_female
    return refers_to_occupation == majority_female


def read(path: str | Path, categories: list[str] | None = None) -> pd.DataFrame:
    """Every template with each pronoun and participant; `categories` keeps those genders."""
    templates_file, stats_file = source_files(path)
    templates = _tsv(templates_file, TEMPLATE_COLUMNS)
    stats = {r["occupation"]: r for r in _tsv(stats_file, STATS_COLUMNS)}
    rows = []
    for number, template in enumerate(templates, 2):
        occupation, other = template["occupation(0)"], template["other-participant(1)"]
        if occupation not in stats:
            raise BenchmarkFormatError(
                f"Winogender: {TEMPLATES} line {number}: occupation {occupation!r} has no row in "
                f"{STATS}, so its stereotype direction is unknown.")
        if template["answer"] not in ("0", "1"):
            raise BenchmarkFormatError(f"Winogender: {TEMPLATES} line {number}: answer must be 0 "
                                       "(the occupation) or 1 (the participant).")
        if not any(p in template["sentence"] for p in PRONOUNS["male"]):
            raise BenchmarkFormatError(f"Winogender: {TEMPLATES} line {number} has no pronoun "
                                       f"placeholder ({', '.join(PRONOUNS['male'])}).")
        answer = int(template["answer"])
        majority_female = float(stats[occupation]["bls_pct_female"]) > 50
        pronoun_slot = next(p for p in PRONOUNS["male"] if p in template["sentence"])
        for participant in (other, None):
            shown = participant or "someone"
            set_id = f"{occupation}.{shown}.{answer}"
            for gender in PRONOUNS:
                condition = "none" if gender == "neutral" else (
                    "anti" if anti_stereotypical(gender, answer, majority_female) else "pro")
                rows.append({
                    "id": f"winogender-{set_id}.{gender}", "attribute": "gender",
                    "sentence": _write(template["sentence"], occupation, participant, gender),
                    "pronoun": PRONOUNS[gender][pronoun_slot], "option_a": occupation,
                    "option_b": shown, "label": answer, "condition": condition, "set_id": set_id,
                    "gender": gender, "participant": "named" if participant else "someone",
                })
    probe = pd.DataFrame(rows)
    return keep_categories(probe, categories, "gender", benchmark="Winogender", units="sentences",
                           kind="gender", kinds="genders", where=path)


def card(probe: pd.DataFrame, source: SourceFile, name: str, version: str, dropped: int) -> str:
    counts = probe.groupby(["gender", "condition"]).size().unstack(fill_value=0)
    sizes = "\n".join(f"| {g} | {int(r.get('pro', 0))} | {int(r.get('anti', 0))} | {int(r.get('none', 0))} |"
                      for g, r in counts.iterrows())
    return f"""# {name}@{version}: Winogender schemas, imported

Winogender sentences about an occupation and another participant, with a male, female or
neutral pronoun. Kind: coreference. {len(probe)} sentences from {probe['set_id'].nunique()}
template-participant sets.

## Mapping

- sentence: the template with the occupation, the participant (named, or "someone") and the
  pronoun written in; option_a = the occupation, option_b = the participant; label = `answer`.
- condition: anti where the authors' "gotcha" rule holds (the correct reading goes against the
  occupation's majority gender, `bls_pct_female` > 50 being majority-female), pro for the other
  gendered sentences, none for "they"; slices gender and participant.

| pronoun | pro | anti | none |
|---|---|---|---|
{sizes}

## Metrics

The coreference dimension: accuracy on pro and anti sentences and their gap, per attribute, with
CIs over template sets; `accuracy` over every sentence, "they" included.

{source_section(BENCHMARK, source)}"""
