"""The registry of dimensions: filled by `@register_dimension`, loaded on first use.

The built-in dimensions are the modules of this package; another package adds its own through
the `mlflow_bias.dimensions` entry-point group (the entry point names a module or a `Dimension`
subclass). Nothing is imported until a caller asks for the dimensions, so code that never scores
a model (the gate, the server) pays only for the modules' light imports (numpy, pandas, scipy).
"""

from __future__ import annotations

import difflib
import importlib
import logging
import pkgutil
import re
from dataclasses import replace
from importlib.metadata import entry_points
from typing import Any, TypeVar

from mlflow_bias.dimensions.kinds import ProbeKind
from mlflow_bias.dimensions.protocol import Dimension
from mlflow_bias.core.errors import ConfigError

ENTRY_POINT_GROUP = "mlflow_bias.dimensions"
# modules of this package that define no dimension
_INFRASTRUCTURE = frozenset({"base", "kinds", "protocol", "registry"})
# evaluator options shared by every dimension; a dimension may not take one of these names
RESERVED_NAMES = frozenset({
    "batch_size", "bootstrap_samples", "permutation_samples", "seed", "confidence", "probes",
    "dimensions", "slice_columns", "policy", "training_data", "model_version", "progress",
    "share_prefixes", "max_new_tokens", "generation_dtype", "generation_batch_size", "signing_key",
    "probe_kind",
})
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

_logger = logging.getLogger(__name__)
_registered: dict[str, Dimension] = {}
_loaded = False

D = TypeVar("D", bound=type[Dimension])


def register_dimension(cls: D) -> D:
    """Class decorator: register one instance of `cls` under `cls.name`.

    The declaration is checked here, so a dimension that forgot its probe kind or metrics fails
    when its module is imported, not in the middle of an evaluation."""
    problems = _declaration_problems(cls)
    if problems:
        raise TypeError(f"Dimension {cls.__qualname__} is incomplete: {'; '.join(problems)}.")
    existing = _registered.get(cls.name)
    if existing is not None and type(existing).__qualname__ != cls.__qualname__:
        raise TypeError(f"Dimension name {cls.name!r} is taken by {type(existing).__module__}."
                        f"{type(existing).__qualname__}; give {cls.__qualname__} another name.")
    kind = cls.probe_kind
    if kind is not None:
        clash = next((d for d in _registered.values() if d.probe_kind is not None and d.name != cls.name
                      and d.probe_kind.name == kind.name), None)
        if clash is not None:
            raise TypeError(f"Probe kind {kind.name!r} of dimension {cls.name!r} is already scored by "
                            f"{clash.name!r}; a probe kind belongs to one dimension.")
    _registered[cls.name] = cls()
    return cls


def _declaration_problems(cls: type[Dimension]) -> list[str]:
    problems = []
    for attribute in ("name", "title", "about", "requires"):
        if not isinstance(getattr(cls, attribute, None), str) or not getattr(cls, attribute):
            problems.append(f"set `{attribute}` (text)")
    name = getattr(cls, "name", "")
    if isinstance(name, str) and name and not _NAME.match(name):
        problems.append(f"name {name!r} must be lower-case letters, digits and _ (it is a metric-key segment)")
    if name in RESERVED_NAMES:
        problems.append(f"name {name!r} is an evaluator option shared by every dimension")
    if not cls.metrics:
        problems.append("declare `metrics` (at least one MetricSpec a policy can judge)")
    if cls.compute is Dimension.compute:
        problems.append("implement `compute(adapter, probe, config)`")
    for field_name in cls.legacy_keys.values():
        if field_name not in cls.options.model_fields:
            problems.append(f"legacy key maps to {field_name!r}, which is not an option")
    return problems


def _load() -> None:
    """Import the built-in dimension modules and the entry points, once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    package = importlib.import_module("mlflow_bias.dimensions")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in _INFRASTRUCTURE and not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry_point.load()
        except Exception:  # noqa: BLE001 - one broken plugin must not hide the built-in dimensions
            _logger.warning("Could not load dimension entry point %s = %s.", entry_point.name,
                            entry_point.value, exc_info=True)
            continue
        if isinstance(loaded, type) and issubclass(loaded, Dimension) and loaded.name not in _registered:
            register_dimension(loaded)


def all_dimensions() -> dict[str, Dimension]:
    """Every registered dimension by name, in their listing order."""
    _load()
    return dict(sorted(_registered.items(), key=lambda item: (item[1].order, item[0])))


def get_dimension(name: str) -> Dimension:
    """The dimension called `name`, or a ConfigError naming the close matches."""
    dimensions = all_dimensions()
    if name in dimensions:
        return dimensions[name]
    close = difflib.get_close_matches(name, list(dimensions), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"No dimension {name!r}; installed: {', '.join(dimensions)}.{hint}")


def scored_from_probes() -> dict[str, Dimension]:
    """The dimensions the evaluator scores from a probe (each has a probe kind)."""
    return {n: d for n, d in all_dimensions().items() if d.probe_kind is not None}


def probe_kinds() -> dict[str, ProbeKind]:
    """Every registered probe kind by name, each naming the dimension that scores it."""
    return {d.probe_kind.name: replace(d.probe_kind, dimension=d.name)
            for d in scored_from_probes().values()}


def dimensions_usable_with(capabilities: frozenset[str] | set[str]) -> list[str]:
    """Names of the probe-scored dimensions whose required capability the model has."""
    return [n for n, d in scored_from_probes().items() if d.requires in capabilities]


def unregister(name: str) -> None:
    """Remove a dimension (tests that register a dimension of their own clean up with this)."""
    _registered.pop(name, None)


def require_capability(adapter: Any, capability: str, dimension: str) -> None:
    """Raise a CapabilityError naming what the model can still be used for (the registered
    dimensions whose capability it has)."""
    from mlflow_bias.adapters.base import check_capability  # the adapters package loads torch

    check_capability(adapter, capability, dimension, dimensions_usable_with(adapter.capabilities))
