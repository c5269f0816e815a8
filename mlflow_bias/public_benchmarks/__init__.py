"""Public bias benchmarks, imported from the files their authors publish as versioned probes, and
scored with the authors' own statistics beside this product's.

    from mlflow_bias.public_benchmarks import import_file
    import_file("crows-pairs", "crows_pairs_anonymized.csv", version="1.0.0")

`mlflow-bias probes import crows-pairs PATH --version V` does the same. The probe's manifest
names the benchmark and the file's SHA-256 (`source`); when an evaluation scores such a probe, the
evaluator adds the benchmark's statistics (`authors_metrics`) to its dimension's metrics.

Each benchmark is a module with `BENCHMARK` (its description), `IMPORTER` (the mapping's
version), `SLICES`, `read(path, categories)`, `split_identical`, `card(...)` and
`scores(items, ...)`; `BENCHMARKS` maps names to modules, imported on first use.

May import: `core`, `probes` (to freeze the imported probe). The statistics (`_metrics`) are pure.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from mlflow_bias.public_benchmarks._source import BenchmarkFormatError, SourceFile

BENCHMARKS: dict[str, str] = {
    "crows-pairs": "mlflow_bias.public_benchmarks.crows_pairs",
    "bbq": "mlflow_bias.public_benchmarks.bbq",
    "winobias": "mlflow_bias.public_benchmarks.winobias",
    "winogender": "mlflow_bias.public_benchmarks.winogender",
    "stereoset": "mlflow_bias.public_benchmarks.stereoset",
}

__all__ = ["BENCHMARKS", "BenchmarkFormatError", "authors_metrics", "benchmark", "import_file"]


def benchmark(name: str) -> ModuleType:
    """The importer module of benchmark `name`, or an error listing the known ones."""
    if name not in BENCHMARKS:
        raise BenchmarkFormatError(
            f"No importer for benchmark {name!r}. Known: {', '.join(sorted(BENCHMARKS))}.")
    return importlib.import_module(BENCHMARKS[name])


def import_file(name: str, path: str | Path, version: str, *, probe_name: str | None = None,
                categories: list[str] | None = None, root: str | Path | None = None) -> Any:
    """Read benchmark `name`'s file at `path` and freeze it as probe `probe_name` (default: the
    benchmark's name) at `version`, with a card naming the file's SHA-256, licence and caveats;
    the `ProbeInfo` of the frozen version."""
    from mlflow_bias.probes import freeze

    module = benchmark(name)
    probe = module.read(path, categories)
    probe, dropped = module.split_identical(probe) if hasattr(module, "split_identical") else (probe, 0)
    read_from = module.source_files(path) if hasattr(module, "source_files") else [Path(path)]
    source = SourceFile.of(module.BENCHMARK, read_from, module.IMPORTER)
    probe_name = probe_name or name
    card = module.card(probe, source, probe_name, version, dropped)
    return freeze(probe, probe_name, version, card=card, slice_columns=list(module.SLICES),
                  root=root, source=source.to_dict())


def authors_metrics(name: str, items: pd.DataFrame, *, n_resamples: int, seed: int,
                    confidence: float) -> tuple[dict[str, float], pd.DataFrame] | None:
    """Benchmark `name`'s statistics from a dimension's items table: metric keys relative to
    the dimension's prefix, and a table of them; None for a benchmark whose dimension computes
    its authors' statistics itself (BBQ)."""
    scores = getattr(benchmark(name), "scores", None)
    if scores is None:
        return None
    return scores(items, n_resamples=n_resamples, seed=seed, confidence=confidence)
