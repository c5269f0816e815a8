"""Uncertainty for bias metrics: stratified bootstrap CIs and sign-flip permutation tests, seeded.

The sign-flip test is our own, in blocks of resamples (scipy's one-sample `permutation_test` takes
time growing with the square of the probe); the exchange test of two samples is scipy's. The
bootstrap is our own because it must resample items *within* strata (conditions), which
`scipy.stats.bootstrap` does not do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal

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


def basic_interval(point: float, samples: Any, confidence: float = 0.95, *,
                   skip: Skip = "none") -> tuple[float, float]:
    """The basic (reverse-percentile) bootstrap interval, 2 * point - the percentile interval's
    bounds: where resampling shifts a statistic (a gap over many small groups, which noise
    widens), the percentile interval carries that shift and this one subtracts it."""
    low, high = percentile_interval(samples, confidence, skip=skip)
    return 2 * point - high, 2 * point - low


def bootstrap_interval(statistic: Callable[[np.ndarray], np.ndarray], n_units: int, *,
                       n_resamples: int, seed: int | np.random.Generator,
                       confidence: float = 0.95, skip: Skip = "none") -> tuple[float, float]:
    """Percentile bootstrap interval over `n_units` independent units (sets, lists, ...).

    `statistic` receives (n_resamples, n_units) unit indices drawn with replacement, one resample
    per row, and returns one value per resample. `seed` may be a Generator to continue its stream.
    """
    return percentile_interval(statistic(bootstrap_draws(n_units, n_resamples=n_resamples, seed=seed)),
                               confidence, skip=skip)


def bootstrap_draws(n_units: int, *, n_resamples: int, seed: int | np.random.Generator) -> np.ndarray:
    """(n_resamples, n_units) unit indices drawn with replacement, one resample per row: the draws
    of `bootstrap_interval`, for statistics that must share them."""
    return np.random.default_rng(seed).integers(0, n_units, size=(n_resamples, n_units))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion `successes / n` ((nan, nan) when n is 0).

    Unlike the normal approximation it stays inside [0, 1] and is usable at rates near 0 or 1.
    """
    if n <= 0:
        return float("nan"), float("nan")
    interval = _stats.binomtest(int(successes), int(n)).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


# Bootstrap and permutation resamples are evaluated in blocks of at most this many item draws
# (8 MB of int64 indices, as much again for the gathered values), so that the memory a CI takes
# does not grow with the probe: at 1,000 resamples a 100k-item probe would otherwise hold 800 MB
# of indices at once. Blocks change no number: they replay the same random stream.
RESAMPLE_BLOCK_ELEMENTS = 1 << 20


