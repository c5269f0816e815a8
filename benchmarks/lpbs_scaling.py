"""LPBS cost against probe size: time per item and peak memory when SmolLM2-135M-Instruct scores
1k, 10k and 100k generated counterfactual pairs, each size in a fresh process, in one run.

    python benchmarks/lpbs_scaling.py [--sizes 1000 10000 100000] [--out benchmarks/out]

Each size scores its pairs through the LPBS dimension (`lpbs.compute`: log-likelihoods of both
texts of every pair, the statistic, its bootstrap CI and the sign-flip test at the default 1,000
and 2,000 resamples), after a warm-up on texts outside the probe. The pairs are sentences in the
public benchmarks' style (an opening, a first name, an occupation and a city, an ending), a
seeded sample of every combination, so every size has the same mix and no text repeats; the
swapped name is the only difference within a pair (male/female names, then white/black names,
from the shipped lexicon), and each name alone is its prior.

Printed per size: seconds, milliseconds per pair and its ratio to the smallest size; the peak
resident memory while scoring (the kernel's peak is reset just before, so that loading the model
does not count), what it grew by over the memory before scoring (the model, the
warm-up and the probe's own table, built column by column so that building it takes about its
size), and the size of the probe's table and of the scored items table that LPBS returns
(`DataFrame.memory_usage(deep=True)`).
A plot of both curves is written to `--out` (lpbs_scaling.png). `--pipeline-only` scores with a
stand-in that returns fixed scores (lpbs_scaling_pipeline.png): LPBS's own tables and statistics.
The positions SmolLM2 runs per pair (the nodes of the adapter's prefix trees, built and batched
exactly as when scoring, padding included, counted after the timed runs without running the
model) and the time per position are printed and plotted too: a larger probe fills each window
and tree with more texts that share prefixes, so it runs fewer positions a pair, which is why the
time per pair falls with size.
`--work-only` prints those counts (and the texts' own tokens per pair) alone, in seconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sentence_parts import ENDINGS, OPENINGS  # noqa: E402

OCCUPATIONS = ("the engineer", "the nurse", "the accountant", "the plumber", "the teacher",
               "the surgeon", "the cashier", "the lawyer", "the mechanic", "the librarian",
               "the pilot", "the secretary")
CITIES = ("Denver", "Leeds", "Lagos", "Pune", "Lyon", "Osaka", "Quito", "Perth")


def generated_pairs(size: int, seed: int = 0):
    """`size` counterfactual pairs as an LPBS probe table, with priors (each name alone).

    A template is (opening, occupation, city, ending) and belongs to one contrast (male/female
    or white/black names, by its index); it holds 18 pairs, the k-th name of one group against a
    seeded shuffle of the other group's names, so no text occurs twice in the whole set. The
    probe is a seeded sample of all (template, k): every size has the same mix."""
    import numpy as np
    import pandas as pd

    from mlflow_bias.text.lexicons import names

    contrasts = [("gender", "male", "female", names(gender="male"), names(gender="female")),
                 ("race", "white", "black", names(race="white"), names(race="black"))]
    per_template = min(len(pool) for contrast in contrasts for pool in contrast[3:])
    radix = [len(OPENINGS), len(OCCUPATIONS), len(CITIES), len(ENDINGS), per_template]
    total = int(np.prod(radix))
    if size > total:
        raise SystemExit(f"--sizes: at most {total} distinct pairs can be generated, not {size}.")
    rng = np.random.default_rng(seed)
    picked = rng.choice(total, size=size, replace=False)
    shuffles = rng.permuted(np.tile(np.arange(per_template), (total // per_template, 1)), axis=1)
    fields = ("id", "attribute", "condition", "group_a", "group_b", "text_a", "text_b", "prior_a",
              "prior_b")
    columns: dict[str, list[str]] = {field: [] for field in fields}  # columns, not row dicts:
    for i, index in enumerate(picked):  # building the table then takes about its own size
        o, j, c, e, k = np.unravel_index(index, radix)
        template = index // per_template
        attribute, group_a, group_b, pool_a, pool_b = contrasts[template % len(contrasts)]
        name_a, name_b = pool_a[k], pool_b[shuffles[template, k]]
        text = f"{OPENINGS[o]} {{}}, {OCCUPATIONS[j]} from {CITIES[c]}, {ENDINGS[e]}"
        row = (f"pair-{i}", attribute, f"{o}-{e}", group_a, group_b, text.format(name_a),
               text.format(name_b), name_a, name_b)
        for field, value in zip(fields, row):
            columns[field].append(value)
    return pd.DataFrame(columns)


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (Linux), in MB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) / 1024


def peak_rss_mb() -> float:
    """The process's peak resident memory since the last `reset_peak` (Linux VmHWM)."""
    return _status_mb("VmHWM")


