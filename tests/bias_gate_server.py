"""A real `mlflow server --app-name bias-gate` on 127.0.0.1 for the tests that go through it; it
can be stopped and started again on the same port and stores (an outage)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import psutil
import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BiasGateServer:
    """The server process with `store_args` (backend store, artifact options) and the extra
    environment `env`, its output in `log_path`."""

    def __init__(self, store_args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.store_args, self.log_path = store_args, log_path
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # MLflow's background job runner (huey workers for GenAI jobs) is not part of the gate and
        # would start several more processes on the test machine's two cores
        self.env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **env,
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        self.env.pop("MLFLOW_TRACKING_URI", None)
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> str:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                ["mlflow", "server", "--app-name", "bias-gate", "--host", "127.0.0.1",
                 "--port", str(self.port), "--workers", "1", *self.store_args],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if requests.get(f"{self.url}/health", timeout=2).ok:
                    return self.url
            except (requests.ConnectionError, requests.Timeout):
                pass
            if self.process.poll() is not None:
                raise RuntimeError(self.log_path.read_text()[-3000:])
            time.sleep(0.5)
        raise RuntimeError(f"mlflow server did not start in {timeout:.0f} s: "
                           + self.log_path.read_text()[-3000:])

    def kill(self) -> None:
        """Stop at once, workers included, as a crash or a lost machine would."""
        if self.process is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            parent = psutil.Process(self.process.pid)
            for child in parent.children(recursive=True):
                child.kill()
            parent.kill()
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


@contextlib.contextmanager
def running(store_args: list[str], env: dict[str, str], log_path: Path,
            timeout: float = 180) -> Iterator[str]:
    """Start the server; yield its URL once `/health` answers; stop it afterwards."""
    server = BiasGateServer(store_args, env, log_path)
    try:
        yield server.start(timeout)
    finally:
        server.stop()
