"""Log-likelihood scoring for a transformers causal LM held in memory.

Convention (same as lm-evaluation-harness): the tokenizer's BOS token, else its EOS token, is the
context of the first token (a text that already starts with that token keeps just the one); a
text's log-likelihood is the sum over all its tokens of log P(token | preceding tokens), in nats.

Speed, without changing the numbers beyond float32 rounding:
- unique texts only;
- texts are scored in packs laid out as prefix trees (`adapters.token_tree`): every distinct token
  prefix (a counterfactual pair up to the swapped word, a template up to its slot, a chat-template
  preamble) is run once, at every level, and no position is spent on padding;
- the vocabulary projection is applied only to the positions that predict a scored token, in
  chunks, and each chunk is reduced to one log-probability per position at once, so no
  full-vocabulary log-softmax over the batch is ever held in memory;
- greedy generation runs the prompt prefix a batch shares once, and a row leaves the batch as
  soon as its answer ends (`adapters.greedy`).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from mlflow_bias.adapters.base import EMBED, GENERATE, LOGLIKELIHOOD, PREDICT, WEIGHTS
from mlflow_bias.adapters.embedding import embed_sorted, mean_pool
from mlflow_bias.adapters.greedy import (
    cache_argument,
    greedy_decode,
    left_padded,
    shared_prefix_length,
    stop_token_ids,
)
from mlflow_bias.adapters.memory import release_freed_memory
from mlflow_bias.adapters.pyfunc import Predictions
from mlflow_bias.adapters.token_tree import TokenTree, common_prefix_length, plan_tree_passes
from mlflow_bias.core.errors import CapabilityError, ConfigError

# Rows of hidden states sent through the vocabulary projection at once: bounds the logits held
# in memory to about LOGIT_CHUNK_ELEMENTS floats whatever the batch size.
LOGIT_CHUNK_ELEMENTS = 8_000_000
# Nodes (distinct token prefixes) of one packed prefix tree, and the positions (trees x the
# largest tree's nodes) of one forward pass, whose rows are trees side by side. Attention costs the
# square of a tree's nodes, and each call has a fixed cost, so several smaller trees in one call
# beat one large tree a call, down to where too few texts share a tree to share their prefixes.
# `benchmarks/tree_layout.py` (SmolLM2, 2 cores, best of 3 alternating rounds) against one
# 512-node tree a pass: 1.08x faster on gender-occupation's texts, 1.14x on generated name pairs,
# 1.08x on 600 held-out CrowS-style sentences. (One tree a pass had measured 256 nodes 12.8 s,
# 512 12.0 s, 1,024 13.3 s, 2,048 15.7 s on gender-occupation.)
TREE_NODES = 256
TREE_BATCH_POSITIONS = 1024
# Texts tokenized and planned into trees together. A probe is scored window by window, so the
# token lists and tree plans held at once do not grow with the probe (a 100k-pair probe is 25
# windows); probes under this size are planned whole, as before.
SCORING_WINDOW = 8192
# Texts whose log-likelihoods the adapter keeps for later calls, so that a probe scored again with
# the same adapter (a weekly re-evaluation) costs nothing. Bounded, the oldest dropped first: the
# cache holds its texts as Python strings, and a 100k-pair probe's 200k texts would otherwise stay
# alive (and grow the memory) after the scoring that needed them.
SCORE_CACHE_TEXTS = 65_536
# The most a generation batch's key/value cache may take: rows are added to a batch (up to
# `generation_batch_size`) while rows x (longest prompt + max_new_tokens) tokens of cache fit,
# each token counted at the precision of the model as given (46 KB for SmolLM2 in float32), also
# when a 16-bit copy generates: the copy is there for speed, and counting its smaller tokens let
# twice the rows into a batch, with twice the transient memory. Counted so, one version's
# scorecard (`benchmarks/scorecard_time.py`) peaked at 1,929 MB in 111.3 s, against 2,219 MB in
# 92.9 s with the copy's 23 KB.
GENERATION_CACHE_BYTES = 256 * 2**20
# the precisions greedy generation may run in (`generation_dtype`)
GENERATION_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class _PrefixGroup:
    """Token sequences that share their first `shared` tokens (BOS included)."""

    members: list[int] = field(default_factory=list)  # indices into the unique sequences
    shared: int = 0


def context_token_id(tokenizer: Any) -> int:
    """BOS if the tokenizer has one, else EOS: the context of a text's first token."""
    for token_id in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return int(token_id)
    raise CapabilityError(
        "The tokenizer has neither a BOS nor an EOS token, so the first token of a text has no "
        "context to be scored from. Set tokenizer.bos_token (or eos_token) before scoring."
    )


