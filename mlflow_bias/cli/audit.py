"""Audits: `mlflow-bias audit-data` (protected groups in training data) and
`mlflow-bias refusal-audit` (which refusal-rubric patterns fire by group in a run)."""

from __future__ import annotations

import argparse
import os
from typing import Sequence

from mlflow_bias.cli._common import DEFAULT_EXPERIMENT, AddCommand, Subparsers


def add_audit_data(sub: Subparsers) -> None:
    """`audit-data`: its options, and `cmd_audit_data` to run it."""
    au = sub.add_parser("audit-data", help="count protected groups in training data vs a target "
                                           "and log the audit to MLflow")
    au.add_argument("path", help="CSV, JSONL or parquet file (streamed, never loaded whole)")
    au.add_argument("--text-column", default=None,
                    help="column holding the text (default: the only string column)")
    au.add_argument("--group-column", action="append", metavar="ATTR=COLUMN",
                    help="read an attribute's group from a column instead of the lexicon; repeatable")
    au.add_argument("--target", action="append", metavar="ATTR=GROUP:SHARE,...",
                    help="target distribution, e.g. gender=female:0.5,male:0.5 (default: uniform); "
                         "repeatable")
    au.add_argument("--context-terms", default=None, metavar="A,B,C",
                    help="terms for the co-occurrence skew (default: 34 occupations)")
    au.add_argument("--experiment", default=DEFAULT_EXPERIMENT)
    au.add_argument("--run-id", default=None, help="log into this run instead of a new one")
    au.add_argument("--no-progress", action="store_true")
    au.set_defaults(func=cmd_audit_data)


def _parse_assignments(values: Sequence[str] | None, what: str, example: str) -> dict[str, str]:
    """`attr=value` options as a dict; a malformed one is a usage error naming the format."""
    from mlflow_bias.core.errors import ConfigError

    parsed: dict[str, str] = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip() or not rest.strip():
            raise ConfigError(f"{what} {value!r} is malformed; write it as {example}.")
        parsed[key.strip()] = rest.strip()
    return parsed


def _parse_targets(values: Sequence[str] | None) -> dict[str, dict[str, float]]:
    """`--target attr=group:share,...` options as {attribute: {group: share}}."""
    from mlflow_bias.core.errors import ConfigError

    example = "gender=female:0.5,male:0.5"
    targets: dict[str, dict[str, float]] = {}
    for attribute, spec in _parse_assignments(values, "--target", example).items():
        shares: dict[str, float] = {}
        for item in spec.split(","):
            group, sep, share = item.rpartition(":")
            try:
                value = float(share)
            except ValueError:
                value = None
            if not sep or not group.strip() or value is None:
                raise ConfigError(f"--target {attribute}={spec} is malformed; write it as {example}.")
            shares[group.strip()] = value
        targets[attribute] = shares
    return targets


def cmd_audit_data(args: argparse.Namespace) -> int:
    """Audit a training-data file's representation of protected groups and log it to MLflow."""
    import mlflow

    from mlflow_bias.data_audit.tracking import audit_data

    group_columns = _parse_assignments(args.group_column, "--group-column", "gender=gender_col")
    targets = _parse_targets(args.target)
    context_terms = ([t.strip() for t in args.context_terms.split(",") if t.strip()]
                     if args.context_terms is not None else None)
    run_id = args.run_id or os.environ.get("MLFLOW_RUN_ID")  # inside `mlflow run`: the project's run
    if run_id is None:
        mlflow.set_experiment(args.experiment)
    result = audit_data(args.path, text_column=args.text_column, group_columns=group_columns or None,
                        targets=targets or None, context_terms=context_terms,
                        progress=not args.no_progress, run_id=run_id)
    run = mlflow.get_run(result.metadata["run_id"])
    experiment = mlflow.get_experiment(run.info.experiment_id).name
    print(result.summary())
    print(f"\nLogged to run {run.info.run_id} in experiment '{experiment}' ({mlflow.get_tracking_uri()}).")
    return 0


def add_refusal_audit(sub: Subparsers) -> None:
    """`refusal-audit`: its options, and `cmd_refusal_audit` to run it."""
    ra = sub.add_parser("refusal-audit", help="which refusal-rubric patterns fire by group in a "
                                              "run; re-score its responses under a revised rubric")
    ra.add_argument("run_id")
    ra.add_argument("--rubric", default=None, help="revised rubric YAML (a new version)")
    ra.set_defaults(func=cmd_refusal_audit)


def cmd_refusal_audit(args: argparse.Namespace) -> int:
    """Print which rubric patterns fire by group (asymmetric ones flagged); with --rubric, re-score
    the run's stored responses under the revised rubric into a new run."""
    from mlflow_bias.evaluation.refusal_audit import AUDIT_TABLE, audit_run

    audit = audit_run(args.run_id, args.rubric)
    table = audit.triggers
    print(f"Refusal-rubric triggers in run {args.run_id} (table {AUDIT_TABLE}):")
    if table.empty:
        print("  no pattern fired on any response")
    for row in table.to_dict("records"):
        rates = ", ".join(f"{k.split('/', 1)[1]} {v:.3f}" for k, v in row.items() if k.startswith("rate/")
                          and v == v)
        flag = "  <- asymmetric" if row["asymmetric"] else ""
        print(f"  {row['attribute']:<12} {row['trigger']:<18} {rates}; gap {row['gap']:.1f} pp, "
              f"adjusted p {row['p_adjusted']:.4f}{flag}")
    if audit.rescored is not None:
        print(f"\nRe-scored under {audit.rescored.tags['bias.rubric']} (no generation) in run "
              f"{audit.rescored_run_id}:")
        for row in audit.rescored.summary:
            print(f"  refusal {row['attribute']:<12} gap {row['value']:.1f} pp "
                  f"[{row['ci_low']:.1f}, {row['ci_high']:.1f}]")
    return 0


#: The commands this module adds, by name.
COMMANDS: dict[str, AddCommand] = {"audit-data": add_audit_data, "refusal-audit": add_refusal_audit}
