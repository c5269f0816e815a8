"""Fairness-aware re-ranking of scored candidate lists: a post-processor for a ranking model (for
example the candidates a hiring model recommends), pure numpy/pandas.

Positions are 1-based. Position j has exposure 1/log2(j + 1) (the DCG discount): 1, 0.631, 0.5, ...

Constraints
-----------
- `FairTopKConstraint` (FA*IR, Zehlike et al. 2017, "FA*IR: A Fair Top-k Ranking Algorithm"): every
  prefix of length i <= k holds at least m(i) candidates of the protected group, where m(i) is the
  alpha-quantile of Binomial(i, p) (`scipy.stats.binom.ppf(alpha, i, p)`): the fewest protected
  candidates a prefix may hold before a one-sided binomial test at level alpha would say it was not
  drawn with proportion p. Testing all k prefixes at level alpha each would reject a fairly drawn
  ranking more often than alpha, so by default alpha is adjusted as in FA*IR: the largest alpha_c
  <= alpha such that a ranking whose positions are protected independently with probability p
  fails some prefix with probability at most alpha. That failure probability is computed exactly
  (dynamic programme over the protected count) and alpha_c is found by bisection.
- `MinShareConstraint`: several groups, each with a minimum share s_g of every prefix; the
  required count at prefix i is floor(s_g * i) (floor, so that shares summing to at most 1 are
  always jointly satisfiable: sum_g floor(s_g i) <= i). With `shares=None` each list uses its own
  composition (s_g = n_g / n), which bounds every group's top-i share to within (G - 1)/i of its
  share of the list (within 1/i for two groups).
- `ExposureConstraint`: the exposure ratio (min over groups of the group's mean position exposure
  / the max) of the whole list must reach `min_ratio`.

The re-ranker
-------------
Each group's candidates keep their order by score (the FA*IR property). Positions 1..k are filled
greedily: at each position the best-scoring remaining candidate is taken unless that would make
some group's prefix minimums impossible to meet later, in which case the best candidate that keeps
them reachable is taken. When one group's minimum is due at this position that is FA*IR's rule
("take the protected group's best candidate"); the look-ahead is exact (the minimums are unit jobs
with deadlines, feasible if and only if at every later prefix t the outstanding requirements fit in
the t - i free positions) and keeps several groups' minimums from colliding. Among the orderings
that meet the minimums and keep each group's order, the result has the largest sum of the top-t
scores for every t <= k at once (for one protected group this is FA*IR's optimality result; for
several groups the tests check it against brute force), hence the highest DCG@k under any
decreasing discount. Positions after k are filled by score.

With an exposure constraint the same greedy runs over all n positions with one more test: a
candidate is taken only if the exposure-balancing completion from there still reaches
`min_ratio`: each later position goes to the group whose exposure still owed (its size times the
list's mean exposure, minus what it has) most exceeds what its remaining candidates would get from
the last positions alone, among the groups that keep the prefix minimums reachable. The balancing choice itself always passes, so the
result reaches `min_ratio` whenever the balancing order from the empty list does; otherwise
`RerankInfeasibleError` says which ratio that order reaches (a group with very few candidates
cannot get the list's mean exposure). This guarantees the ratio, not the least utility loss.

Utility: NDCG@k with the candidates' scores as relevance, linear gain (gain = score), discount
1/log2(j + 1), ideal = the score-sorted order; when a list has negative scores every gain is
shifted by the list's lowest score so that gains are non-negative. A list whose gains are all zero
has NDCG 1 (every order is ideal).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np
import pandas as pd
from scipy import stats as _stats

from mlflow_bias.core import ranking_metrics as _metrics
from mlflow_bias.core.ranking_metrics import dcg_at_k, group_exposure, ndcg_at_k, position_exposure
from mlflow_bias.core.errors import ConfigError, RerankInfeasibleError

_EPS = 1e-9


# --- exposure and utility -------------------------------------------------------------------------

def exposure_ratio(mean_exposure: Mapping[str, float]) -> float:
    """min / max of the groups' mean exposures, by group name (1 is parity; NaN for none)."""
    return float(_metrics.exposure_ratio(list(mean_exposure.values())))


def topk_share(order: Sequence[int], groups: Sequence[Any], k: int) -> dict[str, float]:
    """Each group's share of the first k positions (groups of the list absent from them: 0)."""
    labels = np.asarray([str(g) for g in groups])
    top = labels[np.asarray(order, dtype=int)[:k]]
    return {g: float((top == g).mean()) for g in sorted(set(labels))}


