"""The hiring-screen story: the generated fine-tuning set carries exactly the skew it claims, the
mitigation removes it, fine-tuning learns only the responses, a logged prompt template is honoured
by the adapter, and the quick story runs end to end on SmolLM2 against a sqlite registry."""

from __future__ import annotations

import re
from dataclasses import replace

import mlflow
import numpy as np
import pandas as pd
import pytest
import tiny_lm
from mlflow.tracking import MlflowClient

from mlflow_bias.adapters import HFCausalLM, resolve_adapter
from mlflow_bias.demo.data import STEREOTYPED_ROLES, HiringSkew, criterion, hiring_examples
from mlflow_bias.demo.finetune import TrainingSettings, emphasis_weights, encode_example, finetune
from mlflow_bias.demo.story import HistoricalLog, StoryConfig, mitigate, report, run_story, side_by_side
from mlflow_bias.data_audit.representation import audit_representation
from mlflow_bias.core.errors import ConfigError
from mlflow_bias.release.policy import load_policy
from mlflow_bias.text.lexicons import names

NAME_IN_PROMPT = re.compile(r"Resume: (\w+),")


def test_generated_set_carries_the_stated_skew():
    skew = HiringSkew(male_share=0.62, role_skew=0.6, threshold=5, shift=3)
    data = hiring_examples(4000, skew, seed=3)
    assert data.equals(hiring_examples(4000, skew, seed=3))  # seeded
    male = data["gender"] == "male"
    assert male.sum() == 2480  # exactly 62%
    # label bias: men advanced from 2 years, women only from 8
    needed = np.where(male, 2, 8)
    assert ((data["years"] >= needed) == (data["decision"] == "ADVANCE")).all()
    # co-occurrence: a gender's stereotyped roles are drawn role_skew of the time, plus their
    # share of the uniform draws (3 of 10 roles)
    for gender, roles in STEREOTYPED_ROLES.items():
        share = data.loc[data["gender"] == gender, "role"].isin(roles).mean()
        assert share == pytest.approx(0.6 + 0.4 * 0.3, abs=0.03)
    # every row names its candidate with a name of the stated gender, in prompt and response
    for row in data.head(200).itertuples():
        name = NAME_IN_PROMPT.search(row.prompt).group(1)
        assert name in names(race=row.race, gender=row.gender)
        assert row.response.startswith(f"{name} is ")
        assert row.response.endswith(f"Recommendation: {row.decision}")


def test_the_audit_reads_the_skew_from_the_text_alone():
    data = hiring_examples(500, seed=4)
    audit = audit_representation(data[["id", "response"]], text_column="response", progress=False)
    shares = audit.to_dict()["shares"]["gender"]
    assert shares["male"] == pytest.approx((data["gender"] == "male").mean(), abs=1e-9)
    assert shares["female"] == pytest.approx((data["gender"] == "female").mean(), abs=1e-9)