def reset_peak() -> None:
    """Start the peak over (Linux): the peak of loading the model is not the peak of scoring."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def resident_mb() -> float:
    """The process's resident memory now (Linux)."""
    return _status_mb("VmRSS")


def table_mb(df) -> float:
    return float(df.memory_usage(deep=True).sum()) / 2**20


class FixedScores:
    """A stand-in for the model (`--pipeline-only`): each text's score is minus its length, so what
    is measured is LPBS's own tables and statistics, not the model."""

    capabilities = frozenset({"loglikelihood"})

    def describe(self) -> dict[str, str]:
        return {"model": "fixed scores"}

    def loglikelihood(self, texts):
        import numpy as np

        return np.fromiter((-float(len(t)) for t in texts), float, count=len(texts))


def count_work(sizes: list[int]) -> list[dict[str, float]]:
    """The positions the model runs on each size's pairs, per pair, without running it: the
    adapter's own windows and prefix-tree packs, with the forward pass replaced by a count."""
    from mlflow_bias.adapters import HFCausalLM
    from mlflow_bias.adapters.models import load_smollm2
    from mlflow_bias.dimensions import lpbs

    class PositionCounter(HFCausalLM):
        positions = tokens = 0

        def _score_trees(self, batch, scores) -> None:  # rows x the largest tree, padding included
            self.positions += len(batch) * max(len(tree) for _, tree in batch)
            self.tokens += sum(len(path) for _, tree in batch for path in tree.paths)
            for pack, _ in batch:
                scores[pack] = 0.0

    model, tokenizer = load_smollm2()
    rows = []
    for size in sizes:
        adapter = PositionCounter(model, tokenizer, progress=False)
        lpbs.compute(adapter, generated_pairs(size),
                     lpbs.LPBSConfig(bootstrap_samples=50, permutation_samples=50))
        rows.append({"size": size, "positions_per_pair": adapter.positions / size,
                     "tokens_per_pair": adapter.tokens / size})
    return rows


def measure(size: int, pipeline_only: bool = False) -> dict[str, float]:
    """Score `size` pairs in this process and return its figures."""
    from mlflow_bias.dimensions import lpbs

    if pipeline_only:
        adapter = FixedScores()
        lpbs.compute(adapter, generated_pairs(200, seed=1),  # warm-up: what the first call imports
                     lpbs.LPBSConfig(bootstrap_samples=50, permutation_samples=50))
    else:
        from mlflow_bias.adapters import HFCausalLM
        from mlflow_bias.adapters.models import load_smollm2

        model, tokenizer = load_smollm2()
        adapter = HFCausalLM(model, tokenizer, progress=False)
        adapter.loglikelihood([f"{opening} someone else entirely." for opening in OPENINGS] * 8)
    probe = generated_pairs(size)
    gc.collect()
    reset_peak()
    loaded = resident_mb()  # the model, the warm-up and the probe: what scoring starts from
    started = time.perf_counter()
    result = lpbs.compute(adapter, probe, lpbs.LPBSConfig())
    seconds = time.perf_counter() - started
    return {"size": size, "seconds": seconds, "ms_per_pair": 1000 * seconds / size,
            "peak_mb": peak_rss_mb(), "before_scoring_mb": loaded, "probe_mb": table_mb(probe),
            "items_mb": table_mb(result.items), "lpbs_gender": result.metrics["gender"],
            "lpbs_race": result.metrics["race"]}


