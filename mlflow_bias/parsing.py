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
