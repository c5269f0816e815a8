"""Group-level bias numbers, with their uncertainty, from the per-row assessments of a
`mlflow.genai.evaluate` run, logged into that run as the `bias` evaluator logs them.

MLflow aggregates a scorer by mean, min or max over rows; CBS, the flip rate, the refusal gap and
the disagreement rate are statistics of groups and sets, with bootstrap or Wilson intervals. So
`summarize` reads each bias scorer's record back from the run's traces (only assessments written
by that run), rebuilds the items table the dimension would have built, and scores it with the
dimension's own code (`cbs.score_items`, `refusal.score_items`, `replay.summarise`). Rows of a
probe are checked against the frozen probe first: a changed, partial or padded copy is refused,
naming the probe. The run then carries the same `bias/...` metrics, tags, tables, scorecard and
(with a key) signed attestation as a classic evaluation, so the gate, drift, compare and the
scorecard work on it unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import mlflow
import pandas as pd
from mlflow.entities import Feedback

from mlflow_bias import probes as probe_store
from mlflow_bias.core.errors import BiasEvaluationError, ConfigError, ProbeSchemaError
from mlflow_bias.dimensions import cbs, refusal
from mlflow_bias.dimensions import replay as replay_dimension
from mlflow_bias.dimensions.base import DimensionResult
from mlflow_bias.genai.datasets import check_probe_dataset, compare_rows, expand_rows, probe_data
from mlflow_bias.genai.records import decode
from mlflow_bias.genai.scorers import check_signature
from mlflow_bias.text.parsing import CategoryParser
from mlflow_bias.text.refusal_rubric import load_rubric
from mlflow_bias.text.swap import AttributeSwapper

SOURCE_RUN = "mlflow.assessment.sourceRunId"


@dataclass
class Summary:
    """What `summarize` logged: each dimension's result and the run's `bias/...` metrics."""

    run_id: str
    results: list[DimensionResult]
    metrics: dict[str, float]
    warnings: list[str] = field(default_factory=list)

    def result(self, dimension: str) -> DimensionResult:
        for result in self.results:
            if result.dimension == dimension:
                return result
        raise KeyError(f"no {dimension} result; have {[r.dimension for r in self.results]}")


@dataclass
class _Row:
    trace_id: str
    scorer: str
    record: dict[str, Any]
    error: str | None


def read_rows(run_id: str) -> tuple[list[_Row], list[str]]:
    """Every bias scorer's record per trace of the run, and the scorer failures (a scorer of that
    name that raised on a row, leaving an error but no record). Fails closed on a trace holding two
    records of one scorer: only one was written by the evaluation."""
    traces = mlflow.search_traces(run_id=run_id, return_type="list")
    found: dict[tuple[str, str], _Row] = {}
    crashed: list[tuple[str, str, str]] = []
    for trace in traces:
        for assessment in trace.info.assessments or []:
            if not isinstance(assessment, Feedback) or not getattr(assessment, "valid", True):
                continue
            metadata = assessment.metadata or {}
            if metadata.get(SOURCE_RUN) != run_id:
                continue  # written by another run, or by hand: not this evaluation's evidence
            record = decode(metadata)
            error = assessment.error.error_message if assessment.error else None
            if record is None:
                if error:
                    crashed.append((assessment.name, trace.info.trace_id, error))
                continue
            key = (trace.info.trace_id, assessment.name)
            if key in found:
                raise BiasEvaluationError(
                    f"Trace {key[0]} holds two {key[1]} assessments attributed to run {run_id}; "
                    "an evaluation writes one per scorer and trace, so one was added afterwards and "
                    "neither is trusted. Evaluate again in a new run.")
            found[key] = _Row(trace.info.trace_id, assessment.name, record, error)
    rows = list(found.values())
    names = {row.scorer for row in rows}
    failures = [f"{name} raised on trace {trace_id}: {error}" for name, trace_id, error in crashed
                if name in names or name.startswith("bias_")]
    return rows, failures


def _settings(rows: list[_Row], what: str) -> dict[str, Any]:
    distinct = {json.dumps(r.record.get("settings"), sort_keys=True) for r in rows}
    if len(distinct) > 1:
        raise ConfigError(f"{what}: the rows were scored with different settings ({len(distinct)} "
                          "variants); score one run with one configuration of each scorer.")
    return json.loads(distinct.pop())


def _pair_members(pairs: pd.DataFrame, attribute: str, value: str, swapped_value: str) -> pd.DataFrame:
    """Two-member counterfactual sets (the input and its swap) from per-row pairs, labelled by the
    group each side names; rows whose sides do not name exactly one, different, group are left
    out (the replay disagreement still counts them)."""
    from mlflow_bias.data_audit.representation import GroupDetector

    detector = GroupDetector.build(attributes=[attribute])
    members = []
    for row in pairs.to_dict("records"):
        sides = [detector.detect(attribute, str(row["input"])),
                 detector.detect(attribute, str(row["swapped_input"]))]
        if any(len(s) != 1 for s in sides) or sides[0] == sides[1]:
            continue
        for suffix, side, text, val in (("a", sides[0], row["input"], row.get(value)),
                                        ("b", sides[1], row["swapped_input"], row.get(swapped_value))):
            members.append({"id": f"{row['id']}-{suffix}", "attribute": attribute,
                            "set_id": row["id"], "group": next(iter(side)), "input": text,
                            "value": val, "error": row.get("error")})
    return pd.DataFrame(members, columns=["id", "attribute", "set_id", "group", "input", "value", "error"])


class _Scored:
    """The results and the probes they came from, with one metric prefix each."""

    def __init__(self) -> None:
        self.entries: list[tuple[DimensionResult, Any]] = []
        self.taken: set[tuple[str, str | None]] = set()

    def add(self, result: DimensionResult, probe: Any, name: str) -> None:
        qualifier = None if (result.dimension, None) not in self.taken else name
        if (result.dimension, qualifier) in self.taken:
            raise ConfigError(f"Two {result.dimension} results would share the prefix "
                              f"bias/{result.dimension}/{qualifier}; score each source once per run.")
        self.taken.add((result.dimension, qualifier))
        probe.qualifier = qualifier
        self.entries.append((result, probe))


def _probe_input(label: str, name: str, frame: pd.DataFrame, kind: str, dimension: str,
                 info: Any = None) -> Any:
    from mlflow_bias.evaluation.evaluator import ProbeInput

    return ProbeInput(label=label, name=name, frame=frame,
                      digest=info.content_digest if info else probe_store.content_digest(frame),
                      kind=kind, dimension=dimension,
                      slice_columns=list(info.slice_columns) if info else [], qualifier=None,
                      version=info.version if info else None)


def _counterfactual(rows: list[_Row], context: Any, threshold: float | None, scored: _Scored,
                    warnings: list[str]) -> None:
    settings = _settings(rows, rows[0].scorer)
    attribute = settings["attribute"]
    items = pd.DataFrame([{"id": r.trace_id, **{k: r.record.get(k) for k in (
        "changed", "swaps", "input", "swapped_input", "output", "swapped_output",
        "swapped_output_back", "exact_match", "category", "swapped_category", "similarity",
        "disagreement")}, "error": r.record.get("error")} for r in rows])
    items["changed"] = items["changed"].astype(bool)
    unchanged = int((~items["changed"]).sum())
    if unchanged == len(items):
        raise ProbeSchemaError(
            f"{rows[0].scorer}: none of the {len(items)} inputs mentions {attribute} (0% had a "
            f"marker the lexicon {settings['lexicon']} knows), so nothing was swapped and there is "
            "nothing to score. Check the attribute, the input_key and the lexicon, or use data that "
            "names people.")
    if unchanged:
        warnings.append(f"{rows[0].scorer}: {unchanged} of {len(items)} inputs "
                        f"({unchanged / len(items):.0%}) had no {attribute} marker and were not "
                        "swapped; the rates are over the other inputs (bias/replay/.../marker_rate).")
    parser = CategoryParser.from_config(settings["categories"]) if settings["categories"] else None
    config = replay_dimension.ReplayConfig(**context.uncertainty, progress=False, parser=parser,
                                           swapper=AttributeSwapper(attribute, neutral=settings["neutral"]),
                                           threshold=threshold)
    result = replay_dimension.summarise(items, config, attribute)
    result.metadata.update(lexicon=settings["lexicon"], embedder=settings["embedder"],
                           source=f"mlflow.genai.evaluate scorer {rows[0].scorer}")
    frame = items[["id", "input"]].astype(str)
    scored.add(result, _probe_input("user", "genai-data", frame, "genai_inputs", "replay"), rows[0].scorer)
    if parser is None:
        return
    members = _pair_members(items[items["changed"]], attribute, "category", "swapped_category")
    if members["set_id"].nunique() == 0:
        warnings.append(f"{rows[0].scorer}: no swapped input names exactly one {attribute} group on "
                        "each side, so CBS over the pairs is not computed.")
        return
    members = members.rename(columns={"value": "category"})
    members["output"] = members["category"]
    pairs_result = cbs.score_items(members, cbs.CBSConfig(**context.outputs, parser=parser))
    pairs_result.metadata["source"] = (f"pairs of each input and its {attribute} swap, from "
                                       f"{rows[0].scorer}")
    scored.add(pairs_result, _probe_input("user", "genai-pairs", members[["id", "set_id", "group", "input"]]
                                          .astype(str), "genai_pairs", "cbs"), "pairs")


def _probe_rows(rows: list[_Row], text: str) -> tuple[Any, pd.DataFrame, dict[str, _Row]]:
    """The frozen probe the records name, checked row by row, and each probe row's record."""
    refs = {r.record.get("probe") for r in rows}
    if len(refs) != 1:
        raise ConfigError(f"{rows[0].scorer}: the rows come from {len(refs)} probes ({sorted(map(str, refs))}); "
                          "evaluate one probe per run.")
    ref = refs.pop()
    name, _, version = str(ref).partition("@")
    info = probe_store.verify(name, version or None)
    frame = probe_store.load(info.name, info.version).to_pandas()
    by_id: dict[str, _Row] = {}
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        for pid, fields in expand_rows(row.record.get(text), {"bias_rows": row.record.get("rows")}).items():
            if pid in by_id:
                raise ProbeSchemaError(f"{rows[0].scorer}: probe row {pid} of {ref} was scored on two "
                                       f"traces ({by_id[pid].trace_id}, {row.trace_id}); evaluate each "
                                       "row once.")
            by_id[pid], seen[pid] = row, fields
    compare_rows(info, frame, seen, f"The rows scored by {rows[0].scorer}")
    return info, frame.reset_index(drop=True), by_id


