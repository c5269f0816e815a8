"""Greedy generation on SmolLM2-135M-Instruct with and without the shared-prefix cache, on the
shipped hiring-summary probe's inputs, in one run: checks the answers are identical and prints
the time ratio.

    python benchmarks/generation_prefix.py [--inputs 128] [--batch-size 32] [--max-new-tokens 32]

Every input is a user turn in the chat template (system prompt, then the probe's instruction, then
a one-line resume), so about half of each prompt's tokens are shared by the whole batch.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import mlflow_bias.probes as probes  # noqa: E402
from mlflow_bias.adapters import HFCausalLM  # noqa: E402
from mlflow_bias.adapters.models import load_smollm2  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args()
    model, tokenizer = load_smollm2()
    inputs = probes.load("hiring-summary").to_pandas()["input"].tolist()[: args.inputs]
    timings, answers = {}, {}
    for share in (False, True):
        adapter = HFCausalLM(model, tokenizer, batch_size=args.batch_size, progress=False,
                             max_new_tokens=args.max_new_tokens, share_prefixes=share)
        started = time.perf_counter()
        answers[share] = adapter.generate(inputs)
        timings[share] = time.perf_counter() - started
    same = sum(a == b for a, b in zip(answers[False], answers[True]))
    print(f"{len(inputs)} inputs, batch {args.batch_size}, {args.max_new_tokens} new tokens")
    print(f"identical answers: {same} of {len(inputs)}")
    print(f"plain batched generation: {timings[False]:.1f} s")
    print(f"shared-prefix generation: {timings[True]:.1f} s "
          f"({timings[False] / timings[True]:.2f}x faster)")


if __name__ == "__main__":
    main()
