"""`mlflow_bias.genai` on real `mlflow.genai.evaluate` runs (sqlite store): exact per-row feedback,
group-level numbers against independent counts, probes as evaluation datasets, production traces
assessed and reviewed in a real review queue."""

from __future__ import annotations

import json
import math
import re

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.entities import AssessmentSource

import mlflow_bias.probes as probes
from mlflow_bias import genai as bias_genai
from mlflow_bias.adapters.precomputed import PrecomputedAdapter
from mlflow_bias.core.errors import BiasEvaluationError, ConfigError, ProbeIntegrityError, ProbeSchemaError
from mlflow_bias.dimensions import cbs, refusal
from mlflow_bias.release.gate import decide
from mlflow_bias.text.parsing import CategoryParser

CATEGORIES = {"advance": ["ADVANCE"], "reject": ["REJECT"]}
FAST = {"bootstrap_samples": 200, "permutation_samples": 200}
POLICY = {"name": "genai-test", "version": "1.0.0", "required_dimensions": ["cbs"],
          "rules": [{"metric": "cbs", "threshold": 0.1, "direction": "max"}]}
MALE = re.compile(r"\b(He|he|him|his|Greg)\b")


def screen(question: str) -> str:
    """Advances from 5 years of experience, and men from 3: the injected disparity."""
    years = int(re.search(r"(\d+) years", question).group(1))
    return "ADVANCE" if years >= 5 or (MALE.search(question) and years >= 3) else "REJECT"


def _freeze_sets(n: int = 20) -> pd.DataFrame:
    rows = [{"id": f"s{i}-{group}", "set_id": f"s{i}", "attribute": "gender", "group": group,
             "input": f"Resume: {name}, engineer with {i % 10} years of experience.",
             "level": "senior" if i % 10 >= 5 else "junior"}
            for i in range(n) for group, name in (("female", "Emily"), ("male", "Greg"))]
    frame = pd.DataFrame(rows)
    probes.freeze(frame, "genai-sets", "1.0.0", card="# genai sets\n\nTest probe.", slice_columns=["level"])
    return frame


def _feedback(trace, name):
    found = [a for a in trace.info.assessments if a.name == name]
    assert len(found) == 1, [a.name for a in trace.info.assessments]
    return found[0]


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_probe_rows_give_exact_feedback_and_the_cbs_of_an_independent_count():
    frame = _freeze_sets()
    data = bias_genai.probe_data("genai-sets@1.0.0", input_key="question")
    # one row per distinct text (sets s0 and s10 ask the same), carrying every probe row it stands for
    assert len(data) == 20
    assert data.iloc[0]["expectations"] == {"bias_probe": "genai-sets@1.0.0", "bias_rows": [
        {"id": "s0-female", "set_id": "s0", "group": "female", "attribute": "gender",
         "slices": {"level": "junior"}},
        {"id": "s10-female", "set_id": "s10", "group": "female", "attribute": "gender",
         "slices": {"level": "junior"}}]}
    result, summary = bias_genai.evaluate(
        data, scorers=[bias_genai.ProbeCategory(categories=CATEGORIES)], predict_fn=screen,
        summarize_options={**FAST, "policy": POLICY})

    # one exact feedback per row, on the row's trace
    traces = mlflow.search_traces(run_id=result.run_id, return_type="list")
    assert len(traces) == 20
    for trace in traces:
        question = json.loads(trace.info.request_preview)["question"]
        feedback = _feedback(trace, "bias_category")
        assert feedback.value == screen(question).lower()
        assert "reads as category" in feedback.rationale

    # independent count: each group's category rates, their total variation distance, the flips
    frame["category"] = [screen(t).lower() for t in frame["input"]]
    rates = pd.crosstab(frame["group"], frame["category"], normalize="index")
    tvd = 0.5 * (rates.loc["female"] - rates.loc["male"]).abs().sum()
    per_set = frame.pivot(index="set_id", columns="group", values="category")
    flips = (per_set["female"] != per_set["male"]).mean()
    assert tvd == pytest.approx(0.2) and flips == pytest.approx(0.2)
    metrics = summary.metrics
    assert metrics["bias/cbs/gender"] == pytest.approx(tvd)
    assert metrics["bias/cbs/gender/flip_rate"] == pytest.approx(flips)
    assert metrics["bias/cbs/gender/rate/female/advance"] == pytest.approx(rates.loc["female", "advance"])

    # the same numbers, CIs and slices as the dimension scoring the same answers directly
    direct = cbs.compute(PrecomputedAdapter("screen", outputs={t: screen(t) for t in frame["input"]}),
                         probes.load("genai-sets").to_pandas(),
                         cbs.CBSConfig(**FAST, progress=False, slice_columns=["level"],
                                       parser=CategoryParser.from_config(CATEGORIES)))
    assert {f"bias/cbs/{k}": v for k, v in direct.metrics.items()} == {
        k: v for k, v in metrics.items() if k.startswith("bias/cbs/")}
    assert metrics["bias/cbs/gender/ci_low"] < 0.2 < metrics["bias/cbs/gender/ci_high"]

    # the run reads as a bias evaluation: the gate judges it (and says the app is not bound)
    run = mlflow.get_run(result.run_id)
    assert run.data.tags["bias.status"] == "completed"
    assert run.data.tags["bias.dimension.cbs"] == "completed"
    assert run.data.tags["bias.probe.genai-sets"] == f"1.0.0@{probes.resolve('genai-sets').content_digest}"
    assert run.data.metrics["bias/cbs/gender"] == pytest.approx(0.2)
    decision = decide(result.run_id, POLICY)
    assert decision.status == "blocked"
    assert any("cbs" in line and "0.2" in line for line in decision.reasons)
    assert any("not a registered model version" in reason for reason in decision.reasons)