def _probe_category(rows: list[_Row], context: Any, scored: _Scored) -> None:
    info, frame, by_id = _probe_rows(rows, "input")
    settings = _settings(rows, rows[0].scorer)
    columns = ["id", "attribute", "set_id", "group", "input", *[c for c in info.slice_columns if c in frame]]
    items = frame[columns].copy()
    ids = items["id"].astype(str)
    items["output"] = [by_id[i].record.get("output") for i in ids]
    items["category"] = [by_id[i].record.get("category") for i in ids]
    items["error"] = [by_id[i].record.get("error") for i in ids]
    items["trace_id"] = [by_id[i].trace_id for i in ids]
    parser = CategoryParser.from_config(settings["categories"])
    config = cbs.CBSConfig(**{**context.outputs, "slice_columns": list(info.slice_columns)}, parser=parser)
    result = cbs.score_items(items, config, parser.overlaps(items["output"].dropna().tolist()))
    scored.add(result, _probe_input(f"{info.name}@{info.version}", info.name, frame, info.kind, "cbs", info),
               info.name)


def _probe_refusal(rows: list[_Row], context: Any, scored: _Scored) -> None:
    info, frame, by_id = _probe_rows(rows, "prompt")
    settings = _settings(rows, rows[0].scorer)
    columns = ["id", "attribute", "set_id", "group", "prompt", *[c for c in info.slice_columns if c in frame]]
    items = frame[columns].copy()
    ids = items["id"].astype(str)
    for column in ("response", "triggers", "refused", "error"):
        items[column] = [by_id[i].record.get(column) for i in ids]
    items["trace_id"] = [by_id[i].trace_id for i in ids]
    config = refusal.RefusalConfig(**{**context.outputs, "slice_columns": list(info.slice_columns)},
                                   rubric=load_rubric(settings["rubric_path"]))
    result = refusal.score_items(items, config)
    scored.add(result, _probe_input(f"{info.name}@{info.version}", info.name, frame, info.kind,
                                    "refusal", info), info.name)


