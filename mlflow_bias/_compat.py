"""Import paths of earlier versions, kept working.

Modules that moved into the layered packages are still importable under their old names
(`mlflow_bias.gate`, `mlflow_bias.evaluator`, ...): the old name is the same module object as the
new one, so attributes, `isinstance` checks and monkeypatching behave as before.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType
from typing import Any

MOVED = {
    "mlflow_bias.errors": "mlflow_bias.core.errors",
    "mlflow_bias.validation": "mlflow_bias.core.validation",
    "mlflow_bias.stats": "mlflow_bias.core.stats",
    "mlflow_bias.tracking_guard": "mlflow_bias.core.tracking_guard",
    "mlflow_bias.lexicons": "mlflow_bias.text.lexicons",
    "mlflow_bias.swap": "mlflow_bias.text.swap",
    "mlflow_bias.anonymize": "mlflow_bias.text.anonymize",
    "mlflow_bias.parsing": "mlflow_bias.text.parsing",
    "mlflow_bias.refusal_rubric": "mlflow_bias.text.refusal_rubric",
    "mlflow_bias.models": "mlflow_bias.adapters.models",
    "mlflow_bias.dimensions.representation": "mlflow_bias.data_audit.representation",
    "mlflow_bias.dimensions.catalog": "mlflow_bias.dimensions.registry",
    "mlflow_bias.audit": "mlflow_bias.data_audit.tracking",
    "mlflow_bias.refusal_audit": "mlflow_bias.evaluation.refusal_audit",
    "mlflow_bias.policy": "mlflow_bias.release.policy",
    "mlflow_bias.gate": "mlflow_bias.release.gate",
    "mlflow_bias.limitations": "mlflow_bias.release.limitations",
    "mlflow_bias.drift": "mlflow_bias.release.drift",
    "mlflow_bias.compare": "mlflow_bias.release.compare",
    "mlflow_bias.report": "mlflow_bias.reporting.report",
    "mlflow_bias.evaluator": "mlflow_bias.evaluation.evaluator",
    "mlflow_bias.api": "mlflow_bias.evaluation.api",
    "mlflow_bias.config": "mlflow_bias.evaluation.config",
    "mlflow_bias.tracking": "mlflow_bias.evaluation.tracking",
    "mlflow_bias.recovery": "mlflow_bias.evaluation.recovery",
    "mlflow_bias.spark": "mlflow_bias.replay.spark",
    "mlflow_bias.registry": "mlflow_bias.promotion.model_registry",
    "mlflow_bias.server": "mlflow_bias.promotion.server",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._spec, self._loader = module.__spec__, module.__loader__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """The module ran when its new path was imported; the import system has just given it the
        alias's spec and loader, so its own are put back (reloading and tooling read them)."""
        module.__spec__, module.__loader__ = self._spec, self._loader


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds a moved module under its old name and hands back the module at its new path."""

    def find_spec(self, fullname: str, path, target=None) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def moved_attribute(old_module: str, name: str, new_module: str) -> Any:
    """`name` from `new_module`, for code that still imports it from `old_module` (with a
    FutureWarning naming the new place)."""
    warnings.warn(f"{old_module}.{name} moved to {new_module}.{name}; import it from there.",
                  FutureWarning, stacklevel=3)
    return getattr(importlib.import_module(new_module), name)


def install() -> None:
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