def _resamples_per_block(n_items: int) -> int:
    """Resamples of `n_items` items that fit in one block (scipy's `batch` for the permutation
    tests, which draws the same permutations whatever its value)."""
    return max(1, RESAMPLE_BLOCK_ELEMENTS // max(n_items, 1))


def _block_bounds(n_resamples: int, n: int) -> list[tuple[int, int]]:
    rows = _resamples_per_block(n)
    return [(start, min(start + rows, n_resamples)) for start in range(0, n_resamples, rows)]


def bootstrap_index_blocks(strata: np.ndarray, *, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """`bootstrap_indices` in consecutive blocks of resamples, each (rows, n), in bounded memory;
    stacked, the blocks are exactly `bootstrap_indices`' array (the same seed, the same numbers).

    The draws are made stratum by stratum for all resamples at once, so a block of resamples
    needs numbers from every stratum's stretch of the stream: a first pass records the
    generator's state where each (stratum, block) begins, and each block is then drawn from
    those states. With a single block there is no first pass.
    """
    strata = np.asarray(strata)
    runs: list[tuple[int, int]] = []  # (start, size) of each stratum drawn within itself
    singletons: list[int] = []
    start = 0
    for size in _run_lengths(strata):
        if size == 1:
            singletons.append(start)
        else:
            runs.append((start, size))
        start += size
    pool = np.asarray(singletons, dtype=np.int64)
    groups = runs + ([(-1, len(pool))] if len(pool) else [])  # the singletons' pool comes last
    bounds = _block_bounds(n_resamples, len(strata))
    rng = np.random.default_rng(seed)
    if len(bounds) == 1:
        states = None
    else:
        states = []
        for _, size in groups:
            states.append([])
            for low, high in bounds:
                states[-1].append(rng.bit_generator.state)
                rng.integers(0, size, size=(high - low, size))
    for b, (low, high) in enumerate(bounds):
        index = np.empty((high - low, len(strata)), dtype=np.int64)
        for g, (first, size) in enumerate(groups):
            if states is not None:
                rng = np.random.Generator(type(rng.bit_generator)())
                rng.bit_generator.state = states[g][b]
            draws = rng.integers(0, size, size=(high - low, size))
            if first < 0:
                index[:, pool] = pool[draws]
            else:
                index[:, first : first + size] = first + draws
        yield index


def bootstrap_indices(strata: np.ndarray, *, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n) item indices, resampled with replacement within each stratum.

    `strata` must be sorted (runs of equal keys); each resample keeps every stratum's size.
    Strata of a single item are pooled and resampled together: resampling one item within itself
    would pretend it has no sampling variability. For large probes prefer
    `bootstrap_index_blocks`, which yields the same numbers a block of resamples at a time.
    """
    return np.concatenate(list(bootstrap_index_blocks(strata, n_resamples=n_resamples, seed=seed)))


def set_bootstrap_indices(starts: np.ndarray, n_sets: int, *, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n) item indices that resample counterfactual sets, not items.

    The items are sorted by group and, within each group, by set, every group holding one item
    of each of the `n_sets` sets (its block starts at `starts[g]`). A resample draws `n_sets` sets
    with replacement and takes each drawn set's item from every group, so the groups stay paired:
    a model that treats every group of a set alike has a gap of 0 in every resample, as in the
    data, where resampling each group on its own would invent gaps from the sets it happens to
    draw for one group and not another."""
    draws = np.random.default_rng(seed).integers(n_sets, size=(n_resamples, n_sets))
    return np.concatenate([start + draws for start in np.asarray(starts)], axis=1)


def bootstrap_samples(
    values: np.ndarray,
    strata: np.ndarray,
    statistic: VectorStatistic,
    *,
    n_resamples: int,
    seed: int,
) -> np.ndarray:
    """`statistic` on `n_resamples` stratified resamples of `values` (see `stratified_bootstrap`),
    evaluated a block at a time; one value per resample."""
    return np.concatenate([np.atleast_1d(statistic(values[..., index]))
                           for index in bootstrap_index_blocks(strata, n_resamples=n_resamples, seed=seed)])


def _mean_last_axis(values: np.ndarray) -> np.ndarray:
    return values.mean(axis=-1)


def mean_interval(values: np.ndarray, *, n_resamples: int, seed: int,
                  confidence: float = 0.95) -> tuple[float, float]:
    """Percentile CI of the mean of independent values (one stratum of `stratified_bootstrap`)."""
    values = np.asarray(values, dtype=float)
    found = stratified_bootstrap(values, np.zeros(len(values), dtype=int), _mean_last_axis,
                                 n_resamples=n_resamples, seed=seed, level=confidence)
    return found.low, found.high


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
    statistic then receives (k, n_resamples, n). Resamples are evaluated in blocks (see
    `RESAMPLE_BLOCK_ELEMENTS`), so the statistic may receive fewer than `n_resamples` at a time.
    """
    samples = bootstrap_samples(values, strata, statistic, n_resamples=n_resamples, seed=seed)
    low, high = percentile_interval(samples, level)
    return Interval(low, high, level)


def sign_flip_test(
    values: np.ndarray, statistic: VectorStatistic, *, n_resamples: int, seed: int
) -> NullTest:
    """One-sided test of "no systematic preference": each value's sign is equally likely.

    Exact when 2**n <= n_resamples (every sign pattern once, p = share of patterns whose statistic
    reaches the observed one); otherwise Monte Carlo over `n_resamples` random sign patterns with
    the +1 correction, p = (k + 1) / (n_resamples + 1), as scipy's `permutation_test` computes
    it, ties within 100 machine epsilons of the observed value counting as reaching it.

    The patterns are drawn `RESAMPLE_BLOCK_ELEMENTS` signs at a time from one stream (a sign is
    one uniform draw below 1/2, so the blocks do not change the numbers). scipy's own one-sample
    test pairs n two-value samples with a Python step per item in every batch, so its time grew
    with the square of the probe (100k values: 103 s, 141 MB; here linear).
    """
    observed = float(statistic(np.asarray(values, dtype=float)))
    null, exact = sign_flip_null(values, statistic, n_resamples=n_resamples, seed=seed)
    return null_test(observed, null, exact=exact)


def sign_flip_null(values: np.ndarray, statistic: VectorStatistic, *, n_resamples: int,
                   seed: int) -> tuple[np.ndarray, bool]:
    """The statistic under random sign flips (every pattern when 2**n <= n_resamples: exact)."""
    values = np.asarray(values, dtype=float)
    n = values.shape[-1]
    if n < 31 and 2**n <= n_resamples:
        patterns = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        return np.atleast_1d(statistic(values * (1.0 - 2.0 * patterns))), True
    rng = np.random.default_rng(seed)
    rows = _resamples_per_block(n)
    return np.concatenate([
        np.atleast_1d(statistic(np.where(rng.random((min(rows, n_resamples - low), n)) < 0.5,
                                         -values, values)))
        for low in range(0, n_resamples, rows)]), False


def null_test(observed: float, null: np.ndarray, *, exact: bool) -> NullTest:
    """One-sided p-value of `observed` against a null distribution (the +1 correction unless the
    null is exact; ties within 100 machine epsilons count as reaching it) and its 95th percentile."""
    reached = int((null >= observed - abs(observed) * 100 * np.finfo(float).eps).sum())
    p_value = reached / null.size if exact else (reached + 1) / (null.size + 1)
    return NullTest(p_value=float(p_value), noise_floor=float(np.quantile(null, 0.95)),
                    exact=exact, resamples=int(null.size))


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
        batch=_resamples_per_block(len(x) + len(y)),
    )
    return _null_test(result, exact=math.comb(len(x) + len(y), len(x)) <= n_resamples)


def no_preference_test(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided exact binomial p-value of `successes` in `trials` under p = 0.5, and the noise
    floor: the smallest d with P(|X/n - 0.5| > d) <= 1 - confidence under that null."""
    if trials == 0:
        return float("nan"), float("nan")
    p_value = float(_stats.binomtest(successes, trials, 0.5).pvalue)
    upper = _stats.binom.ppf(1 - (1 - confidence) / 2, trials, 0.5)  # symmetric: the lower tail mirrors it
    return p_value, float(upper / trials - 0.5)
