"""Production-trace replay with the protected attribute swapped.

For every trace whose input mentions the attribute (found by `mlflow_bias.text.swap.AttributeSwapper`),
the swapped input is run through the model and its output is compared with the original output
(the one recorded with the trace, or a fresh one when none was recorded or `rerun_original`).
Before comparing, the swapped output is swapped back, so "Greg is a strong fit" and "Emily is a
strong fit" agree.

- With a category parser: disagreement = 1 when the two outputs fall in different categories,
  else 0 (a pair with an unparsed side is counted in `unparsed_rate` and left out).
- Otherwise: disagreement = 1 - cosine similarity of the two outputs' sentence embeddings
  (all-MiniLM-L6-v2 by default); identical outputs score 0. `exact_match` is reported too.

`bias/replay/<attribute>` is the disagreement rate: the share of replayed traces whose
disagreement exceeds `threshold` (default 0.5 for categories, i.e. any flip; 0.2 for
similarity), with a Wilson 95% CI; those traces make the review table. Traces without a marker are
counted (`marker_rate`) but not replayed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlflow_bias.adapters.base import EMBED, PREDICT
from mlflow_bias.dimensions.base import DimensionResult, OutputConfig, metric_segment, record_unparsed
from mlflow_bias.core.errors import ConfigError, ProbeSchemaError
from mlflow_bias.text.parsing import CategoryParser
from mlflow_bias.dimensions.protocol import Dimension, MetricSpec
from mlflow_bias.dimensions.registry import register_dimension, require_capability
from mlflow_bias.core.stats import wilson_interval
from mlflow_bias.text.swap import AttributeSwapper

NAME = "replay"
REQUIRES = PREDICT
CATEGORY_THRESHOLD = 0.5
SIMILARITY_THRESHOLD = 0.2


@dataclass
class ReplayConfig(OutputConfig):
    swapper: AttributeSwapper = field(default_factory=AttributeSwapper)
    parser: CategoryParser | None = None  # compare categories; None: compare by similarity
    embedder: Any = None  # an adapter with `embed`, for the similarity comparison
    threshold: float | None = None
    rerun_original: bool = False

    @property
    def effective_threshold(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return CATEGORY_THRESHOLD if self.parser is not None else SIMILARITY_THRESHOLD


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity (0 where a side is all zeros)."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, (a * b).sum(axis=1) / norms, 0.0)


def score_traces(adapter: Any, traces: pd.DataFrame, config: ReplayConfig) -> pd.DataFrame:
    """Per-trace results for one batch of traces (`id`, `input`, optional `output`)."""
    require_capability(adapter, PREDICT, "replay")
    if config.parser is None:
        if config.embedder is None:
            raise ConfigError("Comparing outputs by similarity needs an embedding model: pass "
                              "embedder= (e.g. SentenceEncoder(load_minilm())) or categories=.")
        require_capability(config.embedder, EMBED, "replay similarity")
    for column in ("id", "input"):
        if column not in traces.columns:
            raise ProbeSchemaError(f"The traces lack the column {column!r}; they need 'id' and "
                                   "'input' (and optionally 'output', the recorded answer).")
    traces = traces.reset_index(drop=True)
    swaps = [config.swapper.swap(str(text)) for text in traces["input"]]
    items = pd.DataFrame({"id": traces["id"].astype(str), "changed": [s.changed for s in swaps]})
    items["swaps"] = [s.note if s.changed else "" for s in swaps]
    replay = items.index[items["changed"]]
    if len(replay) == 0:
        return items
    inputs = traces.loc[replay, "input"].astype(str).tolist()
    swapped_inputs = [swaps[i].text for i in replay]
    recorded = traces["output"] if "output" in traces.columns and not config.rerun_original else None
    need_original = [i for i, r in zip(replay, recorded.loc[replay] if recorded is not None
                                       else [None] * len(replay)) if r is None or pd.isna(r)]
    batch = [traces.at[i, "input"] for i in need_original] + swapped_inputs
    predictions = adapter.predict([str(t) for t in batch], column="input", batch_size=config.batch_size,
                                  progress=config.progress)
    fresh = dict(zip(need_original, predictions.outputs[: len(need_original)]))
    original = [fresh[i] if i in fresh else recorded.at[i] for i in replay]
    counterpart = list(predictions.outputs[len(need_original):])
    errors = list(predictions.errors[len(need_original):])
    back = [config.swapper.swap(o).text if isinstance(o, str) else o for o in counterpart]
    if config.swapper.neutral:
        # "they" cannot be swapped back to she/he: compare both answers in the neutral form
        original = [config.swapper.swap(o).text if isinstance(o, str) else o for o in original]
    part = pd.DataFrame({
        "input": inputs, "swapped_input": swapped_inputs,
        "output": [None if o is None else str(o) for o in original],
        "swapped_output": [None if o is None else str(o) for o in counterpart],
        "swapped_output_back": [None if o is None else str(o) for o in back], "error": errors,
    }, index=replay)
    part["exact_match"] = [a is not None and a == b for a, b in zip(part["output"], part["swapped_output_back"])]
    if config.parser is not None:
        part["category"] = config.parser.parse(part["output"].tolist())
        part["swapped_category"] = config.parser.parse(part["swapped_output_back"].tolist())
        parsed = part["category"].notna() & part["swapped_category"].notna()
        part["disagreement"] = np.where(parsed, (part["category"] != part["swapped_category"]).astype(float),
                                        np.nan)
    else:
        answered = part["output"].notna() & part["swapped_output_back"].notna()
        similarity = np.full(len(part), np.nan)
        if answered.any():
            rows = np.flatnonzero(answered.to_numpy())
            texts_a = part["output"].to_numpy()[rows].tolist()
            texts_b = part["swapped_output_back"].to_numpy()[rows].tolist()
            vectors = np.asarray(config.embedder.embed(texts_a + texts_b), dtype=float)
            similarity[rows] = cosine_rows(vectors[: len(rows)], vectors[len(rows):])
        part["similarity"] = similarity
        part["disagreement"] = np.where(part["exact_match"], 0.0, 1.0 - similarity)
    return items.join(part)


TEXT_COLUMNS = ("input", "swapped_input", "output", "swapped_output", "swapped_output_back")


def keep_texts_for_review(items: pd.DataFrame, config: ReplayConfig,
                          anonymizers: Any = ()) -> pd.DataFrame:
    """Drop the texts of traces that will not be reviewed (at or below the threshold): on a large
    trace set the texts, not the scores, are what fills memory and the logged items table. The
    texts kept go through `anonymizers` (the model's fresh answers may repeat personal data)."""
    if "disagreement" not in items.columns:
        return items
    quiet = ~(items["disagreement"] > config.effective_threshold)
    columns = [c for c in TEXT_COLUMNS if c in items.columns]
    items.loc[quiet, columns] = None
    if anonymizers:
        from mlflow_bias.text.anonymize import anonymize

        for column in columns:
            items[column] = items[column].map(lambda t: anonymize(t, anonymizers))
    return items


def summarise(items: pd.DataFrame, config: ReplayConfig, attribute: str) -> DimensionResult:
    """Disagreement rate with its Wilson CI, the review table, and the counts, from per-trace items."""
    if len(items) == 0:
        raise ProbeSchemaError("No trace to replay: the trace source is empty.")
    key = metric_segment(attribute)
    metrics: dict[str, float] = {f"{key}/marker_rate": float(items["changed"].mean()),
                                 f"{key}/n_traces": float(len(items))}
    warnings: list[str] = []
    replayed = items[items["changed"]]
    summary: list[dict[str, Any]] = []
    if len(replayed) == 0:
        warnings.append(f"replay/{attribute}: no trace mentions the attribute, so nothing was "
                        "replayed; check the lexicon or the attribute.")
        return DimensionResult(NAME, metrics, items, summary, warnings=warnings,
                               metadata=_metadata(config))
    if "error" in replayed.columns and replayed["error"].notna().all():
        raise ProbeSchemaError(f"replay/{attribute}: the model failed on every swapped input; first "
                               f"error: {replayed['error'].iloc[0]}")
    record_unparsed(replayed["disagreement"].isna(), key, f"replay/{attribute}",
                    "could not be compared (unparsed or failed)", metrics, warnings)
    scored = replayed.dropna(subset=["disagreement"])
    threshold = config.effective_threshold
    flagged = scored["disagreement"] > threshold
    n, k = len(scored), int(flagged.sum())
    rate = k / n if n else float("nan")
    low, high = wilson_interval(k, n, config.confidence)
    metrics[key] = rate
    metrics[f"{key}/ci_low"], metrics[f"{key}/ci_high"] = float(low), float(high)
    metrics[f"{key}/mean_disagreement"] = float(scored["disagreement"].mean()) if n else float("nan")
    metrics[f"{key}/exact_match_rate"] = float(scored["exact_match"].mean()) if n else float("nan")
    metrics[f"{key}/n_items"] = float(n)
    review = scored[flagged].sort_values(["disagreement", "id"], ascending=[False, True], kind="stable")
    summary.append({"attribute": attribute, "value": rate, "ci_low": float(low), "ci_high": float(high),
                    "p_value": None, "noise_floor": None, "n_items": n, "threshold": threshold,
                    "n_review": int(len(review))})
    return DimensionResult(NAME, metrics, items, summary, tables={"review": review.reset_index(drop=True)},
                           warnings=warnings, metadata=_metadata(config))


def _metadata(config: ReplayConfig) -> dict[str, Any]:
    return {"comparison": "category" if config.parser is not None else "similarity",
            "threshold": config.effective_threshold, "lexicon": config.swapper.lexicon.ref,
            "attribute": config.swapper.attribute, "neutral": config.swapper.neutral,
            "parser": config.parser.version if config.parser is not None else None,
            "embedder": config.embedder.describe() if config.embedder is not None else None}


def compute(adapter: Any, traces: pd.DataFrame, config: ReplayConfig) -> DimensionResult:
    """Replay an in-memory trace table (see `mlflow_bias.replay` for files and MLflow traces)."""
    return summarise(score_traces(adapter, traces, config), config, config.swapper.attribute)


@register_dimension
class Replay(Dimension):
    """Counterfactual replay of production traces (this module's `compute`). It has no probe
    kind: `mlflow-bias replay` and `mlflow_bias.replay` feed it traces, not a probe."""

    name = NAME
    order = 70
    title = "Counterfactual replay"
    about = ("Share of replayed traces whose answer changed beyond the threshold when the "
             "protected attribute was swapped.")
    citation = ("Garg et al. (2019). Counterfactual Fairness in Text Classification through "
                "Robustness. AIES.")
    requires = REQUIRES
    metrics = (
        MetricSpec(None, "lower", "disagreement rate of swapped production traces"),
        MetricSpec("mean_disagreement", "lower", "mean disagreement between original and swapped answers"),
        MetricSpec("exact_match_rate", "higher", "share of swapped answers equal to the original"),
    )

    def compute(self, adapter: Any, probe: pd.DataFrame, config: ReplayConfig) -> DimensionResult:
        return compute(adapter, probe, config)
