"""Greedy generation in float32 against a bfloat16 copy of the model (`generation_dtype`), at the
scoring batch size and at a larger generation batch, on the shipped hiring-summary probe's
inputs, in one run: prints each setting's time, its ratio to float32, and how many answers are
identical to float32's.

    python benchmarks/generation_precision.py [--inputs 128] [--max-new-tokens 32]
        [--model models:/hiring-screen/2]

Without `--model` it measures the base SmolLM2-135M-Instruct, whose free-text answers to these
inputs are long and hesitant, so near ties (and different answers) are common; `--model` takes a
registered model (the story's fine-tuned screen, after `bash scripts/demo.sh`; set
MLFLOW_TRACKING_URI=sqlite:///mlflow.db), whose prompt template is applied as in an evaluation.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import mlflow_bias.probes as probes  # noqa: E402
from mlflow_bias.adapters import HFCausalLM, resolve_adapter  # noqa: E402
from mlflow_bias.adapters.models import load_smollm2  # noqa: E402

SETTINGS = (("float32", 32), ("bfloat16", 32), ("bfloat16", 128))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=128)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--model", default=None, help="a registered model URI (default: base SmolLM2)")
    args = parser.parse_args()
    if args.model:
        loaded = resolve_adapter(args.model, progress=False)
        model, tokenizer, template = loaded.model, loaded.tokenizer, loaded.prompt_template
    else:
        (model, tokenizer), template = load_smollm2(), None
    inputs = probes.load("hiring-summary").to_pandas()["input"].tolist()[: args.inputs]
    timings, answers = {}, {}
    for dtype, batch in SETTINGS:
        adapter = HFCausalLM(model, tokenizer, batch_size=32, progress=False, prompt_template=template,
                             max_new_tokens=args.max_new_tokens,
                             generation_dtype=None if dtype == "float32" else dtype,
                             generation_batch_size=batch)
        adapter._generator()  # the bfloat16 copy is made before the clock starts
        started = time.perf_counter()
        answers[dtype, batch] = adapter.generate(inputs)
        timings[dtype, batch] = time.perf_counter() - started
    baseline = SETTINGS[0]
    print(f"{args.model or 'SmolLM2-135M-Instruct (base)'}: {len(inputs)} inputs, "
          f"{args.max_new_tokens} new tokens")
    for setting in SETTINGS:
        same = sum(a == b for a, b in zip(answers[baseline], answers[setting]))
        print(f"{setting[0]:>9} batch {setting[1]:>3}: {timings[setting]:6.1f} s "
              f"({timings[baseline] / timings[setting]:.2f}x float32 batch 32); "
              f"answers identical to float32's: {same} of {len(inputs)}")


if __name__ == "__main__":
    main()