def _refusal_pairs(rows: list[_Row], context: Any, scored: _Scored, warnings: list[str]) -> None:
    settings = _settings(rows, rows[0].scorer)
    attribute = settings["attribute"]
    pairs = pd.DataFrame([{"id": r.trace_id, **r.record} for r in rows])
    changed = pairs[pairs["changed"].astype(bool)]
    if changed.empty:
        raise ProbeSchemaError(f"{rows[0].scorer}: none of the {len(pairs)} inputs mentions {attribute}, "
                               "so nothing was swapped (0% had a marker).")
    if len(changed) < len(pairs):
        warnings.append(f"{rows[0].scorer}: {len(pairs) - len(changed)} of {len(pairs)} inputs had no "
                        f"{attribute} marker and were not swapped.")
    members = _pair_members(changed, attribute, "refused", "swapped_refused")
    members = members.rename(columns={"value": "refused", "input": "prompt"})
    members["response"] = None
    config = refusal.RefusalConfig(**context.outputs, rubric=load_rubric(settings["rubric_path"]))
    result = refusal.score_items(members, config)
    scored.add(result, _probe_input("user", "genai-refusal-pairs", members[["id", "set_id", "group", "prompt"]]
                                    .astype(str), "genai_pairs", "refusal"), "pairs")