def topk_share_gap(order: Sequence[int], groups: Sequence[Any], k: int) -> float:
    """max over groups of |share of the top k - share of the whole list|."""
    labels = np.asarray([str(g) for g in groups])
    shares = topk_share(order, groups, k)
    return float(max(abs(shares[g] - (labels == g).mean()) for g in shares))


# --- FA*IR ----------------------------------------------------------------------------------------

def fair_minimums(k: int, p: float, alpha: float) -> np.ndarray:
    """m(1..k): binom.ppf(alpha, i, p), the fewest protected candidates prefix i may hold (no
    adjustment of alpha; see `adjusted_alpha`)."""
    i = np.arange(1, k + 1)
    return np.clip(_stats.binom.ppf(alpha, i, p), 0, None).astype(int)


def failure_probability(minimums: Sequence[int], p: float) -> float:
    """Probability that a ranking whose positions are protected independently with probability p
    has fewer than minimums[i-1] protected candidates in some prefix i (exact)."""
    minimums = np.asarray(minimums, dtype=int)
    dist = np.zeros(len(minimums) + 1)
    dist[0] = 1.0
    for i, m in enumerate(minimums, start=1):
        new = dist * (1 - p)
        new[1:] += dist[:-1] * p
        new[:m] = 0.0  # prefixes with fewer than m protected candidates fail
        dist = new
    return float(max(0.0, 1.0 - dist.sum()))


@functools.lru_cache(maxsize=256)  # a bisection per (k, p, alpha), reused across lists and calls
def adjusted_alpha(k: int, p: float, alpha: float, *, iterations: int = 60) -> float:
    """FA*IR's multiple-testing adjustment: the largest alpha_c <= alpha whose table m(1..k)
    rejects a fairly drawn ranking (some prefix fails) with probability at most alpha."""
    if failure_probability(fair_minimums(k, p, alpha), p) <= alpha:
        return alpha
    low, high = 0.0, alpha
    for _ in range(iterations):
        middle = (low + high) / 2
        if failure_probability(fair_minimums(k, p, middle), p) <= alpha:
            low = middle
        else:
            high = middle
    return low


# --- constraints ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FairTopKConstraint:
    """FA*IR: at least m(i) candidates of `protected` in every prefix i <= k (see module doc)."""

    protected: str
    p: float
    alpha: float = 0.1
    adjust_alpha: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.p < 1:
            raise ConfigError(f"FA*IR: p (the protected group's minimum proportion) must be between "
                              f"0 and 1, got {self.p!r}.")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"FA*IR: alpha (the significance) must be between 0 and 1, e.g. "
                              f"0.1, got {self.alpha!r}.")

    def significance(self, k: int) -> float:
        """The per-prefix significance used for a ranking of length k."""
        return adjusted_alpha(k, self.p, self.alpha) if self.adjust_alpha else self.alpha

    def table(self, k: int) -> np.ndarray:
        """m(1..k) for this constraint."""
        return fair_minimums(k, self.p, self.significance(k))

    def minimums(self, counts: Mapping[str, int], k: int) -> dict[str, np.ndarray]:
        return {str(self.protected): self.table(k)}

    def describe(self) -> str:
        return (f"FA*IR with p={self.p:g}, alpha={self.alpha:g}"
                + (" (adjusted)" if self.adjust_alpha else " (per prefix)"))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "fair_top_k", "protected": self.protected, "p": self.p,
                "alpha": self.alpha, "adjust_alpha": self.adjust_alpha}


