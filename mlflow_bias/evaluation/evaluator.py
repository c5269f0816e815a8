"""`BiasEvaluator`: the `bias` MLflow evaluator. Thin: it resolves probes and the model adapter, runs
the dimensions, and hands each result to `tracking` as soon as it is computed, so a later failure
never loses what was already measured."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import mlflow
import pandas as pd
from mlflow.models.evaluation import EvaluationResult, ModelEvaluator
from mlflow.tracking import MlflowClient

from mlflow_bias import __version__
from mlflow_bias import probes as probe_store
from mlflow_bias.evaluation import tracking
from mlflow_bias.adapters import resolve_adapter
from mlflow_bias.adapters.base import WEIGHTS
from mlflow_bias.evaluation.config import BiasConfig
from mlflow_bias.dimensions.registry import require_capability, scored_from_probes
from mlflow_bias.data_audit.tracking import AUDIT_TABLES, audit_tags, log_representation
from mlflow_bias.core.errors import BiasEvaluationError, ConfigError
from mlflow_bias.release.policy import load_policy
from mlflow_bias.evaluation.recovery import record_interruption, resume_pending
from mlflow_bias.reporting.report import SCORECARD_PATH, Scorecard, policy_summary
from mlflow_bias.reporting.scorecard_page import log_scorecard_html
from mlflow_bias.core.tracking_guard import TrackingUnavailableError
from mlflow_bias.trust.evidence import sign_evaluation
from mlflow_bias.trust.keys import SIGNING_KEY_ENV, fingerprint, load_signer
from mlflow_bias.trust.model_digest import logged_model_manifest

MODEL_MANIFEST_PATH = "bias/model_manifest.json"

_logger = logging.getLogger(__name__)
MODEL_TYPE = "bias"


@dataclass
class ProbeInput:
    """A probe ready to score: its rows, where it came from, and the dimension it feeds."""

    label: str  # name@version, or "user" for an unregistered probe
    name: str
    frame: pd.DataFrame
    digest: str
    kind: str
    dimension: str
    slice_columns: list[str]
    qualifier: str | None  # metric-key segment for extra probes (None for the main probe)
    version: str | None = None
    benchmark: str | None = None  # the public benchmark it was imported from (`crows-pairs`)


def _prepare_probe(data: Any, config: BiasConfig, *, main: bool) -> ProbeInput:
    """Read, identify (a frozen probe carries its kind) and validate a probe."""
    frame = probe_store.read_probe(data)
    digest = probe_store.content_digest(frame)
    info = probe_store.find_by_digest(digest)
    kind = probe_store.validate(frame, info.kind if info else (config.probe_kind if main else None))
    declared = config.slice_columns if config.slice_columns is not None else (
        info.slice_columns if info is not None else None
    )
    slices = probe_store.slice_columns(frame, declared)
    name = info.name if info else "user"
    return ProbeInput(
        label=f"{info.name}@{info.version}" if info else "user",
        name=name,
        frame=frame,
        digest=digest,
        kind=kind.name,
        dimension=kind.dimension,
        slice_columns=slices,
        qualifier=None if main else name,
        version=info.version if info else None,
        benchmark=info.benchmark if info else None,
    )


def _model_version_label(model: Any, model_id: str | None, config: BiasConfig, adapter: Any) -> str:
    """What `bias.model_version` says: a registered name/version where one is found."""
    if config.model_version:
        return config.model_version
    metadata = getattr(model, "metadata", None)
    model_id = model_id or getattr(metadata, "model_id", None)
    run_id = getattr(metadata, "run_id", None)
    if run_id:
        try:
            for mv in MlflowClient().search_model_versions(f"run_id='{run_id}'"):
                if model_id is None or model_id in (getattr(mv, "model_id", None), mv.source.rsplit("/", 1)[-1]):
                    return f"{mv.name}/{mv.version}"
        except Exception:  # noqa: BLE001 - the label is informative; the evaluation goes on
            _logger.debug("could not look up registered versions", exc_info=True)
    if model_id:
        return f"models:/{model_id}"
    if run_id:
        return f"runs:/{run_id}/{metadata.artifact_path}"
    if WEIGHTS in adapter.capabilities:  # an in-memory model: name it by its weights
        return f"{adapter.describe()['model']}@weights:{adapter.weights_digest()[:16]}"
    return adapter.describe().get("model", type(model).__name__)


def _signer(config: BiasConfig) -> Any:
    """The evaluator's signer when `signing_key` or MLFLOW_BIAS_SIGNING_KEY names a key file,
    loaded before any model work so that a bad key fails at once."""
    path = config.signing_key or os.environ.get(SIGNING_KEY_ENV)
    return load_signer(path) if path else None


def _measured_model(model: Any, adapter: Any) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """(digest, manifest, why not) of the model bytes being measured: the manifest of the logged
    model's stored artifacts for an MLflow model, the weights digest for an in-memory one."""
    model_id = getattr(getattr(model, "metadata", None), "model_id", None)
    if model_id:
        try:
            manifest = logged_model_manifest(model_id)
        except Exception as exc:  # noqa: BLE001 - reported; the gate blocks an unbound evaluation
            return None, None, f"the artifacts of logged model {model_id} could not be hashed: {exc}"
        return manifest.digest, manifest.to_dict(), None
    if WEIGHTS in adapter.capabilities:
        return f"weights-sha256:{adapter.weights_digest()}", None, None
    return None, None, (f"a {type(model).__name__} has no stored artifacts or weights to hash; log it "
                        "as an MLflow model and evaluate its URI")


