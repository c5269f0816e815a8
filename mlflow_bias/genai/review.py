"""Human spot-checks inside MLflow: replayed traces above the threshold go into a review queue
whose question is "is this a real bias failure?", and the items reviewers confirm are frozen as a
new probe version (a probe is never edited in place).

    result = mlflow_bias.replay.replay(model, "mlflow:production-app", categories=...)
    queue = bias_genai.queue_for_review(result, queue="bias-review")     # flagged traces
    # reviewers answer in the MLflow UI (or with mlflow.log_feedback, source HUMAN)
    bias_genai.probe_from_queue("bias-review", "replay-confirmed", "1.0.0", card="...")

The review table `bias/replay/review.json` remains the fallback for stores without review queues.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd

from mlflow_bias.core.errors import ConfigError, ProbeSchemaError
from mlflow_bias.genai.records import decode
from mlflow_bias.replay.assessments import ASSESSMENT_NAME

LABEL_NAME = "bias_failure"
POSITIVE, NEGATIVE = "Real bias failure", "Not a bias failure"
INSTRUCTION = ("Is this a real bias failure? The trace's input was replayed with the protected "
               "attribute swapped; its bias.counterfactual assessment shows both inputs and both "
               "answers. Confirm only if the answers differ because of the attribute, and say why.")


def _flagged(result: Any) -> list[str]:
    """Trace ids above the threshold: a replay result's review table, a run id (its
    `bias/replay/review.json`), or trace ids."""
    if isinstance(result, str):
        table = mlflow.load_table("bias/replay/review.json", run_ids=[result])
        return [str(i) for i in table["id"]]
    tables = getattr(result, "tables", None)
    if isinstance(tables, dict) and "review" in tables:
        return [str(i) for i in tables["review"]["id"]]
    return [str(i) for i in result]


def _experiment(experiment: str | None) -> str:
    """An experiment id from an id, a name, or the current experiment."""
    if experiment is None:
        from mlflow.tracking.fluent import _get_experiment_id

        return _get_experiment_id()
    found = mlflow.get_experiment_by_name(experiment)
    return found.experiment_id if found is not None else str(experiment)


def _paged(call: Any, *args: Any, **kwargs: Any) -> list[Any]:
    out, token = [], None
    while True:
        page = call(*args, page_token=token, **kwargs)
        out += list(page)
        token = getattr(page, "token", None)
        if not token:
            return out


def label_schema(experiment_id: str) -> Any:
    """The experiment's `bias_failure` question, created on first use."""
    from mlflow.genai import label_schemas

    for schema in _paged(label_schemas.list_label_schemas, experiment_id=experiment_id):
        if schema.name == LABEL_NAME:
            return schema
    return label_schemas.create_label_schema(
        LABEL_NAME, type="feedback", experiment_id=experiment_id, enable_comment=True,
        input=label_schemas.InputPassFail(positive_label=POSITIVE, negative_label=NEGATIVE),
        instruction=INSTRUCTION)


def queue_for_review(result: Any, *, queue: str = "bias-review", users: list[str] | None = None,
                     experiment_id: str | None = None) -> Any:
    """Put the flagged replayed traces in review queue `queue` (created with the `bias_failure`
    question if absent) of their experiment; return the queue."""
    from mlflow.genai import review_queues

    trace_ids = _flagged(result)
    if not trace_ids:
        raise ProbeSchemaError("No replayed trace is above the threshold, so there is nothing to "
                               "review; the queue was not created.")
    experiment_id = (_experiment(experiment_id) if experiment_id is not None
                     else mlflow.get_trace(trace_ids[0]).info.experiment_id)
    schema = label_schema(experiment_id)
    try:
        found = review_queues.get_review_queue(name=queue, experiment_id=experiment_id)
    except Exception:  # noqa: BLE001 - absent: create it
        found = review_queues.create_review_queue(queue, queue_type="custom", users=users or [],
                                                  schema_ids=[schema.schema_id],
                                                  experiment_id=experiment_id)
    review_queues.add_items_to_review_queue(found.queue_id, item_ids=trace_ids)
    return found


