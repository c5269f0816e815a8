"""Attribute, group and slice values as text labels.

`str(value)` would turn a missing value (None, NaN, NA) into "None" or "nan", which then reads as a
real group; here a missing value becomes the empty string instead, and every label is stripped of
surrounding whitespace so that "female" and "female " are one group.
"""

from __future__ import annotations

import pandas as pd


def group_labels(series: pd.Series) -> pd.Series:
    """The series as stripped text labels, a missing value as "" (index kept; any dtype,
    categorical included)."""
    return series.astype(object).where(series.notna(), "").astype(str).str.strip()