def _training_data_of(config: BiasConfig) -> Any:
    spec = config.training_data
    return spec["data"] if isinstance(spec, dict) else spec


def _audit_training_data(config: BiasConfig) -> Any:
    """The representation audit of the model's fine-tuning data, when `training_data` is given
    (the data, or {"data": ..., **audit_representation options})."""
    if config.training_data is None:
        return None
    from mlflow_bias.data_audit.representation import audit_representation

    spec = config.training_data
    options = {k: v for k, v in spec.items() if k != "data"} if isinstance(spec, dict) else {}
    if isinstance(spec, dict) and "data" not in spec:
        raise ConfigError("evaluator_config 'training_data' as a dict needs a 'data' key (a path, "
                          "DataFrame or datasets.Dataset); the other keys are audit options.")
    try:
        return audit_representation(_training_data_of(config), progress=config.progress, **options)
    except TypeError as exc:
        raise ConfigError(f"evaluator_config 'training_data': {exc}") from exc


def _public_config(config: BiasConfig) -> dict[str, Any]:
    out = {name: getattr(config, name) for name in type(config).model_fields if name != "dimension_options"}
    out.update({name: options.model_dump(mode="json") for name, options in config.dimension_options.items()})
    out["probes"] = [p if isinstance(p, str) else type(p).__name__ for p in config.probes]
    out["policy"] = str(config.policy) if config.policy is not None else None
    data = _training_data_of(config)
    out["training_data"] = None if data is None else (
        str(data) if isinstance(data, (str, os.PathLike)) else type(data).__name__)
    return out


def _tag_failure(run_id: str, exc: Exception) -> None:
    """Every failed evaluation says why in its run (`bias.status=failed`, `bias.error`), also when
    it failed before anything was logged (bad options, probe or model); a failure to write the
    tags themselves (the tracking server gone) leaves the original error to the caller."""
    message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    if isinstance(exc, TrackingUnavailableError):  # the server is gone: keep the reason here
        record_interruption(run_id, mlflow.get_tracking_uri(), message)
        return
    try:
        current = MlflowClient().get_run(run_id).data.tags
        if current.get("bias.status") != "failed" or not current.get("bias.error"):
            tracking.log_tags(run_id, {"bias.status": "failed", "bias.error": str(message)[:5000]})
    except Exception:  # noqa: BLE001 - the original error matters more
        _logger.warning("Could not tag run %s as failed.", run_id, exc_info=True)


def dimension_status_tag(dimension: str, qualifier: str | None) -> str:
    return f"bias.dimension.{dimension}" + (f".{qualifier}" if qualifier else "")


