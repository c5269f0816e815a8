"""Commands that decide and watch a registered model version's release: `gate`, `promote`,
`compare`, `drift` and `limitation`."""

from __future__ import annotations

import argparse
import json
import sys

from mlflow_bias.cli._common import AddCommand, Subparsers


def add_gate(sub: Subparsers) -> None:
    """`gate`: its options, and `cmd_gate` to run it."""
    ga = sub.add_parser("gate", help="decide passed/blocked for a registered model version and tag it")
    ga.add_argument("--model", required=True, help="registered model name")
    ga.add_argument("--version", required=True)
    ga.add_argument("--policy", default=None, help="policy YAML (default: the shipped policy)")
    ga.add_argument("--no-evaluate", action="store_true",
                    help="only judge existing evaluation runs; never evaluate")
    ga.add_argument("--json", action="store_true", help="print the decision as JSON")
    ga.add_argument("--no-progress", action="store_true")
    ga.set_defaults(func=cmd_gate)


def cmd_gate(args: argparse.Namespace) -> int:
    """Exit 0 when the version passes, 1 when it is blocked (2 on a usage error)."""
    from mlflow_bias.promotion.model_registry import gate

    decision = gate(args.model, args.version, args.policy, evaluate_if_missing=not args.no_evaluate,
                    progress=not args.no_progress)
    print(json.dumps(decision.to_dict(), indent=2) if args.json else decision.summary())
    return 0 if decision.passed else 1


def add_promote(sub: Subparsers) -> None:
    """`promote`: its options, and `cmd_promote` to run it."""
    pr = sub.add_parser("promote", help="set an alias on a version only if its bias gate passed")
    pr.add_argument("--model", required=True)
    pr.add_argument("--version", required=True)
    pr.add_argument("--alias", default="champion")
    pr.add_argument("--policy", default=None)
    pr.set_defaults(func=cmd_promote)


def cmd_promote(args: argparse.Namespace) -> int:
    """Exit 0 when the alias was set, 1 when promotion was refused."""
    from mlflow_bias.promotion.model_registry import PromotionRefused, promote

    try:
        decision = promote(args.model, args.version, args.alias, args.policy)
    except PromotionRefused as refused:
        print(f"refused: {refused.message}", file=sys.stderr)
        return 1
    print(f"{args.model}/{args.version} is now '{args.alias}' ({decision.policy}, "
          f"evaluation run {decision.run_id})")
    return 0


def add_compare(sub: Subparsers) -> None:
    """`compare`: its options, and `cmd_compare` to run it."""
    co = sub.add_parser("compare", help="compare two evaluation runs (e.g. before/after mitigation)")
    co.add_argument("run_a", help="baseline evaluation run id")
    co.add_argument("run_b", help="evaluation run id to compare with the baseline")
    co.add_argument("--policy", default=None)
    co.add_argument("--heldout-fraction", type=float, default=0.2)
    co.add_argument("--bootstrap-samples", type=int, default=1000)
    co.add_argument("--json", action="store_true")
    co.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    """Exit 0; 1 when some metric got worse beyond its CI."""
    from mlflow_bias.release.compare import compare

    result = compare(args.run_a, args.run_b, args.policy, heldout_fraction=args.heldout_fraction,
                     bootstrap_samples=args.bootstrap_samples)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.summary())
    return 1 if result.worse else 0


def add_drift(sub: Subparsers) -> None:
    """`drift`: its options, and `cmd_drift` to run it."""
    dr = sub.add_parser("drift", help="watch a metric across versions and re-evaluations")
    dr.add_argument("--model", required=True, help="registered model name")
    dr.add_argument("--metric", default="bias/lpbs/gender")
    dr.add_argument("--window", default=None, help="compare with the value this long before, e.g. 7d")
    dr.add_argument("--policy", default=None)
    dr.add_argument("--json", action="store_true")
    dr.set_defaults(func=cmd_drift)


def cmd_drift(args: argparse.Namespace) -> int:
    """Exit 0; 1 when a regression beyond the policy's drift tolerance calls for recalibration."""
    from mlflow_bias.release.drift import drift

    report = drift(args.model, args.metric, args.window, args.policy)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    if report.plot:
        print(f"plot: {report.plot}")
    return 1 if report.recalibration_needed else 0


def add_limitation(sub: Subparsers) -> None:
    """`limitation add|list|resolve`: their options, and `cmd_limitation` to run them."""
    lim = sub.add_parser("limitation", help="known-limitation records of a model version")
    lsub = lim.add_subparsers(dest="limitation_command", required=True)
    for command, text in (("add", "attach a record"), ("list", "show the records"),
                          ("resolve", "mark a record resolved")):
        p = lsub.add_parser(command, help=text)
        p.add_argument("--model", required=True, help="registered model name")
        p.add_argument("--version", required=True)
        p.set_defaults(func=cmd_limitation)
    add = lsub.choices["add"]
    add.add_argument("--dimension", required=True)
    add.add_argument("--attribute", required=True)
    add.add_argument("--description", required=True)
    add.add_argument("--restricted-use", action="append", help="a use case it rules out; repeat")
    add.add_argument("--owner", required=True)
    add.add_argument("--review-date", required=True, help="YYYY-MM-DD")
    add.add_argument("--value", type=float, default=None,
                     help="measured value (default: from the version's newest evaluation)")
    add.add_argument("--run-id", default=None)
    lsub.choices["list"].add_argument("--all", action="store_true", help="include resolved ones")
    lsub.choices["list"].add_argument("--json", action="store_true")
    lsub.choices["resolve"].add_argument("--id", required=True)
    lsub.choices["resolve"].add_argument("--resolution", required=True)


def cmd_limitation(args: argparse.Namespace) -> int:
    """Add, list or resolve known-limitation records of a registered model version."""
    from mlflow_bias.release import limitations

    if args.limitation_command == "add":
        record = limitations.add_limitation(
            args.model, args.version, dimension=args.dimension, attribute=args.attribute,
            description=args.description, restricted_uses=args.restricted_use or [],
            owner=args.owner, review_date=args.review_date, value=args.value, run_id=args.run_id)
        print(f"added to {args.model}/{args.version}: {record.line()}")
    elif args.limitation_command == "resolve":
        record = limitations.resolve_limitation(args.model, args.version, args.id, args.resolution)
        print(f"resolved: {record.line()}")
    else:
        records = limitations.list_limitations(args.model, args.version, include_resolved=args.all)
        if args.json:
            print(json.dumps(limitations.as_dicts(records), indent=2))
        for record in [] if args.json else records:
            print(record.line())
        if not records and not args.json:
            print(f"{args.model}/{args.version} has no {'' if args.all else 'open '}limitations.")
    return 0


#: The commands this module adds, by name.
COMMANDS: dict[str, AddCommand] = {"gate": add_gate, "promote": add_promote, "compare": add_compare,
                                   "drift": add_drift, "limitation": add_limitation}
