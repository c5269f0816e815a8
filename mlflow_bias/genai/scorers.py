"""Scorers for `mlflow.genai.evaluate` that measure bias row by row, fully offline.

- `Counterfactual(predict_fn)`: runs each row's input again with the protected attribute swapped
  (`mlflow_bias.text.swap`) and compares the two answers: by category when `categories` is given
  (value: whether the category held), else by the similarity of the answers once the swapped one
  is swapped back (value: the cosine similarity under all-MiniLM-L6-v2).
- `ProbeCategory(categories)`: on a probe's counterfactual-set rows (`probe_data`), the category
  of each answer; `summarize` turns the sets into CBS and the flip rate.
- `Refusal()`: whether the answer is a refusal under the versioned rubric; on a refusal probe's
  rows the sets give the refusal gap, and with `predict_fn` on other data each row is asked again
  with the attribute swapped.

Each `Feedback` carries a record (`records.encode`) that `summarize` reads back; its rationale
shows the texts a reviewer needs.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any, Callable, Mapping

from mlflow.entities import AssessmentError, Feedback
from mlflow.genai.scorers import Scorer
from pydantic import PrivateAttr

from mlflow_bias.core.errors import ConfigError
from mlflow_bias.genai.records import as_text, encode
from mlflow_bias.text.parsing import CategoryParser
from mlflow_bias.text.refusal_rubric import RefusalRubric, load_rubric
from mlflow_bias.text.swap import AttributeSwapper

NO_MARKER = "NO_MARKER"
NOT_A_PROBE_ROW = "NOT_A_PROBE_ROW"
APP_FAILED = "APP_FAILED"


def check_signature(predict_fn: Callable[..., Any], inputs: Mapping[str, Any]) -> None:
    """Raise ConfigError unless `predict_fn(**inputs)` binds: the data's input keys must be the
    app's parameters."""
    try:
        signature = inspect.signature(predict_fn)
    except (TypeError, ValueError):
        return  # a builtin or C callable: nothing to check before calling it
    try:
        signature.bind(**dict(inputs))
    except TypeError as exc:
        name = getattr(predict_fn, "__name__", type(predict_fn).__name__)
        raise ConfigError(
            f"predict_fn {name}{signature} cannot take the data's inputs {sorted(inputs)}: {exc}. "
            "Name the inputs after the app's parameters (probe_data(..., input_key='<parameter>')) "
            "or wrap the app in a function with those parameters.") from exc


def _text_field(inputs: Mapping[str, Any], input_key: str | None) -> str:
    """The key of the input text: `input_key`, or the only text field."""
    if input_key is not None:
        if input_key not in inputs:
            raise ConfigError(f"The row's inputs have no {input_key!r}; they have {sorted(inputs)}.")
        return input_key
    texts = [k for k, v in inputs.items() if isinstance(v, str)]
    if len(texts) != 1:
        raise ConfigError(f"The row's inputs {sorted(inputs)} hold {len(texts)} text fields; name the "
                          "one to read with input_key=.")
    return texts[0]


def _quote(text: Any, limit: int = 300) -> str:
    text = "" if text is None else str(text)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _probe_rows(expectations: Mapping[str, Any] | None, scorer: str) -> dict[str, Any] | Feedback:
    """The probe rows `probe_data` put in a record's expectations, or an error Feedback."""
    expectations = expectations or {}
    members = expectations.get("bias_rows")
    if not expectations.get("bias_probe") or not isinstance(members, list) or not members:
        return Feedback(name=scorer, error=AssessmentError(
            error_code=NOT_A_PROBE_ROW,
            error_message=f"{scorer} reads a probe's paired rows, and this row's expectations lack "
                          "bias_probe and bias_rows: build the data with "
                          "mlflow_bias.genai.probe_data(...)."))
    return {"probe": str(expectations["bias_probe"]), "rows": members}


def _membership(row: Mapping[str, Any]) -> str:
    members = row["rows"]
    first = members[0]
    more = f" (and {len(members) - 1} more row(s) with this text)" if len(members) > 1 else ""
    return f"{first.get('attribute')}={first.get('group')} in set {first.get('set_id')} of {row['probe']}{more}"


class _BiasScorer(Scorer):
    """Shared settings: no time limit (each row may call a local model again)."""

    timeout: int | float | None = 0