def _dimension_status(result) -> str:
    """`completed`, or `failed: ...` when the model raised on some inputs (the gate then blocks:
    a dimension scored on part of its probe is not the measurement the policy asks for)."""
    errors = result.items["error"].notna().sum() if "error" in result.items.columns else 0
    if errors:
        return f"failed: {errors} of {len(result.items)} inputs made the model raise (see items table)"
    return "completed"


class BiasEvaluator(ModelEvaluator):
    """Scores bias dimensions on versioned probes and logs every result to the MLflow run."""

    @classmethod
    def can_evaluate(cls, *, model_type: str, evaluator_config: dict | None = None, **kwargs) -> bool:
        return model_type == MODEL_TYPE

    def evaluate(
        self,
        *,
        model: Any = None,
        model_type: str = MODEL_TYPE,
        dataset: Any = None,
        run_id: str,
        evaluator_config: dict | None = None,
        model_id: str | None = None,
        **kwargs: Any,
    ) -> EvaluationResult:
        resume_pending(mlflow.get_tracking_uri())  # runs an earlier server outage left half-done
        try:
            return self._evaluate(model=model, dataset=dataset, run_id=run_id,
                                  evaluator_config=evaluator_config, model_id=model_id)
        except Exception as exc:
            _tag_failure(run_id, exc)
            raise

    def _evaluate(self, *, model: Any, dataset: Any, run_id: str, evaluator_config: dict | None,
                  model_id: str | None) -> EvaluationResult:
        """Check everything that can be checked before touching the model, then score each probe
        and log each result as soon as it exists, then seal the run (scorecard, signature)."""
        config = BiasConfig.from_dict(evaluator_config)
        policy = load_policy(config.policy)
        signer = _signer(config)
        if model is None:
            raise BiasEvaluationError(
                "The bias evaluator scores a model: pass model= (an MLflow model URI, a pyfunc, "
                "or mlflow_bias.adapters.HFCausalLM(model, tokenizer))."
            )
        inputs = _read_probes(dataset, config)
        audit = _audit_training_data(config)  # bad training data fails before any model work
        adapter = _adapter_for(model, config, inputs)
        run = EvaluationRun.start(run_id, model, model_id, adapter, config, policy, signer, inputs)
        first, *rest = inputs
        try:
            run.score(first, adapter)
        except TrackingUnavailableError:
            audit = None  # the store is gone: nothing more can be written
            raise
        finally:
            # after the main probe's metrics: the MLflow UI lists a run's metrics in the order
            # they were logged and its compare page charts the first; kept if the probe fails
            if audit is not None:
                run.log_audit(audit, _training_data_of(config))
        for probe in rest:
            run.score(probe, adapter)
        return run.complete()


def _read_probes(dataset: Any, config: BiasConfig) -> list[ProbeInput]:
    """Every probe read and validated, and kept when `dimensions` selects it, before any model
    work: the data probe first, then `probes`."""
    inputs: list[ProbeInput] = []
    if dataset is not None:
        inputs.append(_prepare_probe(dataset.features_data, config, main=True))
    inputs += [_prepare_probe(p, config, main=False) for p in config.probes]
    if not inputs:
        raise BiasEvaluationError(
            "No probe to score: pass data= (a probe) or evaluator_config={'bias': "
            "{'probes': ['gender-occupation']}}."
        )
    dimensions = scored_from_probes()
    if config.dimensions is not None:
        kept = [p for p in inputs if p.dimension in config.dimensions]
        if not kept:
            raise ConfigError(
                f"evaluator_config dimensions={config.dimensions} selects none of the probes: "
                + "; ".join(f"{p.label} is scored by {p.dimension}" for p in inputs)
                + ". Add a probe of that kind or change `dimensions`.")
        inputs = kept
    missing = sorted({p.dimension for p in inputs} - set(dimensions))
    if missing:
        raise BiasEvaluationError(
            f"The probe kind(s) need dimension(s) {', '.join(missing)}, which are not installed "
            f"(installed: {', '.join(dimensions)})."
        )
    qualifiers = [p.qualifier for p in inputs]
    if len(set(qualifiers)) != len(qualifiers):
        raise ConfigError("The same probe is listed twice; score each probe once per run.")
    return inputs


