"""`mlflow-bias dimensions`: the registered dimensions, each as it describes itself (probe kind,
capability, options, judgeable metrics), including those other packages add."""

from __future__ import annotations

import argparse
import json

from mlflow_bias.cli._common import AddCommand, Subparsers


def add_dimensions(sub: Subparsers) -> None:
    """`dimensions`: its options, and `cmd_dimensions` to run it."""
    di = sub.add_parser("dimensions", help="list the installed dimensions: probe kind, capability, "
                                           "options and the metrics a policy rule may judge")
    di.add_argument("--json", action="store_true", help="print the cards as JSON")
    di.set_defaults(func=cmd_dimensions)


def cmd_dimensions(args: argparse.Namespace) -> int:
    """Print every registered dimension's card."""
    from mlflow_bias.dimensions.registry import all_dimensions

    cards = [d.describe() for d in all_dimensions().values()]
    if args.json:
        print(json.dumps(cards, indent=2))
        return 0
    for card in cards:
        kind = card["probe_kind"]
        print(f"{card['name']}: {card['title']} (needs {card['requires']})")
        print(f"  {card['about']}")
        print(f"  probe kind: {kind['name']} ({', '.join(kind['required'])})" if kind
              else "  probe kind: none (fed by trace replay)")
        print(f"  options: {', '.join(card['options']) or 'none'}")
        for metric in card["metrics"]:
            print(f"  rule metric {metric['metric']}: {metric['description']} ({metric['direction_text']})")
        print(f"  source: {card['citation']}\n")
    return 0


COMMANDS: dict[str, AddCommand] = {"dimensions": add_dimensions}