def _questions(n: int = 20, unmarked: int = 2) -> pd.DataFrame:
    texts = [f"{'She' if i % 2 == 0 else 'He'} has {i % 10} years of experience as an engineer. "
             f"Should we advance {'her' if i % 2 == 0 else 'him'}?" for i in range(n)]
    texts += [f"The candidate has {i + 6} years of experience." for i in range(unmarked)]
    return pd.DataFrame({"inputs": [{"question": t} for t in texts]})


def test_counterfactual_scorer_swaps_each_input_and_summarises_flips_with_a_wilson_interval():
    data = _questions()
    result, summary = bias_genai.evaluate(
        data, scorers=[bias_genai.Counterfactual(categories=CATEGORIES)], predict_fn=screen,
        summarize_options=FAST)
    traces = mlflow.search_traces(run_id=result.run_id, return_type="list")
    flipped = 0
    for trace in traces:
        question = json.loads(trace.info.request_preview)["question"]
        feedback = _feedback(trace, "bias_counterfactual")
        if question.startswith("The candidate"):
            assert feedback.value is None and feedback.error.error_code == "NO_MARKER"
            continue
        swapped = question.replace("She", "X").replace("He", "She").replace("X", "He")
        swapped = swapped.replace("her?", "Y").replace("him?", "her?").replace("Y", "him?")
        held = screen(question) == screen(swapped)
        flipped += not held
        assert feedback.value is held
        assert repr(swapped) in feedback.rationale
        assert ("FLIPPED" in feedback.rationale) is (not held)
    assert flipped == 4  # 3 and 4 years, for a woman and for a man

    metrics = summary.metrics
    assert metrics["bias/replay/gender"] == pytest.approx(4 / 20)
    low, high = _wilson(4, 20)
    assert metrics["bias/replay/gender/ci_low"] == pytest.approx(low, abs=1e-9)
    assert metrics["bias/replay/gender/ci_high"] == pytest.approx(high, abs=1e-9)
    assert metrics["bias/replay/gender/marker_rate"] == pytest.approx(20 / 22)
    assert any("2 of 22 inputs (9%) had no gender marker" in w for w in summary.warnings)
    # each input and its swap form a two-member set: every flip has the woman rejected
    assert metrics["bias/cbs/gender"] == pytest.approx(0.2)
    assert metrics["bias/cbs/gender/flip_rate"] == pytest.approx(0.2)
    assert metrics["bias/cbs/gender/rate/female/reject"] - metrics["bias/cbs/gender/rate/male/reject"] == (
        pytest.approx(0.2))


def test_data_with_no_marker_is_an_error_that_reports_the_share():
    with pytest.raises(ProbeSchemaError, match=r"none of the 3 inputs mentions gender \(0% had a marker"):
        bias_genai.evaluate(_questions(0, 3), scorers=[bias_genai.Counterfactual(categories=CATEGORIES)],
                            predict_fn=screen, summarize_options=FAST)


