"""How the adapter lays out its prefix trees, compared in one run: one tree of 512 nodes a forward
pass (the earlier layout) against trees of at most 256 nodes side by side, 1,024 positions a pass
(`TREE_NODES`, `TREE_BATCH_POSITIONS`), on the same SmolLM2 object and texts.

    python benchmarks/tree_layout.py [--items 1000] [--rounds 3] [--texts FILE]

Sets: `probe` and `pairs` of `lpbs_throughput.py`, and `file` with `--texts` (the same formats).
Each layout is warmed up, then the layouts alternate (their order flipped every round), a new
adapter each time so its score cache starts empty; the best time of each is printed, and the
scores of the two layouts are compared.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

import mlflow_bias.adapters.hf as hf  # noqa: E402
from lpbs_throughput import file_texts, pair_texts, probe_texts, warm_up_texts  # noqa: E402
from mlflow_bias.adapters import HFCausalLM  # noqa: E402
from mlflow_bias.adapters.models import load_smollm2  # noqa: E402

LAYOUTS = {"one 512-node tree a pass": (512, 512),
           "256-node trees side by side, 1,024 positions a pass": (256, 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000, help="probe items and generated pairs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--texts", type=Path, help="a file of texts from outside the repository")
    args = parser.parse_args()
    model, tokenizer = load_smollm2()
    sets = {"probe": probe_texts(args.items), "pairs": pair_texts(args.items)}
    if args.texts:
        sets["file"] = file_texts(args.texts)

    def score(texts: list[str], layout: str) -> tuple[np.ndarray, float]:
        hf.TREE_NODES, hf.TREE_BATCH_POSITIONS = LAYOUTS[layout]
        started = time.perf_counter()
        scores = HFCausalLM(model, tokenizer, progress=False).loglikelihood(texts)
        return scores, time.perf_counter() - started

    for layout in LAYOUTS:
        score(warm_up_texts(), layout)
    old, new = LAYOUTS
    print(f"{'set':<6} {'texts':>6}  {'earlier s':>9} {'now s':>7}  {'now faster by':>13}  max|diff| nats")
    for name, texts in sets.items():
        best, scores = {old: float("inf"), new: float("inf")}, {}
        for round_ in range(args.rounds):
            for layout in (LAYOUTS if round_ % 2 == 0 else [new, old]):
                scores[layout], elapsed = score(texts, layout)
                best[layout] = min(best[layout], elapsed)
        diff = np.abs(scores[old] - scores[new]).max()
        print(f"{name:<6} {len(texts):>6}  {best[old]:>9.2f} {best[new]:>7.2f}  "
              f"{best[old] / best[new]:>12.2f}x  {diff:.1e}")
    print(f"earlier: {old}; now: {new}; best of {args.rounds} alternating rounds")


if __name__ == "__main__":
    main()
