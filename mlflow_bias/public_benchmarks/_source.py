"""What every importer shares: the source file's identity, the error a malformed file raises, and
the card's source section."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlflow_bias.core.errors import ProbeSchemaError
from mlflow_bias.core.hashing import file_sha256


class BenchmarkFormatError(ProbeSchemaError):
    """A benchmark file that is not in the format its authors publish."""


@dataclass(frozen=True)
class Benchmark:
    """A public benchmark as an importer describes it: where its file comes from, its licence,
    how to cite it and what is known to be wrong with it."""

    name: str
    title: str
    file: str  # the file (or files) the importer reads, as the authors name them
    url: str
    licence: str
    citation: str
    caveats: tuple[str, ...]


@dataclass(frozen=True)
class SourceFile:
    """The file(s) a probe was imported from, kept in the probe's manifest (`source`): each
    file's SHA-256, and for several files one digest over their names and digests."""

    benchmark: str
    file: str
    sha256: str
    licence: str
    url: str
    importer: str  # the importer's version: a change in the mapping is a new importer version
    files: dict[str, str]

    @classmethod
    def of(cls, benchmark: Benchmark, paths: list[Path], importer: str) -> "SourceFile":
        files = {p.name: file_sha256(p) for p in sorted(paths)}
        if len(files) == 1:
            (name, digest), = files.items()
        else:
            name = f"{sorted(paths)[0].parent.name}/ ({len(files)} files)"
            digest = hashlib.sha256("".join(f"{n}\0{d}\n" for n, d in files.items()).encode()).hexdigest()
        return cls(benchmark.name, name, digest, benchmark.licence, benchmark.url, importer, files)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def source_section(benchmark: Benchmark, source: SourceFile) -> str:
    """The card's account of the source: file, digest, licence, citation and caveats."""
    caveats = "\n".join(f"- {caveat}" for caveat in benchmark.caveats)
    files = "".join(f"  - `{name}`: SHA-256 `{digest}`\n" for name, digest in source.files.items()
                    ) if len(source.files) > 1 else ""
    return (f"## Source\n\n- Benchmark: {benchmark.title} ({benchmark.url})\n"
            f"- File: `{source.file}`, SHA-256 `{source.sha256}`\n{files}"
            f"- Licence: {benchmark.licence}. The probe is a derivative of the file and carries "
            f"its licence.\n- Importer: `{source.importer}`\n- Cite: {benchmark.citation}\n\n"
            f"## Known caveats\n\n{caveats}\n")


def keep_categories(frame: pd.DataFrame, categories: list[str] | None, column: str, *, benchmark: str,
                    units: str, kind: str, kinds: str, where: Any) -> pd.DataFrame:
    """The rows whose `column` is one of `categories` (every row when none are given), or an
    error naming the categories the file does not hold and those it does."""
    if not categories:
        return frame
    absent = [c for c in categories if not (frame[column] == c).any()]
    if absent:
        raise BenchmarkFormatError(
            f"{benchmark}: no {units} of {kind} {', '.join(absent)} in {where}. Its {kinds}: "
            f"{', '.join(sorted(frame[column].astype(str).unique()))}.")
    return frame[frame[column].isin(categories)].reset_index(drop=True)


def require_file(benchmark: Benchmark, path: str | Path) -> Path:
    """`path` as a Path, or an error naming the benchmark and the file it expects."""
    found = Path(path)
    if not found.is_file():
        raise BenchmarkFormatError(
            f"{benchmark.title}: {found} is not a file. Expected {benchmark.file}, as published at "
            f"{benchmark.url}.")
    return found
