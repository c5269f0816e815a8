"""Attribute, group and slice values as text labels.

`str(value)` would turn a missing value (None, NaN, NA) into "None" or "nan", which then reads as a
real group; here a missing value becomes the empty string instead, and every label is stripped of
surrounding whitespace so that "female" and "female " are one group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def group_labels(series: pd.Series) -> pd.Series:
    """The series as stripped text labels, a missing value as "" (index kept; any dtype,
    categorical included).

    Each distinct value is converted once and every row refers to that one string, so a probe of
    100k rows with a handful of groups holds a handful of label strings, not 100k new ones."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    labels = np.array([str(value).strip() for value in uniques] + [""], dtype=object)
    return pd.Series(labels[codes], index=series.index, dtype=object, name=series.name)