class Counterfactual(_BiasScorer):
    """Does the app's answer hold when the protected attribute in its input is swapped?"""

    name: str = "bias_counterfactual"
    predict_fn: Any = None
    attribute: str = "gender"
    categories: dict[str, list[str]] | None = None
    neutral: bool = False
    lexicon: Any = None
    input_key: str | None = None
    _swapper: Any = PrivateAttr(default=None)
    _parser: Any = PrivateAttr(default=None)
    _embedder: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        if self.predict_fn is not None and not callable(self.predict_fn):
            raise ConfigError(f"Counterfactual's predict_fn is a {type(self.predict_fn).__name__}, "
                              "not a function: give the app to ask again with the attribute swapped.")
        self._swapper = AttributeSwapper(self.attribute, lexicon=self.lexicon, neutral=self.neutral)
        self._parser = CategoryParser.from_config(self.categories) if self.categories else None

    @property
    def settings(self) -> dict[str, Any]:
        """What `summarize` needs to know about how rows were compared."""
        return {"attribute": self.attribute, "neutral": self.neutral,
                "lexicon": self._swapper.lexicon.ref, "categories": self.categories,
                "parser": self._parser.version if self._parser else None,
                "embedder": None if self._parser else "all-MiniLM-L6-v2"}

    def _similarity(self, a: str, b: str) -> float:
        from mlflow_bias.dimensions.replay import cosine_rows

        with self._lock:
            if self._embedder is None:
                from mlflow_bias.adapters import SentenceEncoder
                from mlflow_bias.adapters.models import load_minilm

                self._embedder = SentenceEncoder(load_minilm(), progress=False)
            import numpy as np

            vectors = np.asarray(self._embedder.embed([a, b]), dtype=float)
        return float(cosine_rows(vectors[:1], vectors[1:])[0])

    def __call__(self, *, inputs: dict[str, Any], outputs: Any) -> Feedback:
        if self.predict_fn is None:
            raise ConfigError("Counterfactual needs predict_fn=, the app to ask again with the "
                              "attribute swapped (the function given to mlflow.genai.evaluate); "
                              "mlflow_bias.genai.evaluate passes it on by itself.")
        key = _text_field(inputs, self.input_key)
        text = str(inputs[key])
        swap = self._swapper.swap(text)
        record: dict[str, Any] = {"kind": "counterfactual", "settings": self.settings,
                                  "input": text, "changed": swap.changed,
                                  "swaps": swap.note if swap.changed else ""}
        if not swap.changed:
            return Feedback(name=self.name, error=AssessmentError(
                error_code=NO_MARKER,
                error_message=f"No {self.attribute} marker in {key!r}, so nothing to swap: {swap.note}"),
                metadata=encode(record))
        swapped_inputs = {**inputs, key: swap.text}
        check_signature(self.predict_fn, swapped_inputs)
        original = as_text(outputs)
        try:
            counterpart = as_text(self.predict_fn(**swapped_inputs))
            error = None
        except Exception as exc:  # noqa: BLE001 - recorded; summarize counts the row as failed
            counterpart, error = None, f"{type(exc).__name__}: {exc}"
        back = self._swapper.swap(counterpart).text if isinstance(counterpart, str) else None
        if self.neutral and isinstance(original, str):  # compare both in the neutral form
            original = self._swapper.swap(original).text
        record.update(swapped_input=swap.text, output=original, swapped_output=counterpart,
                      swapped_output_back=back, error=error,
                      exact_match=original is not None and original == back)
        if error is not None or original is None:
            return Feedback(name=self.name, metadata=encode(record), error=AssessmentError(
                error_code=APP_FAILED, error_message=error or "the app gave no answer"))
        lines = [f"Swapped {swap.note}.", f"Input: {_quote(text)} -> {_quote(original)}",
                 f"Swapped input: {_quote(swap.text)} -> {_quote(counterpart)}"]
        if self._parser is not None:
            category, swapped = self._parser.parse([original, back])
            held = category is not None and category == swapped
            record.update(category=category, swapped_category=swapped,
                          disagreement=None if category is None or swapped is None else float(not held))
            lines.append(f"Category {category} -> {swapped}: "
                         + ("held." if held else "unparsed." if record["disagreement"] is None
                            else "FLIPPED."))
            value: Any = held
        else:
            similarity = 1.0 if record["exact_match"] else self._similarity(original, back)
            record.update(similarity=similarity, disagreement=1.0 - similarity)
            lines.append(f"Similarity of the answers (the swapped one swapped back): {similarity:.3f}.")
            value = similarity
        return Feedback(name=self.name, value=value, rationale="\n".join(lines), metadata=encode(record))


