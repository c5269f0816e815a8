"""Sentence embeddings for the association (WEAT/SEAT) dimension.

Three kinds of model give an embedding per text, all batched, sorted by length and returned in the
order given, float64:
- a sentence-transformers model: its own `encode` (its pooling and, if configured, normalisation);
- a transformers encoder (BERT-like): mean of the last hidden states over the attention mask;
- a transformers causal LM (`HFCausalLM.embed`): mean of the last hidden states over the text's own
  tokens, run after the BOS context token as in scoring. A causal LM has no pooled sentence
  representation; the mean is the usual choice and, unlike the last token's state, does not depend
  mostly on the text's final word. BOS is context but not pooled: its state is the same for every
  text (and, as an attention sink, often much larger), so it would pull all embeddings together.
"""

from __future__ import annotations


from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from mlflow_bias.adapters.base import EMBED


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `hidden[b, t, :]` over the positions where `mask[b, t]` is 1."""
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)


def embed_sorted(texts: Sequence[str], batch_size: int, progress: bool,
                 embed_batch: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Embed unique texts in batches of similar length (longest first); rows in the order given."""
    unique = list(dict.fromkeys(texts))
    order = sorted(range(len(unique)), key=lambda i: len(unique[i]), reverse=True)
    rows: dict[int, np.ndarray] = {}
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc="embed", unit="batch", disable=not progress, leave=False):
        batch = order[start : start + batch_size]
        vectors = embed_batch([unique[i] for i in batch])
        for i, vector in zip(batch, vectors):
            rows[i] = vector
    index = {text: i for i, text in enumerate(unique)}
    if not unique:
        return np.zeros((0, 0))
    return np.stack([rows[index[t]] for t in texts]).astype(np.float64)


class _Encoder:
    """What both encoders share: the pyfunc-style call and batched, length-sorted `embed`."""

    capabilities = frozenset({EMBED})
    batch_size: int
    progress: bool

    def __call__(self, model_input: Any) -> list[list[float]]:
        """Pyfunc-style call (so the adapter can be passed as `model=` to `mlflow.models.evaluate`)."""
        column = model_input.iloc[:, 0] if hasattr(model_input, "iloc") else model_input
        return self.embed([str(t) for t in column]).tolist()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return embed_sorted(texts, self.batch_size, self.progress, self._embed_batch)

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        raise NotImplementedError


class SentenceEncoder(_Encoder):
    """A sentence-transformers model (e.g. all-MiniLM-L6-v2)."""

    def __init__(self, model: Any, *, batch_size: int = 64, progress: bool = True,
                 name: str | None = None) -> None:
        self.model = model
        self.batch_size = int(batch_size)
        self.progress = progress
        self.name = name or _sentence_model_name(model)

    def describe(self) -> dict[str, str]:
        return {"model": str(self.name), "model_class": type(self.model).__name__,
                "pooling": "sentence-transformers"}

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        return self.model.encode(batch, batch_size=len(batch), convert_to_numpy=True,
                                 show_progress_bar=False)


class HFEncoder(_Encoder):
    """A transformers encoder and its tokenizer: mean pooling over the attention mask."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 64, progress: bool = True,
                 name: str | None = None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        self.progress = progress
        self.name = name or getattr(model, "name_or_path", None) or type(model).__name__

    def describe(self) -> dict[str, str]:
        return {"model": str(self.name), "model_class": type(self.model).__name__,
                "pooling": "mean over attention mask"}

    @torch.inference_mode()
    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        encoded = self.tokenizer(batch, padding=True, truncation=True, return_tensors="pt")
        encoded = {k: v.to(self.model.device) for k, v in encoded.items()}
        hidden = self.model(**encoded).last_hidden_state
        return mean_pool(hidden.float(), encoded["attention_mask"]).cpu().numpy()


def _sentence_model_name(model: Any) -> str:
    card = getattr(model, "model_card_data", None)
    return (getattr(card, "base_model", None) or getattr(card, "model_id", None)
            or type(model).__name__)

