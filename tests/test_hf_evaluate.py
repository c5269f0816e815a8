"""The Hugging Face `evaluate` measurement modules load offline and give the same numbers as the
MLflow evaluator on the same items."""

from __future__ import annotations

from pathlib import Path

import evaluate
import mlflow
import numpy as np
import pytest

import mlflow_bias.hf_evaluate as bridge
from mlflow_bias.adapters import HFCausalLM

CONFIG = {"bootstrap_samples": 300, "permutation_samples": 400, "progress": False, "seed": 5}


def _evaluate(model, data, **config):
    metrics = mlflow.models.evaluate(model=model, data=data, model_type="bias", evaluators=["bias"],
                                     evaluator_config={"bias": {**CONFIG, **config}}).metrics
    return metrics, mlflow.last_active_run().info.run_id


def test_lpbs_module_matches_the_evaluator(skewed_lm, tiny_probe):
    metrics, run_id = _evaluate(HFCausalLM(*skewed_lm, progress=False), tiny_probe)
    items = mlflow.load_table("bias/lpbs/items.json", run_ids=[run_id])
    result = evaluate.load(bridge.path("lpbs")).compute(
        logprob_a=items["logprob_a"].tolist(), logprob_b=items["logprob_b"].tolist(),
        prior_logprob_a=items["prior_logprob_a"].fillna(0).tolist(),
        prior_logprob_b=items["prior_logprob_b"].fillna(0).tolist(),
        conditions=items["condition"].tolist(), stereotypes=items["stereotype"].tolist(),
        seed=5, bootstrap_samples=300, permutation_samples=400,
    )
    for ours, theirs in [("lpbs", ""), ("ci_low", "/ci_low"), ("ci_high", "/ci_high"),
                         ("p_value", "/p_value"), ("noise_floor", "/noise_floor")]:
        assert result[ours] == pytest.approx(metrics[f"bias/lpbs/gender{theirs}"], abs=1e-9), ours


def test_parity_cbs_and_refusal_modules_match_the_evaluator():
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 200
    groups = rng.choice(["x", "y", "z"], size=n)
    decisions_probe = pd.DataFrame({"id": range(n), "attribute": "g", "group": groups,
                                    "input": [f"item {i}" for i in range(n)],
                                    "label": rng.integers(0, 2, size=n)})
    decided = dict(zip(decisions_probe["input"], rng.integers(0, 2, size=n)))
    metrics, _ = _evaluate(lambda df: [decided[x] for x in df["input"]], decisions_probe)
    parity = evaluate.load(bridge.path("parity")).compute(
        predictions=[int(decided[x]) for x in decisions_probe["input"]],
        references=decisions_probe["label"].tolist(), groups=list(groups))
    for name, value in parity.items():
        assert value == pytest.approx(metrics[f"bias/parity/g/{name}"], abs=1e-12)

    sets = pd.DataFrame([{"id": f"{s}-{g}", "attribute": "g", "set_id": str(s), "group": g,
                          "input": f"case {s} for {g}"} for s in range(30) for g in ("x", "y")])
    answer = lambda df: ["reject" if "y" in t and int(t.split()[1]) % 3 == 0 else "advance" for t in df["input"]]  # noqa: E731
    metrics, run_id = _evaluate(answer, sets)
    items = mlflow.load_table("bias/cbs/items.json", run_ids=[run_id])
    cbs = evaluate.load(bridge.path("cbs")).compute(
        categories=items["category"].tolist(), groups=items["group"].tolist(),
        set_ids=items["set_id"].astype(str).tolist())
    assert cbs["cbs"] == pytest.approx(metrics["bias/cbs/g"]) and cbs["cbs"] == pytest.approx(10 / 30)
    assert cbs["flip_rate"] == pytest.approx(metrics["bias/cbs/g/flip_rate"])

    prompts = sets.rename(columns={"input": "prompt"})
    refuse = lambda df: ["I'm sorry, but I can't help with that." if "y" in t and int(t.split()[1]) % 2 == 0 else "Sure." for t in df["prompt"]]  # noqa: E731
    metrics, run_id = _evaluate(refuse, prompts)
    items = mlflow.load_table("bias/refusal/items.json", run_ids=[run_id])
    gap = evaluate.load(bridge.path("refusal_gap")).compute(
        responses=items["response"].tolist(), groups=items["group"].tolist())
    assert gap["refusal_gap"] == pytest.approx(metrics["bias/refusal/g"]) == pytest.approx(50.0)
    assert gap["p_value"] == pytest.approx(metrics["bias/refusal/g/p_value"])


def test_unknown_module_name():
    with pytest.raises(ValueError, match="available: lpbs, cbs, refusal_gap, parity, bbq"):
        bridge.path("weat")


def test_bbq_module_gives_the_dimensions_numbers():
    from mlflow_bias.dimensions.bbq import BBQConfig, biased_sets, score
    from mlflow_bias.public_benchmarks import bbq

    probe = bbq.read(Path(__file__).parent / "fixtures" / "benchmarks" / "bbq")
    answers = np.random.default_rng(5).integers(-1, 3, len(probe))  # -1: an unread answer
    items = probe.assign(answer=answers, correct=answers == probe["label"].to_numpy(),
                         named_person=(answers >= 0) & (answers != probe["unknown"].to_numpy()),
                         named_biased=[a in b for a, b in zip(answers, biased_sets(probe))])
    expected = score(items, BBQConfig(bootstrap_samples=10))
    got = evaluate.load(bridge.path("bbq")).compute(
        predictions=answers.tolist(), references=probe["label"].tolist(),
        unknown_answers=probe["unknown"].tolist(), biased_answers=probe["biased"].tolist(),
        context_conditions=probe["condition"].tolist())
    for name, value in got.items():
        assert value == pytest.approx(expected[name]["value"], abs=1e-12)
