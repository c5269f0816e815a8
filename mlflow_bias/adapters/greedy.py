"""Greedy decoding of a left-padded batch, in which a row leaves the batch as soon as it is done.

`transformers`' `generate` keeps every row in the batch until the last one stops, computing pad
tokens for the rows already finished; on a batch whose answers end at different lengths (a short
refusal beside a long answer) that is most of the work. Here a row that emits a stop token (EOS,
`<|im_end|>`) or reaches the token limit is dropped from the batch and from the key/value cache
at once, so each step costs only the rows still writing. The tokens are those of greedy
`generate` on the same batch (the argmax of the same logits; tests check the answers against
`generate` on the tiny LM and on SmolLM2).

Refilling the freed rows with waiting prompts (continuous batching) was measured and left out:
joining a new prompt's cache to the running rows' copies the whole cache, and transformers'
dynamic cache already copies it at every step, so on 128 CBS and refusal prompts it was slower
(22.2 s against 21.1 s at 32 rows, 17.8 s against 15.6 s at 64).
"""

from __future__ import annotations

import copy
import functools
import inspect
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import torch

from mlflow_bias.adapters.token_tree import common_prefix_length


# Prompt tokens run in one prefill pass; a batch with more is prefilled in row groups.
PREFILL_TOKENS = 2048
# In 16-bit precision the decoding batch keeps a multiple of this many rows: finished rows fill
# it up to the next multiple until enough have finished to drop a whole step. Each distinct batch
# size made the CPU's matrix library (oneDNN, bfloat16) compile and cache kernels of its own for
# the process's life; with the step one version's scorecard peaked at 2,289 MB instead of 2,400.
# A 16-bit step reads the weights more than it computes, so the extra rows cost little; in
# float32 they cost compute (128 prompts: 18.7 s against harness 23.1 s with the step), so
# float32 drops finished rows at once.
ROW_STEP = 8


def decoding_row_step(model: Any) -> int:
    """The multiple of rows a decoding batch keeps: `ROW_STEP` for a 16-bit model, 1 (finished
    rows leave at once) for float32."""
    return ROW_STEP if getattr(model, "dtype", None) in (torch.bfloat16, torch.float16) else 1


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


def shared_prefix_length(encoded: Sequence[Sequence[int]], minimum: int = 8) -> int:
    """Length of the token prefix every row shares, leaving each row at least one own token
    (generation needs a last prompt token to start from); 0 when shorter than `minimum` or for a
    single row, where sharing saves nothing."""
    if len(encoded) < 2:
        return 0
    length = min(len(row) for row in encoded) - 1
    first = encoded[0]
    for row in encoded[1:]:
        length = min(length, common_prefix_length(first, row))
    return length if length >= minimum else 0


