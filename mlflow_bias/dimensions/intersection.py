"""Marginals and amplification of an intersectional attribute in the dimensions that tally
outputs per counterfactual set (CBS, refusal asymmetry).

Such a dimension holds `tallies[set, cell, k]`: how many outputs of each cell fell in each of k
outcomes (categories; refused or not). Summing the cells that share a part's group gives that
part's marginal tallies from the same rows. The dimension's statistic, a gap between groups
read from tallies summed over sets, is computed on the cells and on each marginal; the
amplification is the cells' gap minus the largest marginal gap. CIs resample sets (the same
draws for cells and marginals; the amplification's is the basic interval, since a gap over more,
smaller groups is pushed up by noise), and the p-value and noise floor come from outputs
simulated with no difference between cells beyond the widest part's: each cell's outputs drawn
from the outcome shares of its group on that part (see `dimensions.parity` for the same on
decisions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from mlflow_bias.core.errors import ModelOutputError
from mlflow_bias.core.groups import group_labels
from mlflow_bias.core.intersections import attribute_parts, marginal_labels
from mlflow_bias.core.stats import basic_interval, bootstrap_draws, null_test, percentile_interval

# statistic(tallies[..., group, k]) -> the gap over groups, one value per leading index
GapStatistic = Callable[[np.ndarray], np.ndarray]


@dataclass
class Interval3:
    value: float
    ci_low: float
    ci_high: float


@dataclass
class SetIntersection:
    """An intersection's marginals and amplification (the part of a summary row it adds)."""

    parts: list[str]
    marginals: dict[str, Interval3]
    amplification: Interval3
    p_value: float
    noise_floor: float
    amplified: bool

    def summary(self, name: str) -> dict[str, Any]:
        """The scorecard's shape: per part and for the amplification, keyed by the metric `name`."""
        return {
            "parts": self.parts,
            "marginals": {part: {name: vars(m)} for part, m in self.marginals.items()},
            "amplification": {name: {**vars(self.amplification), "p_value": self.p_value,
                                     "noise_floor": self.noise_floor, "amplified": self.amplified}},
        }

    def log(self, key: str, metrics: dict[str, float]) -> None:
        """`<key>/marginal/<part>` and `<key>/amplification`, each with its CI (and the
        amplification's p-value and noise floor)."""
        for part, m in self.marginals.items():
            stem = f"{key}/marginal/{part}"
            metrics[stem], metrics[f"{stem}/ci_low"], metrics[f"{stem}/ci_high"] = m.value, m.ci_low, m.ci_high
        a, stem = self.amplification, f"{key}/amplification"
        metrics[stem], metrics[f"{stem}/ci_low"], metrics[f"{stem}/ci_high"] = a.value, a.ci_low, a.ci_high
        metrics[f"{stem}/p_value"], metrics[f"{stem}/noise_floor"] = self.p_value, self.noise_floor


def _sum_cells(tallies: np.ndarray, owner: np.ndarray, n_groups: int) -> np.ndarray:
    """Tallies with the cell axis (-2) summed into the groups `owner` maps each cell to."""
    onehot = np.zeros((len(owner), n_groups))
    onehot[np.arange(len(owner)), owner] = 1.0
    return np.moveaxis(np.moveaxis(tallies, -2, -1) @ onehot, -1, -2)


def score_set_intersection(attribute: str, cells: list[str], tallies: np.ndarray,
                           statistic: GapStatistic, *, n_resamples: int, null_resamples: int,
                           seed: int, confidence: float) -> SetIntersection:
    """Marginals and amplification of `statistic` for `tallies[set, cell, k]` (see the module)."""
    draws = bootstrap_draws(len(tallies), n_resamples=n_resamples, seed=seed)
    cell_point, cell_reps = statistic(tallies.sum(axis=0)), statistic(tallies[draws].sum(axis=1))
    marginals: dict[str, Interval3] = {}
    owners, points, reps = [], [], []
    for position, part in enumerate(attribute_parts(attribute)):
        labels = marginal_labels(cells, position)
        names = sorted(set(labels))
        owner = np.array([names.index(label) for label in labels])
        summed = _sum_cells(tallies, owner, len(names))
        point, resampled = float(statistic(summed.sum(axis=0))), statistic(summed[draws].sum(axis=1))
        low, high = percentile_interval(resampled, confidence, skip="nan")
        marginals[part] = Interval3(point, low, high)
        owners.append((owner, len(names)))
        points.append(point)
        reps.append(resampled)
    value = float(cell_point) - max(points)
    low, high = basic_interval(value, cell_reps - np.max(np.stack(reps), axis=0), confidence, skip="nan")
    # the null: every cell's outputs drawn from its group's outcome shares on the widest part
    owner, n_groups = owners[int(np.argmax(points))]
    shares = _sum_cells(tallies, owner, n_groups).sum(axis=0)
    shares = shares / np.maximum(shares.sum(axis=-1, keepdims=True), 1)
    rng = np.random.default_rng(seed)
    sizes = tallies.sum(axis=-1).astype(np.int64)  # [set, cell]
    simulated = rng.multinomial(sizes, shares[owner][None, :, :], size=(null_resamples, *sizes.shape))
    null_cells = statistic(simulated.sum(axis=1))
    null_parts = [statistic(_sum_cells(simulated, o, n).sum(axis=1)) for o, n in owners]
    null = null_cells - np.max(np.stack(null_parts), axis=0)
    tested = null_test(value, null[np.isfinite(null)], exact=False)
    amplified = bool(np.isfinite(low) and low > 0 and tested.p_value < 1 - confidence)
    return SetIntersection(list(marginals), marginals, Interval3(value, low, high),
                           tested.p_value, tested.noise_floor, amplified)


def require_every_cell(label: str, rows: pd.DataFrame, scored: list[str], what: str,
                       fix: str = "Look at its outputs in the items table and fix the model or the "
                                  "settings that read them") -> None:
    """Every cell the probe has must keep a scored output: with 0 of them a cell's rate is
    undefined, and leaving it out would hide the group an intersection is about."""
    for cell, cell_rows in rows.groupby(group_labels(rows["group"]), sort=True):
        if cell not in scored:
            raise ModelOutputError(
                f"{label}: cell {cell!r} has {len(cell_rows)} item(s) but no output that {what}, so "
                f"its rate is undefined (0 outputs). {fix} (first id: {cell_rows['id'].iloc[0]}).")


def amplified_warning(label: str, what: str, crossed: SetIntersection) -> str:
    a = crossed.amplification
    return (f"{label}: {what} is amplified at the intersection: the cells' gap exceeds the largest "
            f"marginal gap by {a.value:.3f} [{a.ci_low:.3f}, {a.ci_high:.3f}] (p = {crossed.p_value:.4f} "
            "against cells that differ only as the widest part does), so the parts alone "
            "understate the bias.")