def plot(rows: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["size"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(sizes, [r["ms_per_pair"] for r in rows], marker="o", label="ms per pair")
    base = rows[0]["ms_per_pair"]
    left.axhspan(base / 1.2, base * 1.2, color="tab:green", alpha=0.12, label="within 1.2x of the smallest")
    left.set(xscale="log", xlabel="pairs in the probe", ylabel="ms",
             title="LPBS time per pair", ylim=(0, max(r["ms_per_pair"] for r in rows) * 1.5))
    if "ms_per_position" in rows[0]:
        left.plot(sizes, [10 * r["ms_per_position"] for r in rows], marker="^",
                  label="10 x ms per position the model runs")
    left.legend(loc="lower right")
    right.plot(sizes, [r["peak_mb"] - r["before_scoring_mb"] for r in rows], marker="o",
               label="peak memory growth while scoring")
    right.plot(sizes, [r["items_mb"] for r in rows], marker="s", label="scored items table")
    right.set(xscale="log", xlabel="pairs in the probe", ylabel="MB", title="LPBS memory")
    right.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--pipeline-only", action="store_true",
                        help="score with a stand-in that returns fixed scores instead of SmolLM2: "
                             "LPBS's own tables and statistics alone")
    parser.add_argument("--work-only", action="store_true",
                        help="run no model; count the positions it would run per pair at each size")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.work_only:
        print(f"{'pairs':>7} {'texts':>7} {'positions/pair':>14} {'vs smallest':>11} {'tokens/pair':>11}")
        rows = count_work(sorted(args.sizes))
        for r in rows:
            print(f"{r['size']:>7} {2 * r['size']:>7} {r['positions_per_pair']:>14.2f} "
                  f"{r['positions_per_pair'] / rows[0]['positions_per_pair']:>10.2f}x "
                  f"{r['tokens_per_pair']:>11.2f}")
        return
    if args.child:
        print(json.dumps(measure(args.child, args.pipeline_only)))
        return
    rows = []
    for size in sorted(args.sizes):
        child = [sys.executable, __file__, "--child", str(size)] + (["--pipeline-only"] * args.pipeline_only)
        done = subprocess.run(child, check=True, capture_output=True, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{size:>7} pairs: {r['seconds']:.1f} s", file=sys.stderr, flush=True)
    if not args.pipeline_only:  # the work behind each size's time, counted after the timed runs
        for r, work in zip(rows, count_work(sorted(args.sizes))):
            r["positions_per_pair"] = work["positions_per_pair"]
            r["ms_per_position"] = r["ms_per_pair"] / work["positions_per_pair"]
    base = rows[0]["ms_per_pair"]
    print(f"{'pairs':>7} {'texts':>7} {'seconds':>8} {'ms/pair':>8} {'vs smallest':>11}  "
          f"{'peak MB':>8} {'before':>10} {'growth':>7} {'probe MB':>8} {'items MB':>8}  "
          f"LPBS gender / race")
    for r in rows:
        print(f"{r['size']:>7} {2 * r['size']:>7} {r['seconds']:>8.1f} {r['ms_per_pair']:>8.2f} "
              f"{r['ms_per_pair'] / base:>10.2f}x  {r['peak_mb']:>8.0f} {r['before_scoring_mb']:>10.0f} "
              f"{r['peak_mb'] - r['before_scoring_mb']:>7.0f} {r['probe_mb']:>8.1f} {r['items_mb']:>8.1f}  "
              f"{r['lpbs_gender']:.3f} / {r['lpbs_race']:.3f}")
    spread = max(r["ms_per_pair"] for r in rows) / min(r["ms_per_pair"] for r in rows)
    print(f"time per pair: largest / smallest = {spread:.2f}x (target: within 1.2x)")
    if not args.pipeline_only:
        print(f"{'pairs':>7} {'positions/pair':>14} {'ms/position':>11} {'vs smallest':>11}")
        for r in rows:
            print(f"{r['size']:>7} {r['positions_per_pair']:>14.2f} {r['ms_per_position']:>11.3f} "
                  f"{r['ms_per_position'] / rows[0]['ms_per_position']:>10.2f}x")
        per_position = [r["ms_per_position"] for r in rows]
        print(f"time per position the model runs: largest / smallest = "
              f"{max(per_position) / min(per_position):.2f}x")
    args.out.mkdir(parents=True, exist_ok=True)
    name = "lpbs_scaling_pipeline.png" if args.pipeline_only else "lpbs_scaling.png"
    plot(rows, args.out / name)
    print(f"plot: {args.out / name}")


if __name__ == "__main__":
    main()