def left_padded(prompts: Sequence[Sequence[int]], pad_id: int, shared: int = 0
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask of `prompts` laid out as [shared prefix][padding][own suffix]:
    the first `shared` tokens (common to every prompt) stay in place and each row's rest is
    right-aligned, so generation continues every row from its last token."""
    width = max(len(row) for row in prompts) - shared
    ids = torch.full((len(prompts), shared + width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), shared + width), dtype=torch.long)
    for i, row in enumerate(prompts):
        own = len(row) - shared
        ids[i, :shared] = torch.tensor(row[:shared], dtype=torch.long)
        ids[i, shared + width - own :] = torch.tensor(row[shared:], dtype=torch.long)
        mask[i, :shared] = 1
        mask[i, shared + width - own :] = 1
    return ids, mask


@functools.cache
def _growing_layer_class() -> type:
    """`_GrowingLayer`, made on first use: it subclasses transformers' dynamic cache layer, which
    the cache's own methods require its layers to be."""
    from transformers.cache_utils import DynamicLayer

    class _GrowingLayer(DynamicLayer):
        """One layer's keys and values in buffers with room for the answer's tokens.

        transformers' dynamic cache concatenates every step, allocating and copying the whole
        cache anew. Here each step writes its token into free room and `keys`/`values` are views
        of the filled part, which is what the attention reads (one version's generation in
        `benchmarks/scorecard_time.py`: 53.8 → 48.9 s). Row removal copies the buffers once, as
        it did before.
        """

        _layer_type = None  # not a layer type of its own for transformers' registry

        def __init__(self, pieces: list[Any], room: int) -> None:
            """One layer from the same layer of row groups' caches (`pieces`, equal widths), their
            rows stacked; each piece's tensors are let go as soon as they are copied."""
            super().__init__()
            first = pieces[0].keys
            filled, rows = first.shape[-2], sum(piece.keys.shape[0] for piece in pieces)
            shape = (rows, *first.shape[1:-2], filled + room, first.shape[-1])
            self._keys, self._values = first.new_empty(shape), first.new_empty(shape)
            start = 0
            for piece in pieces:
                end = start + piece.keys.shape[0]
                self._keys[start:end, :, :filled] = piece.keys
                self._values[start:end, :, :filled] = piece.values
                piece.keys = piece.values = None
                start = end
            self.device, self.is_initialized = first.device, True
            self._fill(filled)

        def _fill(self, filled: int) -> None:
            self.filled = filled
            self.keys, self.values = self._keys[:, :, :filled], self._values[:, :, :filled]

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
                   **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
            new = key_states.shape[-2]
            if self.filled + new > self._keys.shape[-2]:  # past the room asked for: grow
                self._keys = torch.cat([self.keys, key_states], dim=-2)
                self._values = torch.cat([self.values, value_states], dim=-2)
            else:
                self._keys[:, :, self.filled : self.filled + new] = key_states
                self._values[:, :, self.filled : self.filled + new] = value_states
            self._fill(self.filled + new)
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.filled

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            self._keys, self._values = self._keys[indices], self._values[indices]
            self._fill(self.filled)

        def crop(self, max_length: int) -> None:
            raise NotImplementedError("a decoding cache is not cropped")

        def batch_repeat_interleave(self, repeats: int) -> None:
            raise NotImplementedError("a decoding cache is not repeated")

    return _GrowingLayer


def _plain(cache: Any) -> bool:
    """Whether `cache` is transformers' plain dynamic cache: one keys/values tensor a layer (no
    sliding window, offloading or recurrent state), so that its rows can be stacked and its
    layers given room."""
    layers = getattr(cache, "layers", None)
    return bool(layers) and all(type(layer).__name__ == "DynamicLayer" for layer in layers)


def _stack_with_room(caches: list[Any], room: int) -> Any:
    """The row groups' caches as one, each layer with room for `room` more tokens
    (`_GrowingLayer`), built layer by layer so that at most one layer is held twice."""
    growing = _growing_layer_class()
    first = caches[0]
    for index in range(len(first.layers)):
        first.layers[index] = growing([cache.layers[index] for cache in caches], room)
    return first


@dataclass
class _Rows:
    """The rows being decoded: their key/value cache, attention mask (1 on real tokens), the
    position of each row's last token, the token each feeds next, the prompt each answers, and
    whether it is still writing (a finished row may stay to keep the batch a multiple of
    `ROW_STEP`; what it writes is dropped)."""

    cache: Any
    mask: torch.Tensor
    last: torch.Tensor
    tokens: torch.Tensor
    prompts: torch.Tensor
    writing: torch.Tensor

    def __len__(self) -> int:
        return int(self.prompts.shape[0])

    def keep(self, keep: torch.Tensor) -> None:
        self.cache.batch_select_indices(keep)
        self.mask, self.last, self.tokens = self.mask[keep], self.last[keep], self.tokens[keep]
        self.prompts, self.writing = self.prompts[keep.cpu()], self.writing[keep.cpu()]


class _Decoder:
    """One greedy decoding: the model, the stop tokens, the limit, and every prompt's answer."""

    def __init__(self, model: Any, n_prompts: int, max_new_tokens: int, stop_ids: set[int]) -> None:
        self.model = model
        self.limit = max_new_tokens
        self.answers: list[list[int]] = [[] for _ in range(n_prompts)]
        self.cache_arg = cache_argument(model)
        self.stops = torch.tensor(sorted(stop_ids), dtype=torch.long)
        self.row_step = decoding_row_step(model)

    def start(self, ids: torch.Tensor, mask: torch.Tensor, prompts: torch.Tensor, cache: Any = None,
              cached: int = 0) -> _Rows | None:
        """Run the prompts and take each row's first token; the rows still writing, or None.

        `cache` may hold the first `cached` positions of the prompts, which every row shares, for
        one row. The prompts are run `PREFILL_TOKENS` at a time: a forward pass holds activations
        for every token it runs, and 88 of SmolLM2's resume prompts at once peaked 412 MB above
        the model (their cache is about 170 MB of it, 22 rows 134 MB), so row groups bound it."""
        device = self.model.device
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # real tokens only, as `generate` counts
        n = ids.shape[0]
        group = max(1, PREFILL_TOKENS // max(1, ids.shape[1] - cached))
        if cache is not None and not _plain(cache):
            group = n
        caches, logits = self._prefill(ids, mask, positions, cache, cached, group)
        if len(caches) > 1 and not all(map(_plain, caches)):  # a model whose cache cannot be
            caches, logits = self._prefill(ids, mask, positions, cache, cached, n)  # stacked
        plain = _plain(caches[0]) and caches[0].layers[0].is_initialized
        joined = _stack_with_room(caches, self.limit) if plain else caches[0]
        rows = _Rows(joined, mask, positions[:, -1], ids[:, -1], prompts,
                     torch.ones(len(prompts), dtype=torch.bool))
        return self._take(rows, torch.cat(logits))

    def _prefill(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any,
                 cached: int, group: int) -> tuple[list[Any], list[torch.Tensor]]:
        """Run the prompts' uncached tokens `group` rows at a time: each group's cache and last logits."""
        n = ids.shape[0]
        caches, logits = [], []
        for low in range(0, n, group):
            part = slice(low, min(low + group, n))
            extra = {}
            if cache is not None:
                piece = copy.deepcopy(cache) if group < n else cache
                piece.batch_repeat_interleave(part.stop - part.start)
                extra = {self.cache_arg: piece}
            out = self.model(input_ids=ids[part, cached:], attention_mask=mask[part],
                             position_ids=positions[part, cached:], use_cache=True,
                             logits_to_keep=1, **extra)
            caches.append(getattr(out, "cache", None) or out.past_key_values)
            logits.append(out.logits[:, -1])
        return caches, logits

    def step(self, rows: _Rows) -> _Rows | None:
        """Feed every row its last token and take the next."""
        rows.mask = torch.cat([rows.mask, rows.mask.new_ones((len(rows), 1))], dim=1)
        rows.last = rows.last + 1
        logits = self.model(input_ids=rows.tokens[:, None], attention_mask=rows.mask,
                            position_ids=rows.last[:, None], use_cache=True,
                            **{self.cache_arg: rows.cache}).logits[:, -1]
        return self._take(rows, logits)

    def _take(self, rows: _Rows, logits: torch.Tensor) -> _Rows | None:
        """Record each writing row's next token; drop finished rows from the batch in whole
        `ROW_STEP`s (the rows still writing, then finished ones up to the next multiple)."""
        tokens = logits.argmax(-1)
        lengths = []
        for prompt, token, writing in zip(rows.prompts.tolist(), tokens.tolist(), rows.writing.tolist()):
            if writing:
                self.answers[prompt].append(token)
            lengths.append(len(self.answers[prompt]))
        done = torch.isin(tokens.cpu(), self.stops) | (torch.tensor(lengths) >= self.limit)
        rows.writing = rows.writing & ~done
        rows.tokens = tokens
        alive = int(rows.writing.sum())
        if alive == 0:
            return None
        size = min(len(rows), -(-alive // self.row_step) * self.row_step)
        if size < len(rows):
            order = torch.argsort((~rows.writing).to(torch.int8), stable=True)  # writing first
            rows.keep(order[:size].to(tokens.device))
        return rows


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
    most `max_new_tokens` tokens, a stop token included where one was emitted; one batch, rows
    leaving it as they finish.

    `cache` may hold the key/value states of the first `cached` positions, a prompt prefix every
    row shares, computed for one row; only the rest is run.
    """
    decoder = _Decoder(model, ids.shape[0], max_new_tokens, stop_ids)
    if max_new_tokens < 1 or ids.shape[0] == 0:
        return decoder.answers
    rows = decoder.start(ids, mask, torch.arange(ids.shape[0]), cache, cached)
    while rows is not None:
        rows = decoder.step(rows)
    return decoder.answers
