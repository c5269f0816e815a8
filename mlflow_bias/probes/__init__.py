"""Versioned, immutable probe sets stored as Hugging Face datasets.

    probe = mlflow_bias.probes.load("gender-occupation")   # newest version, hash-verified
    mlflow_bias.probes.list()                              # every stored version
    mlflow_bias.probes.freeze(df, "my-probe", "1.0.0", card="...")

May import: `core`, `text`, `dimensions` (the probe kinds the registered dimensions declare).
"""

from mlflow_bias.core.hashing import heldout_mask
from mlflow_bias.probes.schemas import (
    ProbeKind,
    detect_kind,
    slice_columns,
    validate,
    validate_decisions,
    validate_pairs,
    validate_ranking,
    validate_sets,
)
from mlflow_bias.probes.store import (
    ProbeInfo,
    content_digest,
    find_by_digest,
    freeze,
    list_probes,
    load,
    load_info,
    read_probe,
    resolve,
    show,
    to_dataframe,
    verify,
)



def __getattr__(name: str):
    if name == "KINDS":  # every registered probe kind, by name (loads the dimensions)
        from mlflow_bias.dimensions.registry import probe_kinds

        return probe_kinds()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


list = list_probes  # noqa: A001 - `mlflow_bias.probes.list()` reads naturally

__all__ = [
    "KINDS",
    "ProbeInfo",
    "ProbeKind",
    "content_digest",
    "detect_kind",
    "find_by_digest",
    "freeze",
    "heldout_mask",
    "list",
    "list_probes",
    "load",
    "load_info",
    "read_probe",
    "resolve",
    "show",
    "slice_columns",
    "to_dataframe",
    "validate",
    "validate_decisions",
    "validate_pairs",
    "validate_ranking",
    "validate_sets",
    "verify",
]
