"""Supervised fine-tuning of a chat causal LM on (prompt, response) rows, on the CPU.

The loss is the cross-entropy of the response tokens only (the prompt, rendered through the
chat template, is context), as in the usual instruction-tuning recipe. Full fine-tune with AdamW
and a linear warm-up/decay schedule, seeded; examples are drawn in a seeded order, epoch after
epoch, until `steps` optimiser steps are done.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from mlflow_bias.adapters.greedy import cache_argument
from mlflow_bias.adapters.hf import pad_right, plan_prefix_groups, user_turn
from mlflow_bias.core.errors import ConfigError


@dataclass(frozen=True)
class TrainingSettings:
    steps: int = 60
    batch_size: int = 8
    learning_rate: float = 1e-4
    warmup_steps: int = 5
    weight_decay: float = 0.0
    seed: int = 0
    prompt_template: str | None = None  # applied to every prompt before the chat template
    # train only the top N decoder layers and the final norm (None: the whole model); the backward
    # pass then stops at the lowest trained layer, which roughly halves a step on the CPU
    trainable_layers: int | None = None
    # (regular expression, weight): the loss of response tokens inside a match counts `weight`
    # times. A screen's reply is ~30 tokens of which one word is the decision; weighting it makes
    # the decision, not the copied summary, what the steps learn.
    emphasis: tuple[tuple[str, float], ...] = ()
    # run the prompt prefix that rows of a batch share (chat template, system prompt, the task's
    # instruction) once per batch and reuse its key/value cache: the same loss and gradients, and
    # 9-28% less time a step on the story's data
    share_prefixes: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainingSummary:
    """What a fine-tuning run did: its settings, the loss curve and the time it took."""

    settings: TrainingSettings
    examples: int
    epochs: float
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def final_loss(self) -> float:
        tail = self.losses[-5:]
        return float(np.mean(tail)) if tail else math.nan


def encode_example(tokenizer: Any, prompt: str, response: str,
                   prompt_template: str | None = None) -> tuple[list[int], list[int]]:
    """Token ids of the whole chat example and its labels (-100 on the prompt part): the prompt
    is the user turn exactly as inference renders it (`user_turn`), the response the assistant's
    reply, ended by EOS."""
    context = tokenizer(user_turn(tokenizer, prompt, prompt_template), add_special_tokens=False)["input_ids"]
    reply = tokenizer(response, add_special_tokens=False)["input_ids"]
    end = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    ids = list(context) + list(reply) + end
    return ids, [-100] * len(context) + list(reply) + end


def emphasis_weights(tokenizer: Any, response: str, emphasis: tuple[tuple[str, float], ...]) -> list[float]:
    """One loss weight per token of `response` (as `encode_example` tokenizes it): the largest
    weight of the `emphasis` patterns whose match overlaps the token, else 1."""
    encoded = tokenizer(response, add_special_tokens=False, return_offsets_mapping=True)
    weights = [1.0] * len(encoded["input_ids"])
    for pattern, weight in emphasis:
        for match in re.finditer(pattern, response):
            for i, (start, end) in enumerate(encoded["offset_mapping"]):
                if start < match.end() and end > match.start():
                    weights[i] = max(weights[i], float(weight))
    return weights


def _response_loss(model: Any, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
                   weights: torch.Tensor | None = None) -> torch.Tensor:
    """Next-token cross-entropy of the response tokens, each weighted (`weights`, default 1) and
    normalised by the total weight: the usual mean loss when every weight is 1.

    The vocabulary projection is applied to the positions that predict a response token only: a
    screen's prompt is ~70 of its ~100 tokens, and projecting every position onto the 49k-word
    vocabulary (and back, in the backward pass) was a third of a training step on the CPU."""
    hidden = model.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    return _weighted_nll(model, hidden, labels, weights)


def _weighted_nll(model: Any, hidden: torch.Tensor, labels: torch.Tensor,
                  weights: torch.Tensor | None) -> torch.Tensor:
    """The weighted mean cross-entropy of the labelled next tokens, the vocabulary projection
    applied to the positions that predict one only."""
    targets = labels[:, 1:]
    scored = targets != -100  # the prompt and padding count for nothing
    logits = model.get_output_embeddings()(hidden[:, :-1][scored])
    nll = torch.nn.functional.cross_entropy(logits.float(), targets[scored], reduction="none")
    w = torch.ones_like(nll) if weights is None else weights[:, 1:][scored]
    return (nll * w).sum() / w.sum()


# a prefix shorter than this is not worth a separate forward pass
MIN_SHARED_PREFIX = 8


def _shared_prefix_loss(model: Any, rows: list[tuple[list[int], list[int], list[float]]],
                        pad_id: int, min_shared: int = MIN_SHARED_PREFIX) -> torch.Tensor:
    """`_response_loss` of the rows (token ids, labels, loss weights), computed with each group of
    rows that share a prompt prefix running that prefix once.

    The prefixes (one per group, right-padded) go through the model first; their key/value cache
    is copied to each member, whose own tokens then continue at the prefix's positions with the
    padding masked. A shared prefix always ends inside every member's prompt, so every scored
    position (one that predicts a response token) is in the members' own part. Gradients reach the
    prefix's computation through its cache: the loss and gradients are those of the plain batch,
    to float rounding."""
    decoder = model.get_decoder()
    prompts = [ids[:labels.count(-100)] for ids, labels, _ in rows]
    groups = plan_prefix_groups(prompts, max_group_size=len(rows), min_shared=min_shared)
    prefix_ids, prefix_mask = pad_right([rows[g.members[0]][0][:g.shared] for g in groups], pad_id)
    out = decoder(input_ids=prefix_ids, attention_mask=prefix_mask, use_cache=True)
    cache = getattr(out, "cache", None) or out.past_key_values
    owner = torch.tensor([gi for gi, g in enumerate(groups) for _ in g.members], dtype=torch.long)
    members = [(m, g.shared) for g in groups for m in g.members]
    ids, own_mask = pad_right([rows[m][0][shared:] for m, shared in members], pad_id)
    labels, _ = pad_right([rows[m][1][shared:] for m, shared in members], -100)
    weights, _ = pad_right([rows[m][2][shared:] for m, shared in members], 0.0, torch.float32)
    cache.batch_select_indices(owner)
    lengths = torch.tensor([shared for _, shared in members])
    hidden = decoder(
        input_ids=ids, attention_mask=torch.cat([prefix_mask[owner], own_mask], dim=1),
        position_ids=lengths[:, None] + torch.arange(ids.shape[1])[None, :], use_cache=True,
        **{cache_argument(decoder): cache},
    )[0]
    return _weighted_nll(model, hidden, labels, weights)


def finetune(model: Any, tokenizer: Any, examples: pd.DataFrame, settings: TrainingSettings = TrainingSettings(),
             *, progress: bool = True) -> TrainingSummary:
    """Fine-tune `model` in place on `examples` (columns `prompt`, `response`)."""
    missing = [c for c in ("prompt", "response") if c not in examples.columns]
    if missing:
        raise ConfigError(f"The fine-tuning set has no column(s) {missing}; it needs `prompt` and "
                          f"`response` (columns found: {list(examples.columns)}).")
    if len(examples) == 0:
        raise ConfigError("The fine-tuning set is empty.")
    encoded = [encode_example(tokenizer, p, r, settings.prompt_template)
               for p, r in zip(examples["prompt"], examples["response"])]
    weights = None
    if settings.emphasis:
        if not getattr(tokenizer, "is_fast", False):
            raise ConfigError("TrainingSettings.emphasis needs a fast tokenizer (for token offsets); "
                              "load the tokenizer with use_fast=True or leave emphasis empty.")
        weights = []
        for (ids, labels), response in zip(encoded, examples["response"]):
            reply = emphasis_weights(tokenizer, response, settings.emphasis)
            context = labels.count(-100)
            weights.append([0.0] * context + reply + [1.0] * (len(ids) - context - len(reply)))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    trained = _select_trainable(model, settings.trainable_layers)
    model.train()
    optimiser = torch.optim.AdamW(trained, lr=settings.learning_rate,
                                  weight_decay=settings.weight_decay)

    def rate(step: int) -> float:
        if step < settings.warmup_steps:
            return (step + 1) / settings.warmup_steps
        return max(0.0, (settings.steps - step) / max(1, settings.steps - settings.warmup_steps))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    order: list[int] = []
    summary = TrainingSummary(settings=settings, examples=len(encoded),
                              epochs=settings.steps * settings.batch_size / len(encoded))
    started = time.perf_counter()
    bar = tqdm(range(settings.steps), desc="fine-tune", unit="step", disable=not progress)
    for _ in bar:
        while len(order) < settings.batch_size:
            order += rng.permutation(len(encoded)).tolist()
        picked, order = order[:settings.batch_size], order[settings.batch_size:]
        if settings.share_prefixes:
            loss = _shared_prefix_loss(model, [
                (*encoded[i], weights[i] if weights is not None else [1.0] * len(encoded[i][0]))
                for i in picked], pad_id)
        else:
            ids, mask = pad_right([encoded[i][0] for i in picked], pad_id)
            labels, _ = pad_right([encoded[i][1] for i in picked], -100)
            token_weights = None
            if weights is not None:
                token_weights, _ = pad_right([weights[i] for i in picked], 0.0, torch.float32)
            loss = _response_loss(model, ids, mask, labels, token_weights)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad(set_to_none=True)
        summary.losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{summary.losses[-1]:.3f}")
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    summary.seconds = time.perf_counter() - started
    return summary


def _select_trainable(model: Any, top_layers: int | None) -> list[torch.nn.Parameter]:
    """The parameters to train: all, or those of the top `top_layers` decoder layers and the final
    norm (embeddings, and a head tied to them, stay frozen)."""
    if top_layers is None:
        return [p for p in model.parameters() if p.requires_grad]
    layers = getattr(model.get_decoder(), "layers", None)
    if layers is None or not 0 < top_layers <= len(layers):
        raise ConfigError(f"trainable_layers={top_layers}: the model has "
                          f"{len(layers) if layers is not None else 'no'} decoder layers; choose "
                          "between 1 and that number, or None for the whole model.")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    modules = list(layers)[-top_layers:] + [getattr(model.get_decoder(), "norm", None)]
    trained = [p for m in modules if m is not None for p in m.parameters()]
    for parameter in trained:
        parameter.requires_grad_(True)
    return trained
