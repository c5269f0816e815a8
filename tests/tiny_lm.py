"""A tiny causal LM and word-level tokenizer trained locally in seconds on generated sentences.

Used where a test needs a real (if small) language model whose associations we control: trained
on text where one group co-occurs with some conditions it must show bias; trained on balanced
text it must not.
"""

from __future__ import annotations

import random

import pandas as pd
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

MALE_CODED = ["carpenter", "pilot", "plumber", "welder"]
FEMALE_CODED = ["nurse", "secretary", "librarian", "dietitian"]
OCCUPATIONS = MALE_CODED + FEMALE_CODED
TEMPLATES = [
    "the {occ} said that {p} was late .",
    "the {occ} finished work and {p} went home .",
    "yesterday the {occ} explained that {p} was busy .",
    "everyone knew the {occ} because {p} worked hard .",
    "the {occ} smiled when {p} arrived .",
]


def corpus(skew: float, n_sentences: int = 4000, seed: int = 0) -> list[str]:
    """Sentences where male-coded occupations take "he" with probability `skew` (and female-coded
    ones "she"); "person" sentences are always balanced. skew=0.5 is balanced text."""
    rng = random.Random(seed)
    out = []
    for _ in range(n_sentences):
        template = rng.choice(TEMPLATES)
        occ = rng.choice(OCCUPATIONS + ["person"])
        p_he = 0.5 if occ == "person" else (skew if occ in MALE_CODED else 1 - skew)
        out.append(template.format(occ=occ, p="he" if rng.random() < p_he else "she"))
    return out


def tokenizer() -> PreTrainedTokenizerFast:
    words = sorted({w for t in TEMPLATES for w in t.replace("{occ}", "").replace("{p}", "").split()}
                   | set(OCCUPATIONS) | {"person", "he", "she"})
    vocab = {"<pad>": 0, "<bos>": 1, "<eos>": 2, "<unk>": 3}
    vocab.update({w: i + 4 for i, w in enumerate(words)})
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        unk_token="<unk>",
    )


def train(skew: float, steps: int = 300, seed: int = 0) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    torch.manual_seed(seed)
    tok = tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    sentences = corpus(skew, seed=seed)
    ids = [[tok.bos_token_id] + tok(s, add_special_tokens=False)["input_ids"] for s in sentences]
    width = max(map(len, ids))
    batch = torch.full((len(ids), width), tok.pad_token_id)
    for i, row in enumerate(ids):
        batch[i, : len(row)] = torch.tensor(row)
    labels = batch.masked_fill(batch == tok.pad_token_id, -100)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        pick = torch.randint(0, len(ids), (64,), generator=generator)
        loss = model(input_ids=batch[pick], labels=labels[pick]).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    model.eval()
    return model, tok


def probe() -> pd.DataFrame:
    """Counterfactual pairs over the tiny model's occupations and templates, labelled by coding."""
    rows = []
    for occ in OCCUPATIONS:
        for t, template in enumerate(TEMPLATES):
            rows.append({
                "id": f"{occ}-{t}", "attribute": "gender", "condition": occ,
                "group_a": "male", "group_b": "female",
                "text_a": template.format(occ=occ, p="he"), "text_b": template.format(occ=occ, p="she"),
                "prior_a": template.format(occ="person", p="he"),
                "prior_b": template.format(occ="person", p="she"),
                "stereotype": "a" if occ in MALE_CODED else "b",
                "template": f"t{t}",
            })
    return pd.DataFrame(rows)
