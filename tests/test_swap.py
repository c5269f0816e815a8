"""The attribute swapper shared by counterfactual augmentation, probe building and trace replay,
against a table of tricky sentences."""

from __future__ import annotations

import pytest

from mlflow_bias.text import lexicons
from mlflow_bias.core.errors import ConfigError
from mlflow_bias.text.swap import AttributeSwapper, plural_verb

GENDER = [
    # case
    ("he said she was late.", "she said he was late."),
    ("He said She was late.", "She said He was late."),
    ("HE IS HERE, SHE IS NOT.", "SHE IS HERE, HE IS NOT."),
    ("He's sure she'll come.", "She's sure he'll come."),
    # her -> his before a noun or adjective, else him
    ("Her book is on her new desk.", "His book is on his new desk."),
    ("I saw her.", "I saw him."),
    ("I gave her a book.", "I gave him a book."),
    ("I told her that it rained.", "I told him that it rained."),
    ("Call her quickly!", "Call him quickly!"),
    ("Her family and her well-known work.", "His family and his well-known work."),
    ("with her, and", "with him, and"),
    # his -> her before a noun, else hers; him, himself, hers
    ("His car is faster than hers.", "Her car is faster than his."),
    ("The book is his.", "The book is hers."),
    ("It was his to keep.", "It was hers to keep."),
    ("She thanked him.", "He thanked her."),
    ("He hurt himself; she hurt herself.", "She hurt herself; he hurt himself."),
    # nouns, titles, possessives, hyphenated compounds
    ("A man and two women met the king's son.", "A woman and two men met the queen's daughter."),
    ("Mr. Smith, Mrs. Jones and Ms Lee.", "Ms. Smith, Mr. Jones and Mr Lee."),
    ("My brother's wife is a waitress.", "My sister's husband is a waiter."),
    ("The policemen thanked the chairwoman.", "The policewomen thanked the chairman."),
    ("her ex-husband", "his ex-wife"),
    # names: same perceived race, other gender, possessive kept
    ("Greg's sister met Lakisha.", "Emily's brother met Jamal."),
    ("EMILY and jamal", "GREG and lakisha"),
    # words inside other words are left alone
    ("the shell history of Sherlock, the therapist and the human manager",
     "the shell history of Sherlock, the therapist and the human manager"),
    ("Themes: hermit, heather, menswear, mandate, sonnet, Kingston.",
     "Themes: hermit, heather, menswear, mandate, sonnet, Kingston."),
]

NEUTRAL = [
    ("She is a nurse and he was late.", "They are a nurse and they were late."),
    ("He runs, she watches, he studies, she goes.", "They run, they watch, they study, they go."),
    ("He doesn't know; she has left.", "They don't know; they have left."),
    ("I told her about his book; it is hers.", "I told them about their book; it is theirs."),
    ("He said it himself.", "They said it themselves."),
    ("He will come.", "They will come."),  # a modal needs no change
    ("He always wins; she perhaps knows.", "They always win; they perhaps know."),
    ("He's late.", "They're late."),
]

RACE = [
    ("Emily met Greg and Lakisha's brother.", "Lakisha met Jamal and Emily's brother."),
    ("Jamal said he would call.", "Greg said he would call."),  # pronouns are not race markers
]


@pytest.mark.parametrize("text, expected", GENDER)
def test_gender_swaps(text, expected):
    assert AttributeSwapper("gender").swap(text).text == expected


@pytest.mark.parametrize("text, expected", NEUTRAL)
def test_neutral_pronouns_with_verb_agreement(text, expected):
    assert AttributeSwapper("gender", neutral=True).swap(text).text == expected


@pytest.mark.parametrize("text, expected", RACE)
def test_race_swaps_names_within_gender(text, expected):
    assert AttributeSwapper("race").swap(text).text == expected


def test_reports_what_it_swapped_and_says_when_nothing_was():
    result = AttributeSwapper("gender").swap("Her book, Greg's pen.")
    assert [(s.original, s.replacement, s.kind) for s in result.swaps] == [
        ("Her", "His", "pronoun"), ("Greg", "Emily", "term")]
    assert result.note == "Her->His; Greg->Emily" and result.changed
    assert [result.original[s.start:s.end] for s in result.swaps] == ["Her", "Greg"]
    untouched = AttributeSwapper("gender").swap("The committee met at noon.")
    assert untouched.text == "The committee met at noon." and not untouched.changed
    assert untouched.note == "no gender marker found; text left unchanged"