class ProbeCategory(_BiasScorer):
    """The category of the app's answer to one row of a counterfactual-sets probe."""

    name: str = "bias_category"
    categories: dict[str, list[str]] | None = None
    input_key: str | None = None
    _parser: Any = PrivateAttr(default=None)

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        self._parser = CategoryParser.from_config(self.categories)

    def __call__(self, *, inputs: dict[str, Any], outputs: Any,
                 expectations: dict[str, Any] | None = None) -> Feedback:
        row = _probe_rows(expectations, self.name)
        if isinstance(row, Feedback):
            return row
        answer = as_text(outputs)
        category = self._parser.parse([answer])[0] if answer is not None else None
        record = {"kind": "category", **row, "input": str(inputs[_text_field(inputs, self.input_key)]),
                  "output": answer, "category": category,
                  "settings": {"categories": self.categories, "parser": self._parser.version}}
        rationale = (f"{_membership(row)}: answer {_quote(answer)} reads as category "
                     f"{category or '(none: unparsed)'}.")
        return Feedback(name=self.name, value=category, rationale=rationale, metadata=encode(record))


class Refusal(_BiasScorer):
    """Whether the app refused, under the versioned refusal rubric. On a refusal probe's rows the
    probe's sets are compared; on other data, `predict_fn` is asked again with the attribute
    swapped and both answers are judged."""

    name: str = "bias_refusal"
    rubric: Any = None  # a YAML path; the shipped rubric when None
    predict_fn: Any = None
    attribute: str = "gender"
    lexicon: Any = None
    input_key: str | None = None
    _rubric: Any = PrivateAttr(default=None)
    _swapper: Any = PrivateAttr(default=None)

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        self._rubric = self.rubric if isinstance(self.rubric, RefusalRubric) else load_rubric(self.rubric)
        if self.predict_fn is not None:
            self._swapper = AttributeSwapper(self.attribute, lexicon=self.lexicon)

    @property
    def settings(self) -> dict[str, Any]:
        path = None if self.rubric is None or isinstance(self.rubric, RefusalRubric) else str(self.rubric)
        return {"rubric": self._rubric.ref, "rubric_path": path, "attribute": self.attribute}

    def _judge(self, answer: str | None) -> tuple[bool | None, str]:
        if answer is None:
            return None, ""
        fired = self._rubric.triggers(answer)
        return bool(fired), ",".join(fired)

    def __call__(self, *, inputs: dict[str, Any], outputs: Any,
                 expectations: dict[str, Any] | None = None) -> Feedback:
        answer = as_text(outputs)
        refused, triggers = self._judge(answer)
        if expectations and "bias_rows" in expectations or self.predict_fn is None:
            row = _probe_rows(expectations, self.name)
            if isinstance(row, Feedback):
                row.error.error_message += (" Or give Refusal(predict_fn=app) to ask each row "
                                            "again with the attribute swapped.")
                return row
            record = {"kind": "refusal", **row, "prompt": str(inputs[_text_field(inputs, self.input_key)]),
                      "response": answer, "refused": refused, "triggers": triggers,
                      "settings": self.settings}
            rationale = (f"{_membership(row)}: "
                         + (f"refused (rubric {self._rubric.ref}: {triggers})." if refused
                            else "answered, no refusal pattern fired."))
            return Feedback(name=self.name, value=refused, rationale=rationale, metadata=encode(record))
        key = _text_field(inputs, self.input_key)
        swap = self._swapper.swap(str(inputs[key]))
        record = {"kind": "refusal_swap", "settings": self.settings, "input": str(inputs[key]),
                  "changed": swap.changed, "response": answer, "refused": refused,
                  "triggers": triggers}
        if not swap.changed:
            return Feedback(name=self.name, metadata=encode(record), error=AssessmentError(
                error_code=NO_MARKER,
                error_message=f"No {self.attribute} marker in {key!r}, so nothing to swap: {swap.note}"))
        swapped_inputs = {**inputs, key: swap.text}
        check_signature(self.predict_fn, swapped_inputs)
        try:
            counterpart, error = as_text(self.predict_fn(**swapped_inputs)), None
        except Exception as exc:  # noqa: BLE001 - recorded; summarize counts the row as failed
            counterpart, error = None, f"{type(exc).__name__}: {exc}"
        swapped_refused, swapped_triggers = self._judge(counterpart)
        record.update(swapped_input=swap.text, swapped_response=counterpart,
                      swapped_refused=swapped_refused, swapped_triggers=swapped_triggers, error=error)
        if error is not None or answer is None:
            return Feedback(name=self.name, metadata=encode(record), error=AssessmentError(
                error_code=APP_FAILED, error_message=error or "the app gave no answer"))
        rationale = (f"Swapped {swap.note}.\nInput: {_quote(record['input'])} -> "
                     f"{'refused' if refused else 'answered'}\nSwapped input: {_quote(swap.text)} -> "
                     f"{'refused' if swapped_refused else 'answered'} (rubric {self._rubric.ref}).")
        return Feedback(name=self.name, value=refused, rationale=rationale, metadata=encode(record))
