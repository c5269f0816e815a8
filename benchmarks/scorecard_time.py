"""The time of one version's whole scorecard: the story's five probes (LPBS on hiring-summary-pairs
and gender-occupation, CBS on hiring-summary, decisions on hiring-decisions, refusal asymmetry on
refusal-requests) with the story's settings, split into log-likelihood scoring, generation and
the rest (statistics, charts, the scorecard, MLflow logging).

    python benchmarks/scorecard_time.py [--model models:/hiring-screen/2] [--tracking-uri sqlite:///mlflow.db]

`--model` loads a registered model from `--tracking-uri` (the story's fine-tuned screen after
`bash scripts/demo.sh`); without it the base SmolLM2-135M-Instruct is scored, whose answers are
longer. The process's peak resident memory is printed too. The evaluation itself is logged to a temporary sqlite store, so that the story's registry
does not gain a run that its gate would read.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import mlflow  # noqa: E402

from mlflow_bias.adapters import HFCausalLM, resolve_adapter  # noqa: E402
from mlflow_bias.adapters.models import load_smollm2  # noqa: E402
from mlflow_bias.demo.story import CATEGORIES, DECISION_LABELS, PROBES, StoryConfig, probe_ref  # noqa: E402
from mlflow_bias.evaluation.api import evaluate  # noqa: E402


def clocked(adapter: Any, method: str, spent: dict[str, float]) -> None:
    """Wrap `adapter.method` so that the seconds spent in it add up in `spent[method]`."""
    inner: Callable[..., Any] = getattr(adapter, method)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[method] = spent.get(method, 0.0) + time.perf_counter() - started

    setattr(adapter, method, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a registered model URI (default: base SmolLM2)")
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    args = parser.parse_args()
    story = StoryConfig()
    options = dict(batch_size=story.batch_size, progress=False, max_new_tokens=story.max_new_tokens,
                   generation_dtype=story.generation_dtype,
                   generation_batch_size=story.generation_batch_size)
    load_started = time.perf_counter()
    if args.model:
        mlflow.set_tracking_uri(args.tracking_uri)
        adapter = resolve_adapter(args.model, **options)
    else:
        adapter = HFCausalLM(*load_smollm2(), **options)
    loaded = time.perf_counter() - load_started
    spent: dict[str, float] = {}
    for method in ("loglikelihood", "generate"):
        clocked(adapter, method, spent)
    with tempfile.TemporaryDirectory() as scratch:
        mlflow.set_tracking_uri(f"sqlite:///{scratch}/bench.db")
        mlflow.set_experiment("scorecard-time")
        first, *rest = map(probe_ref, PROBES)
        started = time.perf_counter()
        evaluate(adapter, first, probes=rest, cbs={"categories": CATEGORIES},
                 parity={"decision_labels": DECISION_LABELS}, bootstrap_samples=story.bootstrap_samples,
                 seed=story.seed, model_version=args.model or "SmolLM2-135M-Instruct (base)",
                 **options)
        total = time.perf_counter() - started
    rest_time = total - sum(spent.values())
    print(f"{args.model or 'SmolLM2-135M-Instruct (base)'} on {', '.join(PROBES)}; generation in "
          f"{story.generation_dtype}, batch {story.generation_batch_size}, at most "
          f"{story.max_new_tokens} new tokens; {story.bootstrap_samples} bootstrap samples")
    print(f"model loading: {loaded:.1f} s (not counted below)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the process (model, its bfloat16 copy, MLflow): {peak:.0f} MB")
    print(f"scorecard: {total:.1f} s = log-likelihoods {spent.get('loglikelihood', 0):.1f} s "
          f"+ generation {spent.get('generate', 0):.1f} s + the rest {rest_time:.1f} s")


if __name__ == "__main__":
    main()
