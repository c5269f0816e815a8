"""SHA-256 of files, read in blocks so that large files never sit in memory whole, and the
deterministic held-out slice of a probe chosen by hashing item ids."""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

_BLOCK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def heldout_mask(ids: Any, fraction: float = 0.2, salt: str = "heldout") -> "np.ndarray":
    """Deterministic held-out slice: True for the items whose hashed id falls below `fraction`.

    Depends only on each item's id (not on row order, seed or platform), so the same items are
    held out in every run and every version that keeps the ids.
    """
    import numpy as np

    if not 0 < fraction < 1:
        from mlflow_bias.core.errors import ProbeSchemaError

        raise ProbeSchemaError(f"held-out fraction must be between 0 and 1, got {fraction}.")
    cut = int(fraction * 2**64)
    return np.array([
        int.from_bytes(hashlib.sha256(f"{salt}:{i}".encode()).digest()[:8], "big") < cut
        for i in ids
    ], dtype=bool)
