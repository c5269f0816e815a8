"""What a `bias.model_version` label names."""

from __future__ import annotations


def registered_version(label: str | None) -> tuple[str, str] | None:
    """(name, version) when `label` (a `bias.model_version`) names a registered model version."""
    if not label or "/" not in label or label.startswith(("models:", "runs:")):
        return None
    name, _, version = label.rpartition("/")
    return (name, version) if name and version.isdigit() else None
