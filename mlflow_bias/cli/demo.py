"""The hiring-screen story: `mlflow-bias demo` (end to end) and `mlflow-bias finetune` (one
fine-tuned, registered version)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from mlflow_bias.cli._common import AddCommand, Subparsers


def _add_story_parser(sub: Subparsers, command: str, text: str) -> argparse.ArgumentParser:
    """A story command's parser with the options `demo` and `finetune` share."""
    story = sub.add_parser(command, help=text)
    story.add_argument("--model-name", default="hiring-screen", help="registered model name")
    story.add_argument("--examples", type=int, help="fine-tuning examples to generate")
    story.add_argument("--steps", type=int, help="optimiser steps per fine-tune")
    story.add_argument("--policy", help="release policy YAML (default: the shipped policy)")
    story.add_argument("--no-progress", action="store_true")
    return story


def add_demo(sub: Subparsers) -> None:
    """`demo`: its options, and `cmd_demo` to run it."""
    story = _add_story_parser(sub, "demo", "the hiring-screen story end to end: fine-tune SmolLM2 "
                                           "on skewed data, measure, mitigate, re-measure, gate, "
                                           "promote")
    story.add_argument("--quick", action="store_true",
                       help="a small version (probe subsets, a few steps) to check the pipeline")
    story.set_defaults(func=cmd_demo)


def add_finetune(sub: Subparsers) -> None:
    """`finetune`: its options, and `cmd_finetune` to run it."""
    story = _add_story_parser(sub, "finetune", "fine-tune SmolLM2 on the generated hiring-screen "
                                               "set and register it as a new model version")
    story.add_argument("--data", choices=("skewed", "mitigated"), default="skewed",
                       help="the historical log as it is, or mitigated (rubric revised and "
                            "relabelled, decisions re-made by the criterion, rebalanced, "
                            "counterfactual twins, the criterion in the prompt)")
    story.set_defaults(func=cmd_finetune)


def _story_config(args: argparse.Namespace) -> Any:
    """The story's `StoryConfig` (the quick one with --quick) with the command's options applied."""
    from dataclasses import replace

    from mlflow_bias.demo.story import StoryConfig

    config = StoryConfig.quick_run() if getattr(args, "quick", False) else StoryConfig()
    changes: dict[str, Any] = {"model_name": args.model_name, "progress": not args.no_progress}
    if args.policy:
        changes["policy"] = args.policy
    if args.examples is not None:
        changes["examples"] = args.examples
    if args.steps is not None:
        changes["training"] = replace(config.training, steps=args.steps)
    return replace(config, **changes)


def _resume_project_run() -> None:
    """Inside `mlflow run` the project's run is resumed, and the story's runs nest under it."""
    import mlflow

    if os.environ.get("MLFLOW_RUN_ID"):
        mlflow.start_run()


def cmd_demo(args: argparse.Namespace) -> int:
    """The hiring-screen story: fine-tune, measure, mitigate, re-measure, gate, promote."""
    import mlflow

    from mlflow_bias.demo.story import report, run_story

    _resume_project_run()
    result = run_story(_story_config(args), say=lambda line: print(line, flush=True))
    print(report(result, mlflow.get_tracking_uri()))
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    """Fine-tune SmolLM2 on the generated hiring-screen set (as is, or mitigated) and register it."""
    import mlflow

    from mlflow_bias.demo.data import criterion
    from mlflow_bias.demo.story import HistoricalLog, finetune_version, mitigate
    from mlflow_bias.adapters.models import load_smollm2

    config = _story_config(args)
    _resume_project_run()
    if mlflow.active_run() is None:
        mlflow.set_experiment(config.model_name)
    log = HistoricalLog.generate(config)
    data = log.training_rows()
    steps: list[dict[str, Any]] = []
    template = None
    if args.data == "mitigated":
        data, steps = mitigate(log, config.seed)
        template = criterion(config.skew.threshold)
    version, run_id, _ = finetune_version(
        load_smollm2(), data, config, label=args.data, prompt_template=template, mitigation=steps,
        skew=config.skew if args.data == "skewed" else None, say=print)
    print(f"registered {config.model_name} version {version} (fine-tuning run {run_id}); evaluate it "
          f"with: mlflow-bias evaluate --model models:/{config.model_name}/{version}")
    return 0


#: The commands this module adds, by name.
COMMANDS: dict[str, AddCommand] = {"demo": add_demo, "finetune": add_finetune}