def _adapter_for(model: Any, config: BiasConfig, inputs: list[ProbeInput]) -> Any:
    """The model as an adapter, refused unless it offers what every probe's dimension needs."""
    adapter = resolve_adapter(
        model,
        batch_size=config.batch_size,
        progress=config.progress,
        share_prefixes=config.share_prefixes,
        max_new_tokens=config.max_new_tokens,
        seed=config.seed,
        generation_dtype=config.generation_dtype,
        generation_batch_size=config.generation_batch_size,
    )
    dimensions = scored_from_probes()
    for probe in inputs:
        require_capability(adapter, dimensions[probe.dimension].requires, probe.dimension)
    return adapter


def _add_authors_metrics(result: Any, benchmark: str | None, context: Any) -> dict[str, Any] | None:
    """For a probe imported from a public benchmark, add the benchmark authors' statistics to the
    dimension's metrics and tables (`<prefix>/benchmark.json`); what the scorecard shows of them."""
    if not benchmark:
        return None
    from mlflow_bias.public_benchmarks import authors_metrics

    scored = authors_metrics(benchmark, result.items, n_resamples=context.bootstrap_samples,
                             seed=context.seed, confidence=context.confidence)
    if scored is None:
        return None
    metrics, table = scored
    result.metrics.update(metrics)
    result.tables["benchmark"] = table
    return {"name": benchmark, "scores": table.to_dict(orient="records")}


