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


def sample_units(probe: pd.DataFrame, per_attribute: int, seed: int) -> pd.DataFrame:
    """A seeded sample of `per_attribute` units of each attribute: whole sets where the probe has
    `set_id` (a pro/anti pair stays together), else items; an attribute with fewer is kept whole.
    Rows keep their order."""
    import numpy as np

    unit = probe["set_id"].astype(str) if "set_id" in probe.columns else probe["id"].astype(str)
    keep = np.zeros(len(probe), dtype=bool)
    rng = np.random.default_rng(seed)
    for _, rows in probe.groupby("attribute", sort=True).groups.items():
        units = unit.loc[rows].unique()
        chosen = set(rng.choice(units, size=min(per_attribute, len(units)), replace=False))
        keep[probe.index.get_indexer(rows)] = unit.loc[rows].isin(chosen).to_numpy()
    return probe[keep].reset_index(drop=True)


def import_file(name: str, path: str | Path, version: str, *, probe_name: str | None = None,
                categories: list[str] | None = None, root: str | Path | None = None,
                sample: int | None = None, seed: int = 0) -> Any:
    """Read benchmark `name`'s file at `path` and freeze it as probe `probe_name` (default: the
    benchmark's name) at `version`, with a card naming the file's SHA-256, licence and caveats;
    the `ProbeInfo` of the frozen version. `sample` keeps a seeded sample of that many items (or
    pro/anti sets) per category, for benchmarks too large to score in full; the card says so."""
    from mlflow_bias.probes import freeze

    module = benchmark(name)
    probe = module.read(path, categories)
    probe, dropped = module.split_identical(probe) if hasattr(module, "split_identical") else (probe, 0)
    skipped = list(probe.attrs.get("skipped", []))
    full = len(probe)
    if sample is not None:
        if sample < 1:
            raise BenchmarkFormatError(f"--sample {sample}: give a positive number of items per category.")
        probe = sample_units(probe, sample, seed)
    read_from = module.source_files(path) if hasattr(module, "source_files") else [Path(path)]
    source = SourceFile.of(module.BENCHMARK, read_from, module.IMPORTER)
    probe_name = probe_name or name
    card = module.card(probe, source, probe_name, version, dropped)
    if skipped:
        card += ("\n## Skipped from the file\n\n" + f"{len(skipped)} template(s) could not be read "
                 "and were left out:\n" + "".join(f"- {reason}\n" for reason in skipped[:20])
                 + (f"- ... and {len(skipped) - 20} more\n" if len(skipped) > 20 else ""))
    if sample is not None:
        unit = "pro/anti sets" if "set_id" in probe.columns else "items"
        card += (f"\n## Sample\n\nA seeded sample (seed {seed}) of at most {sample} {unit} per "
                 f"category: {len(probe)} of the file's {full} rows. Figures on it estimate the "
                 "full benchmark's, with wider CIs.\n")
        source = SourceFile(**{**source.to_dict(), "importer": f"{source.importer}; sample {sample} "
                                                               f"per category, seed {seed}"})
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
