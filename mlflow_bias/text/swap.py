"""Swapping a protected attribute in free text: the one implementation behind counterfactual data
augmentation, counterfactual probe building and production-trace replay.

`AttributeSwapper(attribute)` replaces every marker of the attribute found by the versioned lexicon
(`mlflow_bias/lexicon_files`) with its counterpart, whole words only, keeping the case (He -> She,
HE -> SHE) and possessives ("Greg's" -> "Emily's", since only the word is replaced), and reports
each swap. Text without a marker comes back unchanged, with `changed == False` and a note saying so.

- gender (binary): he<->she, himself<->herself, him->her, hers->his; "her" -> "his" when a noun or
  adjective follows ("her book"), else "him" ("told her that"); "his" -> "her" when a noun or
  adjective follows, else "hers" ("it is his."); gendered nouns and titles (woman<->man,
  Ms/Mrs->Mr, Mr->Ms); first names to the paired name of the other gender and the same perceived
  race (Emily<->Greg, Lakisha<->Jamal).
- gender, `neutral=True`: he/she -> they, him/her -> them, his/her -> their (theirs), hers ->
  theirs, himself/herself -> themselves, with the verb right after a subject pronoun made plural
  (is -> are, was -> were, has -> have, does -> do, and a regular -s verb: "she runs" -> "they
  run"). Nouns and names are left as they are.
- gender, `from_neutral="female"` (or `"male"`): singular they written as that gender, the
  other way round: they -> she, them/their -> her, theirs -> hers, themselves/themself ->
  herself, with the verb right after "they" made singular (are -> is, were -> was, have -> has,
  do -> does, "'re"/"'ve" -> "'s", and a regular verb: "they run" -> "she runs"; past tenses and
  modals stay). It reads every "they" as one person, so use it on text written with singular
  they (a probe's neutral variant), not on text where "they" is a group.
- race: first names to the paired name of the same gender and the other perceived race
  (Emily<->Lakisha, Greg<->Jamal), as aligned in the lexicon.

The her/his rule uses a list of closed-class words and of causative verbs ("let her know", "help
her find": object), not a parser; constructions such as "made her happy" or "told her John was
late" are misread. Neutral mode fixes the verb right after the pronoun only: questions ("Is she
ready?") and a second, coordinated verb ("she runs and jumps") keep the singular. The tests hold
a table of the cases it is meant to get right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from mlflow_bias.core.errors import ConfigError
from mlflow_bias.text.lexicons import DEFAULT_LEXICON, Lexicon, load_lexicon

# Closed-class words (and the adverbs below). After "her" they mark the object pronoun ("told her
# that", "gave her a book" -> "him"); after "his" the independent possessive ("it is his to keep"
# -> "hers"). Any other following word is read as the noun or adjective of a determiner ("her new
# car" -> "his new car", "his book" -> "her book").
FUNCTION_WORDS = frozenset("""
a an the this that these those every each either neither any some no all both another such what
which whose
about above across after against along among around as at before behind below beneath beside
besides between beyond by despite down during except for from in inside into like near of off on
onto out outside over past since through throughout till to toward towards under underneath until
unlike up upon via with within without
and but or nor so yet because if when whenever while whereas although though unless than whether
where wherever
i me you he him she her it we us they them myself yourself himself herself itself ourselves
themselves my your his its our their mine yours hers ours theirs who whom someone somebody
something anyone anybody anything everyone everybody everything nobody nothing none
is are was were be been being am has have had do does did will would shall should can could may
might must
not never again also too now then there here yesterday today tonight tomorrow back away just
still already soon later ever even very really quite rather almost enough well
""".split())
# Words ending in -ly that are nouns or adjectives (after "her" they are what she owns or is).
LY_NOT_ADVERBS = frozenset("""
family only early lovely friendly lonely elderly daily weekly monthly yearly ugly silly holy belly
ally bully lily jolly curly reply supply assembly rally likely costly deadly lively orderly
""".split())
_NEXT_WORD = re.compile(r"[ \t]*(\w+(?:[-'’]\w+)*)")
_PREVIOUS_WORD = re.compile(r"(\w+)[ \t]+$")
# Verbs whose object is followed by a bare infinitive: "let her know", "help her find" (object).
_CAUSATIVES = frozenset("""
let lets letting make makes made making help helps helped helping have has had having see sees
saw seeing watch watches watched hear hears heard bid
""".split())

_BINARY_PRONOUNS = {"he": "she", "she": "he", "him": "her", "hers": "his", "himself": "herself",
                    "herself": "himself"}
_NEUTRAL_PRONOUNS = {"he": "they", "she": "they", "him": "them", "hers": "theirs",
                     "himself": "themselves", "herself": "themselves"}
_PLURAL_VERBS = {"is": "are", "was": "were", "has": "have", "does": "do", "isn't": "aren't",
                 "wasn't": "weren't", "hasn't": "haven't", "doesn't": "don't"}
_SUBJECT_PRONOUNS = {"he", "she"}
# Singular they written as one gender (`from_neutral`): the pronouns, and the verb after "they".
_FROM_NEUTRAL_PRONOUNS = {
    "female": {"they": "she", "them": "her", "their": "her", "theirs": "hers",
               "themselves": "herself", "themself": "herself"},
    "male": {"they": "he", "them": "him", "their": "his", "theirs": "his",
             "themselves": "himself", "themself": "himself"},
}
_SINGULAR_VERBS = {plural: singular for singular, plural in _PLURAL_VERBS.items()}
# Past tenses that do not end in -ed: after "they" they stay as they are ("they said").
_IRREGULAR_PAST = frozenset("""
said went ran came saw took made got gave found thought told became left felt brought began kept
held wrote stood heard let meant set met paid sat spoke lay led read grew lost fell sent built
understood drew broke spent cut rose drove bought wore chose sought threw caught dealt won forgot
hit put taught sold hung shot ate drank swam sang rang knew flew hid slept fought lit quit
""".split())
# Words ending in -s that are not verbs after a subject pronoun ("he always wins").
_S_ADVERBS = frozenset("""
always sometimes perhaps thus afterwards besides towards nowadays unawares whereas regardless
nevertheless nonetheless hereabouts
""".split())


def content_word_follows(text: str, end: int, start: int | None = None) -> bool:
    """Whether the word after position `end` reads as a noun or adjective (see FUNCTION_WORDS).
    With `start` (where the pronoun begins), a causative verb before it ("let her know") makes the
    pronoun an object whatever follows."""
    if start is not None:
        before = _PREVIOUS_WORD.search(text, 0, start)
        if before and before.group(1).lower() in _CAUSATIVES:
            return False
    match = _NEXT_WORD.match(text, end)
    if not match:
        return False  # punctuation or end of text
    word = match.group(1).lower()
    if "-" in word:
        return True  # a compound modifier: "her well-known book"
    if word in FUNCTION_WORDS:
        return False
    return not (word.endswith("ly") and word not in LY_NOT_ADVERBS)


def match_case(source: str, replacement: str) -> str:
    """`replacement` in the case pattern of `source`: HE -> SHE, He -> She, he -> she."""
    if source.isupper() and len(source) > 1:
        return replacement.upper()
    if source[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement.lower()


def plural_verb(word: str) -> str | None:
    """The plural form of a third-person singular verb ("runs" -> "run"), or None if `word` does
    not look like one."""
    lower = word.lower().replace("’", "'")
    if lower in _PLURAL_VERBS:
        plural = match_case(word, _PLURAL_VERBS[lower])
        return plural.replace("'", "’") if "’" in word else plural
    if (lower in FUNCTION_WORDS or lower in _S_ADVERBS or len(lower) < 3 or not lower.endswith("s")
            or lower.endswith(("ss", "'s", "us", "is"))):
        return None
    if lower.endswith("ies") and len(lower) > 4:
        stem = lower[:-3] + "y"
    elif lower.endswith(("shes", "ches", "xes", "sses", "zzes", "oes", "cuses")):
        stem = lower[:-2]  # watches, fixes, misses, buzzes, goes, focuses
    else:
        stem = lower[:-1]  # runs, emphasizes, causes, uses
    return match_case(word, stem)


def singular_verb(word: str) -> str | None:
    """The third-person singular of a plural present verb ("run" -> "runs", "are" -> "is"), or
    None if `word` does not look like one (a modal, a past tense, a function word)."""
    lower = word.lower().replace("’", "'")
    if lower in _SINGULAR_VERBS:
        singular = match_case(word, _SINGULAR_VERBS[lower])
        return singular.replace("'", "’") if "’" in word else singular
    if (lower in FUNCTION_WORDS or lower in _IRREGULAR_PAST or lower.endswith(("ed", "'")) or len(lower) < 2
            or not lower.isalpha() or lower.endswith("s")):
        return None
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return match_case(word, lower[:-1] + "ies")  # try -> tries
    if lower.endswith(("sh", "ch", "x", "z", "o")):
        return match_case(word, lower + "es")  # watch -> watches, go -> goes
    return match_case(word, lower + "s")


_ADVERBS = _S_ADVERBS | frozenset("never also often still just really even only already soon "
                                  "seldom once twice almost".split())


def _is_adverb(word: str) -> bool:
    lower = word.lower()
    return lower in _ADVERBS or (lower.endswith("ly") and lower not in LY_NOT_ADVERBS)


def _singular_agreement(text: str, end: int) -> list["Swap"]:
    """The swap that makes the verb after a subject "they" (ending at `end`) singular: "'re" and
    "'ve" become "'s", a plural present verb its singular, adverbs between skipped."""
    contraction = text[end:end + 3]
    if contraction.lower().replace("’", "'") in ("'re", "'ve"):
        return [Swap(end, end + 3, contraction, contraction[0] + "s", "verb")]
    verb = _NEXT_WORD.match(text, end)
    for _ in range(2):  # "they always win"
        if verb is None or not _is_adverb(verb.group(1)):
            break
        verb = _NEXT_WORD.match(text, verb.end())
    singular = singular_verb(verb.group(1)) if verb else None
    if singular is None or singular == verb.group(1):
        return []
    return [Swap(verb.start(1), verb.end(1), verb.group(1), singular, "verb")]


@dataclass(frozen=True)
class Swap:
    """One replaced word: where it was (in the original text), what it was and what it became."""

    start: int
    end: int
    original: str
    replacement: str
    kind: str  # pronoun, verb or term (nouns, titles, names)


@dataclass(frozen=True)
class SwapResult:
    original: str
    text: str
    swaps: tuple[Swap, ...]
    attribute: str

    @property
    def changed(self) -> bool:
        return bool(self.swaps)

    @property
    def note(self) -> str:
        if not self.swaps:
            return f"no {self.attribute} marker found; text left unchanged"
        return "; ".join(f"{s.original}->{s.replacement}" for s in self.swaps)


class AttributeSwapper:
    """Swap the markers of one protected attribute in free text (see the module docstring)."""

    def __init__(self, attribute: str = "gender", *, lexicon: str | Path | Lexicon | None = None,
                 extra_pairs: Mapping[str, str] | None = None, neutral: bool = False,
                 from_neutral: str | None = None) -> None:
        self.lexicon = lexicon if isinstance(lexicon, Lexicon) else load_lexicon(lexicon or DEFAULT_LEXICON)
        if attribute not in self.lexicon.groups:
            raise ConfigError(f"Lexicon {self.lexicon.ref} has no attribute {attribute!r} to swap; "
                              f"it has: {', '.join(self.lexicon.groups)}.")
        if (neutral or from_neutral) and attribute != "gender":
            raise ConfigError("neutral=True and from_neutral swap pronouns between 'they' and a "
                              "gender; they apply to the gender attribute only.")
        if neutral and from_neutral:
            raise ConfigError("neutral=True writes gendered pronouns as 'they' and from_neutral "
                              "writes 'they' as one gender; give one of them.")
        if from_neutral is not None and from_neutral not in _FROM_NEUTRAL_PRONOUNS:
            raise ConfigError(f"from_neutral={from_neutral!r}: give the gender singular 'they' is "
                              f"written as, one of {sorted(_FROM_NEUTRAL_PRONOUNS)}.")
        self.attribute = attribute
        self.neutral = neutral
        self.from_neutral = from_neutral
        directional = neutral or from_neutral is not None
        mapping: dict[str, str] = {} if directional else dict(self.lexicon.counterparts(attribute))
        if not mapping and not directional:
            raise ConfigError(f"Lexicon {self.lexicon.ref} has no aligned term lists for "
                              f"{attribute!r}, so there is nothing to swap a term with.")
        for a, b in (extra_pairs or {}).items():
            if not str(a).strip() or not str(b).strip():
                raise ConfigError("extra_pairs needs non-empty words on both sides.")
            mapping[str(a).lower()] = str(b)
            mapping[str(b).lower()] = str(a)
        self._pronouns = {}
        if from_neutral is not None:
            self._pronouns = _FROM_NEUTRAL_PRONOUNS[from_neutral]
        elif attribute == "gender":
            self._pronouns = _NEUTRAL_PRONOUNS if neutral else _BINARY_PRONOUNS
        self.mapping = mapping
        words = self.vocabulary
        ordered = sorted(words, key=lambda w: (-len(w), w))
        self._pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, ordered)) + r")(?!\w)",
                                   re.IGNORECASE)

    @property
    def vocabulary(self) -> set[str]:
        """Every lower-case word this swapper may change (verbs after pronouns aside)."""
        her_his = {"her", "his"} if self._pronouns and self.from_neutral is None else set()
        return set(self.mapping) | set(self._pronouns) | her_his

    def _replacement(self, text: str, match: re.Match[str]) -> tuple[str, str]:
        word, key = match.group(0), match.group(0).lower()
        follows = content_word_follows(text, match.end(), match.start()) if key in ("her", "his") else False
        if key == "her":
            new = ("their" if follows else "them") if self.neutral else ("his" if follows else "him")
        elif key == "his":
            new = ("their" if follows else "theirs") if self.neutral else ("her" if follows else "hers")
        elif key in self._pronouns:
            new = self._pronouns[key]
        else:
            return match_case(word, self.mapping[key]), "term"
        return match_case(word, new), "pronoun"

    def swap(self, text: str) -> SwapResult:
        """The text with every marker of the attribute swapped, and what was swapped."""
        if not isinstance(text, str):
            raise TypeError(f"AttributeSwapper.swap needs a string, got {type(text).__name__}.")
        swaps: list[Swap] = []
        for match in self._pattern.finditer(text):
            new, kind = self._replacement(text, match)
            swaps.append(Swap(match.start(), match.end(), match.group(0), new, kind))
            if self.from_neutral is not None and match.group(0).lower() == "they":
                swaps += _singular_agreement(text, match.end())
            if self.neutral and match.group(0).lower() in _SUBJECT_PRONOUNS:
                if text[match.end():match.end() + 2].lower() in ("'s", "’s"):
                    # "he's" is "he is" (or "he has" before a participle: left as "'s" is wrong
                    # there too, so read it as "is", the far more common case)
                    contraction = text[match.end():match.end() + 2]
                    swaps.append(Swap(match.end(), match.end() + 2, contraction,
                                      match_case(contraction, contraction[0] + "re"), "verb"))
                    continue
                verb = _NEXT_WORD.match(text, match.end())
                for _ in range(2):  # skip adverbs between subject and verb: "he always wins"
                    if verb is None or not _is_adverb(verb.group(1)):
                        break
                    verb = _NEXT_WORD.match(text, verb.end())
                plural = plural_verb(verb.group(1)) if verb else None
                if plural is not None and plural != verb.group(1):
                    swaps.append(Swap(verb.start(1), verb.end(1), verb.group(1), plural, "verb"))
        out, last = [], 0
        for s in swaps:
            out += [text[last:s.start], s.replacement]
            last = s.end
        out.append(text[last:])
        return SwapResult(text, "".join(out), tuple(swaps), self.attribute)
