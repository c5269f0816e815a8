"""The fairness-aware re-ranker around any MLflow model, as a pyfunc of its own.

`FairReranker` takes a table with one row per candidate: a list (query) id column, a candidate id
column, a group column and the candidate's features (every other column, or `feature_columns`).
The base model scores the features (one number per row; the group, list and candidate ids are not
passed to it), each list is re-ranked under the constraints (`mitigation.reranking`), and the
output is one row per candidate, ordered by list and rank, with the columns
`<list_column>, <id_column>, rank, score, <group_column>` (rank 1 is the top).

`log_reranker` logs it with the base model copied in as an artifact, so the mitigated model is a
model version of its own that is evaluated and gated like any other.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd

from mlflow_bias import __version__
from mlflow_bias.core.errors import ConfigError
from mlflow_bias.mitigation.reranking import (
    Constraint,
    RerankResult,
    _as_constraints,
    constraint_from_dict,
    rerank_frame,
)

BASE_MODEL_ARTIFACT = "base_model"


class FairReranker(mlflow.pyfunc.PythonModel):
    """Base model scores, then fairness-aware re-ranking per list (see the module doc).

    `base_model`: an in-memory scorer (a pyfunc or a function of a DataFrame) for use without
    logging; a logged re-ranker loads its base model from the `base_model` artifact instead.
    `score_column`: the column to read when the base model returns a table of several columns.
    """

    def __init__(self, constraints: Constraint | Iterable[Constraint], *, k: int | None = None,
                 list_column: str = "list_id", id_column: str = "id", group_column: str = "group",
                 feature_columns: Sequence[str] | None = None, score_column: str | None = None,
                 base_model: Any = None) -> None:
        # plain dicts, so the pickled model does not depend on these classes' internals
        self.constraints = [c.to_dict() for c in _as_constraints(constraints)]
        self.k = k
        self.list_column, self.id_column, self.group_column = list_column, id_column, group_column
        self.feature_columns = list(feature_columns) if feature_columns is not None else None
        self.score_column = score_column
        self._base = base_model

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_base"] = None  # the logged model carries its base model as an artifact
        return state

    def load_context(self, context: Any) -> None:
        if BASE_MODEL_ARTIFACT in (context.artifacts or {}):
            self._base = mlflow.pyfunc.load_model(context.artifacts[BASE_MODEL_ARTIFACT])

    def predict(self, context, model_input, params=None):  # untyped: MLflow reads hints as a signature
        """The re-ranked table (one row per candidate, ordered by list and rank)."""
        return self.rerank(model_input)[0]

    # -- without MLflow's wrapper ----------------------------------------------------------------
    def rerank(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[Any, RerankResult]]:
        """The re-ranked table and each list's `RerankResult` (exposure, shares, NDCG change)."""
        if self._base is None:
            raise ConfigError("FairReranker has no base model: pass base_model= or load the logged "
                              "re-ranker with mlflow.pyfunc.load_model.")
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(frame)
        keys = [self.list_column, self.id_column, self.group_column]
        missing = [c for c in keys if c not in frame.columns]
        if missing:
            raise ConfigError(
                f"The re-ranker's input lacks the column(s) {', '.join(missing)}. It needs one row "
                f"per candidate with {self.list_column!r} (the list), {self.id_column!r} (the "
                f"candidate) and {self.group_column!r} (its group), plus the base model's features."
            )
        features = self.feature_columns or [c for c in frame.columns if c not in keys]
        absent = [c for c in features if c not in frame.columns]
        if not features or absent:
            raise ConfigError(f"The re-ranker's input has no feature column(s) for the base model "
                              f"({', '.join(absent) or 'none besides the list, id and group'}).")
        frame = frame.reset_index(drop=True)
        table = frame[keys].copy()
        table["score"] = self._scores(frame[features])
        ranked, results = rerank_frame(
            table, [constraint_from_dict(c) for c in self.constraints], k=self.k,
            list_column=self.list_column, group_column=self.group_column, score_column="score")
        out = ranked[[self.list_column, self.id_column, "rank", "score", self.group_column]]
        return out.reset_index(drop=True), results

    def _scores(self, features: pd.DataFrame) -> np.ndarray:
        call = self._base.predict if hasattr(self._base, "predict") else self._base
        raw = call(features)
        if isinstance(raw, pd.DataFrame):
            if self.score_column is not None:
                raw = raw[self.score_column]
            elif raw.shape[1] == 1:
                raw = raw.iloc[:, 0]
            else:
                raise ConfigError(f"The base model returned {raw.shape[1]} columns; set "
                                  "score_column= to the one that holds the score.")
        values = pd.to_numeric(pd.Series(np.asarray(raw, dtype=object).ravel()), errors="coerce")
        values = values.to_numpy(dtype=float)
        if len(values) != len(features):
            raise ConfigError(f"The base model returned {len(values)} scores for {len(features)} "
                              "candidates; it must return one number per row.")
        if not np.all(np.isfinite(values)):
            bad = np.flatnonzero(~np.isfinite(values))[:3].tolist()
            raise ConfigError(f"The base model's output is not a finite number for row(s) {bad}; "
                              "the re-ranker needs a numeric score per candidate.")
        return values


def log_reranker(base_model_uri: str, constraints: Constraint | Iterable[Constraint], *,
                 k: int | None = None, name: str = "fair_reranker",
                 registered_model_name: str | None = None, list_column: str = "list_id",
                 id_column: str = "id", group_column: str = "group",
                 feature_columns: Sequence[str] | None = None, score_column: str | None = None,
                 pip_requirements: list[str] | None = None, **log_model_kwargs: Any) -> Any:
    """Log (and optionally register) a `FairReranker` around the model at `base_model_uri`
    (runs:/..., models:/name/N, models:/<model_id>): the base model is copied into the new
    model's artifacts. Returns MLflow's ModelInfo."""
    reranker = FairReranker(constraints, k=k, list_column=list_column, id_column=id_column,
                            group_column=group_column, feature_columns=feature_columns,
                            score_column=score_column)
    metadata = {"bias_reranker": {"base_model": base_model_uri, "k": k,
                                  "constraints": reranker.constraints,
                                  "mlflow_bias_version": __version__}}
    metadata.update(log_model_kwargs.pop("metadata", None) or {})
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=reranker,
        artifacts={BASE_MODEL_ARTIFACT: base_model_uri},
        registered_model_name=registered_model_name,
        pip_requirements=pip_requirements or [f"mlflow=={mlflow.__version__}",
                                              f"mlflow-bias=={__version__}"],
        metadata=metadata,
        **log_model_kwargs,
    )


__all__ = ["BASE_MODEL_ARTIFACT", "FairReranker", "log_reranker"]
