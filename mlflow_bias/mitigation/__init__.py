"""Mitigations.

- `mlflow_bias.mitigation.data`: for what the training-data audit finds (reweighting, balanced
  resampling, counterfactual augmentation), each returning a new dataset and a `MitigationRecord`.
- `mlflow_bias.mitigation.reranking`: fairness-aware re-ranking of a model's scored candidate lists
  (FA*IR prefix minimums, minimum shares per group, exposure parity), pure numpy/pandas.
- `mlflow_bias.mitigation.reranker_model`: that re-ranker around any MLflow model, as a pyfunc
  that is logged and registered as its own model version (`FairReranker`, `log_reranker`).

May import: `core`, `text`, `data_audit` (group detection, to balance what the audit measures).
"""

from __future__ import annotations

from mlflow_bias.mitigation.data import (
    InMemoryData,
    MitigationRecord,
    counterfactual_augment,
    inverse_frequency_weights,
    resample_balanced,
)
from mlflow_bias.mitigation.reranking import (
    Constraint,
    ExposureConstraint,
    FairTopKConstraint,
    MinShareConstraint,
    RerankInfeasibleError,
    RerankResult,
    adjusted_alpha,
    fair_minimums,
    ndcg_at_k,
    rerank,
    rerank_frame,
)
from mlflow_bias.mitigation.reranker_model import FairReranker, log_reranker


__all__ = [
    "Constraint",
    "ExposureConstraint",
    "FairReranker",
    "FairTopKConstraint",
    "InMemoryData",
    "MinShareConstraint",
    "MitigationRecord",
    "RerankInfeasibleError",
    "RerankResult",
    "adjusted_alpha",
    "counterfactual_augment",
    "fair_minimums",
    "inverse_frequency_weights",
    "log_reranker",
    "ndcg_at_k",
    "rerank",
    "rerank_frame",
    "resample_balanced",
]
