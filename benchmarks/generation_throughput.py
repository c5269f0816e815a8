"""Greedy generation: the project's adapter against lm-evaluation-harness's
`HFLM.generate_until`, on the same SmolLM2-135M-Instruct object, in one run.

    python benchmarks/generation_throughput.py [--per-probe 64] [--max-new-tokens 48]
        [--batch-size 32] [--generation-batch-size 32] [--rounds 2]

The prompts are the first `--per-probe` inputs of the shipped CBS probe (`hiring-summary`) and of
the refusal probe (`refusal-requests`), each as a user turn of the model's chat template. Both
sides decode greedily, at most `--max-new-tokens` tokens, and stop at the end of the assistant's
turn (`<|im_end|>`, the model's EOS). Both are warmed up first, then run alternately, `--rounds`
times each; the best time of each is compared. Every answer is compared (after stripping
whitespace) and the count of identical answers printed, with how many answers stopped before the
limit.

It then counts the work each side does, in multiply-accumulates through the model's weights
(2 x parameters per token through the layers, plus the output layer for every token whose
logits are read), from the prompts' and answers' token counts: the harness's batches (sorted by
prompt length, padded to the longest prompt, decoded until the batch's last row stops), ours
(the batch plan, the shared prefix once, each row until it stops), and the least any method must
do to give the same answers: every distinct prompt prefix once (a trie over all prompts) and
every answer token. The harness's work over that least is the most any exact method can gain.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import mlflow_bias.probes as probes  # noqa: E402
from mlflow_bias.adapters import HFCausalLM  # noqa: E402
from mlflow_bias.adapters.greedy import shared_prefix_length  # noqa: E402
from mlflow_bias.adapters.hf import (cache_bytes_per_token, plan_generation_batches,  # noqa: E402
                                     user_turn)
from mlflow_bias.adapters.models import load_smollm2  # noqa: E402


class _Request:
    """What `HFLM.generate_until` reads: `.args` = (context, generation kwargs)."""

    def __init__(self, context: str, max_new_tokens: int) -> None:
        self.args = (context, {"until": ["<|im_end|>"], "max_gen_toks": max_new_tokens,
                               "do_sample": False})


def prompts(per_probe: int) -> list[str]:
    cbs = probes.load("hiring-summary").to_pandas()["input"].tolist()[:per_probe]
    refusal = probes.load("refusal-requests").to_pandas()["prompt"].tolist()[:per_probe]
    return cbs + refusal


@dataclass
class Work:
    """Tera floating-point operations through the weights: running prompts, and decoding."""

    prompt: float
    decode: float

    @property
    def total(self) -> float:
        return self.prompt + self.decode


def weight_flops(model: Any) -> tuple[float, float]:
    """FLOPs per token through the layers (without the input embedding) and through the output
    layer (tied to the embedding in SmolLM2)."""
    embedding = model.get_input_embeddings().weight.numel()
    return 2.0 * (model.num_parameters() - embedding), 2.0 * model.get_output_embeddings().weight.numel()


def harness_work(prompts: list[list[int]], answers: list[int], batch: int, layers: float,
                 head: float) -> Work:
    """Batches of `batch` prompts, longest first, padded; every row decoded until the batch's
    longest answer ends (finished rows are carried)."""
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    prompt = decode = 0.0
    for low in range(0, len(order), batch):
        rows = order[low:low + batch]
        prompt += len(rows) * max(len(prompts[i]) for i in rows) * layers + len(rows) * head
        decode += len(rows) * (max(answers[i] for i in rows) - 1) * (layers + head)
    return Work(prompt / 1e12, decode / 1e12)


def adapter_work(prompts: list[list[int]], answers: list[int], batches: list[list[int]],
                 layers: float, head: float) -> Work:
    """The adapter's batch plan: the shared prefix once, each row's padded rest, and each row
    decoded until its own answer ends."""
    prompt = decode = 0.0
    for rows in batches:
        encoded = [prompts[i] for i in rows]
        shared = shared_prefix_length(encoded)
        widest = max(map(len, encoded))
        prompt += shared * layers + len(rows) * ((widest - shared) * layers + head)
        decode += sum(answers[i] - 1 for i in rows) * (layers + head)
    return Work(prompt / 1e12, decode / 1e12)


def least_work(prompts: list[list[int]], answers: list[int], layers: float, head: float) -> Work:
    """Every distinct prompt prefix once, and every answer token after the first."""
    prefixes = {tuple(p[:k]) for p in prompts for k in range(1, len(p) + 1)}
    return Work((len(prefixes) * layers + len(prompts) * head) / 1e12,
                sum(a - 1 for a in answers) * (layers + head) / 1e12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-probe", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=32, help="both sides' batch size")
    parser.add_argument("--generation-batch-size", type=int, default=None,
                        help="the adapter's generation batch (default: --batch-size)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import torch
    from lm_eval.models.huggingface import HFLM

    model, tokenizer = load_smollm2()
    inputs = prompts(args.per_probe)
    harness = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size)
    requests = [_Request(user_turn(tokenizer, text), args.max_new_tokens) for text in inputs]

    def ours() -> list[str]:
        adapter = HFCausalLM(model, tokenizer, batch_size=args.batch_size, progress=False,
                             max_new_tokens=args.max_new_tokens,
                             generation_batch_size=args.generation_batch_size)
        return adapter.generate(inputs)

    def theirs() -> list[str]:
        return harness.generate_until(requests, disable_tqdm=True)

    sides = {"mlflow-bias HFCausalLM.generate": ours, "lm-eval HFLM.generate_until": theirs}
    for run in sides.values():  # warm-up: the first call of each pays one-off costs
        run()
    best: dict[str, float] = {}
    answers: dict[str, list[str]] = {}
    for _ in range(args.rounds):
        for name, run in sides.items():
            started = time.perf_counter()
            answers[name] = run()
            elapsed = time.perf_counter() - started
            best[name] = min(best.get(name, elapsed), elapsed)
    (ours_name, ours_time), (their_name, their_time) = best.items()
    same = sum(a.strip() == b.strip() for a, b in zip(answers[ours_name], answers[their_name]))
    limit = args.max_new_tokens
    stopped = sum(len(tokenizer(a, add_special_tokens=False)["input_ids"]) < limit - 1
                  for a in answers[ours_name])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(inputs)} prompts "
          f"({args.per_probe} hiring-summary, {args.per_probe} refusal-requests), at most {limit} "
          f"new tokens, batch {args.batch_size}, best of {args.rounds}")
    print(f"{their_name}: {their_time:.1f} s")
    print(f"{ours_name}: {ours_time:.1f} s ({their_time / ours_time:.2f}x)")
    print(f"identical answers: {same} of {len(inputs)}; answers that ended before the limit: "
          f"{stopped} of {len(inputs)}")

    # the work each side does, from token counts (answers re-tokenized, their stop token counted)
    encoded = [tokenizer(r.args[0], add_special_tokens=False)["input_ids"] for r in requests]
    lengths = [min(limit, len(tokenizer(a, add_special_tokens=False)["input_ids"]) + 1)
               for a in answers[ours_name]]
    layers, head = weight_flops(model)
    order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i]))  # the adapter's order
    plan = plan_generation_batches([len(encoded[i]) for i in order],
                                   args.generation_batch_size or args.batch_size, limit,
                                   cache_bytes_per_token(model))
    works = {their_name: harness_work(encoded, lengths, args.batch_size, layers, head),
             ours_name: adapter_work(encoded, lengths, [[order[i] for i in b] for b in plan],
                                     layers, head),
             "least for the same answers": least_work(encoded, lengths, layers, head)}
    least = works["least for the same answers"].total
    print(f"work in TFLOP through the weights ({sum(map(len, encoded))} prompt tokens, "
          f"{sum(lengths)} answer tokens; batches {[len(b) for b in plan]}):")
    for name, work in works.items():
        print(f"  {name}: prompts {work.prompt:.2f} + decoding {work.decode:.2f} = {work.total:.2f} "
              f"({work.total / least:.2f}x the least)")
    harness_total = works[their_name].total
    print(f"the most an exact method can gain over the harness: {harness_total / least:.2f}x; "
          f"ours does {harness_total / works[ours_name].total:.2f}x less work than the harness and "
          f"measured {their_time / ours_time:.2f}x faster")


if __name__ == "__main__":
    main()
