"""`mlflow-bias evaluate` (score a model on probes) and `mlflow-bias report` (a run's HTML page)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from mlflow_bias.cli._common import (BUNDLED_MODELS, DEFAULT_EXPERIMENT, DEFAULT_MODEL, AddCommand,
                                     Subparsers, read_config, register_bundled_model)

DEFAULT_PROBE = "gender-occupation"


def add_evaluate(sub: Subparsers) -> None:
    """`evaluate`: its options, and `cmd_evaluate` to run it."""
    ev = sub.add_parser("evaluate", help="score a model on probes and log the run to MLflow")
    ev.add_argument("--model", default=DEFAULT_MODEL,
                    help="MLflow model URI (runs:/..., models:/name/N, models:/name@alias), or a "
                         "bundled model: 'smollm2' (SmolLM2-135M-Instruct, the default) or "
                         "'minilm' (all-MiniLM-L6-v2, for association probes)")
    ev.add_argument("--registered-name", default=None,
                    help="registered model name for a bundled model (default: "
                         + ", ".join(f"{k}: {v}" for k, v in BUNDLED_MODELS.items()) + ")")
    ev.add_argument("--config", default=None,
                    help="more evaluator_config keys as a JSON object or a JSON/YAML file, e.g. "
                         "'{\"verbalisers\": {\"advance\": [\"ADVANCE\"], \"reject\": [\"REJECT\"]}}'")
    ev.add_argument("--probe", action="append", default=None,
                    help="probe name[@version] or CSV/parquet/JSONL path; repeat to score several "
                         "(default: gender-occupation)")
    ev.add_argument("--experiment", default=DEFAULT_EXPERIMENT)
    ev.add_argument("--run-name", default=None)
    ev.add_argument("--batch-size", type=int, default=None, help="default 32")
    ev.add_argument("--bootstrap-samples", type=int, default=None, help="default 1000")
    ev.add_argument("--permutation-samples", type=int, default=None, help="default 2000")
    ev.add_argument("--seed", type=int, default=None, help="default 0")
    ev.add_argument("--json", action="store_true", help="print the scorecard as JSON")
    ev.add_argument("--no-progress", action="store_true")
    ev.add_argument("--resume", metavar="RUN_ID", default=None,
                    help="an evaluation that stopped half-way (the tracking server went away): mark "
                         "it failed with its reason and say what it holds, instead of evaluating")
    ev.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a model on the probes (or `--resume` a stopped run) and print the scorecard."""
    import mlflow

    if args.probe is None:
        args.probe = [DEFAULT_PROBE]
    if args.resume:
        from mlflow_bias.evaluation.recovery import resume

        print(resume(args.resume))
        return 0

    from mlflow_bias.evaluation.api import evaluate
    from mlflow_bias.reporting.report import SCORECARD_PATH, format_scorecard

    experiment = args.experiment
    if os.environ.get("MLFLOW_RUN_ID"):  # inside `mlflow run`: the project chose the run
        run = mlflow.get_run(os.environ["MLFLOW_RUN_ID"])
        experiment = mlflow.get_experiment(run.info.experiment_id).name
    else:
        mlflow.set_experiment(experiment)
    model = args.model
    if model in BUNDLED_MODELS:
        model = register_bundled_model(model, args.registered_name or BUNDLED_MODELS[model])
    # a flag given on the command line wins over --config, which wins over the evaluator defaults
    flags = {"batch_size": args.batch_size, "bootstrap_samples": args.bootstrap_samples,
             "permutation_samples": args.permutation_samples, "seed": args.seed}
    config: dict[str, Any] = {
        **read_config(args.config),
        **{key: value for key, value in flags.items() if value is not None},
        "probes": args.probe[1:],
    }
    if args.no_progress:
        config["progress"] = False
    evaluate(model, args.probe[0], run_name=args.run_name, **config)
    run = mlflow.last_active_run()
    scorecard = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/{SCORECARD_PATH}")
    print(json.dumps(scorecard, indent=2) if args.json else format_scorecard(scorecard))
    print(
        f"\nRun {run.info.run_id} in experiment '{experiment}' "
        f"({mlflow.get_tracking_uri()}).\nCompare runs in the MLflow UI: "
        f"mlflow ui --backend-store-uri {mlflow.get_tracking_uri()}  (then open http://127.0.0.1:5000)"
    )
    return 0


def add_report(sub: Subparsers) -> None:
    """`report`: its options, and `cmd_report` to run it."""
    rep = sub.add_parser("report", help="write a run's scorecard as a self-contained HTML page")
    rep.add_argument("run_id", help="the bias evaluation run")
    rep.add_argument("--output", "-o", default=None,
                     help="HTML file to write (default: scorecard-<run_id>.html)")
    rep.add_argument("--open", action="store_true", help="open the page in a browser")
    rep.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """Render a run's scorecard (its `bias/scorecard.json`) as a self-contained HTML file."""
    from mlflow.tracking import MlflowClient

    from mlflow_bias.core.errors import BiasEvaluationError
    from mlflow_bias.reporting.report import SCORECARD_PATH, render_html
    from mlflow_bias.reporting.scorecard_page import model_version_context

    client = MlflowClient()
    try:
        path = client.download_artifacts(args.run_id, SCORECARD_PATH)
    except Exception as exc:  # noqa: BLE001 - an unknown run or a run that is no bias evaluation
        raise BiasEvaluationError(f"Run {args.run_id} has no {SCORECARD_PATH} ({exc}); pass the id of "
                                  "a bias evaluation run.") from exc
    card = json.loads(Path(path).read_text(encoding="utf-8"))
    limitations, description = model_version_context(card, client)
    output = Path(args.output or f"scorecard-{args.run_id}.html")
    output.write_text(render_html(card, limitations=limitations, model_description=description),
                      encoding="utf-8")
    print(f"Wrote {output}")
    if args.open:
        import webbrowser

        webbrowser.open(output.resolve().as_uri())
    return 0


#: The commands this module adds, by name.
COMMANDS: dict[str, AddCommand] = {"evaluate": add_evaluate, "report": add_report}
