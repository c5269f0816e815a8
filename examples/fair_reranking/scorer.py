"""A candidate scorer with a known group skew, as an MLflow pyfunc.

Each candidate arrives as one line of text, e.g.
"Candidate: Greg, 7 years of experience; matches 3 of 5 required skills." The score is
years / 12 + skills / 5 (0 to 2), plus `bonus` when the first name is on `bonus_names`. The
example gives the bonus to names perceived as male: the kind of skew a model learns from past
shortlists, and the one the ranking dimension measures.

The scorer reads the `input` column only, so it works both under the bias evaluator (which passes
`list_id`, `id`, `group` and `input`) and as the base model of `FairReranker` (which passes the
feature columns, here `input`).
"""

from __future__ import annotations

import re
from typing import Iterable

import mlflow.pyfunc
import pandas as pd

CANDIDATE = re.compile(r"Candidate: (?P<name>[A-Za-z'-]+), (?P<years>\d+) years? of experience; "
                       r"matches (?P<skills>\d+) of 5 required skills")


class ShortlistScorer(mlflow.pyfunc.PythonModel):
    def __init__(self, bonus_names: Iterable[str] = (), bonus: float = 0.4) -> None:
        self.bonus_names = sorted(set(bonus_names))
        self.bonus = float(bonus)

    def predict(self, context, model_input, params=None):  # untyped: MLflow reads hints as a signature
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return [self.score(str(text)) for text in frame["input"]]

    def score(self, text: str) -> float:
        match = CANDIDATE.search(text)
        if match is None:
            raise ValueError(f"not a candidate line: {text[:60]!r}")
        value = int(match["years"]) / 12 + int(match["skills"]) / 5
        return value + (self.bonus if match["name"] in self.bonus_names else 0.0)
