"""`mlflow-bias replay`: re-run traces with a protected attribute swapped."""

from __future__ import annotations

import argparse

from mlflow_bias.cli._common import (BUNDLED_MODELS, AddCommand, Subparsers, read_config,
                                     register_bundled_model)


def add_replay(sub: Subparsers) -> None:
    """`replay`: its options, and `cmd_replay` to run it."""
    rp = sub.add_parser("replay", help="replay traces with a protected attribute swapped and log "
                                       "the disagreements to MLflow")
    rp.add_argument("--model", required=True, help="MLflow model URI or a bundled model name")
    rp.add_argument("--traces", default=None, help="CSV/JSONL/parquet file of inputs (and outputs)")
    rp.add_argument("--from-experiment", default=None, help="replay this MLflow experiment's traces")
    rp.add_argument("--attribute", default="gender", help="gender or race (default gender)")
    rp.add_argument("--neutral", action="store_true", help="gender: swap he/she for they instead")
    rp.add_argument("--categories", default=None,
                    help="compare categories: JSON or YAML file, e.g. '{\"advance\": [\"advance\"], "
                         "\"reject\": [\"reject\"]}' (default: compare by similarity)")
    rp.add_argument("--threshold", type=float, default=None)
    rp.add_argument("--input-key", default=None, help="input column, or field of a trace's request")
    rp.add_argument("--output-key", default=None)
    rp.add_argument("--rerun-original", action="store_true",
                    help="run the original inputs too instead of using the recorded outputs")
    rp.add_argument("--max-traces", type=int, default=None)
    rp.add_argument("--batch-size", type=int, default=32)
    rp.add_argument("--spark", action="store_true",
                    help="run the model calls as Spark jobs (the active or default SparkSession; "
                         "same numbers as without)")
    rp.add_argument("--experiment", default=None, help="MLflow experiment to log the run in")
    rp.add_argument("--no-progress", action="store_true")
    rp.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay traces with the attribute swapped; exit 0 (the rate is information, not a verdict)."""
    import mlflow

    from mlflow_bias.replay import replay

    if args.experiment:
        mlflow.set_experiment(args.experiment)
    model = args.model
    if model in BUNDLED_MODELS:
        model = register_bundled_model(model, BUNDLED_MODELS[model])
    source = f"mlflow:{args.from_experiment}" if args.from_experiment else args.traces
    if source is None:
        from mlflow_bias.core.errors import ConfigError

        raise ConfigError("Give a trace file (--traces FILE) or an MLflow experiment whose traces "
                          "to replay (--from-experiment NAME).")
    result = replay(model, source, attribute=args.attribute, neutral=args.neutral,
                    categories=read_config(args.categories) or None, threshold=args.threshold,
                    input_key=args.input_key, output_key=args.output_key,
                    rerun_original=args.rerun_original, max_traces=args.max_traces,
                    batch_size=args.batch_size, progress=not args.no_progress,
                    spark=True if args.spark else None)
    key = args.attribute
    m = result.metrics
    if key in m:
        print(f"replay/{key}: disagreement rate {m[key]:.3f} [{m[key + '/ci_low']:.3f}, "
              f"{m[key + '/ci_high']:.3f}] over {int(m[key + '/n_items'])} replayed traces "
              f"({m[key + '/marker_rate']:.1%} of {int(m[key + '/n_traces'])} mention {key}); "
              f"{len(result.tables['review'])} to review (threshold {result.metadata['threshold']}).")
    for warning in result.warnings:
        print(f"warning: {warning}")
    print(f"Run {result.metadata['run_id']}: review table bias/replay/review.json")
    return 0


#: The commands this module adds, by name.
COMMANDS: dict[str, AddCommand] = {"replay": add_replay}