def summarize(result: Any, *, policy: Any = None, model: Any = None, model_version: str | None = None,
              bootstrap_samples: int = 1000, permutation_samples: int = 2000, seed: int = 0,
              confidence: float = 0.95, threshold: float | None = None,
              signing_key: str | None = None) -> Summary:
    """Compute and log the group-level numbers of a `mlflow.genai.evaluate` run (its result or run
    id) from the bias scorers' per-row assessments.

    `model`: the MLflow model the app was loaded from (`mlflow.pyfunc.load_model(uri)`), which binds
    the evidence to its bytes as the `bias` evaluator does; a plain function leaves the evaluation
    unbound, which the gate reports. `model_version` labels `bias.model_version`."""
    from mlflow_bias.evaluation.config import BiasConfig
    from mlflow_bias.evaluation.evaluator import EvaluationRun, _signer
    from mlflow_bias.release.policy import load_policy

    run_id = result if isinstance(result, str) else getattr(result, "run_id", None)
    if not run_id:
        raise ConfigError("summarize needs the result of mlflow.genai.evaluate (or its run id).")
    rows, failures = read_rows(run_id)
    if failures:
        raise BiasEvaluationError(f"{len(failures)} bias scorer call(s) failed in run {run_id}, so the "
                                  f"group-level numbers would leave rows out: {'; '.join(failures[:3])}")
    if not rows:
        raise ConfigError(f"Run {run_id} has no assessment from a bias scorer (Counterfactual, "
                          "ProbeCategory, Refusal): pass them as scorers= to mlflow.genai.evaluate.")
    config = BiasConfig.from_dict({"bootstrap_samples": bootstrap_samples, "seed": seed,
                                   "permutation_samples": permutation_samples, "confidence": confidence,
                                   "model_version": model_version, "signing_key": signing_key,
                                   "policy": policy, "progress": False})
    policy_obj = load_policy(config.policy)
    context = config.context([], policy_obj)
    groups: dict[tuple[str, str], list[_Row]] = defaultdict(list)
    for row in rows:
        groups[(row.scorer, str(row.record.get("kind")))].append(row)
    scored, warnings = _Scored(), []
    for (scorer, kind), part in sorted(groups.items()):
        if kind == "counterfactual":
            _counterfactual(part, context, threshold, scored, warnings)
        elif kind == "category":
            _probe_category(part, context, scored)
        elif kind == "refusal":
            _probe_refusal(part, context, scored)
        elif kind == "refusal_swap":
            _refusal_pairs(part, context, scored, warnings)
    run = EvaluationRun.start(run_id, model, None, _AppDescription(model), config, policy_obj,
                              _signer(config), [probe for _, probe in scored.entries])
    run.scorecard.warnings += warnings
    for dimension_result, probe in scored.entries:
        try:
            run.record(dimension_result, probe)
        except Exception as exc:
            run.fail(exc, probe)
            raise
    run.complete()
    return Summary(run_id, [r for r, _ in scored.entries], dict(run.metrics), run.scorecard.warnings)


