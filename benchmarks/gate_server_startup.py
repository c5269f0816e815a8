"""Start-up time and resident memory of `mlflow server --app-name bias-gate` against a plain
`mlflow server` (the baseline), started alternately on the same empty sqlite store, in one run.

    python benchmarks/gate_server_startup.py [--rounds 3]

Start-up is the time from launching the command until `/health` answers; memory is the resident
set of the whole process tree (the CLI, the uvicorn workers) once it answers, and again after one
gated alias request (`POST .../registered-models/alias` for an unknown version, which the gate
refuses), because the gate's own imports happen by then at the latest. Printed per server as the
median over the rounds, with the ratio gate / plain.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree_rss_mb(process: psutil.Process) -> float:
    procs = [process] + process.children(recursive=True)
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def start_once(app: str | None, workdir: Path) -> tuple[float, float, float, bool]:
    """(seconds to /health, tree RSS MB then, tree RSS MB after a gated request, torch loaded)."""
    port = _free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--backend-store-uri", f"sqlite:///{workdir / 'bench.db'}",
               "--default-artifact-root", str(workdir / "artifacts")]
    if app:
        command[4:4] = ["--app-name", app]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if process.poll() is not None:
                raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}")
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        handle = psutil.Process(process.pid)
        rss = _tree_rss_mb(handle)
        requests.post(f"{url}/api/2.0/mlflow/registered-models/alias",
                      json={"name": "nothing", "alias": "champion", "version": "1"}, timeout=60)
        rss_after = _tree_rss_mb(handle)
        torch_loaded = any("torch" in Path(m.path).parts
                           for p in [handle] + handle.children(recursive=True)
                           for m in _maps(p))
        return seconds, rss, rss_after, torch_loaded
    finally:
        process.terminate()
        process.wait(timeout=30)


def _maps(process: psutil.Process) -> list:
    try:
        return process.memory_maps()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float, float, bool]]] = {"plain": [], "bias-gate": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        start_once(None, workdir)  # creates the store's schema once, outside the timings
        for _ in range(args.rounds):  # alternate, so drift in the machine hits both alike
            results["plain"].append(start_once(None, workdir))
            results["bias-gate"].append(start_once("bias-gate", workdir))
    medians = {}
    print(f"{'server':<10} {'start-up s':>10} {'RSS MB':>8} {'RSS after gated request MB':>27} torch loaded")
    for name, rows in results.items():
        medians[name] = [statistics.median(r[i] for r in rows) for i in range(3)]
        print(f"{name:<10} {medians[name][0]:>10.2f} {medians[name][1]:>8.0f} "
              f"{medians[name][2]:>27.0f} {any(r[3] for r in rows)}")
    gate, plain = medians["bias-gate"], medians["plain"]
    print(f"ratio gate/plain: start-up {gate[0] / plain[0]:.2f}x, RSS {gate[1] / plain[1]:.2f}x, "
          f"RSS after a gated request {gate[2] / plain[2]:.2f}x")


if __name__ == "__main__":
    main()
