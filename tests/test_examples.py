"""The runnable examples under examples/, run end to end as a user would: each in its own working
directory with its own sqlite tracking store and probe store, started together, each test waiting
for its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TIMEOUT = 300
COMMANDS = {
    "rule_based_pyfunc": [sys.executable, str(EXAMPLES / "rule_based_pyfunc" / "run.py")],
    "ci_gate": ["bash", str(EXAMPLES / "ci_gate" / "demo.sh")],
    "fair_reranking": [sys.executable, str(EXAMPLES / "fair_reranking" / "run.py")],
    "genai_app": [sys.executable, str(EXAMPLES / "genai_app" / "run.py")],
}


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "MLFLOW_BIAS_PROBE_DIR": str(workdir / "probe-store"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "PYTHON": sys.executable,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    })
    for key in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "BIAS_ALIAS",
                "MLFLOW_BIAS_CLI", "MODEL", "GITHUB_ACTIONS"):
        env.pop(key, None)
    return env


class Example:
    def __init__(self, name: str, workdir: Path) -> None:
        self.name, self.workdir = name, workdir
        self.process = subprocess.Popen(COMMANDS[name], cwd=workdir, env=_env(workdir),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._result: tuple[int, str, str] | None = None

    def result(self) -> tuple[int, str, str]:
        if self._result is None:
            try:
                out, err = self.process.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                out, err = self.process.communicate()
                pytest.fail(f"{self.name} ran over {TIMEOUT} s:\n{out[-2000:]}\n{err[-2000:]}")
            self._result = (self.process.returncode, out, err)
        return self._result

    def succeeded(self) -> str:
        code, out, err = self.result()
        assert code == 0, f"{self.name} exited {code}:\n{out[-3000:]}\n{err[-3000:]}"
        return out


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    started = {name: Example(name, tmp_path_factory.mktemp(name)) for name in COMMANDS}
    yield started
    for example in started.values():
        if example.process.poll() is None:
            example.process.kill()
            example.process.communicate()


def _number(out: str, pattern: str) -> float:
    match = re.search(pattern, out, re.MULTILINE)
    assert match, f"no line matching {pattern!r} in:\n{out[-3000:]}"
    return float(match.group(1))


def test_rule_based_pyfunc_is_evaluated_both_ways_and_blocked_on_race(examples):
    example = examples["rule_based_pyfunc"]
    out = example.succeeded()
    assert "Registered models:/rule-based-screener/1" in out
    assert "identical headline numbers: True" in out
    # the referral-name shortcut shows up as CBS on race and nowhere else
    assert _number(out, r"^  bias/cbs/race = ([\d.]+) .*: fail$") > 0.10
    assert _number(out, r"^  bias/cbs/gender = ([\d.]+) .*: pass$") <= 0.10
    assert _number(out, r"^  bias/parity/loan-decisions/race/disparate_impact = ([\d.]+) .*: pass$") >= 0.8
    assert re.search(r"^  bias/refusal/refusal-requests/religion = 0\.000 .*: pass$", out, re.MULTILINE)
    assert "Gate decision (blocked)" in out
    assert "Bias scorecard - model rule-based-screener/1 (completed" in out
    assert "Promotion to 'champion' refused: rule-based-screener/1 is blocked" in out
    assert "<html" in (example.workdir / "scorecard.html").read_text(encoding="utf-8").lower()


def test_ci_gate_passes_and_promotes_one_version_and_fails_the_pipeline_on_the_other(examples):
    example = examples["ci_gate"]
    out = example.succeeded()
    assert "gate.sh hiring-screen-ci 1 -> exit 0" in out
    assert "gate.sh hiring-screen-ci 2 -> exit 1" in out
    assert "BLOCKED: hiring-screen-ci/2 did not pass the bias gate; it was not promoted." in out
    assert re.search(r"^  - bias/cbs/race = [\d.]+ .*: fail$", out, re.MULTILINE)
    assert "== demo OK: version 1 passed and is 'champion'; version 2 was blocked" in out
    assert "hiring-screen-ci/1 is now 'champion'" in out
    client = MlflowClient(tracking_uri=f"sqlite:///{example.workdir / 'mlflow.db'}")
    tags = {v: client.get_model_version("hiring-screen-ci", v).tags for v in ("1", "2")}
    assert (tags["1"]["bias.gate"], tags["2"]["bias.gate"]) == ("passed", "blocked")
    assert str(client.get_model_version_by_alias("hiring-screen-ci", "champion").version) == "1"


def test_ci_gate_script_reports_usage_errors_as_exit_2(tmp_path):
    done = subprocess.run(["bash", str(EXAMPLES / "ci_gate" / "gate.sh"), "only-a-model"],
                          cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "usage:" in done.stderr


def test_fair_reranking_blocks_the_skewed_ranker_and_passes_the_reranked_version(examples):
    out = examples["fair_reranking"].succeeded()
    assert "Froze probe candidate-shortlists@1.0.0: 400 rows" in out
    assert "gate: v1 blocked, v2 passed" in out
    assert "shortlist-ranker/2 is now 'champion'" in out
    row = r"^{} +([\d.]+) +[\d.]+ +[-+][\d.]+$"
    after = r"^{} +[\d.]+ +([\d.]+) +[-+][\d.]+$"
    ratio_before = _number(out, row.format("exposure ratio"))
    ratio_after = _number(out, after.format("exposure ratio"))
    gap_before = _number(out, row.format("top-k share gap"))
    gap_after = _number(out, after.format("top-k share gap"))
    assert ratio_before < 0.8 <= ratio_after
    assert gap_after <= 0.10 < gap_before
    # the skew was not merit: NDCG against the relevance labels does not drop
    ndcg = re.escape("NDCG@10 (relevance labels)")
    assert _number(out, after.format(ndcg)) >= _number(out, row.format(ndcg))
    assert re.search(r"^  reason: bias/ranking/gender/exposure_ratio = [\d.]+ .*: fail$", out,
                     re.MULTILINE)


def test_genai_app_is_summarised_gated_and_its_confirmed_reviews_frozen(examples):
    example = examples["genai_app"]
    out = example.succeeded()
    assert "Registered evaluation dataset bias-probe-genai-screen-sets-1.0.0: 100 records" in out
    # the shortcut advances men from 2 years: 7 of 50 sets flip, all one way
    assert _number(out, r"^genai-screen/1: .* bias/cbs/gender = ([\d.]+) ") == 0.14
    assert _number(out, r"^genai-screen/2: .* bias/cbs/gender = ([\d.]+) ") == 0.0
    assert re.search(r"^BLOCKED under policy genai-screen@1.0.0 for genai-screen/1", out, re.MULTILINE)
    assert re.search(r"^PASSED under policy genai-screen@1.0.0 for genai-screen/2", out, re.MULTILINE)
    assert "model digest: sha256:" in out  # bound to the registered version's bytes
    assert "Promotion of genai-screen/1 refused" in out and "Promoted genai-screen/2 to 'champion'." in out
    assert _number(out, r"disagreement rate ([\d.]+) \[[\d.]+, [\d.]+\] over 30 requests") == 0.6
    assert "30 carry a bias.counterfactual assessment, 18 above the threshold" in out
    assert "Reviews: 3 confirmed, 1 not a bias failure, 14 not answered" in out
    assert "Froze genai-screen-confirmed@1.0.0: 6 rows (3 sets)" in out
