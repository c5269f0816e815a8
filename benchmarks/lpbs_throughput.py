"""Log-likelihood throughput on SmolLM2-135M-Instruct: the project's adapter against a naive
one-text-at-a-time loop and lm-evaluation-harness's `HFLM.loglikelihood`, on the same model
object, in one run. Checks the three agree (1e-3 nats) and prints throughput ratios.

    python benchmarks/lpbs_throughput.py [--items 1000] [--naive-texts 300] [--batch-size 32]
        [--rounds 1] [--texts FILE] [--sets probe pairs chat file]

Text sets:
- probe: every text LPBS scores on the shipped gender-occupation probe (text_a, text_b, prior_a,
  prior_b per item: counterfactual pairs, repeated priors);
- pairs: counterfactual sentence pairs in the style of the public benchmarks (CrowS-Pairs,
  WinoBias): a sentence that shares everything before the swapped first name, built here from
  the shipped name lexicon (Bertrand & Mullainathan) and a few templates, one pair per template
  and pair of names;
- chat: the gender-occupation pair texts wrapped in the model's chat template (a shared
  system/user preamble);
- file (with `--texts FILE`): sentences from outside the repository, e.g. held-out counterfactual
  pairs. A `.txt` file is one text a line; a `.csv`, `.jsonl` or `.parquet` file gives both
  sentences of each row from `text_a`/`text_b` (this project's probes) or `sent_more`/`sent_less`
  (CrowS-Pairs), or else its `text` column.
Both sides are warmed up on texts outside every set (the first call of each pays one-off costs),
then, per set, the adapter (a new one each round, so its score cache starts empty) and the harness
run alternately `--rounds` times; the best time of each is compared. The positions each side runs
through the model (padding included) are counted too: their ratio is the speed-up to expect at
equal speed per position, which is small where texts share little (held-out sentence pairs that
differ early). The naive loop is timed on a subsample and compared per text. Peak memory is the
process's maximum resident set size after both sides' runs (model loading included), and at the
end.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

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


PAIR_COLUMNS = (("text_a", "text_b"), ("sent_more", "sent_less"))


def file_texts(path: Path) -> list[str]:
    """The texts of `path` (see the module's docstring): both sentences of each pair, or one
    text a row or line."""
    import pandas as pd

    if path.suffix == ".txt":
        texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        texts = [t for t in texts if t]
    else:
        readers = {".csv": pd.read_csv, ".parquet": pd.read_parquet,
                   ".jsonl": lambda f: pd.read_json(f, lines=True)}
        if path.suffix not in readers:
            raise SystemExit(f"--texts {path}: give a .txt, .csv, .jsonl or .parquet file.")
        df = readers[path.suffix](path)
        pair = next((c for c in PAIR_COLUMNS if set(c) <= set(df.columns)), None)
        if pair is None and "text" not in df.columns:
            raise SystemExit(f"--texts {path}: no text_a/text_b, sent_more/sent_less or text "
                             f"column (columns: {', '.join(map(str, df.columns))}).")
        columns = list(pair) if pair else ["text"]
        texts = [str(t) for column in columns for t in df[column].dropna()]
    if not texts:
        raise SystemExit(f"--texts {path}: the file holds no text.")
    return texts


def warm_up_texts() -> list[str]:
    """Texts in no set, for both sides' first, untimed call."""
    return [f"{opening} someone else entirely." for opening in OPENINGS] * 8


def positions_run(adapter: HFCausalLM, texts: list[str], batch_size: int) -> tuple[int, int]:
    """The positions each side runs through the model's layers on `texts`, padding included:
    the harness (every request, its tokens less the last, longest first, `batch_size` rows
    padded to the longest) and the adapter (its distinct texts as prefix trees side by side,
    each pass padded to its largest tree). Their ratio bounds the speed-up at equal speed per
    position."""
    from mlflow_bias.adapters import hf
    from mlflow_bias.adapters.token_tree import plan_tree_passes

    sequences = [adapter._encode(t) for t in texts]
    lengths = sorted((len(s) - 1 for s in sequences), reverse=True)
    theirs = sum(len(lengths[i:i + batch_size]) * lengths[i] for i in range(0, len(lengths), batch_size))
    distinct = [list(s) for s in dict.fromkeys(map(tuple, sequences))]
    passes = plan_tree_passes(distinct, hf.TREE_NODES, hf.TREE_BATCH_POSITIONS)
    ours = sum(len(rows) * max(len(tree) for _, tree in rows) for rows in passes)
    return theirs, ours


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
    parser.add_argument("--rounds", type=int, default=1, help="timed runs of each side per set")
    parser.add_argument("--texts", type=Path, help="a file of texts from outside the repository")
    parser.add_argument("--sets", nargs="+", choices=("probe", "pairs", "chat", "file"),
                        help="the sets to run (default: all, `file` with --texts)")
    args = parser.parse_args()
    chosen = args.sets or ["probe", "pairs", "chat"] + ["file"] * bool(args.texts)
    if "file" in chosen and not args.texts:
        parser.error("--sets file needs --texts FILE")

    from lm_eval.models.huggingface import HFLM

    model, tokenizer = load_smollm2()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch size {args.batch_size}")
    harness = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size)
    build = {"probe": lambda: probe_texts(args.items), "pairs": lambda: pair_texts(args.items),
             "chat": lambda: chat_texts(tokenizer, args.items), "file": lambda: file_texts(args.texts)}
    sets = {name: build[name]() for name in chosen}

    def ours_once(texts: list[str]) -> np.ndarray:
        adapter = HFCausalLM(model, tokenizer, batch_size=args.batch_size, progress=False)
        return adapter.loglikelihood(texts)

    ours_once(warm_up_texts())
    harness_loglikelihood(harness, warm_up_texts())
    results = {}
    for name, texts in sets.items():
        best = {"ours": float("inf"), "harness": float("inf")}
        for _ in range(args.rounds):
            ours, elapsed = timed(lambda: ours_once(texts))
            best["ours"] = min(best["ours"], elapsed)
            theirs, elapsed = timed(lambda: harness_loglikelihood(harness, texts))
            best["harness"] = min(best["harness"], elapsed)
        results[name] = (ours, best["ours"], theirs, best["harness"])
    peak_after_timed = peak_rss_mb()

    print(f"\n{'set':<6} {'texts':>6} {'unique':>6}  {'ours t/s':>9} {'harness t/s':>11} "
          f"{'naive t/s':>9}  {'vs harness':>10} {'vs naive':>9}  {'max|diff| nats':>14}  "
          f"positions run: harness / ours")
    for name, texts in sets.items():
        ours, t_ours, theirs, t_harness = results[name]
        rng = np.random.default_rng(0)
        pick = rng.choice(len(texts), size=min(args.naive_texts, len(texts)), replace=False)
        sample = [texts[i] for i in pick]
        naive, t_naive = timed(lambda: loglikelihood_one_by_one(model, tokenizer, sample))
        diff = max(np.abs(ours - theirs).max(), np.abs(ours[pick] - naive).max())
        assert diff < 1e-3, f"{name}: implementations disagree by {diff:.2e} nats"
        rate = lambda n, t: n / t  # noqa: E731
        r_ours, r_h, r_n = rate(len(texts), t_ours), rate(len(texts), t_harness), rate(len(sample), t_naive)
        theirs_run, ours_run = positions_run(HFCausalLM(model, tokenizer, progress=False), texts,
                                             args.batch_size)
        print(f"{name:<6} {len(texts):>6} {len(set(texts)):>6}  {r_ours:>9.1f} {r_h:>11.1f} "
              f"{r_n:>9.1f}  {r_ours / r_h:>9.2f}x {r_ours / r_n:>8.2f}x  {diff:>14.1e}  "
              f"{theirs_run} / {ours_run} = {theirs_run / ours_run:.2f}x")
    print(f"\nwarmed up; best of {args.rounds} alternating round(s) a set")
    print(f"peak resident memory after the adapter's and the harness's runs (model load included): "
          f"{peak_after_timed:.0f} MB; at the end: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
