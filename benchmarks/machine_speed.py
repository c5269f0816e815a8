"""A fixed log-likelihood run to read other timings against: every LPBS text of the shipped
`gender-occupation` probe (2,088 unique texts) scored by SmolLM2-135M-Instruct in float32, in
plain right-padded batches of 32 (`share_prefixes=False`, a path the speed work leaves alone),
so that it measures the machine rather than the adapter. The shared machine's speed varies
through a day by 2x; a time quoted beside this run's can be compared with another day's.

    python benchmarks/machine_speed.py
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import mlflow_bias.probes as probes  # noqa: E402
from mlflow_bias.adapters import HFCausalLM  # noqa: E402
from mlflow_bias.adapters.models import load_smollm2  # noqa: E402


def main() -> None:
    frame = probes.load("gender-occupation", "1.0.0").to_pandas()  # pinned: a yardstick must not change
    columns = ("text_a", "text_b", "prior_a", "prior_b")
    texts = list(dict.fromkeys(t for c in columns for t in frame[c]))
    model, tokenizer = load_smollm2()
    adapter = HFCausalLM(model, tokenizer, batch_size=32, progress=False, share_prefixes=False)
    started = time.perf_counter()
    adapter.loglikelihood(texts)
    print(f"{len(texts)} texts of gender-occupation scored in plain batches in "
          f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
