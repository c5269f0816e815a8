"""Anonymisation hooks for production traces: applied to every input and recorded output before a
model sees it and before anything is logged.

`DEFAULT_ANONYMIZERS` removes e-mail addresses, URLs, phone numbers, US social security numbers,
payment card numbers and other long digit runs (account, order or ID numbers), replacing each with
a tag such as `[EMAIL]`. Patterns, not a PII model: names are deliberately left in place (they are
what the replay swaps), and free-text identifiers (street addresses, rare job titles) are not
found. Add your own: any callable `str -> str` can join the list.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

Anonymizer = Callable[[str], str]


def pattern_anonymizer(pattern: str, tag: str, flags: int = re.IGNORECASE) -> Anonymizer:
    """An anonymizer replacing every match of `pattern` with `[tag]`."""
    compiled = re.compile(pattern, flags)

    def anonymize(text: str) -> str:
        return compiled.sub(f"[{tag}]", text)

    anonymize.__name__ = f"anonymize_{tag.lower()}"
    return anonymize


# Order matters: e-mails and URLs before the digit patterns that could match inside them.
DEFAULT_ANONYMIZERS: tuple[Anonymizer, ...] = (
    pattern_anonymizer(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", "EMAIL"),
    pattern_anonymizer(r"\bhttps?://\S+|\bwww\.\S+", "URL"),
    pattern_anonymizer(r"\b\d{3}-\d{2}-\d{4}\b", "SSN"),
    pattern_anonymizer(r"\b(?:\d[ -]?){13,19}\b", "CARD"),
    pattern_anonymizer(r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\b\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}\b",
                       "PHONE"),
    pattern_anonymizer(r"\b[A-Z]{0,3}\d{6,}\b", "ID", flags=0),
)


def anonymize(text: str, anonymizers: Sequence[Anonymizer] = DEFAULT_ANONYMIZERS) -> str:
    """`text` passed through every anonymizer in order (non-strings are returned as they are)."""
    if not isinstance(text, str):
        return text
    for hook in anonymizers:
        text = hook(text)
    return text
