"""`mlflow-bias summarize RUN_ID`: the group-level bias numbers of a `mlflow.genai.evaluate` run."""

from __future__ import annotations

import argparse

from mlflow_bias.cli._common import AddCommand, Subparsers


def add_summarize(sub: Subparsers) -> None:
    """`summarize`: its options, and `cmd_summarize` to run it."""
    sm = sub.add_parser("summarize", help="compute and log CBS, flip rate, refusal gap and "
                                          "disagreement rate, with CIs, from the bias scorers' "
                                          "assessments of a mlflow.genai.evaluate run")
    sm.add_argument("run_id", help="the evaluation run (mlflow.genai.evaluate's result.run_id)")
    sm.add_argument("--policy", default=None, help="release policy YAML (default: the shipped one)")
    sm.add_argument("--model-version", default=None, help="label for bias.model_version")
    sm.add_argument("--bootstrap-samples", type=int, default=1000)
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--threshold", type=float, default=None,
                    help="disagreement threshold for the counterfactual scorer's rows")
    sm.set_defaults(func=cmd_summarize)


def cmd_summarize(args: argparse.Namespace) -> int:
    """Summarise a GenAI evaluation run into `bias/...` metrics; print each headline with its CI."""
    from mlflow_bias.genai import summarize

    summary = summarize(args.run_id, policy=args.policy, model_version=args.model_version,
                        bootstrap_samples=args.bootstrap_samples, seed=args.seed,
                        threshold=args.threshold)
    for result in summary.results:
        for row in result.summary:
            print(f"{result.dimension}/{row['attribute']}: {row['value']:.3f} "
                  f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}] over {row['n_items']} items")
    for warning in summary.warnings:
        print(f"warning: {warning}")
    print(f"Run {summary.run_id}: logged {len(summary.metrics)} bias metrics; gate it with "
          f"mlflow-bias gate, or read it with mlflow-bias report {summary.run_id}")
    return 0


#: The commands this module adds, by name.
COMMANDS: dict[str, AddCommand] = {"summarize": add_summarize}
