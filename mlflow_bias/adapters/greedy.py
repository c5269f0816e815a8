"""Greedy decoding of a left-padded batch, in which a row leaves the batch as soon as it is done.

`transformers`' `generate` keeps every row in the batch until the last one stops, computing pad
tokens for the rows already finished; on a batch whose answers end at different lengths (a short
refusal beside a long answer) that is most of the work. Here a row that emits a stop token (EOS,
`<|im_end|>`) is dropped from the batch and from the key/value cache at once, so each step costs
only the rows still writing. The tokens are those of greedy `generate` on the same batch (the
argmax of the same logits; a test checks the answers against `generate` on SmolLM2).
"""

from __future__ import annotations

import inspect
from typing import Any, Iterable

import torch


def cache_argument(module: Any) -> str:
    """The name under which `module` (a model or its decoder) takes a key/value cache:
    transformers renamed its `past_key_values` argument to `cache`."""
    return "cache" if "cache" in inspect.signature(module.forward).parameters else "past_key_values"


def stop_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """The tokens that end an answer: the model's generation config's EOS (one id or a list, as
    `generate` reads it) and the tokenizer's EOS."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids: Iterable[Any] = configured if isinstance(configured, (list, tuple)) else [configured]
    found = {int(i) for i in ids if i is not None}
    if tokenizer.eos_token_id is not None:
        found.add(int(tokenizer.eos_token_id))
    return found


@torch.inference_mode()
def greedy_decode(
    model: Any,
    ids: torch.Tensor,
    mask: torch.Tensor,
    *,
    max_new_tokens: int,
    stop_ids: set[int],
    cache: Any = None,
    cached: int = 0,
) -> list[list[int]]:
    """The greedy continuation of each row of `ids` (left-padded, `mask` 1 on real tokens), at
    most `max_new_tokens` tokens, a stop token included where one was emitted.

    `cache` may hold the key/value states of the first `cached` positions of every row (a prompt
    prefix shared by the batch, already repeated to the batch size); only the rest is run.
    Positions count real tokens only, as `generate` counts them under left padding.
    """
    if max_new_tokens < 1 or ids.shape[0] == 0:
        return [[] for _ in range(ids.shape[0])]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache_arg = cache_argument(model)
    extra = {cache_arg: cache} if cache is not None else {}
    out = model(input_ids=ids[:, cached:], attention_mask=mask, position_ids=positions[:, cached:],
                use_cache=True, logits_to_keep=1, **extra)
    cache = getattr(out, "cache", None) or out.past_key_values
    answers: list[list[int]] = [[] for _ in range(ids.shape[0])]
    rows = torch.arange(ids.shape[0])  # which original row each batch row is
    last = positions[:, -1]
    stops = torch.tensor(sorted(stop_ids), dtype=torch.long, device=ids.device)
    logits = out.logits[:, -1]
    for step in range(max_new_tokens):
        tokens = logits.argmax(-1)
        for row, token in zip(rows.tolist(), tokens.tolist()):
            answers[row].append(token)
        if step == max_new_tokens - 1:
            break
        writing = ~torch.isin(tokens, stops)
        if not bool(writing.all()):
            if not bool(writing.any()):
                break
            keep = writing.nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            rows, tokens, mask, last = rows[keep.cpu()], tokens[keep], mask[keep], last[keep]
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        last = last + 1
        logits = model(input_ids=tokens[:, None], attention_mask=mask, position_ids=last[:, None],
                       use_cache=True, **{cache_arg: cache}).logits[:, -1]
    return answers