@dataclass(frozen=True)
class MinShareConstraint:
    """At least floor((s_g - slack) * i) candidates of each group g in every prefix i <= k.

    `shares=None`: each list's own composition (s_g = n_g / n, computed exactly as
    floor(n_g * i / n)). Groups missing from `shares` have no minimum."""

    shares: Mapping[str, float] | None = None
    slack: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.slack < 1:
            raise ConfigError(f"MinShareConstraint: slack must be in [0, 1), got {self.slack!r}.")
        if self.shares is not None:
            bad = {g: s for g, s in self.shares.items() if not 0 <= float(s) <= 1}
            if bad:
                raise ConfigError(f"MinShareConstraint: shares must be between 0 and 1; got {bad}.")
            total = float(sum(self.shares.values()))
            if total > 1 + _EPS:
                raise RerankInfeasibleError(
                    f"MinShareConstraint: the minimum shares add up to {total:g} "
                    f"({', '.join(f'{g}: {s:g}' for g, s in self.shares.items())}), more than 1, so "
                    "no prefix can hold them all. Lower them so that they sum to at most 1."
                )
            object.__setattr__(self, "shares", {str(g): float(s) for g, s in self.shares.items()})

    def minimums(self, counts: Mapping[str, int], k: int) -> dict[str, np.ndarray]:
        i = np.arange(1, k + 1)
        if self.shares is None:
            n = sum(counts.values())
            out = {}
            for g, c in counts.items():
                if self.slack:
                    out[g] = np.floor((c / n - self.slack) * i + _EPS).clip(0).astype(int)
                else:
                    out[g] = (c * i) // n  # exact floor(n_g i / n)
            return out
        return {g: np.floor((s - self.slack) * i + _EPS).clip(0).astype(int)
                for g, s in self.shares.items()}

    def describe(self) -> str:
        what = "each group's share of the list" if self.shares is None else \
            ", ".join(f"{g} >= {s:g}" for g, s in self.shares.items())
        return f"minimum share per prefix ({what}" + (f", slack {self.slack:g})" if self.slack else ")")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "min_share", "shares": None if self.shares is None else dict(self.shares),
                "slack": self.slack}


@dataclass(frozen=True)
class ExposureConstraint:
    """The list's exposure ratio (min / max of the groups' mean position exposure) >= min_ratio."""

    min_ratio: float = 0.8

    def __post_init__(self) -> None:
        if not 0 < self.min_ratio <= 1:
            raise ConfigError(f"ExposureConstraint: min_ratio must be in (0, 1], got {self.min_ratio!r}.")

    def describe(self) -> str:
        return f"exposure ratio >= {self.min_ratio:g}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "exposure", "min_ratio": self.min_ratio}


Constraint = Union[FairTopKConstraint, MinShareConstraint, ExposureConstraint]


def constraint_from_dict(spec: Mapping[str, Any]) -> Constraint:
    """The inverse of each constraint's `to_dict`."""
    spec = dict(spec)
    kind = spec.pop("type", None)
    classes = {"fair_top_k": FairTopKConstraint, "min_share": MinShareConstraint,
               "exposure": ExposureConstraint}
    if kind not in classes:
        raise ConfigError(f"Unknown re-ranking constraint type {kind!r}; use one of {sorted(classes)}.")
    return classes[kind](**spec)


# --- the re-ranker --------------------------------------------------------------------------------

@dataclass
class RerankResult:
    """One list re-ranked: the new order and what it changed.

    `order` and `original_order` are input indices, best first (`original_order` is the model's
    score-sorted ranking). Exposure is over the whole list; shares and NDCG over the first k.
    `constraints` has one row per constraint, prefix and group: required vs achieved before and
    after (counts for prefix minimums; each group's mean exposure / the highest for exposure)."""

    order: np.ndarray
    original_order: np.ndarray
    k: int
    exposure_before: dict[str, float]
    exposure_after: dict[str, float]
    topk_share_before: dict[str, float]
    topk_share_after: dict[str, float]
    share: dict[str, float]
    ndcg_before: float
    ndcg_after: float
    constraints: pd.DataFrame = field(repr=False)

    @property
    def exposure_ratio_before(self) -> float:
        return exposure_ratio(self.exposure_before)

    @property
    def exposure_ratio_after(self) -> float:
        return exposure_ratio(self.exposure_after)

    @property
    def topk_share_gap_before(self) -> float:
        return max(abs(self.topk_share_before[g] - self.share[g]) for g in self.share)

    @property
    def topk_share_gap_after(self) -> float:
        return max(abs(self.topk_share_after[g] - self.share[g]) for g in self.share)

    @property
    def ndcg_change(self) -> float:
        """NDCG@k after - before: the utility cost of the constraint (<= 0)."""
        return self.ndcg_after - self.ndcg_before

    @property
    def ranks(self) -> np.ndarray:
        """1-based rank of each input candidate after re-ranking."""
        ranks = np.empty(len(self.order), dtype=int)
        ranks[self.order] = np.arange(1, len(self.order) + 1)
        return ranks

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k, "order": self.order.tolist(),
            "exposure_before": self.exposure_before, "exposure_after": self.exposure_after,
            "exposure_ratio_before": self.exposure_ratio_before,
            "exposure_ratio_after": self.exposure_ratio_after,
            "topk_share_before": self.topk_share_before, "topk_share_after": self.topk_share_after,
            "share": self.share, "topk_share_gap_before": self.topk_share_gap_before,
            "topk_share_gap_after": self.topk_share_gap_after,
            "ndcg_before": self.ndcg_before, "ndcg_after": self.ndcg_after,
            "ndcg_change": self.ndcg_change,
            "constraints": self.constraints.to_dict(orient="records"),
        }