def encode_for_scoring(tokenizer: Any, text: str, context_id: int) -> list[int]:
    """Token ids of `text` after its context token. A text that already begins with that token
    (a chat-template string starting with BOS, say) is not given a second one."""
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return ids if ids[:1] == [context_id] else [context_id, *ids]


def pad_right(rows: Sequence[Sequence[Any]], fill: Any, dtype: torch.dtype = torch.long
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows right-padded with `fill` to the longest, and their attention mask (1 on real items)."""
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), fill, dtype=dtype)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=dtype)
        mask[i, : len(row)] = 1
    return out, mask


def plan_prefix_groups(
    sequences: Sequence[Sequence[int]], max_group_size: int, min_shared: int = 3
) -> list[_PrefixGroup]:
    """Group sequences so that a shared prefix is computed once.

    Sequences are visited in lexicographic order, so those with a long common prefix are
    adjacent. A sequence joins the open group when the tokens it saves (the new shared length)
    outweigh the tokens the existing members lose if the shared prefix has to shrink; each member
    keeps at least one token of its own to score.
    """
    order = sorted(range(len(sequences)), key=lambda i: tuple(sequences[i]))
    groups: list[_PrefixGroup] = []
    current: _PrefixGroup | None = None
    for index in order:
        seq = sequences[index]
        if current is not None and len(current.members) < max_group_size:
            first = sequences[current.members[0]]
            shared = min(current.shared, common_prefix_length(first, seq), len(seq) - 1)
            lost = (current.shared - shared) * len(current.members)
            if shared >= min_shared and shared > lost:
                current.members.append(index)
                current.shared = shared
                continue
        current = _PrefixGroup(members=[index], shared=len(seq) - 1)
        groups.append(current)
    return groups


def user_turn(tokenizer: Any, text: str, prompt_template: str | None = None) -> str:
    """The text as a model expects a user turn: formatted by the model's prompt template (the
    `prompt_template` an MLflow transformers model was logged with), then through the chat
    template when the tokenizer has one. Inference and fine-tuning both build prompts here."""
    if prompt_template:
        text = prompt_template.format(prompt=text)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
    return text


def cast_copy(model: Any, dtype: torch.dtype) -> Any:
    """A copy of `model` in `dtype`, equal to `copy.deepcopy(model).to(dtype)` but without its
    second full-precision copy: each parameter is cast on its own and handed to the deep copy
    (a tied parameter, met twice, stays one tensor), then the buffers are cast as `.to` casts
    them. For SmolLM2 in float32 that is a 540 MB copy fewer while it is made."""
    memo: dict[int, Any] = {}
    for parameter in model.parameters():  # a tied parameter is yielded once
        memo[id(parameter)] = torch.nn.Parameter(parameter.detach().to(dtype),
                                                 requires_grad=parameter.requires_grad)
    return copy.deepcopy(model, memo).to(dtype).eval()


def cache_bytes_per_token(model: Any) -> int | None:
    """Bytes of key/value cache one token takes in `model` (keys and values, every layer), from
    its config; None when the config does not say."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    layers, heads = getattr(config, "num_hidden_layers", None), getattr(config, "num_attention_heads", None)
    if not layers or not heads:
        return None
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return 2 * layers * kv_heads * head_dim * model.dtype.itemsize


