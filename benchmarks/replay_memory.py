"""Peak memory of trace replay on a large trace file: streamed in chunks (the local path) against
reading the whole file first (the baseline), each in a fresh process, in one run.

    python benchmarks/replay_memory.py [--traces 100000] [--chunk-size 2000]

The model is a rule-based function (it rejects inputs naming Lakisha), so the figures measure the
replay machinery (reading, anonymising, swapping, comparing, keeping the per-trace results), not a
language model. Each trace carries a 2 KB recorded output, as production traces with long answers
do; the streamed path keeps only what the review and the metrics need.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

NAMES = ["Lakisha", "Jamal", "Emily", "Greg", "She", "He", "The applicant"]
CATEGORIES = {"advance": ["advance"], "reject": ["reject"]}


def screen(df):
    return ["reject" if "Lakisha" in t else "advance" for t in df["input"]]


def write_traces(path: Path, n: int) -> None:
    filler = "lorem ipsum " * 170  # about 2 KB per recorded output
    with path.open("w") as f:
        for i in range(n):
            name = NAMES[i % len(NAMES)]
            text = f"{name} (person{i}@mail.com) applied for role {i}; notes: {i % 97}."
            f.write(json.dumps({"id": f"t{i}", "input": text,
                                "output": f"{screen({'input': [text]})[0]} {filler}"}) + "\n")


def run(mode: str, path: str, chunk_size: int, queue) -> None:
    import mlflow
    import pandas as pd

    from mlflow_bias.replay import replay

    mlflow.set_tracking_uri(f"sqlite:///{Path(path).parent / 'bench.db'}")
    start = time.perf_counter()
    source = pd.read_json(path, lines=True) if mode == "whole file" else path
    result = replay(screen, source, categories=CATEGORIES, chunk_size=chunk_size, progress=False)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((mode, seconds, peak_mb, result.metrics["gender"], result.metrics["gender/n_traces"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "traces.jsonl"
        write_traces(path, args.traces)
        print(f"{args.traces:,} traces, {path.stat().st_size / 1e6:.0f} MB JSONL")
        context = multiprocessing.get_context("spawn")
        rows = {}
        for mode in ("streamed", "whole file"):
            queue = context.Queue()
            process = context.Process(target=run, args=(mode, str(path), args.chunk_size, queue))
            process.start()
            rows[mode] = queue.get()
            process.join()
        for mode, seconds, peak, rate, n in rows.values():
            print(f"{mode:<11} peak RSS {peak:7.0f} MB  {seconds:6.1f} s  disagreement rate "
                  f"{rate:.4f} over {int(n):,} traces")
        streamed, whole = rows["streamed"], rows["whole file"]
        assert streamed[3] == whole[3], "the two paths must give the same numbers"
        print(f"streamed / whole-file peak memory: {streamed[2] / whole[2]:.2f}x; "
              f"time: {streamed[1] / whole[1]:.2f}x")


if __name__ == "__main__":
    main()