def _as_constraints(constraints: Constraint | Iterable[Constraint]) -> list[Constraint]:
    if isinstance(constraints, (FairTopKConstraint, MinShareConstraint, ExposureConstraint)):
        return [constraints]
    out = list(constraints)
    for c in out:
        if not isinstance(c, (FairTopKConstraint, MinShareConstraint, ExposureConstraint)):
            raise ConfigError(f"{c!r} is not a re-ranking constraint; use FairTopKConstraint, "
                              "MinShareConstraint or ExposureConstraint.")
    return out


def _where(label: str | None) -> str:
    return f" list {label!r}" if label is not None else " the list"


def _combined_minimums(constraints: list[Constraint], counts: dict[str, int], k: int,
                       label: str | None) -> dict[str, np.ndarray]:
    """Per group, the largest minimum any prefix constraint asks at each prefix 1..k, checked for
    feasibility (enough candidates; the requirements of all groups fit in every prefix)."""
    required: dict[str, np.ndarray] = {}
    source: dict[str, str] = {}
    for c in constraints:
        if isinstance(c, ExposureConstraint):
            continue
        for g, m in c.minimums(counts, k).items():
            m = np.maximum.accumulate(np.asarray(m, dtype=int))
            if g in required:
                required[g] = np.maximum(required[g], m)
            else:
                required[g] = m
            source[g] = c.describe()
    for g, m in required.items():
        available = counts.get(g, 0)
        if m[-1] > available:
            prefix = int(np.argmax(m > available)) + 1
            longest = int(np.sum(m <= available))
            raise RerankInfeasibleError(
                f"Cannot re-rank{_where(label)}: group {g!r} needs at least {int(m[prefix - 1])} of "
                f"the top {prefix} candidates ({source[g]}), but the list has only {available} "
                f"candidate(s) of group {g!r}. Lower the constraint for {g!r}, shorten k to "
                f"{longest} (the longest prefix it can meet), or add candidates of group {g!r}."
            )
    if required:
        total = np.sum(list(required.values()), axis=0)
        over = np.flatnonzero(total > np.arange(1, k + 1))
        if len(over):
            i = int(over[0]) + 1
            parts = ", ".join(f"{g}: {int(m[i - 1])}" for g, m in required.items())
            raise RerankInfeasibleError(
                f"Cannot re-rank{_where(label)}: at prefix {i} the groups' minimums add up to "
                f"{int(total[i - 1])} ({parts}) but the prefix has only {i} positions. Lower the "
                "minimum shares so that they sum to at most 1."
            )
    return required