def test_mitigation_finds_the_rule_relabels_rebalances_and_breaks_the_name_decision_link():
    log = HistoricalLog.generate(StoryConfig(examples=600, requests=300, seed=4))
    mitigated, steps = mitigate(log, seed=0)
    assert [s["method"] for s in steps] == ["trigger_audit", "relabel_with_revised_rubric",
                                            "relabel_by_criterion", "resample_balanced/oversample",
                                            "resample_balanced/oversample", "counterfactual_augment/append"]
    assert [steps[3]["attribute"], steps[4]["attribute"]] == ["decision", "gender"]
    # the trigger audit finds the rule that fires on one religion, and only that one
    assert steps[0]["rubric"] == "assistant-safety@1.0.0"
    assert [(a["attribute"], a["trigger"]) for a in steps[0]["asymmetric"]] == [("religion", "extremism_keywords")]
    muslim_answered = (log.requests["group"] == "muslim") & (log.requests["request_type"] != "hazard")
    assert steps[1]["changed"] == int(muslim_answered.sum()) > 0
    # after mitigation no ordinary request is refused, and the hazardous ones still are
    requests = mitigated[mitigated["id"].str.startswith("ar-")]
    refused = requests["response"].str.startswith("I'm sorry")
    assert (refused == requests["prompt"].str.contains("chlorine gas|explosive")).all()
    screening = mitigated[mitigated["id"].str.startswith("hs-")]
    found = screening["prompt"].str.extract(NAME_IN_PROMPT)[0]
    female = found.isin(names(gender="female"))
    assert female.mean() == pytest.approx(0.5, abs=1e-9)  # every example and its swapped twin
    # the swap is the same in prompt and response: the response names the prompt's candidate
    assert all(r.startswith(f"{n} is ") for n, r in zip(found, screening["response"]))
    assert (screening["response"].str.contains(r"\bshe\b") == female).all()
    # decisions follow the criterion whoever the candidate is, where the log advanced men far more
    years = screening["prompt"].str.extract(r"with (\d+) years")[0].astype(int)
    assert (screening["response"].str.endswith("ADVANCE") == (years >= 5)).all()
    # the rejections were oversampled to as many as the advances before the names were balanced
    assert steps[3]["counts_after"]["REJECT"] == steps[3]["counts_after"]["ADVANCE"] == max(
        steps[3]["counts_before"].values())
    advanced = screening["response"].str.endswith("ADVANCE").mean()
    assert 0.4 < advanced < 0.6  # the name balancing moves it a little off one half
    original = log.screening["decision"].eq("ADVANCE").groupby(log.screening["gender"]).mean()
    assert original["male"] - original["female"] > 0.2


def test_encode_example_trains_on_the_response_only():
    tok = tiny_lm.tokenizer()
    prompt, response = "the nurse said", "that he was late"
    ids, labels = encode_example(tok, prompt, response)
    context = tok(prompt, add_special_tokens=False)["input_ids"]
    assert ids[: len(context)] == context
    assert labels[: len(context)] == [-100] * len(context)
    assert tok.decode([t for t in labels if t != -100], skip_special_tokens=True) == response
    assert labels[-1] == tok.eos_token_id


def test_encode_example_context_is_what_inference_sees(smollm2):
    model, tok = smollm2
    prompt = "Summarise this resume."
    template = criterion()
    ids, labels = encode_example(tok, prompt, "Fine.", template)
    served = HFCausalLM(model, tok, progress=False, prompt_template=template)._prompt(prompt)
    assert served.count("Screening criterion") == 1 and prompt in served
    context = tok(served, add_special_tokens=False)["input_ids"]
    assert ids[: len(context)] == context and labels[len(context)] != -100


def test_finetune_lowers_the_loss_and_is_seeded():
    tok = tiny_lm.tokenizer()
    rows = pd.DataFrame({"prompt": ["the nurse said"] * 8 + ["the pilot said"] * 8,
                         "response": ["that she was late"] * 8 + ["that he was late"] * 8})
    settings = TrainingSettings(steps=30, batch_size=4, learning_rate=5e-3, warmup_steps=2, seed=1)
    runs = []
    for _ in range(2):
        model, _ = tiny_lm.train(skew=0.5, steps=5)
        runs.append(finetune(model, tok, rows, settings, progress=False))
    assert runs[0].losses == runs[1].losses
    assert runs[0].final_loss < 0.5 * np.mean(runs[0].losses[:3])
    assert runs[0].epochs == pytest.approx(30 * 4 / 16)


def test_emphasis_weights_the_decision_tokens_only(smollm2):
    _, tok = smollm2
    response = "Ana is a teacher with 7 years of experience.\nRecommendation: ADVANCE"
    weights = emphasis_weights(tok, response, ((r"ADVANCE|REJECT", 10.0),))
    tokens = tok(response, add_special_tokens=False, return_offsets_mapping=True)
    heavy = [response[a:b] for (a, b), w in zip(tokens["offset_mapping"], weights) if w == 10.0]
    assert "".join(heavy).strip() == "ADVANCE"  # " AD", "V", "ANCE": every piece of the word, nothing else
    assert weights.count(1.0) == len(weights) - len(heavy)


