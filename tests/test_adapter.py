"""The log-likelihood adapter: same numbers as a plain one-text-at-a-time computation (and as
lm-evaluation-harness), whatever the batch size or prefix sharing."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import tiny_lm
from mlflow_bias.adapters import HFCausalLM, PyfuncOutputs, loglikelihood_one_by_one, resolve_adapter
from mlflow_bias.adapters.hf import context_token_id, plan_prefix_groups
from mlflow_bias.adapters.memory import release_freed_memory
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


@pytest.mark.parametrize("tree_nodes,batch_positions", [(1, 1), (9, 9), (9, 40), (40, 40), (12, 200)])
def test_prefix_tree_packs_of_any_size_match_one_by_one(skewed_lm, texts, tree_nodes, batch_positions,
                                                        monkeypatch):
    """Small trees split the texts into many packs (1 node: every text alone, over budget), one
    tree a pass or several side by side, padded to the largest."""
    import mlflow_bias.adapters.hf as hf

    monkeypatch.setattr(hf, "TREE_NODES", tree_nodes)
    monkeypatch.setattr(hf, "TREE_BATCH_POSITIONS", batch_positions)
    model, tok = skewed_lm
    got = HFCausalLM(model, tok, progress=False).loglikelihood(texts)
    np.testing.assert_allclose(got, loglikelihood_one_by_one(model, tok, texts), atol=1e-4, rtol=0)


def test_a_token_tree_holds_each_distinct_prefix_once():
    from mlflow_bias.adapters.token_tree import build_tree

    seqs = [[1, 5, 6, 9], [1, 5, 6, 10], [1, 5], [1, 2, 3], [7, 8]]
    tree = build_tree(seqs)
    # nodes: 1, 5, 6, 9, 10, 2, 3 under the first root, then the root 7 and 8
    assert tree.tokens.tolist() == [1, 5, 6, 9, 10, 2, 3, 7, 8]
    assert tree.parents.tolist() == [-1, 0, 1, 2, 2, 0, 5, -1, 7]
    assert tree.depths.tolist() == [0, 1, 2, 3, 3, 1, 2, 0, 1]
    assert [p.tolist() for p in tree.paths] == [[0, 1, 2, 3], [0, 1, 2, 4], [0, 1], [0, 5, 6], [7, 8]]
    for path, seq in zip(tree.paths, seqs):
        assert tree.tokens[path].tolist() == seq
    seen = tree.ancestry()
    # node 4 (token 10) sees its ancestors and itself, not its sibling 3 nor the other branches
    assert np.flatnonzero(seen[4]).tolist() == [0, 1, 2, 4]
    assert np.flatnonzero(seen[8]).tolist() == [7, 8]
    assert (seen.sum(1) == tree.depths + 1).all()


def test_tree_packs_keep_to_their_node_budget_and_keep_shared_prefixes_together():
    from mlflow_bias.adapters.token_tree import build_tree, plan_trees

    rng = np.random.default_rng(0)
    stems = [rng.integers(10, 20, size=6).tolist() for _ in range(5)]
    seqs = [[1, *stems[i % 5], *rng.integers(20, 30, size=rng.integers(1, 6)).tolist()] for i in range(60)]
    for budget in (8, 30, 100):
        packs = plan_trees(seqs, budget)
        assert sorted(i for pack in packs for i in pack) == list(range(len(seqs)))
        for pack in packs:
            size = len(build_tree([seqs[i] for i in pack]))
            assert size <= budget or len(pack) == 1
    # with room for all, one tree: a stem shared by 12 texts is held once
    (whole,) = plan_trees(seqs, 10_000)
    assert len(build_tree([seqs[i] for i in whole])) < sum(map(len, seqs)) - 4 * 6 * 11


def test_tree_batches_keep_to_their_position_budget_largest_first():
    from mlflow_bias.adapters.token_tree import plan_tree_batches

    sizes = [5, 30, 12, 12, 3, 50, 7, 12]
    batches = plan_tree_batches(sizes, 40)
    assert sorted(i for batch in batches for i in batch) == list(range(len(sizes)))
    # rows x the largest row: 50 alone (over budget), 30, then 12 x 3, then 7 and 5; 3 is under
    # half of 7, so it runs alone rather than padded to 7
    assert batches == [[5], [1], [2, 3, 7], [6, 0], [4]]
    for batch in batches:
        largest = max(sizes[i] for i in batch)
        assert largest * len(batch) <= 40 or len(batch) == 1
        assert all(2 * sizes[i] >= largest for i in batch)


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
    assert "It can still be used for: cbs, refusal, parity, ranking, bbq, coreference." in message


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
    calls = []
    hook = model.register_forward_hook(lambda module, args, kwargs_out: calls.append(1))
    try:
        assert many.predict(prompts + prompts[:1]).outputs == first + first[:1]
        assert calls == []  # everything came from the cache
    finally:
        hook.remove()


def test_sixteen_bit_decoding_keeps_whole_row_steps_and_float32_drops_rows_at_once(skewed_lm):
    import torch

    from mlflow_bias.adapters.greedy import ROW_STEP, decoding_row_step

    model, _ = skewed_lm
    assert decoding_row_step(model) == 1 and model.dtype == torch.float32
    assert decoding_row_step(type("M", (), {"dtype": torch.bfloat16})()) == ROW_STEP == 8


@pytest.mark.parametrize("row_step", [1, 2])
def test_greedy_decode_is_generate_with_finished_rows_leaving_the_batch(skewed_lm, row_step, monkeypatch):
    """The answers of `generate` (greedy, left-padded, a stop token per row), while each step
    runs only the rows still writing, rounded up to a multiple of `ROW_STEP` (finished rows fill
    the rest): a row that emits the stop token leaves the batch."""
    import torch

    from mlflow_bias.adapters import greedy
    from mlflow_bias.adapters.greedy import greedy_decode
    from mlflow_bias.adapters.hf import pad_right

    monkeypatch.setattr(greedy, "decoding_row_step", lambda model: row_step)

    model, tok = skewed_lm
    stop = tok.convert_tokens_to_ids(".")  # the tiny LM ends its sentences with "."
    prompts = ["the nurse said that", "the pilot", "yesterday the welder explained that",
               "everyone knew the carpenter because", "the librarian smiled when"]
    rows = [[tok.bos_token_id, *tok(p, add_special_tokens=False)["input_ids"]] for p in prompts]
    width = max(map(len, rows))
    ids = torch.tensor([[tok.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    with torch.no_grad():
        reference = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12,
                                   do_sample=False, eos_token_id=stop, pad_token_id=tok.pad_token_id)
    expected = []
    for row in reference[:, width:].tolist():
        expected.append(row[: row.index(stop) + 1] if stop in row else row)
    batch_sizes = []
    hook = model.register_forward_hook(
        lambda module, args, kwargs, out: batch_sizes.append(kwargs["input_ids"].shape[0]),
        with_kwargs=True)
    try:
        got = greedy_decode(model, ids, mask, max_new_tokens=12, stop_ids={stop})
    finally:
        hook.remove()
    assert got == expected
    lengths = sorted(len(a) for a in got)
    assert lengths[0] < lengths[-1]  # the rows stop at different steps
    # step k runs the rows that have not stopped in their first k tokens, rounded up to a
    # multiple of ROW_STEP (never more than the batch had)
    writing = [sum(n > k for n in lengths) for k in range(1, lengths[-1])]
    assert batch_sizes == [len(prompts)] + [min(len(prompts), -(-w // row_step) * row_step)
                                            for w in writing]
    assert row_step == 1 or any(size > w for size, w in zip(batch_sizes[1:], writing))
    # no row runs past the limit, and a limit of 0 runs nothing
    assert all(len(a) <= 3 for a in greedy_decode(model, ids, mask, max_new_tokens=3, stop_ids={stop}))
    assert greedy_decode(model, ids, mask, max_new_tokens=0, stop_ids={stop}) == [[]] * len(prompts)


@pytest.mark.parametrize("prefill_tokens", [1, 9, 4096])
def test_prefill_in_row_groups_gives_the_same_answers(skewed_lm, prefill_tokens, monkeypatch):
    """A batch whose prompts exceed PREFILL_TOKENS is prefilled a row group at a time (each
    group with its own copy of the shared prefix's cache) and the groups' caches joined; the
    answers are those of one prefill, with and without a shared prefix."""
    import mlflow_bias.adapters.greedy as greedy

    import mlflow_bias.adapters.hf as hf

    model, tok = skewed_lm
    prompts = ["the nurse said that the welder", "the nurse said that the pilot",
               "the nurse said that yesterday the carpenter", "the nurse said that the librarian",
               "the nurse said that the engineer"]
    monkeypatch.setattr(hf, "shared_prefix_length", lambda e: greedy.shared_prefix_length(e, 2))
    expected = {share: HFCausalLM(model, tok, batch_size=5, max_new_tokens=8, progress=False,
                                  share_prefixes=share).generate(prompts) for share in (True, False)}
    prefill_rows: list[int] = []  # rows of each pass that runs prompt tokens
    def record(module, args, kwargs, out):
        if kwargs["input_ids"].shape[1] > 1:
            prefill_rows.append(kwargs["input_ids"].shape[0])

    hook = model.register_forward_hook(record, with_kwargs=True)
    monkeypatch.setattr(greedy, "PREFILL_TOKENS", prefill_tokens)
    try:
        for share in (True, False):
            adapter = HFCausalLM(model, tok, batch_size=5, max_new_tokens=8, progress=False,
                                 share_prefixes=share)
            assert adapter.generate(prompts) == expected[share]
    finally:
        hook.remove()
    # shared: one pass for the prefix (one row), then the row groups; unshared: the row groups
    assert prefill_rows[0] == 1 and sum(prefill_rows) == 1 + 5 + 5
    if prefill_tokens == 1:
        assert prefill_rows == [1] + [1] * 10
    if prefill_tokens == 4096:
        assert prefill_rows == [1, 5, 5]
    if prefill_tokens == 9:
        assert 3 < len(prefill_rows) < 11


def test_generation_batches_keep_their_cache_under_the_budget():
    """Rows join a batch while rows x (its longest prompt + the answer) tokens of cache fit the
    budget and the row limit; a prompt too long alone is a batch of its own. By hand, 10 bytes a
    token, 48 new tokens, a budget of 2,000 bytes (200 tokens of cache)."""
    from mlflow_bias.adapters.hf import plan_generation_batches

    lengths = [52, 50, 50, 40, 30, 10, 10, 10, 400]
    # 52+48=100 tokens: two rows fit (200), a third would not (300); 50 and 40 under 98: two
    # (196); 30 and 10 under 78: two (156), three would be 234; 10 and 10 under 58: two (116),
    # and 400 with them 3 x 448; 400 alone (448 tokens, over the budget) is a batch of its own
    assert plan_generation_batches(lengths, 8, 48, 10, budget=2000) == [[0, 1], [2, 3], [4, 5], [6, 7], [8]]
    assert plan_generation_batches(lengths, 2, 48, None) == [[0, 1], [2, 3], [4, 5], [6, 7], [8]]
    assert plan_generation_batches(lengths, 100, 48, None) == [list(range(9))]


def test_cache_bytes_per_token_from_the_config():
    """Keys and values, every layer, key/value heads x head size, in the model's dtype."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from mlflow_bias.adapters.hf import cache_bytes_per_token

    model = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=3, num_attention_heads=4,
                                         num_key_value_heads=2))
    assert cache_bytes_per_token(model) == 2 * 3 * 2 * (16 // 4) * 4
    assert cache_bytes_per_token(model.to(torch.bfloat16)) == 2 * 3 * 2 * 4 * 2


def test_the_decoding_cache_writes_each_token_into_room_made_once():
    """After the prefill every layer gets room for the answer: a step writes its key/value into
    that room (no new allocation, no copy of the cache), and what the attention reads equals
    transformers' concatenating cache, through row removal too."""
    import torch
    from transformers import DynamicCache

    from mlflow_bias.adapters.greedy import _stack_with_room

    torch.manual_seed(0)
    prompt = [(torch.randn(3, 2, 5, 4), torch.randn(3, 2, 5, 4)) for _ in range(2)]
    plain, growing = DynamicCache(), DynamicCache()
    for index, (k, v) in enumerate(prompt):
        plain.update(k, v, index)
        growing.update(k.clone(), v.clone(), index)
    growing = _stack_with_room([growing], room=4)
    buffers = [layer._keys.data_ptr() for layer in growing.layers]
    for step in range(3):
        if step == 2:
            for cache in (plain, growing):
                cache.batch_select_indices(torch.tensor([0, 2]))
        rows = 3 if step < 2 else 2
        for index in range(2):
            k, v = torch.randn(rows, 2, 1, 4), torch.randn(rows, 2, 1, 4)
            expected = plain.update(k, v, index)
            got = growing.update(k, v, index)
            assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
        if step < 2:
            assert [layer._keys.data_ptr() for layer in growing.layers] == buffers
        assert growing.get_seq_length() == plain.get_seq_length() == 6 + step
    for index in range(2):  # past the room asked for, it still grows
        for _ in range(3):
            k, v = torch.randn(2, 2, 1, 4), torch.randn(2, 2, 1, 4)
            assert torch.equal(growing.update(k, v, index)[0], plain.update(k, v, index)[0])


def test_the_generation_copy_is_made_outside_inference_mode(skewed_lm):
    """A bfloat16 copy cast under inference mode holds inference tensors, which generated 3x
    slower on the CPU; the copy made by the first `generate` call must be ordinary tensors."""
    import torch

    model, tok = skewed_lm
    adapter = HFCausalLM(model, tok, max_new_tokens=3, progress=False, generation_dtype="bfloat16")
    adapter.generate(["the nurse said that"])  # the copy is made inside generate's inference mode
    copy = adapter._generator()
    assert copy.dtype == torch.bfloat16
    assert not any(p.is_inference() for p in copy.parameters())


def test_the_generation_copy_equals_a_cast_deep_copy_with_its_ties():
    """The copy is made parameter by parameter (no second float32 model at the peak) and equals
    `deepcopy(model).to(bfloat16)`: every parameter and buffer, tied weights (as SmolLM2's input
    and output embeddings are) still one tensor."""
    import copy

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from mlflow_bias.adapters.hf import cast_copy

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=2, num_attention_heads=2,
                                         num_key_value_heads=1, tie_word_embeddings=True)).eval()
    copied: list[torch.Size] = []  # parameters the deep copy duplicates in float32
    original = torch.nn.Parameter.__deepcopy__
    torch.nn.Parameter.__deepcopy__ = lambda self, memo: copied.append(self.shape) or original(self, memo)
    try:
        made = cast_copy(model, torch.bfloat16)
    finally:
        torch.nn.Parameter.__deepcopy__ = original
    assert copied == []
    reference = copy.deepcopy(model).to(torch.bfloat16)
    assert made.dtype == torch.bfloat16 and model.dtype == torch.float32
    for (name, a), (_, b) in zip(made.state_dict(keep_vars=True).items(),
                                 reference.state_dict(keep_vars=True).items()):
        assert a.dtype == b.dtype and torch.equal(a, b), name
    for (name, a), (_, b) in zip(made.named_buffers(), reference.named_buffers()):
        assert a.dtype == b.dtype and torch.equal(a, b), name
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert made.get_output_embeddings().weight is made.get_input_embeddings().weight
    assert not any(a.data_ptr() == b.data_ptr() for a, b in zip(made.parameters(), model.parameters()))


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


