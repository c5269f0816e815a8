"""Log-likelihood throughput on SmolLM2-135M-Instruct: the project's adapter against a naive
one-text-at-a-time loop and lm-evaluation-harness's `HFLM.loglikelihood`, on the same model
object, in one run. Checks the three agree (1e-3 nats) and prints throughput ratios.

    python benchmarks/lpbs_throughput.py [--items 1000] [--naive-texts 300] [--batch-size 32]

Three text sets:
- probe: every text LPBS scores on the shipped gender-occupation probe (text_a, text_b, prior_a,
  prior_b per item: counterfactual pairs, repeated priors);
- pairs: counterfactual sentence pairs in the style of the public benchmarks (CrowS-Pairs,
  WinoBias): a sentence that shares everything before the swapped first name, built here from
  the shipped name lexicon (Bertrand & Mullainathan) and a few templates, one pair per template
  and pair of names;
- chat: the gender-occupation pair texts wrapped in the model's chat template (a shared
  system/user preamble).
The naive loop is timed on a subsample and compared per text. Peak memory is the process's
maximum resident set size after the adapter's runs (model loading included).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import mlflow_bias.probes as probes  # noqa: E402
from mlflow_bias.adapters import HFCausalLM, loglikelihood_one_by_one  # noqa: E402
from mlflow_bias.adapters.models import load_smollm2  # noqa: E402
from sentence_parts import ENDINGS, OPENINGS  # noqa: E402


def probe_texts(items: int) -> list[str]:
    df = probes.load("gender-occupation").to_pandas().head(items)
    return list(df["text_a"]) + list(df["text_b"]) + list(df["prior_a"]) + list(df["prior_b"])


def pair_texts(items: int) -> list[str]:
    """`items` counterfactual pairs (2 texts each): an opening, a name of one group or of the
    other (male/female, then white/black), an ending; everything before the name is shared."""
    from mlflow_bias.text.lexicons import names

    contrasts = [(names(gender="male"), names(gender="female")),
                 (names(race="white"), names(race="black"))]
    sentences = len(OPENINGS) * len(ENDINGS)
    texts = []
    for index in range(items):
        opening, ending = OPENINGS[index % len(OPENINGS)], ENDINGS[(index // len(OPENINGS)) % len(ENDINGS)]
        group_a, group_b = contrasts[(index // sentences) % 2]
        k = index // (2 * sentences)
        texts += [f"{opening} {group_a[k % len(group_a)]} {ending}",
                  f"{opening} {group_b[(7 * k + 3) % len(group_b)]} {ending}"]
    return texts


def chat_texts(tokenizer, items: int) -> list[str]:
    df = probes.load("gender-occupation").to_pandas().head(items)
    wrap = lambda text: tokenizer.apply_chat_template(  # noqa: E731
        [{"role": "user", "content": f"Summarise this note about a job candidate: {text}"}],
        tokenize=False,
    )
    return [wrap(t) for t in list(df["text_a"]) + list(df["text_b"])]


def harness_loglikelihood(harness, texts: list[str]) -> np.ndarray:
    class Request:  # lm-eval reads `.args` = (context, continuation)
        def __init__(self, continuation: str) -> None:
            self.args = ("", continuation)

    results = harness.loglikelihood([Request(t) for t in texts], disable_tqdm=True)
    return np.array([ll for ll, _ in results])


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000, help="probe items to use")
    parser.add_argument("--naive-texts", type=int, default=300, help="texts for the naive loop")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    from lm_eval.models.huggingface import HFLM

    model, tokenizer = load_smollm2()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch size {args.batch_size}")
    harness = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size)
    sets = {"probe": probe_texts(args.items), "pairs": pair_texts(args.items),
            "chat": chat_texts(tokenizer, args.items)}

    ours_results = {}
    for name, texts in sets.items():
        adapter = HFCausalLM(model, tokenizer, batch_size=args.batch_size, progress=False)
        ours_results[name] = timed(lambda: adapter.loglikelihood(texts))
    peak_after_ours = peak_rss_mb()

    print(f"\n{'set':<6} {'texts':>6} {'unique':>6}  {'ours t/s':>9} {'harness t/s':>11} "
          f"{'naive t/s':>9}  {'vs harness':>10} {'vs naive':>9}  max|diff| nats")
    for name, texts in sets.items():
        ours, t_ours = ours_results[name]
        theirs, t_harness = timed(lambda: harness_loglikelihood(harness, texts))
        rng = np.random.default_rng(0)
        pick = rng.choice(len(texts), size=min(args.naive_texts, len(texts)), replace=False)
        sample = [texts[i] for i in pick]
        naive, t_naive = timed(lambda: loglikelihood_one_by_one(model, tokenizer, sample))
        diff = max(np.abs(ours - theirs).max(), np.abs(ours[pick] - naive).max())
        assert diff < 1e-3, f"{name}: implementations disagree by {diff:.2e} nats"
        rate = lambda n, t: n / t  # noqa: E731
        r_ours, r_h, r_n = rate(len(texts), t_ours), rate(len(texts), t_harness), rate(len(sample), t_naive)
        print(f"{name:<6} {len(texts):>6} {len(set(texts)):>6}  {r_ours:>9.1f} {r_h:>11.1f} "
              f"{r_n:>9.1f}  {r_ours / r_h:>9.2f}x {r_ours / r_n:>8.2f}x  {diff:.1e}")
    print(f"\npeak resident memory after the adapter's runs (model load included): "
          f"{peak_after_ours:.0f} MB; at the end: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