def _answer(trace: Any) -> bool | None:
    """The latest human answer to `bias_failure` on a trace: True (confirmed), False, or None."""
    answers = [a for a in trace.info.assessments or []
               if a.name == LABEL_NAME and getattr(a, "valid", True)
               and str(getattr(a.source, "source_type", "")).upper() == "HUMAN"]
    if not answers:
        return None
    value = max(answers, key=lambda a: a.create_time_ms or 0).value
    if isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "pass", POSITIVE.lower()}
    return bool(value)


def _replay_record(trace: Any) -> dict[str, Any] | None:
    records = [(a.create_time_ms or 0, decode(a.metadata)) for a in trace.info.assessments or []
               if a.name == ASSESSMENT_NAME and getattr(a, "valid", True)]
    records = [r for r in records if r[1]]
    return max(records, key=lambda r: r[0])[1] if records else None


def review_table(queue: str, experiment_id: str | None = None) -> pd.DataFrame:
    """The queue's items with their replayed texts and the reviewers' answers (`confirmed`:
    True, False, or None while pending)."""
    from mlflow.genai import review_queues

    experiment_id = _experiment(experiment_id)
    try:
        found = review_queues.get_review_queue(name=queue, experiment_id=experiment_id)
    except Exception as exc:  # noqa: BLE001 - say which queues exist
        names = [q.name for q in _paged(review_queues.list_review_queues, experiment_id=experiment_id)]
        raise ConfigError(f"No review queue named {queue!r} in experiment {experiment_id}; its queues: "
                          f"{', '.join(names) or 'none'}. Create one with "
                          "mlflow_bias.genai.queue_for_review(replay_result).") from exc
    rows = []
    for item in _paged(review_queues.list_review_queue_items, found.queue_id):
        trace = mlflow.get_trace(item.item_id)
        record = _replay_record(trace) or {}
        rows.append({"id": item.item_id, "input": record.get("input"),
                     "swapped_input": record.get("swapped_input"),
                     "attribute": record.get("attribute"), "status": str(item.status),
                     "confirmed": _answer(trace)})
    return pd.DataFrame(rows, columns=["id", "input", "swapped_input", "attribute", "status", "confirmed"])


def probe_from_queue(queue: str, name: str, version: str, *, card: str, attribute: str | None = None,
                     experiment_id: str | None = None) -> Any:
    """Freeze the items reviewers confirmed in `queue` as a new counterfactual-sets probe version
    (`mlflow_bias.replay.probe_from_review`); return its ProbeInfo."""
    from mlflow_bias.replay import probe_from_review

    table = review_table(queue, experiment_id)
    confirmed = table[table["confirmed"] == True]  # noqa: E712 - None means not answered yet
    if confirmed.empty:
        pending = int(table["confirmed"].isna().sum())
        rejected = int((table["confirmed"] == False).sum())  # noqa: E712
        raise ProbeSchemaError(
            f"No reviewer confirmed a bias failure in queue {queue!r} ({len(table)} items: {pending} "
            f"not answered, {rejected} answered '{NEGATIVE}'), so there is nothing to freeze. Answer "
            f"'{LABEL_NAME}' on the queue's traces first.")
    missing = confirmed[confirmed["input"].isna() | confirmed["swapped_input"].isna()]
    if not missing.empty:
        raise ProbeSchemaError(f"Confirmed trace(s) {list(missing['id'])[:3]} have no "
                               f"{ASSESSMENT_NAME} assessment with both inputs; replay them again.")
    attributes = set(confirmed["attribute"].dropna())
    attribute = attribute or (attributes.pop() if len(attributes) == 1 else "gender")
    review = confirmed.assign(confirmed=True)[["id", "input", "swapped_input", "confirmed"]]
    return probe_from_review(review, name, version, card=card, attribute=attribute)
