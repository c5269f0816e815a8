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


def _luhn_valid(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")


def anonymize_cards(text: str) -> str:
    """Payment card numbers: 13-19 digits (spaces or dashes allowed) that pass the Luhn check, so
    runs of years or amounts are left alone."""
    return _CARD.sub(lambda m: "[CARD]" if _luhn_valid(re.sub(r"\D", "", m.group(0))) else m.group(0),
                     text)


# Order matters: e-mails and URLs before the digit patterns that could match inside them.
DEFAULT_ANONYMIZERS: tuple[Anonymizer, ...] = (
    pattern_anonymizer(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", "EMAIL"),
    pattern_anonymizer(r"\bhttps?://\S+|\bwww\.\S+", "URL"),
    pattern_anonymizer(r"\b\d{3}-\d{2}-\d{4}\b", "SSN"),
    anonymize_cards,
    # international (+44 ...), a bracketed area code, a national trunk 0 (020 7946 0958), or the
    # North American 3-3-4 with one separator style (555-123-4567, 555.123.4567)
    pattern_anonymizer(r"(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}[ .-]\d{3,4}(?:[ .-]\d{3,4})?"
                       r"|\(\d{2,4}\)[ .-]?\d{3,4}[ .-]\d{3,4}"
                       r"|\b0[1-9]\d{1,3}[ .-]\d{3,4}[ .-]\d{3,4}"
                       r"|\b\d{3}([.-])\d{3}\1\d{4})\b", "PHONE"),
    # account, order or ID numbers: letters then 6+ digits, or 9+ digits (not a salary or a year)
    pattern_anonymizer(r"\b(?:[A-Z]{1,3}\d{6,}|\d{9,})\b", "ID", flags=0),
)


def anonymize(text: str, anonymizers: Sequence[Anonymizer] = DEFAULT_ANONYMIZERS) -> str:
    """`text` passed through every anonymizer in order (non-strings are returned as they are)."""
    if not isinstance(text, str):
        return text
    for hook in anonymizers:
        text = hook(text)
    return text
