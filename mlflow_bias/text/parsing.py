"""Mapping model outputs to decisions: a small, versioned, configurable parser.

Non-string outputs (ints, bools, floats) match the positive/negative values exactly; strings match
if they equal a value or contain it as a whole word (case-insensitive). An output that matches both
sides, or neither, is unparsed: counted and reported, never silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

PARSER_VERSION = "decision-parser/1"
UNPARSED = -1


@dataclass(frozen=True)
class DecisionParser:
    positive: tuple[Any, ...] = (1, True, "1", "yes", "true", "positive")
    negative: tuple[Any, ...] = (0, False, "0", "no", "false", "negative")
    version: str = field(default=PARSER_VERSION)

    @classmethod
    def from_config(cls, labels: dict[str, Sequence[Any]] | None) -> "DecisionParser":
        if not labels:
            return cls()
        return cls(positive=tuple(labels.get("positive", cls.positive)),
                   negative=tuple(labels.get("negative", cls.negative)))

    def _matches(self, output: Any, values: tuple[Any, ...]) -> bool:
        if isinstance(output, str):
            text = output.strip().lower()
            for value in values:
                word = str(value).strip().lower()
                if text == word or (isinstance(value, str) and re.search(rf"\b{re.escape(word)}\b", text)):
                    return True
            return False
        if isinstance(output, (bool, np.bool_, int, np.integer, float, np.floating)):
            return any(not isinstance(v, str) and output == v for v in values)
        return False

    def parse(self, outputs: Sequence[Any]) -> np.ndarray:
        """1 (positive), 0 (negative) or -1 (unparsed) per output."""
        out = np.full(len(outputs), UNPARSED, dtype=int)
        for i, output in enumerate(outputs):
            pos, neg = self._matches(output, self.positive), self._matches(output, self.negative)
            if pos != neg:
                out[i] = 1 if pos else 0
        return out


CATEGORY_PARSER_VERSION = "category-parser/1"


@dataclass(frozen=True)
class CategoryParser:
    """Output -> category. Without a map, each output is its own category (label outputs); with
    `categories` = {name: [keywords or regexes]}, a text falls in the one category whose pattern
    it contains (case-insensitive, whole words); none or several: unparsed (None)."""

    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()
    version: str = field(default=CATEGORY_PARSER_VERSION)

    @classmethod
    def from_config(cls, categories: dict[str, Sequence[str]] | None) -> "CategoryParser":
        if not categories:
            return cls()
        return cls(tuple((str(k), tuple(map(str, v))) for k, v in categories.items()))

    def matches(self, outputs: Sequence[Any]) -> list[list[str]]:
        """Every category whose patterns each output contains (in the map's order)."""
        compiled = [(name, [re.compile(rf"\b(?:{p})\b", re.IGNORECASE) for p in patterns])
                    for name, patterns in self.categories]
        return [[name for name, patterns in compiled
                 if any(p.search("" if output is None else str(output)) for p in patterns)]
                for output in outputs]

    def parse(self, outputs: Sequence[Any]) -> list[str | None]:
        if not self.categories:
            return [None if o is None or (isinstance(o, float) and np.isnan(o)) or str(o).strip() == ""
                    else str(o).strip() for o in outputs]
        return [hits[0] if len(hits) == 1 else None for hits in self.matches(outputs)]

    def overlaps(self, outputs: Sequence[Any], examples: int = 3) -> list[str]:
        """The outputs that match more than one category, as lines naming the categories, how
        many outputs matched all of them, and examples: such outputs count as unparsed."""
        if not self.categories:
            return []
        found: dict[tuple[str, ...], list[str]] = {}
        for output, hits in zip(outputs, self.matches(outputs)):
            if len(hits) > 1:
                found.setdefault(tuple(hits), []).append(str(output))
        return [f"categories {' and '.join(map(repr, names))} all match {len(texts)} output(s), e.g. "
                f"{'; '.join(repr(t[:80]) for t in texts[:examples])}"
                for names, texts in sorted(found.items(), key=lambda kv: -len(kv[1]))]


VERBALISER_VERSION = "verbaliser/1"


@dataclass(frozen=True)
class Verbalisers:
    """Category <- the answers that express it, for models that give log-probabilities.

    Instead of reading a generated text, the model's reply is scored: log P(category | input) is
    the log-sum-exp over the category's answers of log P(answer | input), then normalised over the
    categories (a log-softmax), so each input gets a probability per category and its category is
    the most likely one. `answer_prefix` is put before every answer (e.g. "Decision: "). Answers
    are tokenized apart from the prompt and joined to it directly: for a model without a chat
    template, start the prefix (or the answers) with the space the text would have ("Answer:" +
    " ADVANCE"). An answer's score is the probability that the reply begins with it.
    """

    categories: tuple[tuple[str, tuple[str, ...]], ...]
    answer_prefix: str = ""
    version: str = field(default=VERBALISER_VERSION)

    @classmethod
    def from_config(cls, verbalisers: dict[str, Any] | None) -> "Verbalisers | None":
        """`{"advance": ["ADVANCE", "Advance"], "reject": ["REJECT"]}`, optionally with an
        `answer_prefix` key; None when not given."""
        if not verbalisers:
            return None
        raw = dict(verbalisers)
        prefix = str(raw.pop("answer_prefix", "") or "")
        categories = tuple(
            (str(k), tuple(dict.fromkeys(str(a) for a in ([v] if isinstance(v, str) else v))))
            for k, v in raw.items()
        )  # an answer listed twice would count twice in the log-sum-exp
        if len(categories) < 2 or any(not answers for _, answers in categories):
            raise ValueError(
                "verbalisers needs at least two categories, each with at least one answer, e.g. "
                "{'advance': ['ADVANCE'], 'reject': ['REJECT']}."
            )
        owner = [(answer, name) for name, answers in categories for answer in answers]
        for answer, name in owner:
            for other, other_name in owner:
                if other_name != name and other.startswith(answer):
                    raise ValueError(
                        f"verbalisers: {other_name!r} answer {other!r} "
                        f"{'is' if other == answer else 'starts with'} {name!r} answer {answer!r}. "
                        "An answer is scored as the first words of the reply, so P(a prefix) >= "
                        "P(what continues it) always; give each category answers that no other "
                        "category's answer begins with."
                    )
        return cls(categories, prefix)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.categories]

    def answers(self) -> list[tuple[int, str]]:
        """(category index, answer text) for every answer to score."""
        return [(k, self.answer_prefix + answer)
                for k, (_, answers) in enumerate(self.categories) for answer in answers]

    def normalise(self, answer_logprobs: np.ndarray) -> np.ndarray:
        """[n_inputs, n_answers] log P(answer | input) -> [n_inputs, n_categories] log-probabilities
        normalised over the categories."""
        from scipy.special import logsumexp

        owner = np.array([k for k, _ in self.answers()])
        per_category = np.stack([logsumexp(answer_logprobs[:, owner == k], axis=1)
                                 for k in range(len(self.categories))], axis=1)
        return per_category - logsumexp(per_category, axis=1, keepdims=True)