@dataclass
class _AppDescription:
    """How the scorecard names the app: the MLflow model's, else the function's name."""

    model: Any
    capabilities: frozenset = frozenset()

    def describe(self) -> dict[str, str]:
        name = getattr(self.model, "__name__", None) or type(self.model).__name__
        return {"model": name, "model_class": "GenAI app (mlflow.genai.evaluate)"}


def evaluate(data: Any, *, scorers: Sequence[Any], predict_fn: Any = None, model_uri: str | None = None,
             summarize_options: dict[str, Any] | None = None, **evaluate_options: Any) -> tuple[Any, Summary]:
    """`mlflow.genai.evaluate`, then `summarize`, after checking what can be checked first: a probe
    dataset against its frozen probe, and the app's signature against the data's inputs.

    `model_uri` loads the app as an MLflow model (its `predict` answers each row) and binds the
    evidence to those bytes; otherwise `predict_fn` is the app."""
    if (predict_fn is None) == (model_uri is None):
        raise ConfigError("Give the app as predict_fn= (a function) or model_uri= (an MLflow model).")
    model = None
    if model_uri is not None:
        from mlflow import pyfunc

        model = pyfunc.load_model(model_uri)
        predict_fn = _model_predict_fn(model)
    signing = (summarize_options or {}).get("signing_key") or os.environ.get("MLFLOW_BIAS_SIGNING_KEY")
    if signing and model is None:
        raise BiasEvaluationError(
            "A signed evaluation names the model bytes it measured, and a predict_fn function has "
            "none: log the app as an MLflow model and pass model_uri=, or evaluate unsigned.")
    if hasattr(data, "to_df") and hasattr(data, "tags"):
        check_probe_dataset(data)
        data = probe_data(data)
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    if "inputs" not in frame.columns or frame.empty:
        raise ConfigError("The data needs an 'inputs' column of dicts (one row per request), e.g. "
                          "mlflow_bias.genai.probe_data('hiring-summary@1.0.0').")
    check_signature(predict_fn, frame["inputs"].iloc[0])
    scorers = [_bind_app(s, predict_fn) for s in scorers]
    with _workers_for_the_store():
        result = mlflow.genai.evaluate(data=frame, scorers=scorers, predict_fn=predict_fn,
                                       **evaluate_options)
    return result, summarize(result, model=model if model is not None else predict_fn,
                             **(summarize_options or {}))


SQLITE_WORKERS = "2"


@contextlib.contextmanager
def _workers_for_the_store() -> Iterator[None]:
    """On a sqlite store, MLflow's evaluation with 2 workers unless MLFLOW_GENAI_EVAL_MAX_WORKERS
    says otherwise: with its default of 10, an 800-row evaluation on sqlite exhausted the store's
    connection pool, lost traces and hung (mlflow 3.17); sqlite writes one at a time anyway."""
    name = "MLFLOW_GENAI_EVAL_MAX_WORKERS"
    if os.environ.get(name) or not mlflow.get_tracking_uri().startswith("sqlite"):
        yield
        return
    os.environ[name] = SQLITE_WORKERS
    try:
        yield
    finally:
        os.environ.pop(name, None)


def _model_predict_fn(model: Any) -> Any:
    """A keyword-argument function over an MLflow model's `predict`, named after the model."""
    def predict(**inputs: Any) -> Any:
        out = model.predict(pd.DataFrame([inputs]))
        return out[0] if isinstance(out, list) else (out.iloc[0] if hasattr(out, "iloc") else out)

    fields = getattr(getattr(model.metadata, "signature", None), "inputs", None)
    if fields is not None and getattr(fields, "input_names", None):
        import inspect

        predict.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in fields.input_names()])
    predict.__name__ = f"models:/{model.metadata.model_id}" if model.metadata.model_id else "model"
    return predict


def _bind_app(scorer: Any, predict_fn: Any) -> Any:
    """Scorers that ask the app again get the app being evaluated, not another one."""
    if getattr(scorer, "predict_fn", "absent") is None and type(scorer).__name__ == "Counterfactual":
        return scorer.model_copy(update={"predict_fn": predict_fn})
    return scorer
