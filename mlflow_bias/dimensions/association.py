"""Association tests in an encoder's embedding space: WEAT (words) and SEAT (sentences).

For target sets X, Y (e.g. career words, family words) and attribute sets A, B (male, female terms):
s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b); effect size
d = (mean_X s - mean_Y s) / std_{X∪Y} s (ddof = 1), positive when X is closer to A than Y is;
one-sided p-value of "X is no closer to A than Y is" from the permutation test over splits of X∪Y
into sets of the sizes of X and Y (exact when there are at most `permutation_samples` splits,
otherwise Monte Carlo with the +1 correction). The CI of d is a percentile bootstrap over the
target items (X and Y resampled separately; A and B held fixed, as the test conditions on them).
When the probe has a `word` column (SEAT sentences made from one word by several templates), the
permutations and the bootstrap move whole words, not single sentences: sentences of one word are
not independent, and treating them so would make p-values too small.

These tests see latent associations even when outputs look neutral, but on sentence encoders they
are known to be inconsistent across templates (May et al. 2019): a small |d| with a large p-value
is not evidence of no bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlflow_bias.core.groups import group_labels
from mlflow_bias.adapters.base import EMBED
from mlflow_bias.dimensions.base import DimensionResult, OutputConfig
from mlflow_bias.dimensions.base import metric_segment
from mlflow_bias.core.errors import ProbeSchemaError
from mlflow_bias.dimensions.kinds import ASSOCIATION, validate_association
from mlflow_bias.dimensions.protocol import Dimension, MetricSpec, NoOptions, ScoringContext
from mlflow_bias.dimensions.registry import register_dimension, require_capability
from mlflow_bias.core.stats import difference_of_means_test, percentile_interval

NAME = "association"
REQUIRES = EMBED
ROLES = ("X", "Y", "A", "B")


@dataclass
class AssociationConfig(OutputConfig):
    pass


@dataclass(frozen=True)
class AssociationTest:
    """One WEAT/SEAT test scored: the effect size, its uncertainty and each text's association."""

    effect_size: float
    p_value: float
    ci_low: float
    ci_high: float
    exact: bool
    resamples: int
    association: np.ndarray  # per row of the test's items, in the order given


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ProbeSchemaError("An embedding has zero length, so its cosine similarity is "
                               "undefined; check that no text is empty.")
    return vectors / norms


