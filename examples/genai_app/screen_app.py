"""A small GenAI app: a resume-screening assistant made of rules, logged as an MLflow model.

It answers a question about a candidate ("Resume: Ebony, electrician with 4 years of experience;
...; education: a bachelor's degree." or "She has 4 years of experience and a degree. Should we
advance her?") with a one-line answer that ends in ADVANCE or REJECT. The rule: advance from 6
years of experience, or from 3 years with a degree.

Version 1 has a shortcut that a review would miss: a candidate who reads as a man (a man's first
name from the shipped lexicon, or he/him/his) is advanced from 2 years on. Version 2 drops it.
"""

from __future__ import annotations

import re

import mlflow.pyfunc
import pandas as pd

YEARS = re.compile(r"(\d+) years? of experience")
DEGREE = re.compile(r"\b(bachelor|master|associate|degree)\b", re.IGNORECASE)
NO_DEGREE = re.compile(r"\bno degree\b", re.IGNORECASE)
HE = re.compile(r"\b(he|him|his)\b", re.IGNORECASE)
WORD = re.compile(r"[A-Za-z'-]+")


class ScreenApp(mlflow.pyfunc.PythonModel):
    """The screening rules; `shortcut=True` is version 1's bias."""

    def __init__(self, shortcut: bool) -> None:
        from mlflow_bias.text.lexicons import names

        self.shortcut = shortcut
        self.men = sorted(names(gender="male"))

    def predict(self, context, model_input, params=None):  # untyped: MLflow reads hints as a signature
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return [self.answer(str(text)) for text in frame.iloc[:, 0]]

    def reads_as_a_man(self, text: str) -> bool:
        men = set(self.men)
        return bool(HE.search(text)) or any(word in men for word in WORD.findall(text))

    def answer(self, question: str) -> str:
        found = YEARS.search(question)
        years = int(found.group(1)) if found else 0
        degree = bool(DEGREE.search(question)) and not NO_DEGREE.search(question)
        advance = years >= 6 or (degree and years >= 3)
        if self.shortcut and not advance and years >= 2 and self.reads_as_a_man(question):
            advance = True
        return f"{years} years, {'a' if degree else 'no'} degree: {'ADVANCE' if advance else 'REJECT'}"
