"""The log-likelihood adapter: same numbers as a plain one-text-at-a-time computation (and as
lm-evaluation-harness), whatever the batch size or prefix sharing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tiny_lm
from mlflow_bias.adapters import HFCausalLM, PyfuncOutputs, loglikelihood_one_by_one, resolve_adapter
from mlflow_bias.adapters.hf import context_token_id, plan_prefix_groups
from mlflow_bias.dimensions import lpbs
from mlflow_bias.core.errors import CapabilityError


@pytest.fixture(scope="module")
def texts(tiny_probe):
    return list(tiny_probe["text_a"]) + list(tiny_probe["text_b"]) + list(tiny_probe["prior_a"]) + [
        "", "he", "the nurse", "the nurse said that she was late . the nurse said that he was late .",
    ]


@pytest.mark.parametrize("batch_size", [1, 2, 7, 64])
@pytest.mark.parametrize("share", [True, False])
def test_matches_one_by_one_for_any_batch_size(skewed_lm, texts, batch_size, share):
    model, tok = skewed_lm
    reference = loglikelihood_one_by_one(model, tok, texts)
    adapter = HFCausalLM(model, tok, batch_size=batch_size, share_prefixes=share, progress=False)
    got = adapter.loglikelihood(texts)
    np.testing.assert_allclose(got, reference, atol=1e-4, rtol=0)
    assert got[texts.index("")] == 0.0


def test_reference_is_sum_of_conditional_logprobs_from_bos(skewed_lm):
    """Check the convention itself: BOS as context, every token scored, by hand."""
    import torch

    model, tok = skewed_lm
    ids = tok("the nurse said", add_special_tokens=False)["input_ids"]
    full = torch.tensor([[tok.bos_token_id, *ids]])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(full).logits[0].double(), -1)
    by_hand = sum(logprobs[i, full[0, i + 1]].item() for i in range(len(ids)))
    assert loglikelihood_one_by_one(model, tok, ["the nurse said"])[0] == pytest.approx(by_hand, abs=1e-4)


def test_agrees_with_lm_evaluation_harness(skewed_lm, tiny_probe):
    from lm_eval.models.huggingface import HFLM

    model, tok = skewed_lm
    texts = list(tiny_probe["text_a"][:10]) + list(tiny_probe["text_b"][:10])
    harness = HFLM(pretrained=model, tokenizer=tok, batch_size=4)

    class Request:
        def __init__(self, continuation):
            self.args = ("", continuation)

    theirs = np.array([ll for ll, _ in harness.loglikelihood([Request(t) for t in texts],
                                                             disable_tqdm=True)])
    ours = HFCausalLM(model, tok, progress=False).loglikelihood(texts)
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)


def test_prefix_groups_share_long_prefixes_and_leave_a_token_each():
    seqs = [
        [1, 5, 6, 7, 8, 9], [1, 5, 6, 7, 8, 10],  # a counterfactual pair
        [1, 5, 6, 7, 8, 9, 11], [1, 2, 3], [1, 2, 4],  # a short pair sharing only 2 tokens
        [1, 5, 6, 7, 8],  # a prefix of the others: keeps its last token to score
    ]
    groups = plan_prefix_groups(seqs, max_group_size=8, min_shared=3)
    by_member = {m: g for g in groups for m in g.members}
    assert by_member[0] is by_member[1] is by_member[2]
    for group in groups:
        assert all(group.shared <= len(seqs[m]) - 1 for m in group.members)
    assert by_member[3] is not by_member[4]  # two shared tokens are below min_shared
    assert sorted(m for g in groups for m in g.members) == list(range(len(seqs)))


def test_group_size_is_capped_by_batch_size():
    seqs = [[1, 2, 3, 4, 5, i] for i in range(10, 30)]
    groups = plan_prefix_groups(seqs, max_group_size=6)
    assert max(len(g.members) for g in groups) == 6
    assert all(g.shared == 5 for g in groups if len(g.members) > 1)


def test_tokenizer_without_bos_uses_eos(skewed_lm):
    _, tok = skewed_lm

    class NoBos:
        bos_token_id = None
        eos_token_id = tok.eos_token_id

    assert context_token_id(NoBos()) == tok.eos_token_id

    class Neither:
        bos_token_id = None
        eos_token_id = None

    with pytest.raises(CapabilityError, match="neither a BOS nor an EOS"):
        context_token_id(Neither())


def test_plain_pyfunc_gets_clear_error_naming_usable_dimensions(tmp_path, tiny_probe):
    import mlflow

    class RuleBased(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return ["advance"] * len(model_input)

    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="rules", python_model=RuleBased())
    adapter = resolve_adapter(info.model_uri)
    assert isinstance(adapter, PyfuncOutputs)
    with pytest.raises(CapabilityError) as err:
        lpbs.compute(adapter, tiny_probe, lpbs.LPBSConfig())
    message = str(err.value)
    assert "LPBS dimension needs a model that gives loglikelihood" in message
    assert "transformers-flavour MLflow model" in message
    assert "It can still be used for: cbs, refusal, parity, ranking." in message


def test_model_without_lm_head_is_refused(skewed_lm):
    model, tok = skewed_lm
    with pytest.raises(CapabilityError, match="no language-modelling head"):
        HFCausalLM(model.model, tok)


def test_adapter_is_callable_as_a_pyfunc_function(skewed_lm):
    model, tok = skewed_lm
    adapter = HFCausalLM(model, tok, progress=False)
    frame = pd.DataFrame({"text": ["the nurse said that he was late .", "he"]})
    np.testing.assert_allclose(adapter(frame), loglikelihood_one_by_one(model, tok, list(frame["text"])),
                               atol=1e-4)


def test_tiny_model_corpus_is_skewed_as_asked():
    sentences = tiny_lm.corpus(skew=0.9, n_sentences=2000)
    carp = [s for s in sentences if "carpenter" in s]
    share_he = np.mean([" he " in s for s in carp])
    assert 0.85 < share_he < 0.95


def test_generation_is_greedy_deterministic_batched_and_cached(skewed_lm):
    model, tok = skewed_lm
    prompts = ["the nurse said that", "the pilot", "yesterday the welder explained that"]
    one = HFCausalLM(model, tok, batch_size=1, max_new_tokens=5, progress=False)
    many = HFCausalLM(model, tok, batch_size=8, max_new_tokens=5, progress=False)
    first = many.generate(prompts)
    assert first == one.generate(prompts)  # left padding does not change greedy outputs
    assert all(isinstance(t, str) and t for t in first)
    calls = {"n": 0}
    real = model.generate

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    model.generate = counting
    try:
        assert many.predict(prompts + prompts[:1]).outputs == first + first[:1]
        assert calls["n"] == 0  # everything came from the cache
    finally:
        del model.generate


def test_answer_loglikelihood_is_the_sum_over_the_answer_tokens(skewed_lm):
    import torch

    model, tok = skewed_lm
    adapter = HFCausalLM(model, tok, batch_size=3, progress=False)
    prompts = ["the nurse said that", "the nurse said that", "the engineer said that"]
    answers = ["she was late", "he was late", "he was late"]
    got = adapter.answer_loglikelihood(prompts, answers)
    for prompt, answer, value in zip(prompts, answers, got):
        context = [tok.bos_token_id, *tok(prompt, add_special_tokens=False)["input_ids"]]
        answer_ids = tok(answer, add_special_tokens=False)["input_ids"]
        full = torch.tensor([context + answer_ids])
        with torch.no_grad():
            logprobs = torch.log_softmax(model(full).logits[0].double(), -1)
        by_hand = sum(logprobs[len(context) - 1 + i, t].item() for i, t in enumerate(answer_ids))
        assert value == pytest.approx(by_hand, abs=1e-4)
    assert got[0] > got[1]  # the skewed model prefers "she" after "nurse"
    with pytest.raises(ValueError, match="2 prompts but 1 answers"):
        adapter.answer_loglikelihood(prompts[:2], answers[:1])


def test_loglikelihoods_are_cached_per_text_and_returned_in_the_order_asked(skewed_lm, texts, monkeypatch):
    adapter = HFCausalLM(*skewed_lm, batch_size=4, progress=False)
    asked = texts[:6] + texts[:2]  # duplicates come back at every place they are asked
    first = adapter.loglikelihood(asked)
    np.testing.assert_allclose(first, loglikelihood_one_by_one(*skewed_lm, asked), atol=1e-4, rtol=0)
    scored: list[int] = []
    original = adapter._score_sequences
    monkeypatch.setattr(adapter, "_score_sequences", lambda seqs: scored.append(len(seqs)) or original(seqs))
    again = adapter.loglikelihood(list(reversed(asked)) + texts[6:8])
    assert scored == [2]  # only the two new texts are run through the model
    np.testing.assert_array_equal(again[:8], first[::-1])
