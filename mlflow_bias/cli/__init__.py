"""The `mlflow-bias` command: evaluate a model, gate and promote its versions, and manage probes.

`main` parses the command line and runs the chosen command. Each module of this package holds one
group of commands, their parsers next to the functions that run them: `evaluate` (evaluate,
report), `demo` (demo, finetune), `release` (gate, promote, compare, drift, limitation), `keys`
(keys, verify), `audit` (audit-data, refusal-audit), `probes` (probes), `replay` (replay), `genai`
(summarize) and `dimensions` (dimensions).
Commands import what they need when they run, so parsing imports neither MLflow nor torch.

May import every layer; nothing imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from mlflow_bias.cli import audit, demo, dimensions, evaluate, genai, keys, probes, release, replay
from mlflow_bias.cli._common import AddCommand

__all__ = ["build_parser", "main"]

#: The order `mlflow-bias --help` lists the commands in.
COMMAND_ORDER = ("evaluate", "demo", "finetune", "gate", "report", "promote", "keys", "verify",
                 "compare", "drift", "audit-data", "probes", "limitation", "refusal-audit",
                 "replay", "summarize", "dimensions")


def _commands() -> dict[str, AddCommand]:
    """Every command's name and the function that adds its parser."""
    commands: dict[str, AddCommand] = {}
    for module in (evaluate, demo, release, keys, audit, probes, replay, genai, dimensions):
        commands.update(module.COMMANDS)
    return commands


def build_parser() -> argparse.ArgumentParser:
    """The `mlflow-bias` parser: one sub-parser per command, each with `func` to run it."""
    parser = argparse.ArgumentParser(
        prog="mlflow-bias",
        description="Measure bias in language models, dimension by dimension, with MLflow.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    commands = _commands()
    for name in COMMAND_ORDER:
        commands.pop(name)(sub)
    for add_command in commands.values():  # a command missing from COMMAND_ORDER is listed last
        add_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `mlflow-bias` with `argv` (default: the command line) and return the exit code: 0 passed
    or done, 1 blocked, refused or failed, 2 a usage error (the message goes to stderr)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    from mlflow_bias.core.errors import BiasEvaluationError

    try:
        return args.func(args)
    except BiasEvaluationError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except ValueError as exc:  # e.g. a malformed --window
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # an MLflow error, e.g. an unknown model version: a usage error
        from mlflow.exceptions import MlflowException

        if not isinstance(exc, MlflowException):
            raise
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