def test_a_long_probe_is_scored_in_windows_of_texts(skewed_lm, texts, monkeypatch):
    """Texts are tokenized and planned a window at a time (flat memory for large probes); the
    scores, duplicates included, are those of one text at a time."""
    import mlflow_bias.adapters.hf as hf

    monkeypatch.setattr(hf, "SCORING_WINDOW", 3)
    adapter = HFCausalLM(*skewed_lm, progress=False)
    windows: list[int] = []
    original = adapter._score_sequences
    monkeypatch.setattr(adapter, "_score_sequences",
                        lambda seqs, label=None: windows.append(len(seqs)) or original(seqs, label))
    asked = texts + texts[:3]
    got = adapter.loglikelihood(asked)
    unique = len(set(texts))
    assert windows == [3] * (unique // 3) + ([unique % 3] if unique % 3 else [])
    np.testing.assert_allclose(got, loglikelihood_one_by_one(*skewed_lm, asked), atol=1e-4, rtol=0)


def test_loglikelihoods_are_cached_per_text_and_returned_in_the_order_asked(skewed_lm, texts, monkeypatch):
    adapter = HFCausalLM(*skewed_lm, batch_size=4, progress=False)
    asked = texts[:6] + texts[:2]  # duplicates come back at every place they are asked
    first = adapter.loglikelihood(asked)
    np.testing.assert_allclose(first, loglikelihood_one_by_one(*skewed_lm, asked), atol=1e-4, rtol=0)
    scored: list[int] = []
    original = adapter._score_sequences
    monkeypatch.setattr(adapter, "_score_sequences",
                        lambda seqs, label=None: scored.append(len(seqs)) or original(seqs, label))
    again = adapter.loglikelihood(list(reversed(asked)) + texts[6:8])
    assert scored == [2]  # only the two new texts are run through the model
    np.testing.assert_array_equal(again[:8], first[::-1])



def test_the_score_cache_keeps_only_the_newest_texts(skewed_lm, texts, monkeypatch):
    """The cache is bounded (a large probe's texts are not kept alive after it is scored): past
    the bound the oldest texts are dropped and scored again when asked, to the same values."""
    import mlflow_bias.adapters.hf as hf

    monkeypatch.setattr(hf, "SCORE_CACHE_TEXTS", 3)
    adapter = HFCausalLM(*skewed_lm, progress=False)
    distinct = list(dict.fromkeys(t for t in texts if t))[:5]
    first = adapter.loglikelihood(distinct)
    assert list(adapter._scored) == distinct[2:]
    scored: list[int] = []
    original = adapter._score_sequences
    monkeypatch.setattr(adapter, "_score_sequences",
                        lambda seqs, label=None: scored.append(len(seqs)) or original(seqs, label))
    again = adapter.loglikelihood(distinct[::-1])
    assert scored == [2]  # the two dropped ones, run again; the newest three came from the cache
    np.testing.assert_allclose(again, first[::-1], atol=1e-6, rtol=0)


def test_a_string_series_scores_like_a_list_and_a_missing_text_is_named(skewed_lm, texts):
    adapter = HFCausalLM(*skewed_lm, progress=False)
    asked = pd.Series(texts + texts[:4], dtype="str")
    assert isinstance(asked.array, pd.arrays.ArrowStringArray)
    np.testing.assert_allclose(adapter.loglikelihood(asked),
                               loglikelihood_one_by_one(*skewed_lm, list(asked)), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="text 2 of 3 is missing"):
        HFCausalLM(*skewed_lm, progress=False).loglikelihood(["he", "she", None])


def test_lpbs_hands_the_model_one_compact_string_series_in_pair_order(tiny_probe):
    """LPBS passes its texts as one Arrow-backed Series (A texts, B texts, then the priors of the
    items that have them), not as a list of Python strings."""
    seen = []

    class Recording:
        capabilities = frozenset({"loglikelihood"})

        def describe(self):
            return {"model": "recording"}

        def loglikelihood(self, texts):
            seen.append(texts)
            return -np.array([float(len(t)) for t in texts])

    items = lpbs.score_items(Recording(), tiny_probe)
    (texts,) = seen
    assert isinstance(texts, pd.Series) and isinstance(texts.array, pd.arrays.ArrowStringArray)
    with_prior = tiny_probe["prior_a"].fillna("").astype(str).str.strip() != ""
    expected = (list(tiny_probe["text_a"]) + list(tiny_probe["text_b"])
                + list(tiny_probe.loc[with_prior, "prior_a"].str.strip())
                + list(tiny_probe.loc[with_prior, "prior_b"].str.strip()))
    assert texts.tolist() == expected
    np.testing.assert_allclose(items["logprob_a"], -tiny_probe["text_a"].str.len().to_numpy())


_HEAP_PROBE = """
import ctypes
from mlflow_bias.adapters.memory import release_freed_memory

def resident_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

held, kept = [], []
for _ in range(1500):  # about 150 MB in 100 KB chunks
    held.append(ctypes.create_string_buffer(100_000))
    kept.append(ctypes.create_string_buffer(1024))  # over pymalloc's 512 bytes: from the heap
before_free = resident_mb()
del held
freed = resident_mb()
trimmed = release_freed_memory()
print(before_free, freed, trimmed, resident_mb())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim and /proc")
def test_freed_heap_memory_goes_back_to_the_system():
    """Chunks under glibc's mmap threshold live in the heap; freed, they stay resident (a small
    survivor after each keeps the heap from shrinking at its top) until `malloc_trim`. Run in a
    fresh interpreter: a test worker's heap, shaped by the tests before, may place the chunks
    where freeing them alone shrinks it."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", _HEAP_PROBE], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    before_free, freed, trimmed, after = float(out[0]), float(out[1]), out[2], float(out[3])
    assert freed > before_free - 50, "the heap already shrank without a trim; the test shows nothing"
    assert trimmed == "True"
    assert after < freed - 100