def associations(targets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """s(w, A, B) for each row w of `targets` (embeddings, any scale)."""
    w, a, b = unit_rows(targets), unit_rows(a), unit_rows(b)
    return (w @ a.T).mean(axis=1) - (w @ b.T).mean(axis=1)


def effect_size(s_x: np.ndarray, s_y: np.ndarray) -> float:
    """d = (mean_X s - mean_Y s) / std_{X∪Y} s (ddof = 1)."""
    spread = np.concatenate([s_x, s_y]).std(ddof=1)
    return float((s_x.mean() - s_y.mean()) / spread)


def _cluster_totals(values: np.ndarray, clusters: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Per cluster: size, sum and sum of squares of `values` (each value its own cluster if None)."""
    if clusters is None:
        return np.ones(len(values)), values, values**2
    codes, index = np.unique(np.asarray(clusters), return_inverse=True)
    sizes = np.bincount(index, minlength=len(codes)).astype(float)
    return (sizes, np.bincount(index, weights=values, minlength=len(codes)),
            np.bincount(index, weights=values**2, minlength=len(codes)))


def _bootstrap_effect_sizes(x_totals: tuple[np.ndarray, ...], y_totals: tuple[np.ndarray, ...],
                            n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """d for each resample of X's and Y's clusters (drawn with replacement, separately)."""
    drawn = []
    for sizes, sums, squares in (x_totals, y_totals):
        pick = rng.integers(0, len(sizes), size=(n_resamples, len(sizes)))
        drawn.append((sizes[pick].sum(axis=1), sums[pick].sum(axis=1), squares[pick].sum(axis=1)))
    (nx, sx, qx), (ny, sy, qy) = drawn
    n, total, squares = nx + ny, sx + sy, qx + qy
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.sqrt(np.maximum(squares - total**2 / n, 0) / (n - 1))
        return (sx / nx - sy / ny) / spread


def weat(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, *, permutation_samples: int,
         bootstrap_samples: int, seed: int, confidence: float = 0.95, name: str = "test",
         x_clusters: np.ndarray | None = None, y_clusters: np.ndarray | None = None) -> AssociationTest:
    """Score one test from the embeddings of its four sets.

    `x_clusters`/`y_clusters` label targets that are not independent (SEAT: the sentences made
    from one word): the permutation test then exchanges whole words between X and Y, and the
    bootstrap resamples whole words, so template copies do not pass for independent evidence.
    The effect size is computed over the individual texts either way.
    """
    for role, rows in zip(ROLES, (x, y, a, b)):
        if len(rows) == 0:
            raise ProbeSchemaError(f"Association test {name!r} has no {role} items; every test "
                                   "needs target sets X and Y and attribute sets A and B.")
    units = {role: len(set(clusters)) if clusters is not None else len(rows)
             for role, rows, clusters in (("X", x, x_clusters), ("Y", y, y_clusters))}
    if min(units.values()) < 2:
        raise ProbeSchemaError(
            f"Association test {name!r} has {units['X']} X and {units['Y']} Y "
            f"{'word' if x_clusters is not None else 'item'}(s); the permutation test needs at "
            "least two on each side (the classic tests have 8 or more)."
        )
    s_x, s_y = associations(x, a, b), associations(y, a, b)
    if np.ptp(np.concatenate([s_x, s_y])) <= 1e-12:
        raise ProbeSchemaError(
            f"Association test {name!r}: every target has the same association with A and B "
            "(zero variance), so the effect size is undefined. The encoder maps the targets to "
            "identical or equidistant vectors; check the texts and the model."
        )
    d = effect_size(s_x, s_y)
    x_totals, y_totals = _cluster_totals(s_x, x_clusters), _cluster_totals(s_y, y_clusters)
    null = difference_of_means_test(x_totals[1], y_totals[1], x_counts=x_totals[0],
                                    y_counts=y_totals[0], n_resamples=permutation_samples, seed=seed)
    replicates = _bootstrap_effect_sizes(x_totals, y_totals, bootstrap_samples,
                                         np.random.default_rng(seed + 1))
    low, high = percentile_interval(replicates, confidence, skip="nan")
    # attribute words: their association with the targets, s(a, X, Y)
    s_a, s_b = associations(a, x, y), associations(b, x, y)
    return AssociationTest(d, null.p_value, float(low), float(high), null.exact, null.resamples,
                           np.concatenate([s_x, s_y, s_a, s_b]))


def _word_clusters(rows: pd.DataFrame) -> np.ndarray | None:
    """The word each text was made from (SEAT), or None when no row names one (WEAT); a row with
    an empty `word` is its own unit."""
    if "word" not in rows.columns:
        return None
    words = rows["word"].where(rows["word"].notna(), "").astype(str).str.strip()
    if (words == "").all():
        return None
    return np.where(words == "", "id:" + rows["id"].astype(str), "word:" + words).astype(str)


def compute(adapter: Any, probe: pd.DataFrame, config: AssociationConfig) -> DimensionResult:
    """Score every test of an association probe with the adapter's embeddings."""
    require_capability(adapter, EMBED, "association")
    validate_association(probe)
    probe = probe.reset_index(drop=True)
    vectors = np.asarray(adapter.embed(list(probe["text"].astype(str))), dtype=np.float64)
    metrics: dict[str, float] = {}
    summary: list[dict[str, Any]] = []
    tables: list[pd.DataFrame] = []
    for test, part in probe.groupby(group_labels(probe["test"]), sort=True):
        by_role = {role: part.index[part["role"] == role] for role in ROLES}
        ordered = np.concatenate([by_role[role] for role in ROLES])
        clusters = {role: _word_clusters(part.loc[by_role[role]]) for role in ("X", "Y")}
        result = weat(*(vectors[by_role[role]] for role in ROLES),
                      permutation_samples=config.permutation_samples,
                      bootstrap_samples=config.bootstrap_samples, seed=config.seed,
                      confidence=config.confidence, name=test,
                      x_clusters=clusters["X"], y_clusters=clusters["Y"])
        key = metric_segment(test)
        metrics[key] = result.effect_size
        metrics[f"{key}/p_value"] = result.p_value
        metrics[f"{key}/ci_low"], metrics[f"{key}/ci_high"] = result.ci_low, result.ci_high
        metrics[f"{key}/n_items"] = float(len(part))
        table = probe.loc[ordered].copy()
        table["association"] = result.association
        tables.append(table)
        attribute = str(part["attribute"].iloc[0])
        summary.append({"attribute": test, "protected_attribute": attribute,
                        "value": result.effect_size, "ci_low": result.ci_low,
                        "ci_high": result.ci_high, "p_value": result.p_value, "noise_floor": None,
                        "n_items": len(part), "exact_p_value": result.exact,
                        "sizes": {role: int(len(by_role[role])) for role in ROLES}})
    items = pd.concat(tables, ignore_index=True)
    extra = {}
    if "word" in items.columns:  # SEAT: one association per word, averaged over its templates
        extra["words"] = (items.groupby(["test", "role", "word"], sort=False)["association"]
                          .agg(["mean", "count"]).reset_index()
                          .rename(columns={"mean": "association", "count": "n_texts"}))
    return DimensionResult(
        dimension=NAME, metrics=metrics, items=items, summary=summary, tables=extra,
        metadata={"embedding": adapter.describe(), "permutation_samples": config.permutation_samples,
                  "bootstrap_samples": config.bootstrap_samples, "seed": config.seed},
    )


@register_dimension
class Association(Dimension):
    """WEAT/SEAT effect sizes in the model's embeddings (this module's `compute`)."""

    name = NAME
    order = 50
    title = "Embedding association (WEAT/SEAT)"
    about = ("Effect size of the association between target and attribute word sets in the "
             "model's embeddings, with a permutation p-value; 0 is no association.")
    citation = ("Caliskan, Bryson, Narayanan (2017). Semantics derived automatically from language "
                "corpora contain human-like biases. Science; May et al. (2019). On Measuring Social "
                "Biases in Sentence Encoders. NAACL.")
    requires = REQUIRES
    probe_kind = ASSOCIATION
    metrics = (MetricSpec(None, "near_zero", "WEAT/SEAT effect size"),)

    def configure(self, options: NoOptions, context: ScoringContext) -> AssociationConfig:
        return AssociationConfig(**context.outputs)

    def compute(self, adapter: Any, probe: pd.DataFrame, config: AssociationConfig) -> DimensionResult:
        return compute(adapter, probe, config)
