"""The `mlflow-bias` command and the MLproject entry point, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from mlflow_bias.cli import main
from mlflow_bias.adapters.models import log_causal_lm

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_model_uri(skewed_lm):
    with mlflow.start_run():
        log_causal_lm(*skewed_lm, registered_model_name="tiny-screen")
    return "models:/tiny-screen/1"


def test_probes_list_show_verify(capsys):
    assert main(["probes", "list"]) == 0
    out = capsys.readouterr().out
    assert "gender-occupation@1.0.0\tcounterfactual_pairs\t1000 rows" in out
    assert main(["probes", "show", "gender-occupation@1.0.0"]) == 0
    shown = capsys.readouterr().out
    assert '"content_digest"' in shown and "## Limits" in shown
    assert main(["probes", "verify"]) == 0
    assert "ok  gender-occupation@1.0.0" in capsys.readouterr().out


def test_probes_freeze_then_refuse_overwrite(tiny_probe, tmp_path, capsys):
    tiny_probe.to_csv(tmp_path / "pairs.csv", index=False)
    (tmp_path / "CARD.md").write_text("# pairs\n\nA test probe.")
    args = ["probes", "freeze", str(tmp_path / "pairs.csv"), "--name", "pairs", "--version", "1.0.0",
            "--card", str(tmp_path / "CARD.md"), "--slice-column", "template"]
    assert main(args) == 0
    assert "froze pairs@1.0.0: 40 rows" in capsys.readouterr().out
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err


def test_evaluate_prints_scorecard_and_ui_hint(tiny_model_uri, tiny_probe, tmp_path, capsys):
    tiny_probe.to_csv(tmp_path / "pairs.csv", index=False)
    code = main(["evaluate", "--model", tiny_model_uri, "--probe", str(tmp_path / "pairs.csv"),
                 "--bootstrap-samples", "200", "--no-progress", "--experiment", "cli"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Bias scorecard - model tiny-screen/1 (completed" in out
    assert "lpbs       gender" in out
    assert "mlflow ui --backend-store-uri sqlite:///" in out
    run = mlflow.last_active_run()
    assert MlflowClient().get_experiment(run.info.experiment_id).name == "cli"
    assert run.data.metrics["bias/lpbs/gender"] > 0.3


def test_evaluate_json_and_bad_probe_exit_code(tiny_model_uri, tiny_probe, tmp_path, capsys):
    tiny_probe.drop(columns=["text_b"]).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["evaluate", "--model", tiny_model_uri, "--probe", str(tmp_path / "bad.csv")]) == 2
    assert "lacks the column(s): text_b" in capsys.readouterr().err
    tiny_probe.to_csv(tmp_path / "pairs.csv", index=False)
    assert main(["evaluate", "--model", tiny_model_uri, "--probe", str(tmp_path / "pairs.csv"),
                 "--bootstrap-samples", "100", "--no-progress", "--json"]) == 0
    out = capsys.readouterr().out
    scorecard = json.loads(out[: out.index("\nRun ")])
    assert scorecard["status"] == "completed"
    assert scorecard["dimensions"][0]["attributes"][0]["attribute"] == "gender"


def test_mlproject_evaluate_entry_point(tiny_model_uri, tiny_probe, tmp_path):
    tiny_probe.to_csv(tmp_path / "pairs.csv", index=False)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    completed = subprocess.run(
        ["mlflow", "run", str(ROOT), "-e", "evaluate", "--env-manager", "local",
         "-P", f"model={tiny_model_uri}", "-P", f"probe={tmp_path / 'pairs.csv'}",
         "-P", "bootstrap_samples=100"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    runs = MlflowClient().search_runs(
        [e.experiment_id for e in MlflowClient().search_experiments()],
        filter_string="tags.`bias.status` = 'completed'",
    )
    assert len(runs) == 1
    assert runs[0].data.metrics["bias/lpbs/gender"] > 0.3
    assert runs[0].data.tags["bias.model_version"] == "tiny-screen/1"


def test_mlproject_declares_every_entry_point():
    from mlflow.projects._project_spec import load_project

    project = load_project(str(ROOT))
    assert {"demo", "finetune", "evaluate", "gate", "promote", "drift", "compare"} <= set(
        project._entry_points)
    demo = project.get_entry_point("demo").compute_command({"quick": "true"}, storage_dir=None)
    echoed = subprocess.run(["bash", "-c", demo.replace("mlflow-bias", "echo")], text=True,
                            capture_output=True, check=True).stdout.split()
    assert echoed == ["demo", "--quick", "--no-progress"]
    finetune = project.get_entry_point("finetune").compute_command({"data": "mitigated"}, storage_dir=None)
    assert finetune == ("mlflow-bias finetune --data mitigated --model-name hiring-screen --steps 60 "
                        "--examples 480 --no-progress")
    gate = project.get_entry_point("gate")
    command = gate.compute_command({"model": "screen", "version": "3"}, storage_dir=None)
    assert command == "mlflow-bias gate --model screen --version 3 --policy default --no-progress"


def test_evaluate_bundled_minilm_on_association_tests_with_config_file(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("permutation_samples: 500\nbootstrap_samples: 100\n")
    code = main(["evaluate", "--model", "minilm", "--probe", "association-tests", "--no-progress",
                 "--config", str(tmp_path / "config.yaml")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Bias scorecard - model all-minilm-l6-v2/1 (completed" in out
    assert "association weat6-career-family" in out
    run = mlflow.last_active_run()
    assert run.data.params == {} and run.data.tags["bias.probe.association-tests"].startswith("1.0.0@")
    scorecard = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/bias/scorecard.json")
    assert scorecard["config"]["permutation_samples"] == 500


def test_evaluate_config_errors_name_the_problem(capsys):
    assert main(["evaluate", "--model", "minilm", "--probe", "association-tests",
                 "--config", "{not json"]) == 2
    assert "--config '{not json' is neither a JSON object" in capsys.readouterr().err
    assert main(["evaluate", "--model", "minilm", "--probe", "association-tests",
                 "--config", '{"no_such_key": 1}']) == 2
    assert "Invalid evaluator_config for 'bias': no_such_key: this key is unknown" in capsys.readouterr().err


@pytest.mark.parametrize("data", ["skewed", "mitigated"])
def test_finetune_command_trains_on_the_story_log(data, monkeypatch):
    """`mlflow-bias finetune` hands the story's fine-tuning step the whole historical log (screening
    and requests), or its mitigation with every step recorded and the criterion as the template."""
    import mlflow_bias.adapters.models as models
    import mlflow_bias.demo.story as story

    seen = {}

    def fake_finetune(base, rows, config, **kwargs):
        seen.update(rows=rows, config=config, **kwargs)
        return "7", "run-id", None

    monkeypatch.setattr(models, "load_smollm2", lambda: ("model", "tokenizer"))
    monkeypatch.setattr(story, "finetune_version", fake_finetune)
    assert main(["finetune", "--data", data, "--examples", "40", "--steps", "2", "--no-progress"]) == 0
    rows = seen["rows"]
    assert {"prompt", "response", "text"} <= set(rows.columns)
    assert rows["id"].str.startswith("hs-").any() and rows["id"].str.startswith("ar-").any()
    assert seen["config"].training.steps == 2 and seen["label"] == data
    if data == "mitigated":
        assert [s["method"] for s in seen["mitigation"]][:3] == [
            "trigger_audit", "relabel_with_revised_rubric", "relabel_by_criterion"]
        assert "Screening criterion" in seen["prompt_template"]
    else:
        assert seen["mitigation"] == [] and seen["prompt_template"] is None
