"""`mlflow-bias probes list|show|verify|freeze|import|register|from-review`: the probe store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlflow_bias.cli._common import AddCommand, Subparsers


def add_probes(sub: Subparsers) -> None:
    """`probes` and its sub-commands, each with the function that runs it."""
    probes = sub.add_parser("probes", help="list, show, verify and freeze probe sets")
    probes.add_argument("--root", default=None,
                        help="probe store folder (default: shipped probes + $MLFLOW_BIAS_PROBE_DIR)")
    psub = probes.add_subparsers(dest="probes_command", required=True)
    psub.add_parser("list", help="every stored probe version").set_defaults(func=cmd_probes_list)
    show = psub.add_parser("show", help="manifest and card of a probe")
    show.add_argument("probe", help="name[@version]")
    show.set_defaults(func=cmd_probes_show)
    verify = psub.add_parser("verify", help="check probe files against their manifests")
    verify.add_argument("probe", nargs="*", help="name[@version] (default: all)")
    verify.set_defaults(func=cmd_probes_verify)
    freeze = psub.add_parser("freeze", help="store a file as a new immutable probe version")
    freeze.add_argument("data", help="CSV, parquet or JSONL file")
    freeze.add_argument("--name", required=True)
    freeze.add_argument("--version", required=True)
    freeze.add_argument("--card", required=True, help="Markdown file: what, how built, size, limits")
    freeze.add_argument("--slice-column", action="append", help="column to report per slice")
    freeze.add_argument("--kind", default=None, help="the probe kind, when its columns fit more than "
                                                     "one (e.g. decisions with a set_id column)")
    freeze.set_defaults(func=cmd_probes_freeze)
    imported = psub.add_parser("import", help="freeze a public benchmark's own file as a new "
                                              "probe version (crows-pairs, bbq, winobias, winogender, stereoset)")
    imported.add_argument("benchmark", help="crows-pairs, bbq, winobias, winogender or stereoset")
    imported.add_argument("path", help="the benchmark's file or folder, as its authors publish it: "
                                       "crows_pairs_anonymized.csv; BBQ's data/ (*.jsonl); WinoBias' "
                                       "wino/data (*.txt.dev, *.txt.test); Winogender's data/ "
                                       "(templates.tsv, occupations-stats.tsv); StereoSet's dev.json")
    imported.add_argument("--version", required=True)
    imported.add_argument("--name", default=None, help="probe name (default: the benchmark's)")
    imported.add_argument("--category", action="append", default=None,
                          help="keep only this category (repeatable; default: all)")
    imported.add_argument("--sample", type=int, default=None,
                          help="keep a seeded sample of N items (or pro/anti sets) per category")
    imported.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    imported.set_defaults(func=cmd_probes_import)
    register = psub.add_parser("register", help="create or update an MLflow evaluation dataset "
                                                "(mlflow.genai.datasets) holding a probe version")
    register.add_argument("probe", help="name[@version] (default: the newest version)")
    register.add_argument("--dataset-name", default=None,
                          help="dataset name (default: bias-probe-NAME-VERSION)")
    register.add_argument("--input-key", default="input",
                          help="the app's parameter that takes each row's text (default: input)")
    register.add_argument("--experiment", default=None, help="experiment to attach the dataset to")
    register.set_defaults(func=cmd_probes_register)
    review = psub.add_parser("from-review", help="freeze reviewed replay disagreements as a new "
                                                 "counterfactual-sets probe version")
    review.add_argument("review", nargs="?", default=None,
                        help="review table (bias/replay/review.json, or a CSV with a 'confirmed' "
                             "column); or give --queue")
    review.add_argument("--queue", default=None,
                        help="read the answers of this MLflow review queue instead of a file")
    review.add_argument("--experiment", default=None, help="the queue's experiment (name or id; "
                                                            "default: the current one)")
    review.add_argument("--name", required=True)
    review.add_argument("--version", required=True)
    review.add_argument("--card", required=True)
    review.add_argument("--attribute", default=None,
                        help="gender or race (default: the queue's replay attribute, else gender)")
    review.set_defaults(func=cmd_probes_from_review)


def _split_ref(ref: str) -> tuple[str, str | None]:
    """`name@version` as (name, version); (name, None) without a version."""
    name, _, version = ref.partition("@")
    return name, version or None


def cmd_probes_list(args: argparse.Namespace) -> int:
    """Exit 0; 1 when a name@version is in more than one store (a user copy of a shipped probe)."""
    from mlflow_bias.probes import list_probes
    from mlflow_bias.probes.store import shadowed

    probes = list_probes(args.root)
    for probe in probes:
        origin = "shipped" if probe.shipped else probe.path
        print(f"{probe.name}@{probe.version}\t{probe.kind}\t{probe.rows} rows\t"
              f"sha256:{probe.content_digest[:16]}\t{origin}")
    for clash in shadowed(probes):
        print(f"error: {clash}; the copy outside the shipped store is refused when loaded. Remove "
              "it and freeze it under a name of its own.", file=sys.stderr)
    return 1 if shadowed(probes) else 0


def cmd_probes_show(args: argparse.Namespace) -> int:
    """Print a probe's manifest and card."""
    from mlflow_bias.probes import show

    shown = show(*_split_ref(args.probe), root=args.root)
    print(json.dumps(shown["manifest"], indent=2))
    print()
    print(shown["card"])
    return 0


