"""Read artifacts where they are: in place when the store is local, through the server's own
artifact store inside `mlflow server`, else downloaded to a temporary folder."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

from mlflow.tracking import MlflowClient

# the MLflow server's own artifact store (`--artifacts-destination`); set inside the server only
_SERVER_ARTIFACTS_ENV = "_MLFLOW_SERVER_ARTIFACT_DESTINATION"


@contextlib.contextmanager
def local_artifact_path(artifact_uri: str, client: MlflowClient) -> Iterator[Path]:
    """A local path (file or folder) holding the artifact at `artifact_uri`: the path itself
    when the artifact store is local (no copy), else a temporary download removed afterwards.
    FileNotFoundError when the artifact does not exist.

    Inside `mlflow server`, `mlflow-artifacts:` URIs name the server's own artifact store, which
    it reads directly instead of calling itself over HTTP."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme else artifact_uri)
        if not path.exists():
            raise FileNotFoundError(f"no artifact at {artifact_uri}")
        yield path
        return
    if parsed.scheme == "mlflow-artifacts" and os.environ.get(_SERVER_ARTIFACTS_ENV):
        from mlflow.server.handlers import _get_artifact_repo_mlflow_artifacts

        repo = _get_artifact_repo_mlflow_artifacts()
        relative = parsed.path.lstrip("/")
        local_root = getattr(repo, "artifact_dir", None)
        if local_root:
            path = Path(local_root, relative)
            if not path.exists():
                raise FileNotFoundError(f"no artifact at {artifact_uri}")
            yield path
            return
        with tempfile.TemporaryDirectory(prefix="mlflow-bias-") as tmp:
            yield Path(repo.download_artifacts(relative, dst_path=tmp))
        return
    import mlflow.artifacts

    tracking_uri = client._tracking_client.tracking_uri
    parent, _, name = artifact_uri.rstrip("/").rpartition("/")
    listed = mlflow.artifacts.list_artifacts(artifact_uri=parent, tracking_uri=tracking_uri)
    if name not in {Path(f.path).name for f in listed}:
        raise FileNotFoundError(f"no artifact at {artifact_uri}")
    with tempfile.TemporaryDirectory(prefix="mlflow-bias-") as tmp:
        yield Path(mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri, dst_path=tmp,
                                                       tracking_uri=tracking_uri))