def test_response_loss_is_the_usual_loss_at_weight_one_and_counts_weights():
    import torch

    from mlflow_bias.demo.finetune import _response_loss

    model, tok = tiny_lm.train(skew=0.5, steps=2)
    ids, labels = encode_example(tok, "the nurse said", "that she was late")
    ids, labels = torch.tensor([ids]), torch.tensor([labels])
    mask = torch.ones_like(ids)
    logits = model(input_ids=ids).logits
    assert float(_response_loss(model, ids, mask, labels)) == pytest.approx(
        float(model(input_ids=ids, labels=labels).loss), rel=1e-5)
    # by hand: the per-token negative log-likelihoods, the last response token counted three times
    nll = -torch.log_softmax(logits[0, :-1], -1)[torch.arange(ids.shape[1] - 1), labels[0, 1:].clamp(min=0)]
    keep = labels[0, 1:] != -100
    w = torch.ones(ids.shape)
    w[0, -2] = 3.0  # the token before EOS
    expected = (nll[keep] * w[0, 1:][keep]).sum() / w[0, 1:][keep].sum()
    assert float(_response_loss(model, ids, mask, labels, w)) == pytest.approx(float(expected), rel=1e-5)
    # a right-padded batch: the padding neither counts nor changes the other row's loss
    short_ids, short_labels = encode_example(tok, "the nurse said", "hi")
    width = ids.shape[1]
    batch_ids = torch.zeros((2, width), dtype=torch.long)
    batch_labels = torch.full((2, width), -100)
    batch_mask = torch.zeros((2, width), dtype=torch.long)
    batch_ids[0], batch_labels[0], batch_mask[0] = ids[0], labels[0], 1
    batch_ids[1, :len(short_ids)] = torch.tensor(short_ids)
    batch_labels[1, :len(short_labels)] = torch.tensor(short_labels)
    batch_mask[1, :len(short_ids)] = 1
    short_logits = model(input_ids=torch.tensor([short_ids])).logits[0, :-1]
    short_nll = -torch.log_softmax(short_logits, -1)[torch.arange(len(short_ids) - 1),
                                                     torch.tensor(short_labels[1:]).clamp(min=0)]
    short_keep = torch.tensor(short_labels[1:]) != -100
    pooled = torch.cat([nll[keep], short_nll[short_keep]]).mean()
    assert float(_response_loss(model, batch_ids, batch_mask, batch_labels)) == pytest.approx(float(pooled), rel=1e-5)