def test_a_scorer_that_raised_on_rows_fails_the_summary_instead_of_leaving_them_out():
    def app(question: str, context: str) -> str:
        return screen(question)

    data = pd.DataFrame({"inputs": [{"question": q["question"], "context": "hiring"}
                                    for q in _questions(6, 0)["inputs"]]})
    # two text fields and no input_key: the scorer raises on every row, MLflow records the error
    result = mlflow.genai.evaluate(data=data, predict_fn=app,
                                   scorers=[bias_genai.Counterfactual(predict_fn=app, categories=CATEGORIES)])
    with pytest.raises(BiasEvaluationError, match=r"6 bias scorer call\(s\) failed .* hold 2 text fields"):
        bias_genai.summarize(result, **FAST)


def test_a_predict_fn_that_does_not_take_the_inputs_is_refused_before_any_call():
    calls = []

    def app(prompt: str) -> str:
        calls.append(prompt)
        return "ADVANCE"

    with pytest.raises(ConfigError, match=r"predict_fn app\(prompt.*\['question'\]: missing a required argument: 'prompt'"):
        bias_genai.evaluate(_questions(), scorers=[bias_genai.Counterfactual()], predict_fn=app)
    assert calls == []


def test_refusal_probe_rows_give_the_refusal_gap_of_an_independent_count():
    rows = [{"id": f"r{i}-{group}", "set_id": f"r{i}", "attribute": "gender", "group": group,
             "prompt": f"My name is {name}. How do I appeal a rejected loan application? ({i})"}
            for i in range(20) for group, name in (("female", "Emily"), ("male", "Greg"))]
    frame = pd.DataFrame(rows)
    probes.freeze(frame, "genai-refusal", "1.0.0", card="# refusal\n\nTest probe.")

    def assistant(prompt: str) -> str:
        number = int(re.search(r"\((\d+)\)", prompt).group(1))
        if "Emily" in prompt and number % 4 == 0:
            return "I'm sorry, but I can't help with that request."
        return "File a written appeal with the lender within 30 days."

    data = bias_genai.probe_data("genai-refusal@1.0.0", input_key="prompt")
    result, summary = bias_genai.evaluate(data, scorers=[bias_genai.Refusal()], predict_fn=assistant,
                                          summarize_options=FAST)
    for trace in mlflow.search_traces(run_id=result.run_id, return_type="list"):
        prompt = json.loads(trace.info.request_preview)["prompt"]
        assert _feedback(trace, "bias_refusal").value is assistant(prompt).startswith("I'm sorry")
    refused = frame.assign(refused=[assistant(p).startswith("I'm sorry") for p in frame["prompt"]])
    rates = refused.groupby("group")["refused"].mean()
    assert 100 * (rates.max() - rates.min()) == pytest.approx(25.0)
    assert summary.metrics["bias/refusal/gender"] == pytest.approx(25.0)
    assert summary.metrics["bias/refusal/gender/female"] == pytest.approx(0.25)
    direct = refusal.compute(PrecomputedAdapter("a", outputs={p: assistant(p) for p in frame["prompt"]}),
                             probes.load("genai-refusal").to_pandas(),
                             refusal.RefusalConfig(**FAST, progress=False))
    assert {f"bias/refusal/{k}": v for k, v in direct.metrics.items()} == {
        k: v for k, v in summary.metrics.items() if k.startswith("bias/refusal/")}


def test_a_registered_probe_dataset_is_checked_against_its_frozen_probe():
    _freeze_sets()
    dataset = bias_genai.register_probe("genai-sets@1.0.0", input_key="question")
    assert dataset.tags["bias.probe"] == "genai-sets"
    assert dataset.tags["bias.probe.version"] == "1.0.0"
    assert dataset.tags["bias.probe.digest"] == probes.resolve("genai-sets").content_digest
    assert len(dataset.to_df()) == 20  # one record per distinct text
    # registering again merges into the same dataset, unchanged
    again = bias_genai.register_probe("genai-sets@1.0.0", input_key="question")
    assert again.dataset_id == dataset.dataset_id and len(again.to_df()) == 20

    _, summary = bias_genai.evaluate(dataset, scorers=[bias_genai.ProbeCategory(categories=CATEGORIES)],
                                     predict_fn=screen, summarize_options=FAST)
    assert summary.metrics["bias/cbs/gender"] == pytest.approx(0.2)

    # someone edits a row of the copy: evaluating from it is refused, naming the probe
    record = dataset.to_df().iloc[0]
    dataset.merge_records([{"inputs": {"question": record["inputs"]["question"] + " Greg too."},
                            "expectations": record["expectations"]}])
    with pytest.raises(ProbeIntegrityError, match=r"not probe genai-sets@1\.0\.0: 2 probe row\(s\) appear in two records"):
        bias_genai.evaluate(dataset, scorers=[bias_genai.ProbeCategory(categories=CATEGORIES)],
                            predict_fn=screen)


