"""Which exact model bytes an evaluation measured: a manifest of the MLflow model's artifact files.

Each file is hashed with the OpenSSF `model-signing` library (SHA-256 per file, paths relative to
the model root). The model digest is SHA-256 over the manifest's sorted `(path, sha256)` list.
`model-signing`'s own subject digest hashes the file digests alone; that leaves file names
unbound (a model whose weights file and a spare file swap names would keep its digest), so the
names go into ours.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from mlflow_bias.trust.artifact_access import local_artifact_path

DIGEST_PREFIX = "sha256:"


@dataclass(frozen=True)
class ModelManifest:
    """Every file of a model with its SHA-256, and the digest over them all."""

    files: tuple[tuple[str, str], ...]  # (path relative to the model root, sha256 hex), sorted

    @property
    def digest(self) -> str:
        listing = json.dumps([[path, "sha256", sha] for path, sha in self.files], separators=(",", ":"))
        return DIGEST_PREFIX + hashlib.sha256(listing.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "hash": "sha256",
                "files": [{"path": path, "sha256": sha} for path, sha in self.files]}

    def differences(self, other: "ModelManifest") -> list[str]:
        """Files added, removed or changed in `other` compared with this manifest."""
        mine, theirs = dict(self.files), dict(other.files)
        out = [f"{p} changed" for p in sorted(mine.keys() & theirs.keys()) if mine[p] != theirs[p]]
        out += [f"{p} only in the first" for p in sorted(mine.keys() - theirs.keys())]
        out += [f"{p} only in the second" for p in sorted(theirs.keys() - mine.keys())]
        return out


def manifest_of_directory(path: str | os.PathLike) -> ModelManifest:
    """Hash every file under `path` (symlinks refused, as model-signing does by default)."""
    import model_signing.hashing

    config = model_signing.hashing.Config().use_file_serialization(hashing_algorithm="sha256")
    manifest = config.hash(Path(path))
    return ModelManifest(tuple(sorted((d.identifier, d.digest.digest_hex)
                                      for d in manifest.resource_descriptors())))


def manifest_of_artifacts(artifact_uri: str, client: MlflowClient) -> ModelManifest:
    with local_artifact_path(artifact_uri, client) as directory:
        return manifest_of_directory(directory)


def logged_model_manifest(model_id: str, client: MlflowClient | None = None) -> ModelManifest:
    """The manifest of a logged model's stored artifacts (`models:/<model_id>`)."""
    client = client or MlflowClient()
    return manifest_of_artifacts(client.get_logged_model(model_id).artifact_location, client)


def registered_version_manifest(name: str, version: str | int,
                                client: MlflowClient | None = None) -> ModelManifest:
    """The manifest of a registered model version's artifacts, read from the store now.

    Recomputed at every gate and promotion and never cached in the tracking store: whoever the
    check defends against can write anything there."""
    client = client or MlflowClient()
    return manifest_of_artifacts(client.get_model_version_download_uri(name, str(version)), client)
