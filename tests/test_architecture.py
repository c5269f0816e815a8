"""The package's import structure: no module imports another that (directly or through others)
imports it back, and the packages form layers, each importing only from the layers before it.
Imports inside functions count: a cycle hidden in a function is still a cycle."""

from __future__ import annotations

import ast
import importlib
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import mlflow_bias

ROOT = Path(mlflow_bias.__file__).parent
# the layers, in order: a package may import from the packages before it, never after
LAYERS = ["core", "adapters", "trust", "text", "dimensions", "probes", "public_benchmarks", "data_audit", "hf_evaluate",
          "release", "mitigation", "reporting", "evaluation", "replay", "genai", "promotion", "demo", "cli"]


def _modules() -> dict[str, Path]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The mlflow_bias modules `name` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in modules and t != name}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (ROOT / parts[1]).is_dir() else None


def test_no_module_import_cycle():
    try:
        order = list(TopologicalSorter(_graph()).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")
    assert "mlflow_bias.core.errors" in order


def test_packages_import_only_from_the_layers_before_them():
    rank = {name: i for i, name in enumerate(LAYERS)}
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    unplaced = packages - set(rank) - {"lexicon_files", "policies", "rubrics", "templates"}
    assert not unplaced, f"packages without a layer: {sorted(unplaced)}; add them to LAYERS and the docs"
    wrong = sorted(
        f"{module} imports {target} ({_layer(target)} comes after {_layer(module)})"
        for module, targets in _graph().items() for target in targets
        if _layer(module) in rank and _layer(target) in rank and rank[_layer(target)] > rank[_layer(module)])
    assert not wrong, "\n".join(wrong)


def test_core_imports_nothing_from_the_rest_of_the_package():
    outside = sorted(f"{m} imports {t}" for m, targets in _graph().items() if _layer(m) == "core"
                     for t in targets if _layer(t) != "core")
    assert not outside, outside


def test_every_package_says_what_it_is_for_and_what_it_may_import():
    for layer in LAYERS:
        doc = importlib.import_module(f"mlflow_bias.{layer}").__doc__ or ""
        assert len(doc.split()) >= 12, f"mlflow_bias.{layer} has no docstring saying what it is for"
        assert "May import" in doc or "Imports nothing" in doc, f"mlflow_bias.{layer} does not say what it may import"


def test_the_old_module_paths_are_the_moved_modules():
    from mlflow_bias._compat import MOVED

    for old, new in MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new), old
        assert importlib.import_module(old).__spec__.name == new  # its own spec, not the alias's
    from mlflow_bias.evaluator import BiasEvaluator
    from mlflow_bias.evaluation.evaluator import BiasEvaluator as moved

    assert BiasEvaluator is moved


def test_require_capability_still_imports_from_adapters_with_a_warning():
    from mlflow_bias.dimensions.registry import require_capability

    with pytest.warns(FutureWarning, match="moved to mlflow_bias.dimensions.registry.require_capability"):
        from mlflow_bias.adapters import require_capability as old
    assert old is require_capability
