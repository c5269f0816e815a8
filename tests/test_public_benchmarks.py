"""Public benchmarks imported from their own file formats, and scored with their authors'
statistics: the importers' mapping and errors, and CrowS-Pairs' `pct_stereotype` and
`likelihood_diff` against lm-evaluation-harness's own computation on SmolLM2."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

import mlflow_bias.probes as probes
from mlflow_bias.adapters import HFCausalLM
from mlflow_bias.cli import main
from mlflow_bias.public_benchmarks import BenchmarkFormatError, import_file
from mlflow_bias.public_benchmarks._metrics import likelihood_diff, no_preference_test, pct_stereotype

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
CROWS = FIXTURES / "crows_pairs_anonymized.csv"


def crows_rows() -> pd.DataFrame:
    return pd.read_csv(CROWS, dtype=str, keep_default_na=False)


# -- the importer ----------------------------------------------------------------------------------
def test_crows_pairs_import_maps_each_pair_and_records_its_source():
    info = import_file("crows-pairs", CROWS, "1.0.0")
    raw = crows_rows()
    probe = probes.load("crows-pairs", "1.0.0").to_pandas()
    assert info.kind == "counterfactual_pairs" and info.rows == len(raw) == 30
    assert probe["text_a"].tolist() == raw["sent_more"].tolist()
    assert probe["text_b"].tolist() == raw["sent_less"].tolist()
    assert set(probe["stereotype"]) == {"a"}
    assert probe["attribute"].tolist() == raw["bias_type"].tolist()
    assert probe["direction"].tolist() == raw["stereo_antistereo"].tolist()
    # the second row's annotations give its bias type 4 times out of 5
    assert probe["agreement"].tolist()[:4] == ["5/5", "4/5", "5/5", "3/5"]
    assert info.slice_columns == ["direction", "agreement"]

    stored = probes.resolve("crows-pairs", "1.0.0")
    assert stored.benchmark == "crows-pairs"
    assert stored.source["sha256"] == hashlib.sha256(CROWS.read_bytes()).hexdigest()
    assert stored.source["licence"] == "CC BY-SA 4.0"
    card = probes.show("crows-pairs", "1.0.0")["card"]
    assert stored.source["sha256"] in card and "CC BY-SA 4.0" in card and "Blodgett" in card
    assert "| gender | 10 | 9 |" in card  # pairs of the type, of them stereo


def test_crows_pairs_import_through_the_cli(capsys):
    assert main(["probes", "import", "crows-pairs", str(CROWS), "--version", "2.0.0",
                 "--name", "crows-mine", "--category", "age", "--category", "religion"]) == 0
    out = capsys.readouterr().out
    digest = hashlib.sha256(CROWS.read_bytes()).hexdigest()
    assert f"froze crows-mine@2.0.0 from crows_pairs_anonymized.csv (sha256 {digest}): 12 rows" in out
    assert set(probes.load("crows-mine").to_pandas()["attribute"]) == {"age", "religion"}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("content, category, message", [
    ("[The developer] argued with the designer because [he] did not like the design.\n", None,
     "lacks the column(s) id, sent_more, sent_less, stereo_antistereo, bias_type, so it is not "
     "crows_pairs_anonymized.csv"),
    (",id,sent_more,sent_less,stereo_antistereo,bias_type\n0,1,A b.,A c.,pro,gender\n", None,
     "1 row(s) whose stereo_antistereo is not 'stereo' or 'antistereo' (ids 1)"),
    (",id,sent_more,sent_less,stereo_antistereo,bias_type\n", None, "has the header but no pairs"),
    (None, "disability", "no pairs of bias type(s) disability in"),
])
def test_crows_pairs_bad_files_are_refused_naming_the_benchmark(tmp_path, content, category, message):
    path = CROWS if content is None else _write(tmp_path, "crows.csv", content)
    with pytest.raises(BenchmarkFormatError, match="CrowS-Pairs") as caught:
        import_file("crows-pairs", path, "1.0.0", categories=[category] if category else None)
    assert message in str(caught.value)
    assert probes.list_probes(tmp_path / "nothing") == [] and not any(
        p.name == "crows-pairs" for p in probes.list_probes())  # nothing half-frozen


def test_a_missing_file_or_unknown_benchmark_says_what_is_expected(tmp_path):
    with pytest.raises(BenchmarkFormatError, match=r"not a file\. Expected crows_pairs_anonymized\.csv"):
        import_file("crows-pairs", tmp_path / "absent.csv", "1.0.0")
    with pytest.raises(BenchmarkFormatError, match=r"No importer for benchmark 'stereo-set'\. Known: crows-pairs"):
        import_file("stereo-set", CROWS, "1.0.0")


# -- the statistics, by hand ------------------------------------------------------------------------
def test_pct_stereotype_counts_ties_as_not_stereotypical_like_the_harness():
    more = np.array([-10.0, -12.0, -9.0, -20.0, -5.0])
    less = np.array([-11.0, -12.0, -8.0, -21.0, -6.5])
    share = pct_stereotype(more, less, n_resamples=200, seed=1)
    assert share.value == pytest.approx(3 / 5)  # pairs 1, 4, 5; the tie (pair 2) counts 0
    assert share.p_value == pytest.approx(binomtest(3, 4, 0.5).pvalue)  # the tie left out
    assert 0.0 <= share.ci_low <= share.value <= share.ci_high <= 1.0
    gap = likelihood_diff(more, less, n_resamples=200, seed=1)
    assert gap.value == pytest.approx((1 + 0 + 1 + 1 + 1.5) / 5)


def test_noise_floor_is_the_binomial_quantile_distance_from_one_half():
    # n = 10: P(X <= 7) = 0.945, P(X <= 8) = 0.989, so 8 of 10 is the 97.5% quantile: 0.8 - 0.5
    assert no_preference_test(5, 10)[1] == pytest.approx(0.3)
    # n = 1000: the normal approximation gives 0.5 + 1.96 * sqrt(0.25 / 1000) = 0.531
    assert no_preference_test(500, 1000)[1] == pytest.approx(0.031, abs=0.001)


# -- end to end, against lm-evaluation-harness ------------------------------------------------------
def test_crows_pairs_statistics_match_lm_evaluation_harness_on_smollm2(smollm2):
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks.crows_pairs.utils import process_results

    model, tok = smollm2
    import_file("crows-pairs", CROWS, "1.0.0")
    with mlflow.start_run() as run:
        metrics = mlflow.models.evaluate(
            model=HFCausalLM(model, tok, progress=False), data=probes.load("crows-pairs").to_pandas(),
            model_type="bias", evaluators=["bias"],
            evaluator_config={"bias": {"bootstrap_samples": 300, "permutation_samples": 500,
                                       "progress": False}},
        ).metrics

    class Request:
        def __init__(self, continuation: str) -> None:
            self.args = ("", continuation)

    raw = crows_rows()
    harness = HFLM(pretrained=model, tokenizer=tok, batch_size=8)
    lls = [ll for ll, _ in harness.loglikelihood(
        [Request(t) for t in raw["sent_more"].tolist() + raw["sent_less"].tolist()], disable_tqdm=True)]
    per_doc = pd.DataFrame([process_results(doc, [(a, False), (b, False)])
                            for doc, a, b in zip(raw.to_dict("records"), lls[:30], lls[30:])])
    per_doc["bias_type"] = raw["bias_type"]
    assert metrics["bias/lpbs/overall/pct_stereotype"] == pytest.approx(per_doc["pct_stereotype"].mean())
    assert metrics["bias/lpbs/overall/likelihood_diff"] == pytest.approx(
        per_doc["likelihood_diff"].mean(), abs=1e-3)
    for bias_type, part in per_doc.groupby("bias_type"):
        assert metrics[f"bias/lpbs/{bias_type}/pct_stereotype"] == pytest.approx(part["pct_stereotype"].mean())
        # on a CrowS-Pairs probe LPBS's own stereotype_rate is the same share
        assert metrics[f"bias/lpbs/{bias_type}/stereotype_rate"] == pytest.approx(part["pct_stereotype"].mean())
        assert metrics[f"bias/lpbs/{bias_type}/likelihood_diff"] == pytest.approx(
            part["likelihood_diff"].mean(), abs=1e-3)
    stereo = per_doc[raw["stereo_antistereo"] == "stereo"]["pct_stereotype"].mean()
    assert metrics["bias/lpbs/overall/pct_stereotype/slice/direction/stereo"] == pytest.approx(stereo)

    table = mlflow.load_table("bias/lpbs/benchmark.json", run_ids=[run.info.run_id])
    assert table.set_index("bias_type").loc["overall", "pairs"] == 30
    card = json.loads(Path(mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="bias/scorecard.json")).read_text())
    entry = next(d for d in card["dimensions"] if d["dimension"] == "lpbs")
    assert entry["benchmark"]["name"] == "crows-pairs"
