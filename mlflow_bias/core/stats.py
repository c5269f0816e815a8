"""Uncertainty for bias metrics: stratified bootstrap CIs and sign-flip permutation tests, seeded.

The sign-flip test is scipy's `permutation_test` (one sample, `permutation_type="samples"` flips
signs). The bootstrap is our own because it must resample items *within* strata (conditions),
which `scipy.stats.bootstrap` does not do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
from scipy import stats as _stats

# statistic(values[..., n], axis=-1) -> array[...]
VectorStatistic = Callable[[np.ndarray], np.ndarray]

# What a percentile interval does with undefined resamples: "none" keeps them (a NaN sample makes
# the interval NaN), "nan" leaves NaN samples out, "non-finite" leaves NaN and +-inf out.
Skip = Literal["none", "nan", "non-finite"]


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float = 0.95


@dataclass(frozen=True)
class NullTest:
    p_value: float
    noise_floor: float  # the 95th percentile of the statistic under the null
    exact: bool
    resamples: int


def percentile_interval(samples: Any, confidence: float = 0.95, *,
                        skip: Skip = "none") -> tuple[float, float]:
    """The central `confidence` interval of resampled statistics: their (1 - confidence) / 2 and
    (1 + confidence) / 2 quantiles (numpy's linear interpolation).

    `skip` says which samples a statistic left undefined are left out (see `Skip`); with nothing
    left (or no samples) the interval is (nan, nan).
    """
    values = np.asarray(samples, dtype=float)
    alpha = (1 - confidence) / 2
    if skip == "non-finite":
        values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    if skip == "nan":
        if not np.isfinite(values).any():
            return float("nan"), float("nan")
        low, high = np.nanquantile(values, [alpha, 1 - alpha])
    else:
        low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_interval(statistic: Callable[[np.ndarray], np.ndarray], n_units: int, *,
                       n_resamples: int, seed: int | np.random.Generator,
                       confidence: float = 0.95, skip: Skip = "none") -> tuple[float, float]:
    """Percentile bootstrap interval over `n_units` independent units (sets, lists, ...).

    `statistic` receives (n_resamples, n_units) unit indices drawn with replacement, one resample
    per row, and returns one value per resample. `seed` may be a Generator to continue its stream.
    """
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_units, size=(n_resamples, n_units))
    return percentile_interval(statistic(draws), confidence, skip=skip)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion `successes / n` ((nan, nan) when n is 0).

    Unlike the normal approximation it stays inside [0, 1] and is usable at rates near 0 or 1.
    """
    if n <= 0:
        return float("nan"), float("nan")
    interval = _stats.binomtest(int(successes), int(n)).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


def bootstrap_indices(strata: np.ndarray, *, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n) item indices, resampled with replacement within each stratum.

    `strata` must be sorted (runs of equal keys); each resample keeps every stratum's size.
    Strata of a single item are pooled and resampled together: resampling one item within itself
    would pretend it has no sampling variability.
    """
    rng = np.random.default_rng(seed)
    index = np.empty((n_resamples, len(strata)), dtype=np.int64)
    singletons: list[int] = []
    start = 0
    for size in _run_lengths(strata):
        if size == 1:
            singletons.append(start)
        else:
            index[:, start : start + size] = start + rng.integers(0, size, size=(n_resamples, size))
        start += size
    if singletons:
        pool = np.asarray(singletons)
        index[:, pool] = pool[rng.integers(0, len(pool), size=(n_resamples, len(pool)))]
    return index


def stratified_bootstrap(
    values: np.ndarray,
    strata: np.ndarray,
    statistic: VectorStatistic,
    *,
    n_resamples: int,
    seed: int,
    level: float = 0.95,
) -> Interval:
    """Percentile CI of `statistic`, items resampled with replacement within each stratum.

    `values` has the items on its last axis, sorted by stratum (the statistic may rely on that
    order); a (k, n) array resamples k paired measurements of the same items together, and the
    statistic then receives (k, n_resamples, n).
    """
    index = bootstrap_indices(strata, n_resamples=n_resamples, seed=seed)
    low, high = percentile_interval(statistic(values[..., index]), level)
    return Interval(low, high, level)


def sign_flip_test(
    values: np.ndarray, statistic: VectorStatistic, *, n_resamples: int, seed: int
) -> NullTest:
    """One-sided test of "no systematic preference": each value's sign is equally likely.

    Exact when 2**n <= n_resamples, otherwise Monte Carlo with the +1 correction (scipy's).
    """
    result = _stats.permutation_test(
        (values,),
        lambda x, axis: statistic(np.moveaxis(x, axis, -1)),
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="greater",
        random_state=np.random.default_rng(seed),
    )
    return _null_test(result, exact=2 ** len(values) <= n_resamples)


def _null_test(result: Any, *, exact: bool) -> NullTest:
    """A scipy `PermutationTestResult` as a NullTest (the noise floor is the null's 95th percentile)."""
    null = np.asarray(result.null_distribution)
    return NullTest(p_value=float(result.pvalue), noise_floor=float(np.quantile(null, 0.95)),
                    exact=exact, resamples=int(null.size))


def _run_lengths(sorted_keys: np.ndarray) -> list[int]:
    """Lengths of the runs of equal keys in an array sorted by key."""
    if len(sorted_keys) == 0:
        return []
    change = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    bounds = np.concatenate([[0], change, [len(sorted_keys)]])
    return list(np.diff(bounds))


def run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Start index of each run of equal keys (for np.add.reduceat)."""
    lengths = _run_lengths(sorted_keys)
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)


def difference_of_means_test(
    x: np.ndarray, y: np.ndarray, *, n_resamples: int, seed: int,
    x_counts: np.ndarray | None = None, y_counts: np.ndarray | None = None,
) -> NullTest:
    """One-sided test that mean(x) > mean(y) by exchanging items between the two samples.

    scipy's `permutation_test` over the splits of x∪y into sizes |x| and |y|: exact when there are
    at most `n_resamples` such splits, otherwise Monte Carlo with the +1 correction. With counts,
    each item is a cluster (x holds its sum, x_counts its size) and whole clusters are exchanged:
    the means are then over the clusters' members, and members of one cluster never split up.
    """
    sums = np.concatenate([x, y]).astype(float)
    counts = np.concatenate([np.ones(len(x)) if x_counts is None else x_counts,
                             np.ones(len(y)) if y_counts is None else y_counts]).astype(float)

    def statistic(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
        a, b = a.astype(int), b.astype(int)
        return (sums[a].sum(axis=axis) / counts[a].sum(axis=axis)
                - sums[b].sum(axis=axis) / counts[b].sum(axis=axis))

    result = _stats.permutation_test(
        (np.arange(len(x), dtype=float), np.arange(len(x), len(x) + len(y), dtype=float)),
        statistic,
        permutation_type="independent",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="greater",
        random_state=np.random.default_rng(seed),
    )
    return _null_test(result, exact=math.comb(len(x) + len(y), len(x)) <= n_resamples)