def cmd_probes_verify(args: argparse.Namespace) -> int:
    """Load the named probes (default: every stored one), which checks their files and rows."""
    from mlflow_bias.probes import list_probes, load

    refs = [_split_ref(r) for r in args.probe] or [
        (p.name, p.version) for p in list_probes(args.root)
    ]
    for name, version in refs:
        load(name, version, root=args.root)  # verifies files and rows
        print(f"ok  {name}@{version or 'latest'}")
    return 0


def cmd_probes_freeze(args: argparse.Namespace) -> int:
    """Store a data file and its card as a new immutable probe version."""
    from mlflow_bias.probes import freeze

    from mlflow_bias.core.errors import ProbeSchemaError

    card_path = Path(args.card)
    if not card_path.is_file():
        raise ProbeSchemaError(f"--card {card_path}: no such file. Write the probe's card (what it "
                               "measures, how it was built, its size and its limits) as a Markdown "
                               "file and pass its path.")
    info = freeze(
        args.data, args.name, args.version, card=card_path.read_text(encoding="utf-8"),
        slice_columns=args.slice_column or None, root=args.root, kind=args.kind,
    )
    print(f"froze {info.name}@{info.version}: {info.rows} rows, sha256 {info.content_digest} "
          f"-> {info.path}")
    return 0


def cmd_probes_import(args: argparse.Namespace) -> int:
    """Freeze a public benchmark's file as a probe version, its card naming the file's digest."""
    from mlflow_bias.public_benchmarks import import_file

    info = import_file(args.benchmark, args.path, args.version, probe_name=args.name,
                       categories=args.category, root=args.root, sample=args.sample, seed=args.seed)
    print(f"froze {info.name}@{info.version} from {info.source['file']} (sha256 "
          f"{info.source['sha256']}): {info.rows} rows, {info.kind} -> {info.path}")
    return 0


def cmd_probes_register(args: argparse.Namespace) -> int:
    """Write a probe version to an MLflow evaluation dataset, tagged with its name, version and
    digest, and check it against the frozen probe."""
    import mlflow

    from mlflow_bias.genai import register_probe

    experiment_id = None
    if args.experiment:
        experiment_id = mlflow.set_experiment(args.experiment).experiment_id
    dataset = register_probe(args.probe, name=args.dataset_name, input_key=args.input_key,
                             experiment_id=experiment_id)
    tags = dataset.tags or {}
    print(f"dataset {dataset.name} ({dataset.dataset_id}): probe {tags.get('bias.probe')}@"
          f"{tags.get('bias.probe.version')}, digest {tags.get('bias.probe.digest')}, "
          f"{len(dataset.to_df())} records, checked against the frozen probe")
    return 0


def cmd_probes_from_review(args: argparse.Namespace) -> int:
    """Freeze a replay review table's disagreements as a new counterfactual-sets probe version."""
    from mlflow_bias.core.errors import ConfigError

    if (args.review is None) == (args.queue is None):
        raise ConfigError("Give either a review table file or --queue NAME (an MLflow review queue).")
    card = Path(args.card).read_text()
    if args.queue:
        from mlflow_bias.genai import probe_from_queue

        info = probe_from_queue(args.queue, args.name, args.version, card=card,
                                attribute=args.attribute, experiment_id=args.experiment)
    else:
        from mlflow_bias.replay import probe_from_review

        info = probe_from_review(args.review, args.name, args.version, card=card,
                                 attribute=args.attribute or "gender")
    print(f"froze {info.name}@{info.version}: {info.rows} rows, digest {info.content_digest}")
    return 0


#: The commands this module adds, by name.
COMMANDS: dict[str, AddCommand] = {"probes": add_probes}