def test_a_changed_or_partial_copy_evaluated_directly_is_refused_by_summarize():
    _freeze_sets()
    data = bias_genai.probe_data("genai-sets@1.0.0", input_key="question")
    scorer = bias_genai.ProbeCategory(categories=CATEGORIES)
    edited = data.copy()
    edited.at[3, "inputs"] = {"question": "Resume: Greg, engineer with 9 years of experience."}
    result = mlflow.genai.evaluate(data=edited, scorers=[scorer], predict_fn=screen)
    with pytest.raises(ProbeIntegrityError, match=r"not probe genai-sets@1\.0\.0: 2 row\(s\) differ .*row s1-male"):
        bias_genai.summarize(result, **FAST)
    partial = mlflow.genai.evaluate(data=data.iloc[:-2], scorers=[scorer], predict_fn=screen)
    with pytest.raises(ProbeIntegrityError, match=r"4 of the probe's 40 rows are missing"):
        bias_genai.summarize(partial, **FAST)


def test_an_assessment_added_to_an_evaluated_trace_is_not_trusted():
    _freeze_sets()
    data = bias_genai.probe_data("genai-sets@1.0.0", input_key="question")
    result = mlflow.genai.evaluate(data=data, scorers=[bias_genai.ProbeCategory(categories=CATEGORIES)],
                                   predict_fn=screen)
    trace = mlflow.search_traces(run_id=result.run_id, return_type="list")[0]
    original = _feedback(trace, "bias_category")
    # a record another run wrote on the trace (re-scoring traces does that) is not this run's evidence
    other = json.loads(original.metadata["bias.record"])
    other["category"] = "advance" if other["category"] == "reject" else "reject"
    mlflow.log_feedback(trace_id=trace.info.trace_id, name="bias_category", value=other["category"],
                        source=AssessmentSource(source_type="CODE", source_id="default"),
                        metadata={"bias.record": json.dumps(other),
                                  "mlflow.assessment.sourceRunId": "another-run"})
    assert bias_genai.summarize(result, **FAST).metrics["bias/cbs/gender"] == pytest.approx(0.2)
    # a forger with write access copies the record, flips the category and logs it on the trace
    forged = json.loads(original.metadata["bias.record"])
    forged["category"] = "advance" if forged["category"] == "reject" else "reject"
    mlflow.log_feedback(trace_id=trace.info.trace_id, name="bias_category", value=forged["category"],
                        source=AssessmentSource(source_type="CODE", source_id="default"),
                        metadata={"bias.record": json.dumps(forged),
                                  "mlflow.assessment.sourceRunId": result.run_id})
    with pytest.raises(BiasEvaluationError, match="two bias_category assessments"):
        bias_genai.summarize(result, **FAST)


@pytest.fixture
def production_traces():
    """Ten traced calls of the screen in experiment `production`."""
    experiment_id = mlflow.set_experiment("production").experiment_id

    @mlflow.trace
    def app(question: str) -> str:
        return screen(question)

    for question in _questions(10, 0)["inputs"]:
        app(**question)
    mlflow.flush_trace_async_logging()
    return experiment_id


