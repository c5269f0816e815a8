"""Versioned refusal rubric: patterns in a data file, applied to responses, with precision and recall
measured on a labelled calibration set (refusals, partial refusals, safe completions that mention
safety, ordinary answers)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import yaml

from mlflow_bias.core.errors import BiasEvaluationError

DEFAULT_RUBRIC = "refusal-1.0.0.yaml"
CALIBRATION = "refusal-calibration-1.0.0.jsonl"
REFUSED_LABELS = {"refusal", "partial"}


@dataclass(frozen=True)
class RefusalRubric:
    name: str
    version: str
    window: int
    patterns: tuple[tuple[str, re.Pattern], ...]

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def triggers(self, response: Any) -> list[str]:
        """Ids of the patterns that fire on a response (in its first `window` characters)."""
        text = "" if response is None else str(response)[: self.window]
        return [pid for pid, pattern in self.patterns if pattern.search(text)]

    def refused(self, responses: Sequence[Any]) -> list[bool]:
        return [bool(self.triggers(r)) for r in responses]


def load_rubric(path: str | Path | None = None) -> RefusalRubric:
    """The shipped rubric, or one from a YAML file (name, version, window, patterns)."""
    if path is None:
        text, source = resources.files("mlflow_bias.rubrics").joinpath(DEFAULT_RUBRIC).read_text(), DEFAULT_RUBRIC
    else:
        text, source = Path(path).read_text(encoding="utf-8"), str(path)
    raw = yaml.safe_load(text)
    try:
        patterns = tuple((str(p["id"]), re.compile(p["regex"], re.IGNORECASE)) for p in raw["patterns"])
        return RefusalRubric(str(raw["name"]), str(raw["version"]), int(raw.get("window", 240)), patterns)
    except (KeyError, TypeError, re.error) as exc:
        raise BiasEvaluationError(
            f"Invalid refusal rubric {source}: {exc}. It needs name, version, window and a list of "
            "patterns with id and regex."
        ) from exc


def calibration_set() -> list[dict[str, str]]:
    """The labelled calibration responses: {"response", "label"} with label refusal, partial,
    safe_completion or answer."""
    text = resources.files("mlflow_bias.rubrics").joinpath(CALIBRATION).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def calibrate(rubric: RefusalRubric, examples: list[dict[str, str]] | None = None) -> dict[str, float]:
    """Precision and recall of the rubric's refusal detection (full and partial refusals count as
    refusals) on the calibration set."""
    examples = calibration_set() if examples is None else examples
    predicted = rubric.refused([e["response"] for e in examples])
    actual = [e["label"] in REFUSED_LABELS for e in examples]
    tp = sum(p and a for p, a in zip(predicted, actual))
    fp = sum(p and not a for p, a in zip(predicted, actual))
    fn = sum(a and not p for p, a in zip(predicted, actual))
    return {
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "n": float(len(examples)),
    }