@dataclass
class EvaluationRun:
    """One evaluation run as it is written: what was logged so far (kept in memory for the
    scorecard and the signed statement)."""

    run_id: str
    config: BiasConfig
    policy: Any
    signer: Any
    scorecard: Scorecard
    link_model_id: str | None
    signed_tags: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, run_id: str, model: Any, model_id: str | None, adapter: Any, config: BiasConfig,
              policy: Any, signer: Any, inputs: list[ProbeInput]) -> "EvaluationRun":
        """Name the measured model bytes, then log the run's tags, probes and model manifest."""
        model_digest, model_manifest, unbound = _measured_model(model, adapter)
        if signer is not None and model_digest is None:
            raise BiasEvaluationError(
                f"A signed evaluation names the model bytes it measured, but {unbound}. Or unset "
                f"{SIGNING_KEY_ENV} (and evaluator_config 'signing_key') to evaluate unsigned.")
        link_model_id = None if model_id else getattr(getattr(model, "metadata", None), "model_id", None)
        version_label = _model_version_label(model, model_id, config, adapter)
        scorecard = Scorecard(
            model={"version": version_label, "model_id": model_id or link_model_id,
                   "digest": model_digest, **adapter.describe()},
            config=_public_config(config),
            policy=policy_summary(policy),
            signed_by=fingerprint(signer.public_key.keyid) if signer is not None else None,
        )
        if unbound:
            scorecard.warnings.append(f"The evaluation is not bound to model bytes: {unbound}. The "
                                      "release gate blocks it for any registered version.")
        tags = {
            "bias.model_version": version_label,
            "bias.status": "running",
            "bias.seed": config.seed,
            "bias.evaluated_at": scorecard.created_at,
            "bias.version": __version__,
            "bias.policy": policy.ref,
        }
        if model_digest:
            tags["bias.model_digest"] = model_digest
        for probe in inputs:
            tags[f"bias.probe.{probe.name}"] = f"{probe.version or 'unregistered'}@{probe.digest}"
            scorecard.probes.append(
                {"label": probe.label, "name": probe.name, "version": probe.version,
                 "digest": probe.digest, "kind": probe.kind, "rows": len(probe.frame),
                 "slice_columns": probe.slice_columns}
            )
            tracking.log_probe_input(run_id, probe.frame, probe.label, probe.digest)
        tracking.log_tags(run_id, tags)
        if model_manifest:
            tracking.log_json(run_id, model_manifest, MODEL_MANIFEST_PATH)
        return cls(run_id, config, policy, signer, scorecard, link_model_id,
                   {k: str(v) for k, v in tags.items()})

    def log_audit(self, audit: Any, data: Any) -> None:
        """The training-data audit, in the same run."""
        self.metrics.update(log_representation(audit, data, run_id=self.run_id))
        self.signed_tags.update(audit_tags(audit))
        self.tables += AUDIT_TABLES
        self.scorecard.training_data = audit.to_dict()

    def score(self, probe: ProbeInput, adapter: Any) -> None:
        """Score one probe with its dimension and log the result at once; on failure, log what
        the model said (the items table), the scorecard so far and the reason, then re-raise."""
        dimension = scored_from_probes()[probe.dimension]
        try:
            context = self.config.context(probe.slice_columns, self.policy)
            settings = dimension.configure(self.config.options_for(dimension), context)
            result = dimension.compute(adapter, probe.frame, settings)
            benchmark = _add_authors_metrics(result, probe.benchmark, context)
            self.record(result, probe, benchmark)
        except TrackingUnavailableError:
            raise  # nothing more can be written; the caller records why
        except Exception as exc:
            self.fail(exc, probe)
            raise

    def record(self, result: Any, probe: ProbeInput, benchmark: dict[str, Any] | None = None) -> None:
        """Log one dimension's result (its metrics, tables, scorecard section and status tag), at
        once: results computed here, or from per-row assessments (`mlflow_bias.genai`)."""
        self.metrics.update(tracking.log_dimension_result(self.run_id, result, probe.qualifier,
                                                          self.link_model_id))
        self.signed_tags.update(result.tags)
        self.tables += tracking.table_paths(result, probe.qualifier)
        self.scorecard.dimensions.append(
            {"dimension": result.dimension, "probe": probe.label,
             "metric_prefix": tracking.metric_prefix(result.dimension, probe.qualifier),
             "attributes": result.summary, "metadata": result.metadata,
             **({"benchmark": benchmark} if benchmark else {})}
        )
        self.scorecard.warnings += result.warnings
        status = {dimension_status_tag(result.dimension, probe.qualifier): _dimension_status(result)}
        tracking.log_tags(self.run_id, status)
        self.signed_tags.update(status)

    def fail(self, exc: Exception, probe: ProbeInput) -> None:
        """Log what the model said (the items table), the scorecard so far and why it failed."""
        items = getattr(exc, "items", None)
        if isinstance(items, pd.DataFrame):  # what the model said, input by input
            tracking.log_failed_items(self.run_id, items,
                                      getattr(exc, "dimension", None) or probe.dimension,
                                      probe.qualifier)
        self.scorecard.status, self.scorecard.error = "failed", f"{type(exc).__name__}: {exc}"
        self._log_scorecard()
        tracking.log_tags(self.run_id, {"bias.status": "failed", "bias.error": str(exc)[:5000]})

    def complete(self) -> EvaluationResult:
        """Mark the run completed, log its scorecard, and sign it when a key is set."""
        self.scorecard.status = "completed"
        self._log_scorecard()
        tracking.log_tags(self.run_id, {"bias.status": "completed"})
        self.signed_tags["bias.status"] = "completed"
        if self.signer is not None:
            try:
                sign_evaluation(self.run_id, self.signer, tags=self.signed_tags, metrics=self.metrics,
                                tables=self.tables, policy_digest=self.policy.digest,
                                evaluator_version=__version__)
            except Exception as exc:
                tracking.log_tags(self.run_id, {"bias.attestation.error": f"{type(exc).__name__}: {exc}"[:5000]})
                raise
        for warning in self.scorecard.warnings:
            _logger.warning(warning)
        return EvaluationResult(metrics=self.metrics, artifacts={})

    def _log_scorecard(self) -> None:
        card = self.scorecard.to_dict()
        tracking.log_json(self.run_id, card, SCORECARD_PATH)
        log_scorecard_html(self.run_id, card)