def plan_generation_batches(lengths: Sequence[int], max_rows: int, max_new_tokens: int,
                            bytes_per_token: int | None,
                            budget: int | None = None) -> list[list[int]]:
    """Consecutive batches of prompt indices, each at most `max_rows` rows and, where the cache
    size is known, at most `budget` bytes (`GENERATION_CACHE_BYTES`) of key/value cache at its
    widest: rows x (its longest prompt + `max_new_tokens`) tokens. A prompt too long for the
    budget alone is a batch of its own."""
    budget = GENERATION_CACHE_BYTES if budget is None else budget
    batches: list[list[int]] = []
    widest = 0
    for index, length in enumerate(lengths):
        if batches:
            rows, wider = len(batches[-1]) + 1, max(widest, length + max_new_tokens)
            if rows <= max_rows and (bytes_per_token is None or rows * wider * bytes_per_token <= budget):
                batches[-1].append(index)
                widest = wider
                continue
        batches.append([index])
        widest = length + max_new_tokens
    return batches


class HFCausalLM:
    """A transformers causal LM and its tokenizer, scored in memory.

    `batch_size` counts sequences per forward pass when generating and embedding, and when
    scoring with `share_prefixes=False`; with prefix sharing (the default), log-likelihoods are
    scored in prefix trees of at most `TREE_NODES` distinct prefixes, several side by side in a
    pass of at most `TREE_BATCH_POSITIONS` positions. The model is used as given
    (dtype and device included); it is put in eval mode. Answers and log-likelihoods are cached
    per text for the adapter's life, so the model must not be changed under it (fine-tune a
    copy, then wrap that).

    Generation may run in another precision and batch size than scoring: `generation_dtype`
    ("bfloat16", the precision SmolLM2 and most current LMs were trained in) generates from a copy
    of the model cast to it, while log-likelihoods stay in the model's own dtype, where LPBS's
    small differences of sums need the digits. On a CPU with bfloat16 instructions it generates
    2-3x faster, more so with `generation_batch_size` 128; greedy answers can differ from float32
    ones where two tokens are nearly tied, so both settings are part of `describe()` and of the run.
    """

    capabilities = frozenset({LOGLIKELIHOOD, GENERATE, PREDICT, EMBED, WEIGHTS})

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        batch_size: int = 32,
        share_prefixes: bool = True,
        progress: bool = True,
        name: str | None = None,
        max_new_tokens: int = 48,
        seed: int = 0,
        prompt_template: str | None = None,
        generation_dtype: str | None = None,
        generation_batch_size: int | None = None,
    ) -> None:
        if generation_dtype is not None and generation_dtype not in GENERATION_DTYPES:
            raise ConfigError(f"generation_dtype {generation_dtype!r} is not one of "
                              f"{sorted(GENERATION_DTYPES)}; give one of them, or None for the "
                              "model's own dtype.")
        if generation_batch_size is not None and int(generation_batch_size) < 1:
            raise ConfigError(f"generation_batch_size {generation_batch_size!r} must be a whole "
                              "number of at least 1, or None for batch_size.")
        if prompt_template is not None and "{prompt}" not in prompt_template:
            raise ConfigError(
                f"prompt_template {prompt_template!r} has no '{{prompt}}' placeholder; write where "
                "the request goes, e.g. 'Answer briefly.\\n{prompt}'."
            )
        if not hasattr(model, "get_output_embeddings") or model.get_output_embeddings() is None:
            raise CapabilityError(
                f"{type(model).__name__} has no language-modelling head, so it cannot give "
                "log-probabilities. Pass a causal LM (AutoModelForCausalLM)."
            )
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        self.share_prefixes = share_prefixes
        self.progress = progress
        self.name = name or getattr(model, "name_or_path", None) or type(model).__name__
        self._context_id = context_token_id(tokenizer)
        self._softcap = getattr(model.config, "final_logit_softcapping", None)
        self._cache_arg = cache_argument(model.get_decoder())
        self._stop_ids = stop_token_ids(model, tokenizer)
        self.max_new_tokens = max_new_tokens
        self.seed = seed
        self.prompt_template = prompt_template
        self._generated: dict[tuple[str, int], str] = {}  # (input, max_new_tokens) -> output
        self.generation_dtype = generation_dtype
        self.generation_batch_size = int(generation_batch_size or batch_size)
        self._generation_model: Any = None
        self._scored: dict[str, float] = {}  # text -> log-likelihood

    # -- the protocol -------------------------------------------------------------------------
    def describe(self) -> dict[str, str]:
        described = {
            "model": str(self.name),
            "model_class": type(self.model).__name__,
            "dtype": str(self.model.dtype).replace("torch.", ""),
            "context_token": str(self._context_id),
        }
        if self.prompt_template:
            described["prompt_template"] = self.prompt_template
        if self.generation_dtype:
            described["generation_dtype"] = self.generation_dtype
            described["generation_batch_size"] = str(self.generation_batch_size)
        return described

    def weights_digest(self) -> str:
        """SHA-256 over the parameter names and values: identifies an in-memory model's weights."""
        if getattr(self, "_weights_digest", None) is None:
            digest = hashlib.sha256()
            for name, tensor in sorted(self.model.state_dict().items()):
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
            self._weights_digest = digest.hexdigest()
        return self._weights_digest

    def __call__(self, model_input: Any) -> list[float]:
        """Pyfunc-style call: the log-likelihood of each row's text (first column).

        Lets the adapter itself be passed as `model=` to `mlflow.models.evaluate`.
        """
        column = model_input.iloc[:, 0] if hasattr(model_input, "iloc") else model_input
        return self.loglikelihood([str(t) for t in column]).tolist()

    # -- outputs ------------------------------------------------------------------------------
    def _prompt(self, text: str) -> str:
        return user_turn(self.tokenizer, text, self.prompt_template)

    def _generator(self) -> Any:
        """The model generation runs on: the model itself, or (once) a copy in `generation_dtype`."""
        dtype = GENERATION_DTYPES.get(self.generation_dtype or "")
        if dtype is None or dtype == self.model.dtype:
            return self.model
        if self._generation_model is None:
            # made outside inference mode even when called from `generate`: a copy cast under
            # inference mode generated 3x slower on the CPU (19.7 s against 6.4 s for 128
            # prompts, measured), the same answers
            with torch.inference_mode(False), torch.no_grad():
                self._generation_model = cast_copy(self.model, dtype)
        return self._generation_model

    @torch.inference_mode()
    def generate(self, inputs: Sequence[str]) -> list[str]:
        """Greedy continuations (deterministic), batched with left padding, sorted by length, and
        cached per (input, max_new_tokens) so two dimensions never generate the same text twice.
        A row leaves its batch as soon as its answer ends (see `adapters.greedy`).

        With `share_prefixes`, the tokens every prompt of a batch starts with (chat template,
        system prompt, a probe's instruction) are run once and their key/value cache is copied to
        every row: the batch then holds [shared prefix][padding][own suffix], the padding masked
        out and the suffix's positions continuing the prefix's, which is the same computation as
        without sharing (greedy tokens agree; logits to float rounding)."""
        # longest first, ties in input order: a set's order changes with each process's string
        # hashing, and so would the batches and, in 16-bit, a few greedy answers
        todo = sorted(dict.fromkeys(t for t in inputs if (t, self.max_new_tokens) not in self._generated),
                      key=len, reverse=True)
        pad_id = self.tokenizer.pad_token_id
        pad_id = pad_id if pad_id is not None else self.tokenizer.eos_token_id
        model = self._generator()
        prompts = [self.tokenizer(self._prompt(t), add_special_tokens=False)["input_ids"] for t in todo]
        batches = plan_generation_batches([len(p) for p in prompts], self.generation_batch_size,
                                          self.max_new_tokens, cache_bytes_per_token(self.model))
        for batch_rows in tqdm(batches, desc="generate", unit="batch", disable=not self.progress,
                               leave=False):
            batch = [todo[i] for i in batch_rows]
            encoded = [prompts[i] for i in batch_rows]
            shared = shared_prefix_length(encoded) if self.share_prefixes else 0
            ids, mask = left_padded(encoded, pad_id, shared)
            cache = None
            if shared:
                output = model(input_ids=ids[:1, :shared].to(model.device), use_cache=True,
                               logits_to_keep=1)
                cache = getattr(output, "cache", None) or output.past_key_values
            answers = greedy_decode(model, ids, mask, max_new_tokens=self.max_new_tokens,
                                    stop_ids=self._stop_ids, cache=cache, cached=shared)
            for text, answer in zip(batch, answers):
                self._generated[(text, self.max_new_tokens)] = self.tokenizer.decode(
                    answer, skip_special_tokens=True
                ).strip()
            cache = output = None  # this batch's prefix cache goes before the trim
            release_freed_memory()
        return [self._generated[(t, self.max_new_tokens)] for t in inputs]

    def predict(self, inputs: Sequence[str], column: str = "input", batch_size: int | None = None,
                progress: bool | None = None) -> Predictions:
        """Outputs for the output dimensions: the model's greedy answer to each input."""
        outputs = self.generate(list(inputs))
        return Predictions(outputs, [None] * len(outputs))

    def loglikelihood(self, texts: Sequence[str]) -> np.ndarray:
        """Log-likelihood of each text in nats, float64, in the order given.

        `texts` may be a list or a pandas string Series: the distinct texts are found without
        making Python strings (`pd.factorize`), and are made one window at a time, so a large
        probe's Arrow-backed text columns are never all Python strings at once. The last
        `SCORE_CACHE_TEXTS` texts scored are kept, so a probe scored again costs nothing."""
        codes, distinct = pd.factorize(pd.Series(texts, copy=False), use_na_sentinel=True)
        if (codes < 0).any():
            raise ValueError(f"text {int(np.argmax(codes < 0))} of {len(codes)} is missing (None or "
                             "NaN); a log-likelihood needs a string. Fill or drop it before scoring.")
        scores = np.empty(len(distinct), dtype=np.float64)
        windows = range(0, len(distinct), SCORING_WINDOW)
        for number, start in enumerate(windows, 1):
            window = distinct[start : start + SCORING_WINDOW].tolist()
            known = [self._scored.get(text) for text in window]
            new = [i for i, score in enumerate(known) if score is None]
            if new:
                label = f"log-likelihood {number}/{len(windows)}" if len(windows) > 1 else None
                new_texts = [window[i] for i in new]
                fresh = self._score_sequences([self._encode(t) for t in new_texts], label).tolist()
                for i, score in zip(new, fresh):
                    known[i] = score
                self._remember(new_texts, fresh)
                release_freed_memory()
            scores[start : start + len(window)] = known
        return scores[codes]

    def _remember(self, texts: list[str], scores: list[float]) -> None:
        """Keep the newest `SCORE_CACHE_TEXTS` scores (dicts keep insertion order)."""
        self._scored.update(zip(texts, scores))
        excess = len(self._scored) - SCORE_CACHE_TEXTS
        for text in list(itertools.islice(self._scored, max(excess, 0))):
            del self._scored[text]

    def answer_loglikelihood(self, prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        """log P(answer | prompt) in nats for each (prompt, answer) pair: the prompt as a user turn
        (through the chat template when there is one), the answer as the first words of the reply.

        Prompt and answer are tokenized apart (as lm-evaluation-harness does for context and
        continuation) and the answer's tokens are scored after the prompt's; the difference of the
        two log-likelihoods is exactly the sum over the answer tokens. Every answer to one prompt
        shares the prompt's tokens, so the prefix cache computes the prompt once.
        """
        if len(prompts) != len(answers):
            raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers.")
        contexts = {p: self._encode(self._prompt(p)) for p in dict.fromkeys(prompts)}
        answer_ids = {a: list(self.tokenizer(a, add_special_tokens=False)["input_ids"])
                      for a in dict.fromkeys(answers)}
        empty = [a for a, ids in answer_ids.items() if not ids]
        if empty:
            raise ValueError(f"Answer {empty[0]!r} has no tokens; give each answer some text.")
        joined = [contexts[p] + answer_ids[a] for p, a in zip(prompts, answers)]
        scores = self._score_sequences(joined + list(contexts.values()))
        context_scores = dict(zip(contexts, scores[len(joined):]))
        return scores[: len(joined)] - np.array([context_scores[p] for p in prompts])

    def continuation_loglikelihood(self, contexts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """log P(continuation | context) in nats per pair, on plain text (no chat template), the
        way lm-evaluation-harness scores a multiple-choice answer: the context's trailing spaces
        move to the continuation; the pair is tokenized whole and the context alone; the
        continuation is the whole's tokens after as many as the context has, scored after the
        context's own tokens; an empty context is the BOS (else EOS) token. The continuations of
        one context share its tokens in the prefix tree; pairs are scored `SCORING_WINDOW` at a
        time."""
        if len(contexts) != len(continuations):
            raise ValueError(f"{len(contexts)} contexts but {len(continuations)} continuations.")

        def encode(text: str) -> list[int]:
            return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

        out = np.zeros(len(contexts), dtype=np.float64)
        windows = range(0, len(contexts), SCORING_WINDOW)  # bounded memory: BBQ is 700k pairs
        for number, start in enumerate(windows, 1):
            joined, context_ids = [], []
            for context, continuation in zip(contexts[start:start + SCORING_WINDOW],
                                             continuations[start:start + SCORING_WINDOW]):
                kept = context.rstrip(" ")
                context, continuation = kept, context[len(kept):] + continuation
                whole = encode(context + continuation)
                own = encode(context) if context else [self._context_id]
                joined.append(own + whole[len(own) if context else 0:])
                context_ids.append(own)
            label = f"choices {number}/{len(windows)}" if len(windows) > 1 else "choices"
            scores = self._score_sequences(joined + context_ids, label)
            out[start:start + len(joined)] = scores[: len(joined)] - scores[len(joined):]
            release_freed_memory()
        return out

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Mean of the last hidden states over each text's own tokens, read after the BOS context
        token (no chat template); see `adapters.embedding` for why."""
        return embed_sorted(texts, self.batch_size, self.progress, self._embed_batch)

    @torch.inference_mode()
    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        ids, mask = self._pad([self._encode(t) for t in batch])
        hidden = self._decoder()(input_ids=ids, attention_mask=mask, use_cache=False)[0]
        text_tokens = mask.clone()
        text_tokens[:, 0] = 0  # the context token: the same for every text, and an attention sink
        return mean_pool(hidden.float(), text_tokens).cpu().numpy()

    @torch.inference_mode()
    def _score_sequences(self, token_sequences: Sequence[list[int]],
                         label: str | None = None) -> np.ndarray:
        """Log-likelihood of each token sequence (context token first), in the order given;
        `label` names the progress bar."""
        unique: dict[tuple[int, ...], int] = {}
        for seq in token_sequences:
            unique.setdefault(tuple(seq), len(unique))
        sequences = [list(seq) for seq in unique]
        scores = np.zeros(len(sequences), dtype=np.float64)
        scorable = [i for i, s in enumerate(sequences) if len(s) > 1]  # "" scores 0 nats
        if self.share_prefixes:
            passes = plan_tree_passes([sequences[i] for i in scorable], TREE_NODES, TREE_BATCH_POSITIONS)
            for rows in tqdm(passes, desc=label or "log-likelihood", unit="batch",
                             disable=not self.progress, leave=False):
                self._score_trees([([scorable[i] for i in pack], tree) for pack, tree in rows], scores)
        else:  # plain right-padded batches, longest first
            ordered = sorted(scorable, key=lambda i: len(sequences[i]), reverse=True)
            for start in tqdm(range(0, len(ordered), self.batch_size), desc=label or "log-likelihood",
                              unit="batch", disable=not self.progress, leave=False):
                self._score_full(sequences, ordered[start : start + self.batch_size], scores)
        return scores[[unique[tuple(seq)] for seq in token_sequences]]

    def _encode(self, text: str) -> list[int]:
        return encode_for_scoring(self.tokenizer, text, self._context_id)

    # -- scoring ------------------------------------------------------------------------------
    def _pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids, mask = pad_right(rows, pad_id)
        device = self.model.device
        return ids.to(device), mask.to(device)

    def _token_logprobs(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """log P(target) for each row of hidden states, through the LM head in chunks."""
        head = self.model.get_output_embeddings()
        vocab = head.weight.shape[0]
        rows = max(1, LOGIT_CHUNK_ELEMENTS // vocab)
        out = []
        for start in range(0, hidden.shape[0], rows):
            logits = head(hidden[start : start + rows]).float()
            if self._softcap:
                logits = torch.tanh(logits / self._softcap) * self._softcap
            picked = logits.gather(1, targets[start : start + rows, None]).squeeze(1)
            out.append(picked - torch.logsumexp(logits, dim=-1))
        return torch.cat(out) if out else hidden.new_zeros(0)

    def _decoder(self) -> Any:
        return self.model.get_decoder()

    def _score_full(self, sequences: list[list[int]], batch: list[int], scores: np.ndarray) -> None:
        ids, mask = self._pad([sequences[i] for i in batch])
        hidden = self._decoder()(input_ids=ids, attention_mask=mask, use_cache=False)[0]
        # position t predicts token t+1; keep only positions whose next token is real
        predict = mask[:, 1:].bool()
        token_lp = self._token_logprobs(hidden[:, :-1][predict], ids[:, 1:][predict])
        per_row = torch.zeros(len(batch), dtype=torch.float64, device=token_lp.device)
        per_row.index_add_(0, predict.nonzero()[:, 0], token_lp.double())
        scores[batch] = per_row.cpu().numpy()

    def _score_trees(self, batch: list[tuple[list[int], TokenTree]], scores: np.ndarray) -> None:
        """Score prefix trees side by side in one forward pass (see `adapters.token_tree`): each
        row is one tree (`pack` lists the sequences it holds), padded to the largest; each node
        attends to its ancestors at the position of its depth, a padding node to itself only, and
        each node's token is scored once from its parent's hidden state."""
        device, dtype = self.model.device, self.model.dtype
        width = max(len(tree) for _, tree in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        positions = torch.zeros((len(batch), width), dtype=torch.long)
        allowed = torch.eye(width, dtype=torch.bool).repeat(len(batch), 1, 1)
        for row, (_, tree) in enumerate(batch):
            size = len(tree)
            ids[row, :size] = torch.from_numpy(tree.tokens)
            positions[row, :size] = torch.from_numpy(tree.depths)
            allowed[row, :size, :size] = torch.from_numpy(tree.ancestry())
        # an additive mask: 0 where a node may attend, the dtype's minimum elsewhere (the form
        # every attention implementation accepts as a prepared 4D mask)
        mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
        hidden = self._decoder()(input_ids=ids.to(device), attention_mask=mask[:, None].to(device),
                                 position_ids=positions.to(device), use_cache=False)[0]
        scored = [np.nonzero(tree.parents >= 0)[0] for _, tree in batch]  # roots: the context token
        rows, parents, tokens = (torch.from_numpy(np.concatenate(parts)).to(device) for parts in (
            [np.full(len(nodes), row) for row, nodes in enumerate(scored)],
            [tree.parents[nodes] for (_, tree), nodes in zip(batch, scored)],
            [tree.tokens[nodes] for (_, tree), nodes in zip(batch, scored)]))
        token_lp = self._token_logprobs(hidden[rows, parents], tokens).double().cpu().numpy()
        ends = np.cumsum([len(nodes) for nodes in scored])
        for (pack, tree), nodes, end in zip(batch, scored, ends):
            node_lp = np.zeros(len(tree), dtype=np.float64)
            node_lp[nodes] = token_lp[end - len(nodes) : end]
            for index, path in zip(pack, tree.paths):
                scores[index] = node_lp[path].sum()


@torch.inference_mode()
def loglikelihood_one_by_one(model: Any, tokenizer: Any, texts: Sequence[str]) -> np.ndarray:
    """Reference implementation: one text at a time, full logits, plain log-softmax.

    Slow on purpose; it is the yardstick the batched adapter is tested and benchmarked against.
    """
    context = context_token_id(tokenizer)
    out = np.zeros(len(texts), dtype=np.float64)
    for i, text in enumerate(texts):
        ids = encode_for_scoring(tokenizer, text, context)
        if len(ids) < 2:
            continue
        tensor = torch.tensor([ids], device=model.device)
        logits = model(input_ids=tensor).logits[0, :-1].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        out[i] = logprobs.gather(1, tensor[0, 1:, None]).sum().item()
    return out
