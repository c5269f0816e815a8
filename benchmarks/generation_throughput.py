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
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import mlflow_bias.probes as probes  # noqa: E402
from mlflow_bias.adapters import HFCausalLM  # noqa: E402
from mlflow_bias.adapters.hf import user_turn  # noqa: E402
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


if __name__ == "__main__":
    main()