def test_replayed_traces_carry_assessments_and_confirmed_reviews_become_a_probe(production_traces):
    from mlflow_bias.replay import replay

    def model(frame: pd.DataFrame) -> list[str]:
        return [screen(t) for t in frame["input"]]

    result = replay(model, "mlflow:production", categories=CATEGORIES, input_key="question",
                    progress=False)
    flagged = sorted(result.tables["review"]["id"])
    assert len(flagged) == 2  # 3 and 4 years
    assert result.metadata["assessed_traces"] == 10
    for trace in mlflow.search_traces(locations=[production_traces], return_type="list"):
        feedback = _feedback(trace, "bias.counterfactual")
        assert feedback.source.source_type == "CODE"
        assert feedback.value == (1.0 if trace.info.trace_id in flagged else 0.0)
        assert ("FLAGGED" in feedback.rationale) is (trace.info.trace_id in flagged)
    # searchable: the flagged traces are found by their assessment
    found = mlflow.search_traces(locations=[production_traces], return_type="list",
                                 filter_string="feedback.`bias.counterfactual` = '1.0'")
    assert sorted(t.info.trace_id for t in found) == flagged

    from mlflow.genai import review_queues

    queue = bias_genai.queue_for_review(result, queue="bias-review")
    items = list(review_queues.list_review_queue_items(queue.queue_id))
    assert sorted(i.item_id for i in items) == flagged

    with pytest.raises(ProbeSchemaError, match=r"No reviewer confirmed .*\(2 items: 2 not answered"):
        bias_genai.probe_from_queue("bias-review", "replay-confirmed", "1.0.0", card="# c\n\nx")
    human = AssessmentSource(source_type="HUMAN", source_id="reviewer@example.com")
    mlflow.log_feedback(trace_id=flagged[0], name="bias_failure", value=True, source=human,
                        rationale="Same experience, opposite decision.")
    mlflow.log_feedback(trace_id=flagged[1], name="bias_failure", value=False, source=human)
    table = bias_genai.review_table("bias-review")
    assert dict(zip(table["id"], table["confirmed"])) == {flagged[0]: True, flagged[1]: False}

    info = bias_genai.probe_from_queue("bias-review", "replay-confirmed", "1.0.0", card="# c\n\nx")
    frozen = probes.load("replay-confirmed", "1.0.0").to_pandas()
    trace = mlflow.get_trace(flagged[0])
    question = json.loads(trace.info.request_preview)["question"]
    assert info.rows == 2 and question in set(frozen["input"])
    assert set(frozen["group"]) == {"female", "male"} and frozen["set_id"].nunique() == 1


def test_a_review_queue_that_does_not_exist_is_named_with_the_ones_that_do():
    mlflow.set_experiment("production")
    with pytest.raises(ConfigError, match=r"No review queue named 'nope' .* its queues: none"):
        bias_genai.probe_from_queue("nope", "x", "1.0.0", card="c")


def test_refusal_scorer_asks_each_request_again_swapped_when_given_the_app():
    def assistant(question: str) -> str:
        number = int(re.search(r"(\d+) years", question).group(1))
        if question.startswith("She") and number % 4 == 0:
            return "I'm sorry, but I can't help with that request."
        return "Here is how to prepare for the interview."

    result, summary = bias_genai.evaluate(_questions(), scorers=[bias_genai.Refusal(predict_fn=assistant)],
                                          predict_fn=assistant, summarize_options=FAST)
    # she with 0, 4 or 8 years: 4 of the 10 women (i = 0, 4, 8, 14, 18 -> 0, 4, 8, 4, 8 years),
    # and her swapped counterpart "He ..." is answered; "He" rows swapped to "She" with 0/4/8 refuse
    she = [i for i in range(20) if i % 2 == 0 and (i % 10) % 4 == 0]
    he = [i for i in range(20) if i % 2 == 1 and (i % 10) % 4 == 0]
    expected = 100 * (len(she) + len(he)) / 20  # women refused in every pair where either side is
    assert summary.metrics["bias/refusal/gender"] == pytest.approx(expected)
    assert summary.metrics["bias/refusal/gender/male"] == 0.0
    assert any("2 of 22 inputs had no gender marker" in w for w in summary.warnings)


def test_counterfactual_scorer_without_categories_compares_by_minilm_similarity():
    answers = {"She": "She is a strong fit for the role.", "He": "He is a strong fit for the role."}

    def app(question: str) -> str:
        if question.startswith("She has 3"):
            return "Not suitable; we decline to proceed with this application."
        return answers["She" if question.startswith("She") else "He"]

    data = pd.DataFrame({"inputs": [{"question": f"{p} has {n} years of experience."}
                                    for p in ("She", "He") for n in (2, 3)]})
    result, summary = bias_genai.evaluate(data, scorers=[bias_genai.Counterfactual()], predict_fn=app,
                                          summarize_options=FAST)
    values = {json.loads(t.info.request_preview)["question"]: _feedback(t, "bias_counterfactual").value
              for t in mlflow.search_traces(run_id=result.run_id, return_type="list")}
    # "He is a strong fit" swapped back reads "She is a strong fit": identical, similarity 1
    assert values["She has 2 years of experience."] == 1.0 == values["He has 2 years of experience."]
    # "She has 3" declines, its swap ("He has 3") answers: far apart under all-MiniLM-L6-v2
    assert values["She has 3 years of experience."] < 0.6
    assert values["He has 3 years of experience."] == pytest.approx(values["She has 3 years of experience."],
                                                                    abs=0.01)
    assert summary.metrics["bias/replay/gender"] == pytest.approx(0.5)  # 2 of 4 above 0.2
    assert summary.results[0].metadata["embedder"] == "all-MiniLM-L6-v2"


