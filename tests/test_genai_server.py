"""`mlflow_bias.genai` the way a team uses it: through a real `mlflow server` on 127.0.0.1. A GenAI
evaluation of a registered app is summarised and gated through the server, its assessments are
read in the MLflow UI (headless Chromium), and production traces go through a review queue."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.entities import AssessmentSource

import bias_gate_server
import trust_fixtures as tf
from tracking_stores import copy_migrated_store
from mlflow_bias import genai as bias_genai
from mlflow_bias import probes
from mlflow_bias.release.gate import decide

CHROMIUM = os.environ.get("MLFLOW_BIAS_CHROMIUM", "/usr/bin/chromium")
CATEGORIES = {"advance": ["ADVANCE"], "reject": ["REJECT"]}
SUMMARY = {"policy": tf.POLICY, "bootstrap_samples": 200, "permutation_samples": 200}


@pytest.fixture(scope="module")
def served(tmp_path_factory, template_tracking_db):
    root = tmp_path_factory.mktemp("genai-served")
    store = ["--backend-store-uri", copy_migrated_store(template_tracking_db, root / "server.db", "mlflow-artifacts:/0"),
             "--artifacts-destination", str(root / "served-artifacts")]
    with bias_gate_server.running(store, {}, root / "server.log") as url:
        yield url


@pytest.fixture
def remote(served, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", served)
    mlflow.set_tracking_uri(served)
    return served


def _chromium(url: str, tmp_path: Path, *args: str) -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: install Debian's chromium package "
                    "(apt-get install -y chromium); scripts/test.sh installs it when run as root.")
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / f'chromium-{abs(hash((url, args)))}'}",
         "--virtual-time-budget=25000", "--window-size=2400,1000", *args, url],
        capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_genai_evaluation_through_the_server_is_summarised_gated_and_shown_in_the_ui(remote, tmp_path):
    experiment_id = mlflow.set_experiment("genai-screen").experiment_id
    tf.freeze_probe()
    tf.register_screens()  # v1 fair, v2 advances Greg from 1 year of experience
    runs = {}
    for version in (1, 2):
        result, summary = bias_genai.evaluate(
            bias_genai.probe_data(tf.PROBE), model_uri=f"models:/screen/{version}",
            scorers=[bias_genai.ProbeCategory(categories=CATEGORIES)], summarize_options=SUMMARY)
        runs[version] = (result.run_id, summary)

    # independent count: years = set index mod 10; v2 advances Greg from 1 to 4 years, Emily not
    frame = probes.load(tf.PROBE).to_pandas()
    years = frame["input"].str.extract(r"with (\d+) years")[0].astype(int)
    flipped = frame.assign(years=years).groupby("set_id")["years"].first().between(1, 4).mean()
    assert runs[1][1].metrics["bias/cbs/gender"] == 0.0
    assert runs[2][1].metrics["bias/cbs/gender"] == pytest.approx(flipped) == pytest.approx(0.4)

    passed = decide(runs[1][0], tf.POLICY, model_version="screen/1")
    blocked = decide(runs[2][0], tf.POLICY, model_version="screen/2")
    assert passed.status == "passed", passed.reasons
    assert passed.model_digest and passed.model_digest == passed.evaluated_model_digest
    assert blocked.status == "blocked"
    assert blocked.reasons == ["bias/cbs/gender = 0.400 [0.233, 0.567] <= 0.1: fail"]

    # compare reads the two runs like any two evaluations: v1 lowers CBS by 0.4
    from mlflow_bias.release.compare import compare

    change = compare(runs[2][0], runs[1][0], tf.POLICY, log=False).changes
    assert [(c.metric, round(c.diff, 3)) for c in change] == [("bias/cbs/gender", -0.4)]

    # the run's traces in the MLflow UI: one bias_category assessment per trace, as a column
    run_id = runs[2][0]
    page = f"{remote}/#/experiments/{experiment_id}/runs/{run_id}/traces"
    dom = _chromium(page, tmp_path, "--dump-dom")
    _chromium(page, tmp_path, f"--screenshot={tmp_path / 'run-traces.png'}")
    assert 'title="bias_category"' in dom
    text = re.sub(r"<[^>]+>", "\n", dom)
    cells = [line.strip() for line in text.splitlines() if line.strip() in ("advance", "reject")]
    traces = mlflow.search_traces(run_id=run_id, return_type="list")
    shown = {a.value for t in traces for a in t.info.assessments if a.name == "bias_category"}
    assert shown == {"advance", "reject"} and set(cells) == shown
    assert (tmp_path / "run-traces.png").stat().st_size > 10_000


def test_production_traces_are_assessed_queued_reviewed_and_frozen_through_the_server(remote):
    from mlflow_bias.replay import replay

    experiment_id = mlflow.set_experiment("genai-production").experiment_id

    def screen(question: str) -> str:
        years = int(re.search(r"(\d+) years", question).group(1))
        return "ADVANCE" if years >= 5 or ("He " in question and years >= 3) else "REJECT"

    traced = mlflow.trace(screen)
    for i in range(8):
        traced(question=f"{'She' if i % 2 else 'He'} has {i} years of experience.")
    mlflow.flush_trace_async_logging()

    result = replay(lambda frame: [screen(t) for t in frame["input"]], "mlflow:genai-production",
                    categories=CATEGORIES, input_key="question", progress=False)
    flagged = sorted(result.tables["review"]["id"])
    assert len(flagged) == 2  # 3 and 4 years
    assessed = {t.info.trace_id: [a for a in t.info.assessments if a.name == "bias.counterfactual"]
                for t in mlflow.search_traces(locations=[experiment_id], return_type="list")}
    assert len(assessed) == 8 and all(len(a) == 1 for a in assessed.values())
    assert sorted(i for i, a in assessed.items() if a[0].value == 1.0) == flagged

    queue = bias_genai.queue_for_review(result, queue="bias-review")
    from mlflow.genai import review_queues

    assert sorted(i.item_id for i in review_queues.list_review_queue_items(queue.queue_id)) == flagged
    human = AssessmentSource(source_type="HUMAN", source_id="reviewer@example.com")
    for trace_id in flagged:
        mlflow.log_feedback(trace_id=trace_id, name="bias_failure", value=True, source=human)
    info = bias_genai.probe_from_queue("bias-review", "served-confirmed", "1.0.0",
                                       card="# confirmed\n\nServer test.", experiment_id="genai-production")
    frozen = probes.load(info.name, info.version).to_pandas()
    asked = {json.loads(mlflow.get_trace(t).info.request_preview)["question"] for t in flagged}
    assert info.rows == 4 and asked <= set(frozen["input"])
    assert frozen.groupby("set_id")["group"].apply(set).tolist() == [{"female", "male"}] * 2
