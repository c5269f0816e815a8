"""Multiple-choice scoring: the project's adapter against lm-evaluation-harness's
`HFLM.loglikelihood`, on BBQ items with the harness's choices, the same SmolLM2-135M-Instruct
object, in one run.

    python benchmarks/multiple_choice.py [--bbq DIR] [--items 48] [--rounds 2] [--batch-size 16]

`--bbq` is a folder of BBQ's per-category `*.jsonl` files (default: the small files written in
BBQ's format for the tests, `tests/fixtures/benchmarks/bbq`). Each item's context and question
form the prompt "{context}\\n\\nQ: {question}\\nA:" and its 12 choices (the two people's answers
and ten phrasings of "unknown") the continuations, as the harness's `bbq` task scores them. Both
sides score every (prompt, choice) pair: ours with `HFCausalLM.continuation_loglikelihood` (the
choices of one prompt share its tokens in a prefix tree), the harness with `loglikelihood` (each
pair in full). Both are warmed up, then run alternately, `--rounds` times each; the best times are
compared, with the largest log-likelihood difference and the items whose most likely choice
differs.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from mlflow_bias.adapters import HFCausalLM  # noqa: E402
from mlflow_bias.adapters.models import load_smollm2  # noqa: E402
from mlflow_bias.dimensions.bbq import PROMPT, choice_sets  # noqa: E402
from mlflow_bias.public_benchmarks import bbq  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "benchmarks" / "bbq"


class _Request:
    """What `HFLM.loglikelihood` reads: `.args` = (context, continuation)."""

    def __init__(self, context: str, continuation: str) -> None:
        self.args = (context, continuation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bbq", type=Path, default=FIXTURE)
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16, help="both sides' batch size")
    args = parser.parse_args()

    import torch
    from lm_eval.models.huggingface import HFLM

    probe = bbq.read(args.bbq).head(args.items)
    prompts = [PROMPT.format(context=c, question=q) for c, q in zip(probe["passage"], probe["question"])]
    sets = choice_sets(probe, "harness")
    contexts = [p for p, (texts, _) in zip(prompts, sets) for _ in texts]
    continuations = [" " + t for texts, _ in sets for t in texts]
    model, tokenizer = load_smollm2()
    harness = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size)
    requests = [_Request(c, x) for c, x in zip(contexts, continuations)]

    def ours() -> np.ndarray:
        adapter = HFCausalLM(model, tokenizer, batch_size=args.batch_size, progress=False)
        return adapter.continuation_loglikelihood(contexts, continuations)

    def theirs() -> np.ndarray:
        return np.array([ll for ll, _ in harness.loglikelihood(requests, disable_tqdm=True)])

    sides = {"mlflow-bias HFCausalLM.continuation_loglikelihood": ours,
             "lm-eval HFLM.loglikelihood": theirs}
    for run in sides.values():
        run()
    best: dict[str, float] = {}
    scores: dict[str, np.ndarray] = {}
    for _ in range(args.rounds):
        for name, run in sides.items():
            started = time.perf_counter()
            scores[name] = run()
            best[name] = min(best.get(name, np.inf), time.perf_counter() - started)
    (ours_name, ours_time), (their_name, their_time) = best.items()
    gap = float(np.abs(scores[ours_name] - scores[their_name]).max())
    per_item = np.array([len(texts) for texts, _ in sets])
    starts = np.r_[0, np.cumsum(per_item)[:-1]]
    choice = {name: [int(np.argmax(s[a:a + k])) for a, k in zip(starts, per_item)] for name, s in scores.items()}
    differ = sum(a != b for a, b in zip(choice[ours_name], choice[their_name]))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(probe)} BBQ items from "
          f"{args.bbq}, {len(requests)} (prompt, choice) pairs, batch {args.batch_size}, best of {args.rounds}")
    print(f"{their_name}: {their_time:.2f} s")
    print(f"{ours_name}: {ours_time:.2f} s ({their_time / ours_time:.2f}x)")
    print(f"largest log-likelihood difference: {gap:.1e} nats; items whose chosen answer differs: "
          f"{differ} of {len(probe)}")


if __name__ == "__main__":
    main()