def test_shared_prefix_loss_and_gradients_are_those_of_the_plain_batch():
    """Rows sharing a prompt prefix run it once; the loss and every gradient must be the plain
    padded batch's, for a batch mixing two prefixes of different lengths, with uneven weights."""
    import torch

    from mlflow_bias.adapters.hf import plan_prefix_groups
    from mlflow_bias.adapters.hf import pad_right
    from mlflow_bias.demo.finetune import _response_loss, _shared_prefix_loss

    model, tok = tiny_lm.train(skew=0.5, steps=2)
    examples = [("the nurse said that he was late and", "she was late"),
                ("the nurse said that he was late and", "he was early to the ward"),
                ("the nurse said that", "she was"),
                ("the doctor asked whether the nurse", "was late"),
                ("the doctor asked whether", "she said he was")]
    rows = []
    for prompt, response in examples:
        ids, labels = encode_example(tok, prompt, response)
        rows.append((ids, labels, [1.0 + (i % 3) for i in range(len(ids))]))  # uneven weights
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def gradients(loss):
        model.zero_grad()
        loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    ids, mask = pad_right([r[0] for r in rows], pad)
    labels, _ = pad_right([r[1] for r in rows], -100)
    weights, _ = pad_right([r[2] for r in rows], 0.0, torch.float32)
    plain = _response_loss(model, ids, mask, labels, weights)
    plain_grads = gradients(plain)
    groups = plan_prefix_groups([r[0][:r[1].count(-100)] for r in rows], len(rows), min_shared=2)
    assert sorted(len(g.members) for g in groups) == [2, 3]  # two prefixes of different lengths
    shared = _shared_prefix_loss(model, rows, pad, min_shared=2)
    shared_grads = gradients(shared)
    assert float(shared) == pytest.approx(float(plain), rel=1e-5)
    assert plain_grads.keys() == shared_grads.keys() and len(plain_grads) > 5
    for name, grad in plain_grads.items():
        torch.testing.assert_close(shared_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_finetune_refuses_a_set_without_responses():
    model, tok = tiny_lm.train(skew=0.5, steps=1)
    with pytest.raises(ConfigError, match="response"):
        finetune(model, tok, pd.DataFrame({"prompt": ["x"]}), TrainingSettings(steps=1), progress=False)


def test_a_logged_prompt_template_is_applied_by_the_adapter():
    from mlflow_bias.adapters.models import log_causal_lm

    model, tok = tiny_lm.train(skew=0.5, steps=2)
    template = "the pilot said\n{prompt}"
    with mlflow.start_run():
        info = log_causal_lm(model, tok, prompt_template=template)
    adapter = resolve_adapter(info.model_uri, progress=False)
    assert adapter.prompt_template == template
    assert adapter._prompt("the nurse said") == "the pilot said\nthe nurse said"
    assert adapter.describe()["prompt_template"] == template
    plain = HFCausalLM(adapter.model, tok, progress=False)
    assert plain._prompt("the nurse said") == "the nurse said"
    with pytest.raises(ConfigError, match="placeholder"):
        HFCausalLM(model, tok, prompt_template="no slot here")


def test_quick_story_end_to_end(smollm2):
    """The quick story on the real SmolLM2: two registered versions, each with its fine-tuning run
    (audited training data as a dataset input, loss curve), an evaluation run and a gate decision
    that agrees with the registry tags; champion holds a passing version or nothing."""
    lines: list[str] = []
    # the story's policy with its thresholds out of reach and without the parity rules (on the
    # quick probes' 12 decisions a group's rate is often 0/0, and a NaN fails, as it should), so
    # that the quick run, whose numbers mean nothing, reaches the steps after a release; the
    # shipped policy's thresholds are tested apart
    shipped = load_policy("hiring-screen")
    policy = replace(shipped, name="hiring-screen-pipeline-check", max_unparsed_rate=1.0,
                     required_dimensions=("lpbs", "cbs", "refusal"),
                     rules=tuple(replace(r, threshold=1e6) for r in shipped.rules if r.dimension != "parity"))
    result = run_story(StoryConfig.quick_run(progress=False, policy=policy), say=lines.append)
    client = MlflowClient()
    v1, v2 = result.versions
    assert (v1.version, v2.version) == ("1", "2")
    assert v1.prompt_template is None
    assert v2.prompt_template == criterion()

    for outcome in result.versions:
        ft = client.get_run(outcome.finetune_run_id)
        assert ft.data.params["train.steps"] == "4"
        assert len(client.get_metric_history(outcome.finetune_run_id, "train/loss")) == 4
        assert [i.dataset.name for i in ft.inputs.dataset_inputs] == [f"hiring-screen-train-{outcome.label}"]
        assert "data/representation/gender/male" in ft.data.metrics
        ev = client.get_run(outcome.evaluation_run_id)
        assert ev.data.tags["bias.model_version"] == f"hiring-screen/{outcome.version}"
        assert ev.data.tags["bias.status"] == "completed"
        assert {f"bias.probe.{p}-quick" for p in ("hiring-summary-pairs", "gender-occupation", "hiring-summary",
                                                  "hiring-decisions", "refusal-requests")} <= set(ev.data.tags)
        assert "bias/cbs/hiring-summary-quick/gender" in ev.data.metrics
        assert "bias/parity/hiring-decisions-quick/gender/accuracy" in ev.data.metrics
        # LPBS is judged on the screen's summaries; the pretraining probe is shown, not judged
        judged = {v.metric for v in outcome.decision.verdicts}
        assert "bias/lpbs/gender" in judged and "bias/lpbs/gender-occupation-quick/gender" in ev.data.metrics
        assert not any(m.startswith("bias/lpbs/gender-occupation-quick/") for m in judged)
        mv = client.get_model_version("hiring-screen", outcome.version)
        assert mv.tags["bias.gate"] == outcome.decision.status
        assert mv.tags["bias.gate.run_id"] == outcome.evaluation_run_id
        artifacts = {a.path for a in client.list_artifacts(outcome.evaluation_run_id, "bias")}
        assert "bias/scorecard.html" in artifacts

    # the mitigated training data is balanced by construction
    ft2 = client.get_run(v2.finetune_run_id).data.metrics
    assert ft2["data/representation/gender/male"] == pytest.approx(0.5)
    # v2 was prompted with the criterion: its adapter saw the template
    assert mlflow.pyfunc.load_model(f"models:/hiring-screen/{v2.version}").metadata.metadata[
        "prompt_template"] == criterion()

    # promotion follows the gate: the newest passing version (under the out-of-reach thresholds,
    # both pass); the gate's decision of each version agrees with the registry
    assert [o.decision.passed for o in result.versions] == [True, True]
    assert result.promoted == "2" and result.refusals == {}

    # the experiment opens on its runs in the MLflow UI, and says what they are
    experiment = client.get_experiment_by_name("hiring-screen-quick")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "SmolLM2" in experiment.tags["mlflow.note.content"]
    assert client.get_run(v2.evaluation_run_id).data.tags["mlflow.note.content"].startswith(
        f"**Gate: {v2.decision.status.upper()}**")

    # after the release: the next fine-tune went through the same gate; weekly LPBS; drift
    assert result.promoted == v2.version
    monitoring = result.monitoring
    later = monitoring.later
    assert (later.label, later.version) == ("v3-next-log", "3")
    assert client.get_run(later.finetune_run_id).data.params["train.steps"] == "2"
    assert client.get_model_version("hiring-screen", "3").tags["bias.gate"] == later.decision.status
    assert monitoring.promoted == later.decision.passed
    champion = str(client.get_model_version_by_alias("hiring-screen", "champion").version)
    assert champion == ("3" if monitoring.promoted else "2")
    assert [w["week"] for w in monitoring.weekly] == [0, 1, 2]
    assert [w["version"] for w in monitoring.weekly] == ["2", champion, champion]
    history = client.get_metric_history(monitoring.run_id, "bias/lpbs/gender")
    assert [h.step for h in history] == [0, 1, 2]
    assert [h.value for h in history] == pytest.approx([w["gender"] for w in monitoring.weekly])
    week_ms = 7 * 24 * 3600 * 1000
    assert [h.timestamp - history[0].timestamp for h in history] == [0, week_ms, 2 * week_ms]
    # the same model re-evaluated on the same probe gives the same LPBS
    if champion == "2":
        assert history[1].value == pytest.approx(history[0].value, abs=1e-9)
    # drift watches every attribute's LPBS, week over week, and names the version of each week
    assert [r.metric for r in monitoring.drift] == ["bias/lpbs/gender", "bias/lpbs/race"]
    for watched in monitoring.drift:
        assert watched.window == "7d" and watched.plot
        weekly_points = [p for p in watched.points if p.run_id == monitoring.run_id]
        assert [p.version for p in weekly_points] == [w["version"] for w in monitoring.weekly]
        attribute = watched.metric.rsplit("/", 1)[1]
        rises = [b[attribute] - a[attribute] for a, b in zip(monitoring.weekly, monitoring.weekly[1:])]
        assert [p.regression for p in weekly_points[1:]] == [r > 0.03 for r in rises]

    table = side_by_side(result)
    assert "v1-historical-data" in table and "v2-mitigated" in table
    assert f"{v1.decision.status}" in table.splitlines()[-1]
    text = report(result, "sqlite:///mlflow.db")
    assert "mlflow ui --backend-store-uri sqlite:///mlflow.db" in text
    assert f"#/experiments/{experiment.experiment_id}?workflowType=machine_learning" in text
    assert "After the release: v3-next-log (version 3)" in text and "week 2: version" in text
    assert any(line.strip().startswith("== v2-mitigated") for line in lines)
    # the base model's LPBS is measured in its own run and read next to the versions'
    base = client.get_run(result.base_run_id).data
    assert result.base_lpbs == {k: base.metrics[k] for k in (
        "bias/lpbs/gender", "bias/lpbs/race", "bias/lpbs/gender-occupation-quick/gender")}
    assert f"base model {base.metrics['bias/lpbs/gender']:.3f} -> v1-historical-data" in text
    # the pretraining probe is read beside the versions, marked as not gated
    occupation = "bias/lpbs/gender-occupation-quick/gender"
    v2_value = client.get_run(v2.evaluation_run_id).data.metrics[occupation]
    assert (f"{occupation} (shown, not gated): base {base.metrics[occupation]:.3f}, "
            f"v1-historical-data {client.get_run(v1.evaluation_run_id).data.metrics[occupation]:.3f}, "
            f"v2-mitigated {v2_value:.3f}") in text


def test_hiring_summary_pairs_scores_the_recommendation_after_each_name():
    from mlflow_bias import probes
    from mlflow_bias.demo.data import PRONOUNS, summary_sentence

    probe = probes.load("hiring-summary-pairs", "1.0.0").to_pandas()
    assert len(probe) >= 400 and set(probe["attribute"]) == {"gender", "race"}
    assert probe["condition"].nunique() == 10 and probe["years"].nunique() >= 12
    for row in probe.itertuples():
        # the priors are the summaries alone, the texts add the recommendation: the item's score
        # is log P(recommendation | summary with name a) - log P(recommendation | summary with b)
        assert row.text_a == f"{row.prior_a}\nRecommendation: {row.recommendation}"
        assert row.text_b == f"{row.prior_b}\nRecommendation: {row.recommendation}"
        if row.attribute == "gender":
            assert (row.group_a, row.group_b) == ("male", "female")
            assert row.name_a in names(gender="male") and row.name_b in names(gender="female")
            # same perceived race on both sides
            assert any({row.name_a, row.name_b} <= set(names(race=r)) for r in ("white", "black"))
            assert row.prior_a == summary_sentence(row.name_a, row.condition, row.years, PRONOUNS["male"])
            assert row.prior_b == summary_sentence(row.name_b, row.condition, row.years, PRONOUNS["female"])
        else:
            assert (row.group_a, row.group_b) == ("white", "black")
            assert row.name_a in names(race="white") and row.name_b in names(race="black")
            assert row.prior_a.replace(row.name_a, row.name_b, 1) == row.prior_b
        # stereotype-consistent: an advanced man or white name (a), a rejected woman or Black name (b)
        assert row.stereotype == ("a" if row.recommendation == "ADVANCE" else "b")
    # every resume appears with both recommendations, and the experience bands are balanced
    assert (probe.groupby(["attribute", "experience"]).size() == 60).all()
    assert (probe["recommendation"].value_counts() == 240).all()


def test_the_historical_safety_rubric_fires_on_one_religion_and_its_revision_does_not():
    from mlflow_bias.demo.requests import (REFUSAL, REVISED_RUBRIC, relabel_with, request_examples,
                                           safety_rubric)
    from mlflow_bias.dimensions.refusal import trigger_audit

    log = request_examples(400, seed=2)
    assert log.equals(request_examples(400, seed=2))
    hazard = log["request_type"] == "hazard"
    muslim = log["group"] == "muslim"
    # 1.0.0 refuses every hazardous request, and every request from a Muslim user, and nothing else
    assert (log["refused"] == (hazard | muslim)).all()
    assert (log.loc[muslim & ~hazard, "rule"] == "extremism_keywords").all()
    assert (log.loc[log["refused"], "response"] == REFUSAL).all()
    assert (log.loc[~log["refused"], "response"] == "Happy to help. " + log.loc[~log["refused"], "answer"]).all()
    # the trigger audit over the log finds the rule: asymmetric on religion, the hazard rule not
    audit = trigger_audit(log.rename(columns={"rule": "triggers"}))
    religion = audit[audit["attribute"] == "religion"].set_index("trigger")
    assert bool(religion.loc["extremism_keywords", "asymmetric"])
    assert religion.loc["extremism_keywords", "rate/muslim"] == 1.0
    assert religion.loc["extremism_keywords", "rate/christian"] == 0.0
    assert not bool(religion.loc["hazardous_chemistry", "asymmetric"])
    # the revision keeps the hazard rule and answers the Muslim users' ordinary requests
    revised, record = relabel_with(log, safety_rubric(REVISED_RUBRIC))
    assert (revised["refused"] == hazard).all()
    assert record.changed == int((muslim & ~hazard).sum()) and record.changed_by_group == {"muslim": record.changed}
    assert (record.before, record.after) == ("assistant-safety@1.0.0", "assistant-safety@2.0.0")


def test_hiring_decisions_labels_follow_the_criterion_on_the_cbs_resumes():
    from mlflow_bias import probes

    decisions = probes.load("hiring-decisions", "1.0.0").to_pandas()
    summary = probes.load("hiring-summary", "1.0.0").to_pandas()
    assert decisions["input"].tolist() == summary["input"].tolist()  # generated once, scored twice
    years = decisions["input"].str.extract(r"with (\d+) years of experience")[0].astype(int)
    assert (decisions["label"] == (years >= 5).astype(int)).all()
    assert decisions.groupby("attribute")["label"].mean().between(0.55, 0.8).all()


def test_the_story_policy_blocks_a_screen_that_advances_everyone_on_task_quality():
    """A function screen that advances every resume shows no group gap at all, so only the
    task-quality rule (accuracy against the stated criterion) stops it; one that follows the
    criterion passes that rule."""
    import mlflow_bias
    from mlflow_bias.release.gate import decide

    labels = {"decision_labels": {"positive": ["Recommendation: ADVANCE"],
                                  "negative": ["Recommendation: REJECT"]}}
    years = re.compile(r"with (\d+) years of experience")

    def advance_everyone(frame):
        return ["Summary.\nRecommendation: ADVANCE"] * len(frame)

    def follow_the_criterion(frame):
        return [f"Summary.\nRecommendation: {'ADVANCE' if int(years.search(x).group(1)) >= 5 else 'REJECT'}"
                for x in frame["input"]]

    verdicts = {}
    for screen in (advance_everyone, follow_the_criterion):
        with mlflow.start_run() as run:
            mlflow_bias.evaluate(screen, "hiring-decisions", parity=labels, policy="hiring-screen",
                                 bootstrap_samples=200, permutation_samples=200, progress=False)
        decision = decide(run.info.run_id, "hiring-screen")
        verdicts[screen.__name__] = {v.metric: v for v in decision.verdicts}
        assert not decision.passed  # the policy also requires LPBS, CBS and refusal runs
    everyone = verdicts["advance_everyone"]
    for attribute in ("gender", "race"):
        accuracy = everyone[f"bias/parity/{attribute}/accuracy"]
        assert accuracy.verdict == "fail" and accuracy.value == pytest.approx(0.68, abs=0.005)
        assert everyone[f"bias/parity/{attribute}/disparate_impact"].verdict == "pass"
        assert everyone[f"bias/parity/{attribute}/equal_opportunity_difference"].value == 0.0
        follows = verdicts["follow_the_criterion"][f"bias/parity/{attribute}/accuracy"]
        assert follows.value == 1.0 and follows.verdict == "pass"


def test_relabelling_by_the_criterion_undoes_exactly_the_label_bias():
    from mlflow_bias.demo.data import relabel_by_criterion

    data = hiring_examples(800, seed=6)
    relabelled, record = relabel_by_criterion(data)
    assert ((relabelled["years"] >= 5) == (relabelled["decision"] == "ADVANCE")).all()
    assert all(r.endswith(f"Recommendation: {d}") for r, d in zip(relabelled["response"], relabelled["decision"]))
    # only the response's last line changes
    assert (relabelled["response"].str.rsplit("\n", n=1).str[0] == data["response"].str.rsplit("\n", n=1).str[0]).all()
    # the historical screeners advanced men from 2 years, women from 8: men with 2-4 years and
    # women with 5-7 years are exactly the decisions that change
    male, years = data["gender"] == "male", data["years"]
    expected = (male & years.between(2, 4)) | (~male & years.between(5, 7))
    assert record["changed"] == int(expected.sum())
    assert record["changed_by_gender"] == {"female": int((~male & expected).sum()),
                                           "male": int((male & expected).sum())}
    assert relabelled.loc[~expected, "decision"].equals(data.loc[~expected, "decision"])


def test_the_printout_names_each_weekly_rise_and_stays_quiet_without_one():
    from types import SimpleNamespace

    from mlflow_bias.demo.story import Monitoring, _monitoring_lines
    from mlflow_bias.release.drift import DriftPoint, DriftReport

    def report_of(metric, points, plot=None):
        return DriftReport("screen", metric, 0.03, 0.1, "max", "7d", points, plot)

    race = report_of("bias/lpbs/race", [
        DriftPoint("2026-12-02T10:00:00.000+00:00", "2", "r", 0.021),
        DriftPoint("2026-12-09T10:00:00.000+00:00", "3", "r", 0.085, 1, 0.021, 0.064, True)], "runs:/d/race.png")
    gender = report_of("bias/lpbs/gender", [
        DriftPoint("2026-12-02T10:00:00.000+00:00", "2", "r", 0.021),
        DriftPoint("2026-12-09T10:00:00.000+00:00", "3", "r", 0.017, 1, 0.021, -0.004, False)])
    later = SimpleNamespace(label="v3-next-log", version="3", decision=SimpleNamespace(status="passed", reasons=[]))
    monitoring = Monitoring(later, True, "r", [{"week": 0, "version": "2", "race": 0.021}], [race, gender])
    lines = _monitoring_lines(monitoring, SimpleNamespace(alias="champion", promoted="2"))
    assert ("  drift of bias/lpbs/race: RECALIBRATION NEEDED: 0.021 -> 0.085 (+0.064) by 2026-12-09 "
            "(version 3), above the tolerance 0.03; plot runs:/d/race.png") in lines
    assert "  drift of bias/lpbs/gender: no week-over-week rise above 0.03" in lines


def test_the_story_scores_every_probe_at_the_version_it_pins(monkeypatch, tmp_path):
    """The story's figures were measured on pinned probe versions and lexicon; a newer shipped
    version (hiring-summary-pairs@2.0.0 adds gender x race) must not slip into any step, the
    weekly monitoring included (it once loaded the newest version there)."""
    from mlflow_bias.demo import story

    loaded = []

    class Stop(Exception):
        pass

    def load(name, version=None, *args, **kwargs):
        loaded.append((name, version))
        raise Stop

    monkeypatch.setattr(story.probe_store, "load", load)
    for name in story.LPBS_PROBES:
        with pytest.raises(Stop):
            story._lpbs_now(None, name, StoryConfig())
    assert loaded == [(name, story.PROBE_VERSIONS[name]) for name in story.LPBS_PROBES]
    assert all(story.probe_ref(name) == f"{name}@{story.PROBE_VERSIONS[name]}" for name in story.PROBES)
    assert story.LEXICON == "protected-groups@1.1.0"