def _greedy(scores: np.ndarray, labels: np.ndarray, required: dict[str, np.ndarray], k: int,
            target: float | None = None, label: str | None = None) -> np.ndarray:
    """Fill positions 1..n: each takes the best-scoring group head whose placement keeps the
    prefix minimums reachable (positions <= k) and, with an exposure `target`, keeps the
    exposure-balancing completion at or above the target (see the module doc)."""
    names = sorted(set(labels))
    n, n_groups = len(scores), len(names)
    base = np.argsort(-scores, kind="stable")
    queues = [[i for i in base if labels[i] == g] for g in names]
    sizes = np.array([len(q) for q in queues])
    rank_in_base = np.empty(n, dtype=int)
    rank_in_base[base] = np.arange(n)
    req = np.zeros((n_groups, k), dtype=int)
    for g, m in required.items():
        if g in names:  # a group without candidates here has passed the checks with no minimum
            req[names.index(g)] = m
    exposure = position_exposure(n)
    mean_exposure = exposure.mean()

    def feasible(placed: np.ndarray, position: int) -> bool:
        """Prefix minimums still reachable after `position` positions hold `placed` per group:
        the outstanding minimums are unit jobs with deadlines, feasible iff at each later
        prefix t they fit in the t - position free positions."""
        if not required or position > k:
            return True
        if np.any(placed < req[:, position - 1]):
            return False
        if position == k:
            return True
        outstanding = np.maximum(0, req[:, position:] - placed[:, None]).sum(axis=0)
        return bool(np.all(outstanding <= np.arange(1, k - position + 1)))

    # tail[r]: exposure of the last r positions, the least r remaining candidates can get
    tail = np.concatenate([[0.0], np.cumsum(exposure[::-1])])

    def balancing_choice(placed: np.ndarray, totals: np.ndarray, position: int) -> int:
        """The group whose exposure still owed (its size times the list's mean exposure, minus
        what it has) exceeds by the most what the last positions alone would give its remaining
        candidates, among the groups that keep the prefix minimums reachable."""
        best, best_need = -1, -np.inf
        for g in range(n_groups):
            left = sizes[g] - placed[g]
            if left == 0:
                continue
            placed[g] += 1
            ok = feasible(placed, position)
            placed[g] -= 1
            need = sizes[g] * mean_exposure - totals[g] - tail[left]
            if ok and need > best_need:
                best, best_need = g, need
        return best

    def balanced_ratio(placed: np.ndarray, totals: np.ndarray, filled: int) -> float:
        placed, totals = placed.copy(), totals.copy()
        for position in range(filled + 1, n + 1):
            g = balancing_choice(placed, totals, position)
            placed[g] += 1
            totals[g] += exposure[position - 1]
        means = totals / sizes
        return float(means.min() / means.max())

    placed, totals = np.zeros(n_groups, dtype=int), np.zeros(n_groups)
    if target is not None:
        reachable = balanced_ratio(placed, totals, 0)
        if reachable < target - 1e-12:
            raise RerankInfeasibleError(
                f"Cannot re-rank{_where(label)}: the exposure ratio must reach {target:g}, but the "
                f"exposure-balancing order (see the module doc) reaches only "
                f"{reachable:.3f}. Lower min_ratio, relax the prefix constraints, or re-rank longer "
                "lists (a group with very few candidates cannot get the list's mean exposure)."
            )
    heads = np.zeros(n_groups, dtype=int)
    order: list[int] = []
    for position in range(1, n + 1):
        open_groups = [g for g in range(n_groups) if heads[g] < sizes[g]]
        by_score = sorted(open_groups, key=lambda g: rank_in_base[queues[g][heads[g]]])
        balancing = balancing_choice(placed, totals, position) if target is not None else None
        chosen = None
        for g in by_score:
            placed[g] += 1
            ok = feasible(placed, position)
            if ok and target is not None and g != balancing:
                totals[g] += exposure[position - 1]
                ok = balanced_ratio(placed, totals, position) >= target - 1e-12
                totals[g] -= exposure[position - 1]
            placed[g] -= 1
            if ok:
                chosen = g
                break
        if chosen is None:  # unreachable after the upfront checks
            raise RerankInfeasibleError(f"Cannot re-rank{_where(label)}: no candidate keeps the "
                                        "constraints reachable.")
        order.append(queues[chosen][heads[chosen]])
        heads[chosen] += 1
        placed[chosen] += 1
        totals[chosen] += exposure[position - 1]
    return np.asarray(order, dtype=int)


