"""A real `mlflow server --app-name bias-gate` on 127.0.0.1 for the tests that go through it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(store_args: list[str], env: dict[str, str], log_path: Path,
            timeout: float = 180) -> Iterator[str]:
    """Start the server with `store_args` (backend store, artifact options) and the extra
    environment `env`; yield its URL once `/health` answers; stop it afterwards."""
    port = _free_port()
    environment = {**os.environ, **env,
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    environment.pop("MLFLOW_TRACKING_URI", None)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            ["mlflow", "server", "--app-name", "bias-gate", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1", *store_args],
            env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if requests.get(f"{url}/health", timeout=2).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if process.poll() is not None:
                raise RuntimeError(log_path.read_text()[-3000:])
            time.sleep(0.5)
        else:
            raise RuntimeError(f"mlflow server did not start in {timeout:.0f} s: "
                               + log_path.read_text()[-3000:])
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
