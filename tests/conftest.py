"""Shared fixtures: an isolated sqlite MLflow store and probe store per test, tiny local models,
and the real SmolLM2 model (loaded once per session)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

# Under pytest-xdist (scripts/test.sh runs one worker per core), each worker and the processes it
# starts get an equal share of the cores: torch's default of one thread per core in every worker
# oversubscribes the machine and makes the whole suite slower than one process.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_variable] = _THREADS

# The modules that take longest run first, so that the workers finish at about the same time
# instead of one of them starting the quick story last.
LONGEST_FIRST = ("test_story.py", "test_smollm2.py", "test_examples.py", "test_server_outage.py",
                 "test_spark.py", "test_cli.py", "test_trust_server.py", "test_report_html.py",
                 "test_gate_server.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))

import tiny_lm  # noqa: E402
from tracking_stores import copy_migrated_store  # noqa: E402


@pytest.fixture(scope="session")
def template_tracking_db(tmp_path_factory) -> Path:
    """An empty, fully migrated sqlite tracking store, made once per session.

    Creating a store runs MLflow's schema migrations (about 3 s); copying a migrated file takes
    milliseconds, so every test still gets a store of its own without paying for the migrations."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("template-store") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").get_experiment("0")
    return path


@pytest.fixture(autouse=True)
def isolated_stores(tmp_path, monkeypatch, template_tracking_db):
    """Every test gets its own sqlite tracking store (a copy of the migrated template) and user
    probe store."""
    import mlflow

    monkeypatch.setenv("MLFLOW_BIAS_PROBE_DIR", str(tmp_path / "user-probes"))
    monkeypatch.setenv("MLFLOW_BIAS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)  # before the store is opened: its artifact root is ./mlruns
    uri = copy_migrated_store(template_tracking_db, tmp_path / "mlflow.db", str(tmp_path / "mlruns" / "0"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id="0")  # a CLI test may have switched experiments
    yield
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture(scope="session")
def skewed_lm():
    """Tiny LM trained where male-coded occupations take "he" 90% of the time."""
    return tiny_lm.train(skew=0.9)


@pytest.fixture(scope="session")
def balanced_lm():
    """The same tiny LM trained on balanced text."""
    return tiny_lm.train(skew=0.5)


@pytest.fixture(scope="session")
def tiny_probe():
    return tiny_lm.probe()


@pytest.fixture(scope="session")
def smollm2():
    from mlflow_bias.adapters.models import load_smollm2

    return load_smollm2()
