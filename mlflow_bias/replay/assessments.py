"""Replay results written back onto the MLflow traces they came from, as `bias.counterfactual`
feedback (`mlflow.log_feedback`): the disagreement of each replayed trace, with its source and a
rationale showing both inputs and both answers, so that it is visible on the trace, searchable, and
what a reviewer in a review queue (`mlflow_bias.genai.queue_for_review`) looks at."""

from __future__ import annotations

import json
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import AssessmentSource

ASSESSMENT_NAME = "bias.counterfactual"
RECORD_KEY = "bias.record"  # the same key the GenAI scorers use (`mlflow_bias.genai.records`)


def _quote(text: Any, limit: int = 300) -> str:
    text = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _value(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def assess_replayed_traces(items: pd.DataFrame, *, run_id: str, threshold: float, attribute: str,
                           comparison: str) -> int:
    """Log one `bias.counterfactual` feedback on each replayed trace (`items` of a replay whose ids
    are MLflow trace ids). The value is the disagreement (0 = the same answer); `flagged` in the
    record says whether it is above `threshold`. Returns how many traces were assessed."""
    source = AssessmentSource(source_type="CODE", source_id=f"mlflow-bias replay (run {run_id})")
    written = 0
    for row in items.to_dict("records"):
        if not row.get("changed"):
            continue
        disagreement = _value(row.get("disagreement"))
        flagged = disagreement is not None and disagreement > threshold
        record = {"kind": "replay", "run_id": run_id, "attribute": attribute, "comparison": comparison,
                  "threshold": threshold, "flagged": flagged, "swaps": row.get("swaps"),
                  **{k: _value(row.get(k)) for k in ("input", "swapped_input", "output", "swapped_output",
                                                     "swapped_output_back", "category",
                                                     "swapped_category", "similarity", "error")}}
        lines = [f"Replayed with {attribute} swapped ({row.get('swaps')}); disagreement "
                 + ("unknown (unparsed or failed)" if disagreement is None else f"{disagreement:.3f}")
                 + f", threshold {threshold}: " + ("FLAGGED for review." if flagged else "below it.")]
        if record["input"] is not None:
            lines += [f"Input: {_quote(record['input'])} -> {_quote(record['output'])}",
                      f"Swapped input: {_quote(record['swapped_input'])} -> {_quote(record['swapped_output'])}"]
        if record["category"] is not None or record["swapped_category"] is not None:
            lines.append(f"Category {record['category']} -> {record['swapped_category']}.")
        mlflow.log_feedback(trace_id=str(row["id"]), name=ASSESSMENT_NAME, value=disagreement,
                            source=source, rationale="\n".join(lines),
                            metadata={RECORD_KEY: json.dumps(record, ensure_ascii=False, default=str),
                                      "bias.flagged": str(flagged).lower(),
                                      "bias.replay_run": run_id})
        written += 1
    return written
