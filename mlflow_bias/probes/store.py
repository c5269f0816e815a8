"""The probe store: versioned, immutable probe sets saved as Hugging Face datasets.

Layout of one version: `<root>/<name>/<version>/` holding `data/` (`Dataset.save_to_disk`),
`README.md` (the probe card) and `manifest.json` (kind, rows, slice columns, the SHA-256 of every
file and a digest of every row). Loading checks every file against the manifest and refuses a
version whose files were edited, added or removed. Two roots are searched: the probes shipped with
the package (read-only) and the user store (`$MLFLOW_BIAS_PROBE_DIR`, default
`~/.mlflow-bias/probes`), where `freeze` writes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
import sys
from typing import TYPE_CHECKING, Any, Iterable

import pandas as pd
from packaging.version import InvalidVersion, Version

from mlflow_bias.core.hashing import file_sha256
from mlflow_bias.core.versions import version_key

if TYPE_CHECKING:  # datasets loads only where a probe is read or written
    import datasets
from mlflow_bias.core.errors import (
    ProbeExistsError,
    ProbeIntegrityError,
    ProbeNotFoundError,
    ProbeSchemaError,
)
from mlflow_bias.probes.schemas import validate

MANIFEST = "manifest.json"
CARD = "README.md"
DATA_DIR = "data"
_NAME = re.compile(r"^[a-z0-9][a-z0-9\-_.]{0,63}$")


@dataclass(frozen=True)
class ProbeInfo:
    """What identifies a probe version: logged as the tag `bias.probe.<name>` = `version@digest`."""

    name: str
    version: str
    kind: str
    rows: int
    content_digest: str
    slice_columns: list[str] = field(default_factory=list)
    path: str = ""
    shipped: bool = False
    created_at: str = ""
    source: dict[str, Any] = field(default_factory=dict)  # an imported benchmark's file and licence

    @property
    def benchmark(self) -> str | None:
        """The public benchmark the probe was imported from (`crows-pairs`), if any."""
        return self.source.get("benchmark")

    @property
    def ref(self) -> str:
        return f"{self.version}@{self.content_digest}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- digests -------------------------------------------------------------------------------------
def _canonical(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return int(value)
    return value


def _is_hf_dataset(data: Any) -> bool:
    """A `datasets.Dataset`, told without importing `datasets` (nothing can be one before it is)."""
    module = sys.modules.get("datasets")
    return module is not None and isinstance(data, module.Dataset)


def content_digest(data: pd.DataFrame | datasets.Dataset) -> str:
    """SHA-256 over every row, in order, columns sorted by name.

    Missing values (None, NaN) hash alike and integral floats hash as integers, so a probe keeps
    its digest through the dtype changes that pandas and MLflow conversions make. Unlike MLflow's
    own dataset digest, it reads every row.
    """
    df = data.to_pandas() if _is_hf_dataset(data) else data
    columns = sorted(map(str, df.columns))
    digest = hashlib.sha256(json.dumps(columns).encode())
    frame = df[columns] if list(df.columns) == columns else df.reindex(columns=columns)
    for row in frame.itertuples(index=False, name=None):
        line = json.dumps([_canonical(v) for v in row], ensure_ascii=False, default=str)
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


# -- roots ---------------------------------------------------------------------------------------
def shipped_root() -> Path:
    return Path(str(resources.files("mlflow_bias.shipped_probes")))


def user_root() -> Path:
    return Path(os.environ.get("MLFLOW_BIAS_PROBE_DIR", Path.home() / ".mlflow-bias" / "probes"))


def _roots(root: str | Path | None) -> list[tuple[Path, bool]]:
    if root is not None:
        return [(Path(root), False)]
    return [(shipped_root(), True), (user_root(), False)]


def _read_manifest(folder: Path) -> dict[str, Any]:
    with open(folder / MANIFEST, encoding="utf-8") as f:
        return json.load(f)


def _info(folder: Path, manifest: dict[str, Any], shipped: bool) -> ProbeInfo:
    return ProbeInfo(
        name=manifest["name"],
        version=manifest["version"],
        kind=manifest["kind"],
        rows=int(manifest["rows"]),
        content_digest=manifest["content_digest"],
        slice_columns=list(manifest.get("slice_columns", [])),
        path=str(folder),
        shipped=shipped,
        created_at=manifest.get("created_at", ""),
        source=dict(manifest.get("source", {})),
    )


def list_probes(root: str | Path | None = None) -> list[ProbeInfo]:
    """Every probe version in the store(s), sorted by name then version."""
    found: list[ProbeInfo] = []
    for base, shipped in _roots(root):
        if not base.is_dir():
            continue
        for manifest_path in sorted(base.glob(f"*/*/{MANIFEST}")):
            folder = manifest_path.parent
            found.append(_info(folder, _read_manifest(folder), shipped))
    return sorted(found, key=lambda p: (p.name, version_key(p.version)))


def shadowed(probes: list[ProbeInfo]) -> list[str]:
    """`name@version` held by more than one store (a user copy beside a shipped probe), each with
    its folders: which one a name means would be a guess."""
    folders: dict[str, list[str]] = {}
    for probe in probes:
        folders.setdefault(f"{probe.name}@{probe.version}", []).append(str(probe.path))
    return [f"{ref} is in {' and in '.join(paths)}" for ref, paths in folders.items() if len(paths) > 1]


def resolve(name: str, version: str | None = None, root: str | Path | None = None) -> ProbeInfo:
    """The ProbeInfo of `name@version` (newest version when `version` is None)."""
    candidates = [p for p in list_probes(root) if p.name == name]
    clashes = shadowed(candidates)
    if clashes:
        raise ProbeIntegrityError(
            f"Probe {name} is ambiguous: {'; '.join(clashes)}. A user probe may not reuse a shipped "
            "probe's name; remove the copy from the user store (MLFLOW_BIAS_PROBE_DIR) and freeze "
            "it under a name of its own.")
    if not candidates:
        known = sorted({p.name for p in list_probes(root)})
        raise ProbeNotFoundError(
            f"Unknown probe {name!r}. Known probes: {', '.join(known) or 'none'}. "
            "Freeze your own with mlflow_bias.probes.freeze(data, name, version, card=...)."
        )
    if version is None:
        return candidates[-1]
    for probe in candidates:
        if probe.version == str(version):
            return probe
    raise ProbeNotFoundError(
        f"Probe {name!r} has no version {version!r}; versions: "
        f"{', '.join(p.version for p in candidates)}."
    )


def verify(name: str, version: str | None = None, root: str | Path | None = None) -> ProbeInfo:
    """Check every file of a probe version against its manifest; raise ProbeIntegrityError naming
    the first file that differs, is missing or was added."""
    info = resolve(name, version, root)
    folder = Path(info.path)
    manifest = _read_manifest(folder)
    expected: dict[str, str] = manifest["files"]
    for relative, sha in sorted(expected.items()):
        path = folder / relative
        if not path.is_file():
            raise ProbeIntegrityError(
                f"Probe {info.name}@{info.version} is incomplete: {path} is missing. Restore it "
                "(reinstall the package for a shipped probe) or freeze a new version."
            )
        if file_sha256(path) != sha:
            raise ProbeIntegrityError(
                f"Probe {info.name}@{info.version} was modified: {path} does not match the "
                "SHA-256 in its manifest. Probe versions are immutable; restore the file or "
                "freeze the edited data as a new version."
            )
    present = {
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST
    }
    extra = sorted(present - set(expected) - {"__init__.py"})
    extra = [e for e in extra if "__pycache__" not in e]
    if extra:
        raise ProbeIntegrityError(
            f"Probe {info.name}@{info.version} holds file(s) its manifest does not list: "
            f"{', '.join(str(folder / e) for e in extra)}. Remove them or freeze a new version."
        )
    return info


def load(name: str, version: str | None = None, root: str | Path | None = None) -> datasets.Dataset:
    """Load a probe version as a `datasets.Dataset` after verifying its content hash."""
    info = verify(name, version, root)
    import datasets

    dataset = datasets.load_from_disk(str(Path(info.path) / DATA_DIR))
    if content_digest(dataset) != info.content_digest:
        raise ProbeIntegrityError(
            f"Probe {info.name}@{info.version}: the rows in {Path(info.path) / DATA_DIR} do not "
            "match the manifest's content digest. Restore the probe or freeze a new version."
        )
    return dataset


def load_info(dataset: datasets.Dataset | pd.DataFrame) -> ProbeInfo | None:
    """The stored probe version whose rows are exactly these, or None for an unregistered probe."""
    return find_by_digest(content_digest(dataset))


def find_by_digest(digest: str) -> ProbeInfo | None:
    """The stored probe version with this content digest, if any."""
    for probe in list_probes():
        if probe.content_digest == digest:
            return probe
    return None


def show(name: str, version: str | None = None, root: str | Path | None = None) -> dict[str, Any]:
    """Manifest and card of a probe version."""
    info = resolve(name, version, root)
    card_path = Path(info.path) / CARD
    return {
        "manifest": _read_manifest(Path(info.path)),
        "card": card_path.read_text(encoding="utf-8") if card_path.exists() else "",
    }


_FILE_SUFFIXES = (".csv", ".parquet", ".pq", ".jsonl", ".json")


def read_probe(data: Any) -> pd.DataFrame:
    """A probe given by name (`name` or `name@version`, hash-verified), path, DataFrame,
    `datasets.Dataset` or MLflow dataset, as a DataFrame."""
    if isinstance(data, str) and not data.lower().endswith(_FILE_SUFFIXES) and "/" not in data:
        name, _, version = data.partition("@")
        return load(name, version or None).to_pandas()
    return to_dataframe(data)


def to_dataframe(data: Any) -> pd.DataFrame:
    """A probe given as DataFrame, `datasets.Dataset`, MLflow dataset, or CSV/parquet/JSONL path."""
    if isinstance(data, pd.DataFrame):
        return data
    if _is_hf_dataset(data):
        return data.to_pandas()
    if hasattr(data, "df") and isinstance(getattr(data, "df"), pd.DataFrame):  # mlflow PandasDataset
        return data.df
    if hasattr(data, "ds") and _is_hf_dataset(getattr(data, "ds")):  # mlflow HF dataset
        return data.ds.to_pandas()
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.exists():
            raise ProbeNotFoundError(
                f"No file at {path}. Pass a probe name (see `mlflow-bias probes list`), a "
                "DataFrame, a datasets.Dataset or a CSV/parquet/JSONL path."
            )
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return pd.read_csv(path, keep_default_na=False, na_values=[""])
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".json"):
            return pd.read_json(path, lines=suffix == ".jsonl")
        raise ProbeSchemaError(f"Cannot read {path}: use a .csv, .parquet or .jsonl file.")
    raise ProbeSchemaError(
        f"Cannot use a {type(data).__name__} as a probe: pass a pandas DataFrame, a "
        "datasets.Dataset, an MLflow dataset or a CSV/parquet/JSONL path."
    )


def freeze(
    data: Any,
    name: str,
    version: str,
    *,
    card: str,
    slice_columns: Iterable[str] | None = None,
    root: str | Path | None = None,
    kind: str | None = None,
    source: dict[str, Any] | None = None,
) -> ProbeInfo:
    """Write `data` as a new immutable probe version; refuse to overwrite an existing one.

    `card` is the probe's README: what it measures, how it was built, its size and its limits.
    `kind` names the probe kind when its columns fit more than one (it is kept in the manifest).
    `source` describes the file a probe was imported from (benchmark, SHA-256, licence); it is
    kept in the manifest, where the evaluator finds which authors' metrics to add.
    """
    if not _NAME.match(name):
        raise ProbeSchemaError(
            f"Invalid probe name {name!r}: use lower-case letters, digits, '-', '_' or '.'."
        )
    try:
        Version(str(version))
    except InvalidVersion as exc:
        raise ProbeSchemaError(
            f"Invalid probe version {version!r}: use a version such as 1.0.0."
        ) from exc
    if not card or not card.strip():
        raise ProbeSchemaError("A probe needs a card: say what it measures, how it was built, "
                               "its size and its limits.")
    df = to_dataframe(data).reset_index(drop=True)
    kind = validate(df, kind)
    slices = list(slice_columns) if slice_columns is not None else []
    missing = [c for c in slices if c not in df.columns]
    if missing:
        raise ProbeSchemaError(f"slice column(s) {', '.join(missing)} are not in the data.")

    base = Path(root) if root is not None else user_root()
    if base.resolve() != shipped_root().resolve():
        shipped = sorted({p.name for p in list_probes(shipped_root())})
        if name in shipped:
            raise ProbeExistsError(
                f"{name!r} is the name of a shipped probe; a user probe of the same name would "
                f"shadow it or be taken for it. Freeze yours under a name of its own, e.g. "
                f"'{name}-custom'.")
    for existing in list_probes(None if root is None else root):
        if existing.name == name and existing.version == str(version):
            raise ProbeExistsError(
                f"Probe {name}@{version} already exists at {existing.path}. Versions are "
                "immutable: freeze the revision as a new version."
            )
    target = base / name / str(version)
    if target.exists():
        raise ProbeExistsError(f"{target} already exists; choose a new version.")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-{version}-", dir=target.parent))
    try:
        import datasets

        dataset = datasets.Dataset.from_pandas(df, preserve_index=False)
        dataset.info.description = card.strip().splitlines()[0]
        dataset.save_to_disk(str(staging / DATA_DIR))
        (staging / CARD).write_text(card.strip() + "\n", encoding="utf-8")
        files = {
            str(p.relative_to(staging)): file_sha256(p)
            for p in sorted(staging.rglob("*"))
            if p.is_file()
        }
        manifest = {
            "name": name,
            "version": str(version),
            "kind": kind.name,
            "dimension": kind.dimension,
            "rows": len(df),
            "columns": list(map(str, df.columns)),
            "slice_columns": slices,
            "content_digest": content_digest(df),
            "files": files,
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        if source:
            manifest["source"] = dict(source)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return _info(target, manifest, shipped=False)