def test_every_lexicon_term_changes_group_and_names_keep_race():
    swapper = AttributeSwapper("gender", extra_pairs={"John": "Mary"})
    assert swapper.swap("John's dog saw Mary.").text == "Mary's dog saw John."
    lexicon = lexicons.load_lexicon()
    binary = {g: ts for g, ts in lexicon.terms("gender").items() if g in ("female", "male")}
    gender_terms = {t.lower() for terms in binary.values() for t in terms}
    assert gender_terms <= swapper.vocabulary
    # nonbinary markers (1.2.0) are counted by the audit but have no counterpart to swap with
    nonbinary = {t.lower() for t in lexicon.terms("gender")["nonbinary"]}
    assert nonbinary and not nonbinary & swapper.vocabulary
    assert swapper.swap("Mx. Brooks said she would come.").text == "Mx. Brooks said he would come."
    group_of, race_of = lexicon.group_of_term("gender"), lexicon.group_of_term("race")
    for term in gender_terms - {"her", "his"}:
        swapped = swapper.swap(term).text.lower()
        assert group_of[swapped] != group_of[term], term
        if term in race_of:
            assert race_of[swapped] == race_of[term], term
    race = AttributeSwapper("race")
    for term in race_of:
        swapped = race.swap(term).text.lower()
        assert race_of[swapped] != race_of[term] and group_of[swapped] == group_of[term], term


def test_plural_verb_rules_and_bad_input():
    assert [plural_verb(w) for w in ("runs", "watches", "studies", "goes", "is", "Has", "the", "glass")] == [
        "run", "watch", "study", "go", "are", "Have", None, None]
    with pytest.raises(ConfigError, match="non-empty"):
        AttributeSwapper(extra_pairs={"John": " "})
    with pytest.raises(ConfigError, match="no attribute 'disability'"):
        AttributeSwapper("disability")
    # religion is counted by the audit (lexicon 1.1.0) but has no counterparts to swap
    with pytest.raises(ConfigError, match="no aligned term lists for 'religion'"):
        AttributeSwapper("religion")
    with pytest.raises(ConfigError, match="gender attribute only"):
        AttributeSwapper("race", neutral=True)
    with pytest.raises(TypeError, match="needs a string"):
        AttributeSwapper().swap(None)


@pytest.mark.parametrize("text, expected", [
    ("Please let her know.", "Please let him know."),
    ("Help her find the file.", "Help him find the file."),
    ("She emphasizes quality; she focuses on tests; she wasn’t late.",
     "They emphasize quality; they focus on tests; they weren’t late."),
])
def test_object_pronoun_after_causatives_and_more_verbs(text, expected):
    neutral = "emphasizes" in text
    assert AttributeSwapper("gender", neutral=neutral).swap(text).text == expected


@pytest.mark.parametrize("gender, text, expected", [
    ("female", "They are a nurse and they work nights.", "She is a nurse and she works nights."),
    ("female", "Ask them about their plan; it is theirs.", "Ask her about her plan; it is hers."),
    ("female", "They said they were ready.", "She said she was ready."),
    ("female", "They're late and they've left.", "She's late and she's left."),
    ("female", "They always go home early. They try hard.", "She always goes home early. She tries hard."),
    ("female", "They tried. They can swim. They don't know.", "She tried. She can swim. She doesn't know."),
    ("female", "They enjoy it and they play.", "She enjoys it and she plays."),
    ("male", "They watch the team themselves.", "He watches the team himself."),
    ("male", "THEY HAVE a plan; Their plan is theirs.", "HE HAS a plan; His plan is his."),
    ("male", "No pronoun here.", "No pronoun here."),
])
def test_singular_they_written_as_one_gender(gender, text, expected):
    assert AttributeSwapper("gender", from_neutral=gender).swap(text).text == expected


def test_they_and_back_round_trips_a_sentence():
    text = "She runs the clinic, and she is proud of her team and of herself."
    neutral = AttributeSwapper("gender", neutral=True).swap(text).text
    assert neutral == "They run the clinic, and they are proud of their team and of themselves."
    assert AttributeSwapper("gender", from_neutral="female").swap(neutral).text == text


@pytest.mark.parametrize("options, message", [
    ({"neutral": True, "from_neutral": "female"}, "give one of them"),
    ({"from_neutral": "nonbinary"}, "from_neutral='nonbinary'"),
])
def test_contradictory_or_unknown_neutral_options_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        AttributeSwapper("gender", **options)