def test_generation_batches_do_not_depend_on_string_hashing(skewed_lm, monkeypatch):
    """Prompts are batched longest first, ties in input order: ordering them through a set made
    the batches, and so a few 16-bit greedy answers, differ from one process to the next."""
    import itertools

    from mlflow_bias.adapters import hf

    model, tok = skewed_lm
    seen: list[tuple[int, int]] = []
    original = hf.greedy_decode

    def recording(m, ids, *args, **kwargs):
        seen.extend(zip(ids[:, -6].tolist(), ids[:, -3].tolist()))  # the two occupations
        return original(m, ids, *args, **kwargs)

    monkeypatch.setattr(hf, "greedy_decode", recording)
    nine = ["carpenter", "secretary", "librarian", "dietitian"]  # equal lengths: every prompt ties
    prompts = [f"the {a} and the {b} said that" for a, b in itertools.permutations(nine, 2)]
    adapter = HFCausalLM(model, tok, progress=False, max_new_tokens=2, generation_batch_size=4)
    adapter.generate(prompts)
    ids = {w: tok(w, add_special_tokens=False)["input_ids"][0] for w in nine}
    assert seen == [(ids[a], ids[b]) for a, b in itertools.permutations(nine, 2)]


def test_a_16_bit_generation_copy_plans_its_batches_at_the_models_own_precision(skewed_lm, monkeypatch):
    """The cache budget counts a token at the model's precision (float32 here) also when a
    bfloat16 copy generates: counting the copy's half-size tokens let twice the rows into a
    batch, and the evaluation's peak memory past 2 GB."""
    import torch

    from mlflow_bias.adapters import hf

    model, tok = skewed_lm
    asked = []
    original = hf.plan_generation_batches
    monkeypatch.setattr(hf, "plan_generation_batches",
                        lambda lengths, rows, new, per_token, *a, **k: asked.append(per_token) or original(lengths, rows, new, per_token, *a, **k))
    adapter = HFCausalLM(model, tok, progress=False, max_new_tokens=2, generation_dtype="bfloat16")
    adapter.generate(["the nurse said that", "the pilot said that"])
    assert adapter._generator().dtype == torch.bfloat16
    assert asked == [hf.cache_bytes_per_token(model)] and model.dtype == torch.float32
