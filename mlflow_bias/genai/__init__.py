"""Bias checks where MLflow 3 users work: scorers for `mlflow.genai.evaluate`, group-level numbers
from their per-row assessments, probes as MLflow evaluation datasets, and production traces
assessed on the trace and sent to a review queue for human spot-checks.

    from mlflow_bias import genai as bias_genai

    data = bias_genai.probe_data("hiring-summary@1.0.0", input_key="question")
    result = mlflow.genai.evaluate(data=data, predict_fn=app,
                                   scorers=[bias_genai.ProbeCategory(categories)])
    summary = bias_genai.summarize(result)   # bias/cbs/... with CIs, logged in the same run

`bias_genai.evaluate(...)` runs both steps, after checking the app's signature and the data.
MLflow aggregates a scorer only by mean, min or max; the seed's measures are group-level, so
`summarize` reads the per-row assessments back from the run's traces and computes them with the
same code as the `bias` evaluator, which is why the gate, drift, compare and scorecard work on
the result unchanged.

May import: `core`, `text`, `adapters`, `dimensions`, `probes`, `release`, `reporting`,
`data_audit` (group detection), `evaluation` (the run writer), `replay`.
"""

from mlflow_bias.genai.datasets import check_probe_dataset, probe_data, register_probe
from mlflow_bias.genai.review import probe_from_queue, queue_for_review, review_table
from mlflow_bias.replay.assessments import assess_replayed_traces
from mlflow_bias.genai.scorers import Counterfactual, ProbeCategory, Refusal
from mlflow_bias.genai.summary import Summary, evaluate, summarize

__all__ = [
    "Counterfactual",
    "ProbeCategory",
    "Refusal",
    "Summary",
    "assess_replayed_traces",
    "check_probe_dataset",
    "evaluate",
    "probe_data",
    "probe_from_queue",
    "queue_for_review",
    "register_probe",
    "review_table",
    "summarize",
]