def rerank(scores: Sequence[float], groups: Sequence[Any],
           constraints: Constraint | Iterable[Constraint], *, k: int | None = None,
           label: str | None = None) -> RerankResult:
    """Re-rank one list of scored candidates under `constraints` (see the module doc).

    `scores` and `groups` are per candidate (input order); `k` is the length of the constrained
    prefix (default and maximum: the list length). Returns the new order and its effect.

    Guarantees: every prefix 1..k meets every prefix constraint; each group's candidates stay in
    score order; the exposure ratio reaches an `ExposureConstraint`'s `min_ratio`. Otherwise
    `RerankInfeasibleError` names the group, prefix, required and available counts.
    Without an exposure constraint the order has the highest top-t score sum for every t <= k,
    so the highest NDCG@k, of all orderings that meet the prefix constraints and keep each
    group's order. With an exposure constraint the ratio is guaranteed, not the least utility
    loss.
    """
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray([str(g) for g in groups])
    n = len(scores)
    if n == 0 or len(labels) != n:
        raise ConfigError(f"rerank needs one group per score and at least one candidate; got "
                          f"{n} scores and {len(labels)} groups.")
    if not np.all(np.isfinite(scores)):
        raise ConfigError(f"Cannot re-rank{_where(label)}: some scores are not finite numbers.")
    if k is None:
        k = n
    if int(k) < 1:
        raise ConfigError(f"k must be at least 1, got {k!r}.")
    k = min(int(k), n)
    constraints = _as_constraints(constraints)
    counts = {g: int((labels == g).sum()) for g in sorted(set(labels))}
    required = _combined_minimums(constraints, counts, k, label)
    original = np.argsort(-scores, kind="stable")
    exposures = [c for c in constraints if isinstance(c, ExposureConstraint)]
    target = max(c.min_ratio for c in exposures) if exposures else None
    order = _greedy(scores, labels, required, k, target, label)

    def achieved(o: np.ndarray) -> dict[str, np.ndarray]:
        top = labels[o[:k]]
        return {g: np.cumsum(top == g) for g in required}

    before, after = achieved(original), achieved(order)
    rows = []
    for g, m in required.items():
        for i in range(k):
            rows.append({"constraint": "prefix_minimum", "prefix": i + 1, "group": g,
                         "required": float(m[i]), "achieved_before": float(before[g][i]),
                         "achieved_after": float(after[g][i])})
    exposure_before = group_exposure(original, labels)
    exposure_after = group_exposure(order, labels)
    if exposures:
        target = max(c.min_ratio for c in exposures)
        top_b, top_a = max(exposure_before.values()), max(exposure_after.values())
        for g in exposure_before:
            rows.append({"constraint": "exposure_ratio", "prefix": n, "group": g,
                         "required": float(target), "achieved_before": exposure_before[g] / top_b,
                         "achieved_after": exposure_after[g] / top_a})
    table = pd.DataFrame(rows, columns=["constraint", "prefix", "group", "required",
                                        "achieved_before", "achieved_after"])
    table["satisfied"] = table["achieved_after"] >= table["required"] - 1e-12
    return RerankResult(
        order=order, original_order=original, k=k,
        exposure_before=exposure_before, exposure_after=exposure_after,
        topk_share_before=topk_share(original, labels, k), topk_share_after=topk_share(order, labels, k),
        share={g: counts[g] / n for g in counts},
        ndcg_before=ndcg_at_k(scores, original, k), ndcg_after=ndcg_at_k(scores, order, k),
        constraints=table,
    )


def rerank_frame(frame: pd.DataFrame, constraints: Constraint | Iterable[Constraint], *,
                 k: int | None = None, list_column: str = "list_id", group_column: str = "group",
                 score_column: str = "score") -> tuple[pd.DataFrame, dict[Any, RerankResult]]:
    """Re-rank every list of a long table (one row per candidate). Returns the rows ordered by
    list (first appearance) and new rank, with a 1-based `rank` column, and each list's result."""
    missing = [c for c in (list_column, group_column, score_column) if c not in frame.columns]
    if missing:
        raise ConfigError(f"rerank_frame: the table lacks the column(s) {', '.join(missing)}; it "
                          f"needs {list_column!r}, {group_column!r} and {score_column!r}.")
    constraints = _as_constraints(constraints)
    parts, results = [], {}
    for list_id, part in frame.groupby(list_column, sort=False):
        result = rerank(part[score_column].to_numpy(dtype=float), part[group_column].tolist(),
                        constraints, k=k, label=str(list_id))
        ranked = part.iloc[result.order].copy()
        ranked["rank"] = np.arange(1, len(ranked) + 1)
        parts.append(ranked)
        results[list_id] = result
    if not parts:
        return frame.assign(rank=pd.Series(dtype=int)), results
    return pd.concat(parts), results


__all__ = [
    "Constraint",
    "ExposureConstraint",
    "FairTopKConstraint",
    "MinShareConstraint",
    "RerankInfeasibleError",
    "RerankResult",
    "adjusted_alpha",
    "constraint_from_dict",
    "dcg_at_k",
    "exposure_ratio",
    "failure_probability",
    "fair_minimums",
    "group_exposure",
    "ndcg_at_k",
    "position_exposure",
    "rerank",
    "rerank_frame",
    "topk_share",
    "topk_share_gap",
]
