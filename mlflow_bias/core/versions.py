"""Ordering of version strings (probe and lexicon versions) by PEP 440.

`1.0.0rc1 < 1.0.0 < 1.0.1 < 1.10.0`. A string that is not a PEP 440 version still sorts, without
raising: before every valid version, and among the invalid ones by its text, so a listing is
deterministic and its newest (last) entry is always a valid version when there is one.
"""

from __future__ import annotations

from typing import Union

from packaging.version import InvalidVersion, Version

VersionKey = tuple[int, Union[Version, str]]


def version_key(text: str) -> VersionKey:
    """Sort key for a version string: `(1, Version)` when valid, `(0, text)` otherwise."""
    try:
        return (1, Version(text))
    except InvalidVersion:
        return (0, text)