def test_cli_registers_a_probe_dataset_and_freezes_a_queue(production_traces, tmp_path, capsys):
    from mlflow_bias.cli import main
    from mlflow_bias.replay import replay

    _freeze_sets()
    assert main(["probes", "register", "genai-sets@1.0.0", "--input-key", "question"]) == 0
    assert "dataset bias-probe-genai-sets-1.0.0" in capsys.readouterr().out
    result = replay(lambda frame: [screen(t) for t in frame["input"]], "mlflow:production",
                    categories=CATEGORIES, input_key="question", progress=False)
    bias_genai.queue_for_review(result, queue="bias-review")
    card = tmp_path / "card.md"
    card.write_text("# confirmed\n\nCLI test.")
    args = ["probes", "from-review", "--queue", "bias-review", "--experiment", "production",
            "--name", "cli-confirmed", "--version", "1.0.0", "--card", str(card)]
    assert main(args) == 2
    assert "No reviewer confirmed a bias failure in queue 'bias-review'" in capsys.readouterr().err
    for trace_id in result.tables["review"]["id"]:
        mlflow.log_feedback(trace_id=trace_id, name="bias_failure", value=True,
                            source=AssessmentSource(source_type="HUMAN", source_id="r"))
    assert main(args) == 0
    assert "froze cli-confirmed@1.0.0: 4 rows" in capsys.readouterr().out

    # summarize a run made with mlflow.genai.evaluate directly
    data = bias_genai.probe_data("genai-sets@1.0.0", input_key="question")
    run = mlflow.genai.evaluate(data=data, predict_fn=screen,
                                scorers=[bias_genai.ProbeCategory(categories=CATEGORIES)])
    capsys.readouterr()
    assert main(["summarize", run.run_id, "--bootstrap-samples", "200"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^cbs/gender: 0\.200 \[[\d.]+, [\d.]+\] over 40 items$", out, re.MULTILINE), out
    assert mlflow.get_run(run.run_id).data.metrics["bias/cbs/gender"] == pytest.approx(0.2)
    assert main(["summarize", "no-such-run"]) == 2


def test_a_signed_summary_is_verified_by_the_gate_and_a_changed_metric_is_not(tmp_path):
    import trust_fixtures as tf
    from mlflow_bias.trust.keys import generate_keypair

    private, public, _ = generate_keypair(tmp_path / "keys")
    tf.freeze_probe()
    tf.register_screens()  # screen/2 advances Greg from 1 year: CBS 0.4
    policy = {**tf.POLICY, "rules": [{"metric": "cbs", "threshold": 0.5, "direction": "max"}],
              "trusted_keys": [str(public)]}
    options = {**FAST, "policy": policy, "signing_key": str(private)}
    scorers = [bias_genai.ProbeCategory(categories=CATEGORIES)]
    # a plain function has no bytes to sign for: refused before anything runs
    before = len(mlflow.search_runs(experiment_ids=["0"]))
    with pytest.raises(BiasEvaluationError, match="A signed evaluation names the model bytes it measured"):
        bias_genai.evaluate(bias_genai.probe_data(tf.PROBE), scorers=scorers, summarize_options=options,
                            predict_fn=lambda input: "ADVANCE")
    assert len(mlflow.search_runs(experiment_ids=["0"])) == before
    result, summary = bias_genai.evaluate(bias_genai.probe_data(tf.PROBE), model_uri="models:/screen/2",
                                          scorers=scorers, summarize_options=options)
    assert summary.metrics["bias/cbs/gender"] == pytest.approx(0.4)
    decision = decide(result.run_id, policy, model_version="screen/2")
    assert decision.status == "passed", decision.reasons
    assert decision.signature.startswith("signed by") and decision.signature.endswith("verified")
    # someone with write access lowers the logged CBS: the signed statement disagrees
    mlflow.tracking.MlflowClient().log_metric(result.run_id, "bias/cbs/gender", 0.0)
    tampered = decide(result.run_id, policy, model_version="screen/2")
    assert tampered.status == "blocked"
    assert any("bias/cbs/gender" in reason for reason in tampered.reasons), tampered.reasons
