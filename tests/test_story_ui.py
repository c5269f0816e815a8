"""Where the story lands in the MLflow UI, read in headless Chromium from a real `mlflow server`:
the experiment's runs (not MLflow 3's GenAI overview, which shows "Traces 0"), its description,
and a run's description."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import mlflow
import pytest

import bias_gate_server
from mlflow_bias.demo.story import StoryConfig, _describe, _label_experiment, ui_address

CHROMIUM = os.environ.get("MLFLOW_BIAS_CHROMIUM", "/usr/bin/chromium")


def _dom(url: str, tmp_path: Path) -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: install Debian's chromium package "
                    "(apt-get install -y chromium); scripts/test.sh installs it when run as root.")
    profile = tmp_path / f"chromium-{abs(hash(url))}"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
         "--virtual-time-budget=20000", "--window-size=1400,900", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_story_experiment_opens_on_its_runs_with_descriptions(tmp_path):
    experiment_id = mlflow.set_experiment("hiring-screen").experiment_id
    _label_experiment(experiment_id, StoryConfig())
    with mlflow.start_run(run_name="bias hiring-screen/2 (v2-mitigated)") as run:
        mlflow.log_metric("bias/lpbs/gender", 0.04)
        _describe("**Gate: PASSED** under hiring-screen@1.0.0.")
    store = ["--backend-store-uri", mlflow.get_tracking_uri(), "--artifacts-destination", str(tmp_path / "mlruns")]
    with bias_gate_server.running(store, {}, tmp_path / "server.log") as url:
        runs_page = _dom(ui_address(experiment_id, url), tmp_path)
        run_page = _dom(f"{url}/#/experiments/{experiment_id}/runs/{run.info.run_id}?workflowType=machine_learning",
                        tmp_path)
    # the runs table, with the run's name; not the GenAI overview's traces chart
    assert "bias hiring-screen/2 (v2-mitigated)" in runs_page
    assert "No data available for the selected time range" not in runs_page
    # the experiment's description says what the runs are
    assert "fine-tuned on a biased historical log (v1)" in runs_page
    # the run page shows its description, the gate's verdict first, rendered from markdown
    assert "<strong>Gate: PASSED</strong>" in run_page
