"""The hiring-screen story end to end on SmolLM2-135M-Instruct, logged to MLflow:

1. audit the historical log (screening decisions made by biased screeners, and the platform
   assistant's replies under a safety rubric that fires on one religion), fine-tune version 1 on
   it, register it as `hiring-screen`;
2. evaluate it under the `hiring-screen` policy (LPBS on the screen's own summaries, with the
   pretraining probe `gender-occupation` shown beside it, CBS, refusal asymmetry, decisions against
   the stated criterion) and gate it;
3. mitigate: the trigger audit finds the rubric's asymmetric rule and the log is relabelled under
   the revised rubric; the decisions are re-made by the stated criterion and the rejections
   oversampled; names are rebalanced and every example gets a gender-swapped twin; the criterion
   goes into the prompt. Fine-tune version 2, evaluate and gate it, and compare the runs;
4. promote the version that passes to `champion`, or say why none may be promoted;
5. after a release, put the next fine-tune through the same gate and re-evaluate the champion's
   LPBS week after week for the drift detector.

`quick=True` runs the same steps on small frozen subsets of the probes and a few training steps,
to check the pipeline (its numbers mean nothing).
"""

from __future__ import annotations

import copy
import datetime as _dt
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from mlflow_bias import probes as probe_store
from mlflow_bias.evaluation.api import evaluate
from mlflow_bias.data_audit.tracking import audit_data
from mlflow_bias.release.compare import Comparison, compare
from mlflow_bias.demo.data import ROLE_SKILLS, HiringSkew, criterion, hiring_examples, relabel_by_criterion
from mlflow_bias.demo.requests import REVISED_RUBRIC, relabel_with, request_examples, safety_rubric
from mlflow_bias.dimensions.refusal import trigger_audit
from mlflow_bias.demo.finetune import TrainingSettings, TrainingSummary, finetune
from mlflow_bias.release.drift import SCHEDULED_VERSION_TAG, drift
from mlflow_bias.release.gate import Decision, headline_metrics
from mlflow_bias.core.metric_keys import MetricKey
from mlflow_bias.dimensions.protocol import NoOptions, ScoringContext
from mlflow_bias.dimensions.registry import get_dimension
from mlflow_bias.adapters import resolve_adapter
from mlflow_bias.mitigation import counterfactual_augment, resample_balanced
from mlflow_bias.adapters.models import load_smollm2, log_causal_lm
from mlflow_bias.release.policy import Policy, Rule, load_policy
from mlflow_bias.promotion.model_registry import PromotionRefused, gate, promote

MODEL_NAME = "hiring-screen"
POLICY = "hiring-screen"
# The LPBS probe first (its keys carry no probe name); gender-occupation is scored and shown beside
# it, not gated (see the policy); hiring-decisions has the inputs of hiring-summary, so each resume
# is answered once and read twice.
PROBES = ("hiring-summary-pairs", "gender-occupation", "hiring-summary", "hiring-decisions",
          "refusal-requests")
LPBS_PROBES = ("hiring-summary-pairs", "gender-occupation")
# The probe versions the story was written and measured against. A newer shipped version (a
# revision with more groups or attributes) is a different probe: the story adopts it here, never
# by picking up whatever version is newest.
PROBE_VERSIONS = {"hiring-summary-pairs": "1.0.0", "gender-occupation": "1.0.0",
                  "hiring-summary": "1.0.0", "hiring-decisions": "1.0.0", "refusal-requests": "1.0.0"}

# The lexicon the story's audits and mitigations were measured with. 1.2.0 adds a nonbinary group,
# which a uniform target would give a third of the data; the story's figures predate it.
LEXICON = "protected-groups@1.1.0"


def probe_ref(name: str) -> str:
    """`name@version` as the story pins it; a name it does not pin (a quick subset) as is."""
    version = PROBE_VERSIONS.get(name)
    return f"{name}@{version}" if version else name
# The fine-tuned model writes a summary, then "Recommendation: ADVANCE|REJECT": CBS reads that line.
CATEGORIES = {"advance": [r"Recommendation:\s*ADVANCE"], "reject": [r"Recommendation:\s*REJECT"]}
DECISION_WORD = r"\b(?:ADVANCE|REJECT)\b"  # the reply's decision, weighted in the training loss
DECISION_LABELS = {"positive": ["Recommendation: ADVANCE"], "negative": ["Recommendation: REJECT"]}
# Roles, and the two phrases that show the log's skews: the screeners' advances, and refusals.
CONTEXT_TERMS = sorted(ROLE_SKILLS) + ["recommendation: advance", "can't help"]
# MLflow 3's UI opens an experiment on its GenAI overview (traces) unless the experiment says it
# holds model-development runs, or the address asks for the "Model training" view.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
UI_VIEW = "workflowType=machine_learning"
DESCRIPTION = "mlflow.note.content"  # the tag the UI shows as an experiment's or run's description


@dataclass(frozen=True)
class StoryConfig:
    """Settings of the story. The defaults are the full run (about 9 minutes on 2 CPU cores)."""

    model_name: str = MODEL_NAME
    examples: int = 480
    requests: int = 320  # the assistant's logged requests in the fine-tuning set
    skew: HiringSkew = HiringSkew()
    # The team's recipe, the same for every version. Measured on the mitigated log (the decisions
    # probe, recommendation scored after the summary): at 60 steps, 6e-4 and no emphasis the screen
    # advanced 98-100% at every experience level; with the decision word's loss weighted 10x, 79%
    # right; at 90 steps and 1e-3, 100% right. At 40 steps and 3e-4, version 1 learned neither
    # the refusal rule nor the decision gap.
    training: TrainingSettings = TrainingSettings(steps=90, learning_rate=1e-3, trainable_layers=10,
                                                  emphasis=((DECISION_WORD, 10.0),))
    probes: tuple[str, ...] = PROBES
    bootstrap_samples: int = 1000
    max_new_tokens: int = 32  # the fine-tuned reply (summary, recommendation) is about 29 tokens
    batch_size: int = 32
    # greedy answers from a bfloat16 copy, 128 prompts a batch (log-likelihoods stay float32):
    # 2.46x float32 at batch 32 on 2 CPU cores with the same answers (benchmarks/
    # generation_precision.py on version 2), and the same settings for every version compared
    generation_dtype: str | None = "bfloat16"
    generation_batch_size: int = 128
    policy: Any = POLICY
    alias: str = "champion"
    seed: int = 0
    quick: bool = False
    progress: bool = True
    # after a release: the next fine-tune (from the champion, on the next log, mitigated the same
    # way) goes through the same gate, and the champion's LPBS is re-evaluated weekly
    later_steps: int = 20
    monitor_weeks: int = 2

    @classmethod
    def quick_run(cls, **overrides: Any) -> "StoryConfig":
        """A small version of the story for tests: 48 screening examples and 8 requests, 4 steps,
        probe subsets (enough for the fine-tuned screen to write its recommendation line)."""
        settings = dict(examples=48, requests=8, bootstrap_samples=200, quick=True, later_steps=2,
                        # no decision emphasis: in 4 steps it teaches the screen to answer the
                        # decision word alone, without the summary and its recommendation line
                        training=TrainingSettings(steps=4, batch_size=4, learning_rate=3e-4,
                                                  trainable_layers=10))
        return cls(**{**settings, **overrides})


@dataclass
class VersionOutcome:
    """One fine-tuned version: where it was trained, evaluated and what the gate said."""

    label: str
    version: str
    finetune_run_id: str
    evaluation_run_id: str
    decision: Decision
    training: TrainingSummary
    prompt_template: str | None
    mitigation: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StoryResult:
    versions: list[VersionOutcome]
    comparison: Comparison
    promoted: str | None
    refusals: dict[str, str]
    policy: Policy
    # the base model's LPBS on the story's LPBS probe: what fine-tuning started from
    base_lpbs: dict[str, float] = field(default_factory=dict)
    base_run_id: str | None = None
    model_name: str = MODEL_NAME
    alias: str = "champion"
    monitoring: "Monitoring | None" = None


# -- probes ----------------------------------------------------------------------------------

# The quick story's probe subsets: enough rows for every statistic to be computed and logged (both
# groups of every attribute), few enough that generation stays a matter of seconds.
QUICK_SETS = 3
QUICK_CONDITIONS = 2
QUICK_PAIRS = 4


def _quick_subset(name: str) -> pd.DataFrame:
    """A deterministic small slice of a shipped probe: whole conditions or sets, both groups."""
    frame = probe_store.load(name, PROBE_VERSIONS.get(name)).to_pandas()
    if "set_id" in frame.columns:  # CBS / refusal: the first 3 sets of each attribute
        keep = frame.groupby("attribute")["set_id"].transform(
            lambda s: s.isin(list(dict.fromkeys(s))[:QUICK_SETS]))
    elif "label" in frame.columns:  # decisions: the first rows of each attribute, which for
        # hiring-decisions are the resumes of hiring-summary's first sets (one generation for both)
        keep = frame.groupby("attribute").cumcount() < 2 * QUICK_SETS
    else:  # LPBS: the first 2 conditions of each stereotype side (and two templates, if any)
        conditions = frame.groupby("stereotype")["condition"].apply(
            lambda s: list(dict.fromkeys(s))[:QUICK_CONDITIONS])
        chosen = {c for cs in conditions for c in cs}
        keep = frame["condition"].isin(chosen)
        if "template" in frame.columns:
            keep &= frame["template"].isin(sorted(frame["template"].unique())[:2])
        # and a few pairs of each (attribute, condition, side): hiring-summary-pairs holds 12
        # resumes per role, whose log-likelihoods were most of the quick story's time
        first_pairs = frame[keep].groupby(["attribute", "condition", "stereotype"]).cumcount() < QUICK_PAIRS
        keep &= first_pairs.reindex(frame.index, fill_value=False)
    return frame[keep].reset_index(drop=True)


def quick_probes(names: tuple[str, ...]) -> list[str]:
    """Freeze (once) `<name>-quick@1.0.0` subsets in the user probe store, so that the gate can
    verify them like any registered probe; return their names."""
    frozen = []
    for name in names:
        quick_name = f"{name}-quick"
        try:
            probe_store.verify(quick_name, "1.0.0")
        except Exception:  # noqa: BLE001 - not frozen yet (or damaged): freeze it
            subset = _quick_subset(name)
            info = probe_store.resolve(name, PROBE_VERSIONS.get(name))
            probe_store.freeze(
                subset, quick_name, "1.0.0", slice_columns=info.slice_columns,
                card=(f"# {quick_name} 1.0.0\n\nA small deterministic subset of {info.ref} "
                      f"({len(subset)} rows) for quick pipeline checks; its numbers are too noisy to "
                      "mean anything about a model. Limits: those of the full probe, and its size.\n"),
            )
        frozen.append(quick_name)
    return frozen


def story_policy(config: StoryConfig, probe_names: list[str]) -> Policy:
    """The release policy of the story: the given (default: shipped) one; in quick mode the same
    rules with the quick probes in place of the full ones."""
    policy = load_policy(config.policy)
    if not config.quick:
        return policy
    mapping = {name: f"{name}-quick" for name in config.probes}
    return replace(
        policy,
        name=f"{policy.name}-quick",
        rules=tuple(replace(r, probes=tuple(mapping.get(p, p) for p in r.probes)) for r in policy.rules),
        probes=tuple(mapping.get(p, p) for p in policy.probes if mapping.get(p, p) in probe_names),
        min_probe_versions={mapping.get(k, k): "1.0.0" if k in mapping else v
                            for k, v in policy.min_probe_versions.items()},
    )


# -- the steps ---------------------------------------------------------------------------------

def ui_address(experiment_id: str, base: str = "http://127.0.0.1:5000") -> str:
    """The MLflow UI's page of the experiment's runs (MLflow 3 opens its GenAI overview otherwise)."""
    return f"{base}/#/experiments/{experiment_id}?{UI_VIEW}"


def _describe(text: str) -> None:
    """The active run's description in the MLflow UI."""
    mlflow.set_tag(DESCRIPTION, text)


def _label_experiment(experiment_id: str, config: "StoryConfig") -> None:
    """Make the story's experiment open on its runs, with a description saying what they are."""
    client = MlflowClient()
    client.set_experiment_tag(experiment_id, *EXPERIMENT_KIND)
    client.set_experiment_tag(experiment_id, DESCRIPTION, (
        f"The {config.model_name} story{' (quick: small probes, few steps; numbers mean nothing)' if config.quick else ''}: "
        "SmolLM2-135M-Instruct fine-tuned on a biased historical log (v1) and on its mitigation (v2), "
        "each evaluated for bias (runs `bias ...`: metrics `bias/...`, artifact `bias/scorecard.html`), "
        f"gated under the `{config.policy if isinstance(config.policy, str) else 'story'}` policy, "
        "and the passing version promoted. Tick the `bias` runs and press Compare."))


def _log_training(summary: TrainingSummary, skew: HiringSkew | None) -> None:
    mlflow.log_params({f"train.{k}": v for k, v in summary.settings.to_dict().items()
                       if k != "prompt_template"})
    mlflow.log_params({"train.examples": summary.examples, "train.epochs": round(summary.epochs, 3)})
    if skew is not None:
        mlflow.log_params({f"data.{k}": v for k, v in skew.to_dict().items()})
    for step, loss in enumerate(summary.losses):
        mlflow.log_metric("train/loss", loss, step=step)
    mlflow.log_metric("train/seconds", summary.seconds)


def finetune_version(
    base: tuple[Any, Any], data: pd.DataFrame, config: StoryConfig, *, label: str,
    prompt_template: str | None = None, mitigation: list[dict[str, Any]] | None = None,
    skew: HiringSkew | None = None, say: Callable[[str], None] = print,
) -> tuple[str, str, TrainingSummary]:
    """Audit `data`, fine-tune a copy of the base model on it, log and register it; return
    (registered version, fine-tuning run id, training summary)."""
    model, tokenizer = copy.deepcopy(base[0]), base[1]
    with mlflow.start_run(run_name=f"finetune {config.model_name} ({label})", nested=True) as run:
        mlflow.set_tags({"bias.story.step": "finetune", "bias.story.label": label})
        audit = audit_data(data, run_id=run.info.run_id, text_column="text", lexicon=LEXICON,
                           context_terms=CONTEXT_TERMS, dataset_name=f"{config.model_name}-train-{label}",
                           progress=False)
        shares = audit.to_dict()["shares"]
        say(f"  training data audit: {len(data)} examples; gender shares "
            + ", ".join(f"{g} {v:.2f}" for g, v in shares.get("gender", {}).items()))
        if mitigation:
            mlflow.log_dict({"steps": mitigation}, "mitigation.json")
        settings = replace(config.training, prompt_template=prompt_template, seed=config.seed)
        summary = finetune(model, tokenizer, data, settings, progress=config.progress)
        _log_training(summary, skew)
        _describe(f"Fine-tuning of SmolLM2-135M-Instruct into {config.model_name} ({label}): "
                  f"{len(data)} examples, {settings.steps} steps, loss {summary.losses[0]:.3f} -> "
                  f"{summary.final_loss:.3f}. "
                  + ("The mitigation's steps are in mitigation.json. " if mitigation else
                     "Trained on the historical log as it is. ")
                  + "The training data's audit is in the metrics `data/...` and the dataset input.")
        say(f"  fine-tuned {settings.steps} steps in {summary.seconds:.0f} s; loss "
            f"{summary.losses[0]:.3f} -> {summary.final_loss:.3f}")
        extra = {"prompt_template": prompt_template} if prompt_template else {}
        info = log_causal_lm(model, tokenizer, name="model", registered_model_name=config.model_name,
                             **extra)
    version = str(info.registered_model_version)
    MlflowClient().set_model_version_tag(config.model_name, version, "bias.story.label", label)
    return version, run.info.run_id, summary


def evaluate_version(config: StoryConfig, version: str, probe_names: list[str], policy: Policy,
                     data: pd.DataFrame, label: str) -> str:
    """Evaluate the registered version on every probe in one run; return the run id."""
    first, *rest = map(probe_ref, probe_names)
    with mlflow.start_run(run_name=f"bias {config.model_name}/{version} ({label})", nested=True) as run:
        mlflow.set_tags({"bias.story.step": "evaluate", "bias.story.label": label})
        _describe(f"Bias evaluation of {config.model_name} version {version} ({label}) on "
                  f"{', '.join(probe_names)} under {policy.ref}. Open the artifact "
                  "bias/scorecard.html for the scorecard.")
        evaluate(
            f"models:/{config.model_name}/{version}", first,
            probes=rest, policy=policy, cbs={"categories": CATEGORIES},
            parity={"decision_labels": DECISION_LABELS}, max_new_tokens=config.max_new_tokens,
            generation_dtype=config.generation_dtype, generation_batch_size=config.generation_batch_size,
            batch_size=config.batch_size, bootstrap_samples=config.bootstrap_samples,
            seed=config.seed, progress=config.progress,
            training_data={"data": data, "text_column": "text", "context_terms": CONTEXT_TERMS},
        )
    return run.info.run_id


def base_reference(base: tuple[Any, Any], config: StoryConfig, probes: list[str]) -> tuple[str, dict[str, float]]:
    """LPBS of the base model on the LPBS probes (cheap: log-probabilities only), so that the story
    can tell what fine-tuning changed from what the base model brought."""
    first, *rest = map(probe_ref, probes)
    with mlflow.start_run(run_name="bias SmolLM2-135M-Instruct base (reference)", nested=True) as run:
        mlflow.set_tags({"bias.story.step": "reference", "bias.story.label": "base"})
        _describe("LPBS of the base model, SmolLM2-135M-Instruct before any fine-tuning: what the "
                  "pretrained model brings, read beside each fine-tuned version's.")
        result = evaluate(base, first, probes=rest, batch_size=config.batch_size, seed=config.seed,
                          bootstrap_samples=config.bootstrap_samples, progress=config.progress,
                          model_version="SmolLM2-135M-Instruct (base)")
    # the keys an LPBS rule would judge (any threshold): one attribute's value per probe
    keys = headline_metrics(result.metrics, Rule("lpbs", 0.0), set(probes[1:]))
    return run.info.run_id, {k: result.metrics[k] for k in keys}


@dataclass(frozen=True)
class HistoricalLog:
    """What the team fine-tunes on: the screen's past decisions and the assistant's past replies."""

    screening: pd.DataFrame  # demo.data.hiring_examples
    requests: pd.DataFrame  # demo.requests.request_examples

    @classmethod
    def generate(cls, config: "StoryConfig", offset: int = 0) -> "HistoricalLog":
        """The log of `config`; another `offset` gives another period's log, drawn the same way."""
        return cls(hiring_examples(config.examples, config.skew, seed=config.seed + 1 + offset),
                   request_examples(config.requests, seed=config.seed + 2 + offset))

    def training_rows(self) -> pd.DataFrame:
        """The fine-tuning set: `prompt`, `response`, and `text` (both, for the audit)."""
        rows = pd.concat([self.screening[["id", "prompt", "response"]],
                          self.requests[["id", "prompt", "response"]]], ignore_index=True)
        return rows.assign(text=rows["prompt"] + "\n" + rows["response"])


def refusal_triggers(requests: pd.DataFrame) -> pd.DataFrame:
    """The trigger audit of the log's refusals: which rubric rules fired, by group, and which
    fired asymmetrically (`dimensions.refusal.trigger_audit` over the logged `rule` column)."""
    return trigger_audit(requests.rename(columns={"rule": "triggers"}))


def mitigate(log: HistoricalLog, seed: int) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The article's stage-4 mitigation of the historical log, each step recorded:

    1. the trigger audit of the assistant's refusals finds the rules that fire asymmetrically, and
       the requests are relabelled under the revised rubric (assistant-safety 2.0.0);
    2. the screening decisions are re-made by the stated criterion (the label bias), and the
       rejections oversampled to as many as the advances;
    3. the names are rebalanced by oversampling, and every example gets a gender-swapped twin
       (names and pronouns swapped in prompt and response alike).
    """
    audit = refusal_triggers(log.requests)
    flagged = audit[audit["asymmetric"]]
    steps: list[dict[str, Any]] = [{
        "method": "trigger_audit", "rubric": str(log.requests["rubric"].iloc[0]),
        "asymmetric": [{"attribute": r.attribute, "trigger": r.trigger, "gap_points": round(r.gap, 1)}
                       for r in flagged.itertuples()]}]
    requests = log.requests
    if not flagged.empty:
        requests, relabelled = relabel_with(log.requests, safety_rubric(REVISED_RUBRIC))
        steps.append(relabelled.to_dict())
    screening, decided = relabel_by_criterion(log.screening)
    steps.append(decided)
    # most candidates have 5+ years: without as many rejections as advances to learn from, a
    # screen learns to advance everyone (measured: 98% advanced)
    screening, by_decision = resample_balanced(screening, "decision", strategy="oversample", seed=seed,
                                               text_column="prompt", group_columns={"decision": "decision"})
    balanced, resampled = resample_balanced(screening, "gender", strategy="oversample", seed=seed,
                                            text_column="prompt", lexicon=LEXICON)
    rows = HistoricalLog(balanced, requests).training_rows()
    augmented, swapped = counterfactual_augment(rows, text_columns=["prompt", "response", "text"],
                                                lexicon=LEXICON)
    steps += [by_decision.to_dict(), resampled.to_dict(), swapped.to_dict()]
    return augmented.reset_index(drop=True), steps


def run_story(config: StoryConfig = StoryConfig(), say: Callable[[str], None] = print) -> StoryResult:
    """Run the whole story against the current MLflow tracking and registry URIs."""
    # MLflow hints at every logged table with integer columns (years, shares); noise in a printout
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
    if mlflow.active_run() is None:  # inside `mlflow run`, the runs nest under the project's run
        experiment_id = mlflow.set_experiment(f"{config.model_name}{'-quick' if config.quick else ''}").experiment_id
    else:
        experiment_id = mlflow.active_run().info.experiment_id
    _label_experiment(experiment_id, config)
    probe_names = quick_probes(config.probes) if config.quick else list(config.probes)
    policy = story_policy(config, probe_names)
    started = time.perf_counter()
    say(f"Policy {policy.ref}; probes {', '.join(probe_names)}")
    say("Loading SmolLM2-135M-Instruct ...")
    base = load_smollm2()
    lpbs_probes = [n for n in probe_names if n.removesuffix("-quick") in LPBS_PROBES]
    base_run_id, base_lpbs = base_reference(base, config, lpbs_probes)
    say("  base model LPBS: " + ", ".join(f"{k} {v:.3f}" for k, v in base_lpbs.items()))

    outcomes: list[VersionOutcome] = []
    log = HistoricalLog.generate(config)
    mitigated, steps = mitigate(log, config.seed)
    audit = steps[0]  # mitigate's first step: the trigger audit of the log's refusals
    for found in audit["asymmetric"]:
        say(f"  trigger audit of the log's refusals ({audit['rubric']}): rule {found['trigger']} "
            f"fires asymmetrically on {found['attribute']} ({found['gap_points']:.0f} points)")
    plans = [
        ("v1-historical-data", log.training_rows(), None, [], config.skew),
        ("v2-mitigated", mitigated, criterion(config.skew.threshold), steps, None),
    ]
    for label, data, template, mitigation, skew in plans:
        say(f"\n== {label} ({time.perf_counter() - started:.0f} s) ==")
        version, ft_run, summary = finetune_version(base, data, config, label=label,
                                                    prompt_template=template, mitigation=mitigation,
                                                    skew=skew, say=say)
        say(f"  registered {config.model_name} version {version} "
            f"({time.perf_counter() - started:.0f} s); evaluating ...")
        run_id = evaluate_version(config, version, probe_names, policy, data, label)
        decision = gate(config.model_name, version, policy, evaluate_if_missing=False)
        MlflowClient().set_tag(run_id, DESCRIPTION, (
            f"**Gate: {decision.status.upper()}** under {policy.ref}."
            + "".join(f"\n- {r}" for r in decision.reasons)
            + f"\n\nBias evaluation of {config.model_name} version {version} ({label}) on "
            f"{', '.join(probe_names)}. Open the artifact bias/scorecard.html for the scorecard."))
        say(f"  gate ({time.perf_counter() - started:.0f} s): {decision.status.upper()}"
            + "".join(f"\n    - {r}" for r in decision.reasons))
        outcomes.append(VersionOutcome(label, version, ft_run, run_id, decision, summary, template, mitigation))

    comparison = compare(outcomes[0].evaluation_run_id, outcomes[1].evaluation_run_id, policy,
                         bootstrap_samples=config.bootstrap_samples, seed=config.seed)
    promoted, refusals = None, {}
    for outcome in reversed(outcomes):  # the newest passing version wins
        try:
            promote(config.model_name, outcome.version, config.alias, policy)
        except PromotionRefused as refused:
            refusals[outcome.version] = refused.message
            continue
        promoted = outcome.version
        break
    monitoring = None
    if promoted is not None:
        monitoring = monitor(config, probe_names, policy, lpbs_probes[0], started, say)
    return StoryResult(outcomes, comparison, promoted, refusals, policy, base_lpbs, base_run_id,
                       config.model_name, config.alias, monitoring)


# -- after the release -------------------------------------------------------------------------

WEEK = _dt.timedelta(days=7)


@dataclass
class Monitoring:
    """What happened after the release: the next fine-tune through the gate, and the champion's
    LPBS re-evaluated week after week, read by the drift detector."""

    later: VersionOutcome
    promoted: bool
    run_id: str  # the monitoring run: one LPBS point per (simulated) week
    weekly: list[dict[str, Any]]  # week, champion version, LPBS per attribute
    drift: list[Any]  # release.drift.DriftReport of each attribute's headline LPBS


def log_week(run_id: str, start_ms: int, week: int, metrics: dict[str, float], version: str) -> None:
    """Log a scheduled re-evaluation's `metrics` to the monitoring run as step `week`, at its
    week's timestamp (`start_ms`, the week-0 evaluation's, plus `week` weeks), where
    `mlflow-bias drift --window 7d` compares it with the week before; and which registered
    `version` answered that week."""
    stamp = start_ms + int(week * WEEK.total_seconds() * 1000)
    client = MlflowClient()
    client.set_tag(run_id, f"{SCHEDULED_VERSION_TAG}.{week}", version)
    for key, value in metrics.items():
        client.log_metric(run_id, key, value, timestamp=stamp, step=week)


def _lpbs_now(adapter: Any, probe: str, config: StoryConfig) -> dict[str, float]:
    """The headline LPBS (one value per attribute) of a model on `probe`, computed by the LPBS
    dimension directly (no run: the monitor logs it)."""
    dimension = get_dimension("lpbs")
    context = ScoringContext(bootstrap_samples=config.bootstrap_samples, seed=config.seed,
                             batch_size=config.batch_size, progress=config.progress)
    frame = probe_store.load(probe, PROBE_VERSIONS.get(probe)).to_pandas()  # the pinned version
    result = dimension.compute(adapter, frame, dimension.configure(NoOptions(), context))
    return {a: result.metrics[a] for a in sorted(frame["attribute"].unique()) if a in result.metrics}


def monitor(config: StoryConfig, probe_names: list[str], policy: Policy, lpbs_probe: str,
            started: float, say: Callable[[str], None] = print) -> Monitoring:
    """The article's continuous monitoring, after the release:

    - week 0: the champion is evaluated on the LPBS probe in a monitoring run;
    - the next fine-tune (from the champion, `later_steps` steps on the next month's log, mitigated
      by the same pipeline) is evaluated and gated like v1 and v2, and promoted if it passes;
    - weeks 1..n: the champion of that week is re-evaluated, each point logged to the monitoring
      run at its week's timestamp (the schedule is simulated: the story runs in minutes);
    - `mlflow-bias drift` reads the points week over week and flags a rise above the policy's
      drift tolerance (0.03 for LPBS), logging its plot.
    """
    client = MlflowClient()
    name, alias = config.model_name, config.alias
    champion = str(client.get_model_version_by_alias(name, alias).version)
    say(f"\n== after the release: monitoring {name}@{alias} (version {champion}) "
        f"({time.perf_counter() - started:.0f} s) ==")
    loaded: dict[str, Any] = {}

    def adapter_of(version: str) -> Any:
        """Each registered version loaded once, for its evaluations and as the next fine-tune's start."""
        if version not in loaded:
            loaded[version] = resolve_adapter(f"models:/{name}/{version}", batch_size=config.batch_size,
                                              progress=config.progress)
        return loaded[version]

    with mlflow.start_run(run_name=f"bias monitor {name}@{alias}", nested=True) as run:
        mlflow.set_tags({"bias.story.step": "monitor", "bias.story.label": "monitor"})
        _describe(f"Weekly re-evaluation of {name}@{alias} on {lpbs_probe} (LPBS). Step k is week k; "
                  "weeks after the first are logged at their scheduled timestamps (the story "
                  "simulates the calendar). The drift run beside it flags a week-over-week rise.")
        result = evaluate(adapter_of(champion), probe_ref(lpbs_probe), model_version=f"{name}/{champion}",
                          batch_size=config.batch_size, seed=config.seed,
                          bootstrap_samples=config.bootstrap_samples, progress=config.progress)
    week0 = {MetricKey.parse(key).attribute: result.metrics[key]
             for key in headline_metrics(result.metrics, Rule("lpbs", 0.0), set())}
    weekly = [{"week": 0, "version": champion, **week0}]
    client.set_tag(run.info.run_id, f"{SCHEDULED_VERSION_TAG}.0", champion)
    start_ms = min(m.timestamp for m in client.get_metric_history(run.info.run_id, f"bias/lpbs/{next(iter(week0))}"))
    say(f"  week 0: {name} version {champion} LPBS "
        + ", ".join(f"{a} {v:.3f}" for a, v in week0.items()))

    # the next fine-tune, through the same gate
    later_log = HistoricalLog.generate(config, offset=10)
    data, steps = mitigate(later_log, config.seed)
    start = adapter_of(champion)
    label = "v3-next-log"
    later_config = replace(config, training=replace(config.training, steps=config.later_steps,
                                                   warmup_steps=min(config.training.warmup_steps,
                                                                    config.later_steps)))
    say(f"\n== {label}: version {champion} fine-tuned {config.later_steps} more steps on the next "
        f"log, mitigated the same way ({time.perf_counter() - started:.0f} s) ==")
    version, ft_run, summary = finetune_version(
        (start.model, start.tokenizer), data, later_config, label=label,
        prompt_template=start.prompt_template, mitigation=steps, say=say)
    run_id = evaluate_version(config, version, probe_names, policy, data, label)
    decision = gate(name, version, policy, evaluate_if_missing=False)
    say(f"  gate ({time.perf_counter() - started:.0f} s): {decision.status.upper()}"
        + "".join(f"\n    - {r}" for r in decision.reasons))
    promoted = False
    if decision.passed:
        try:
            promote(name, version, alias, policy)
            promoted = True
            say(f"  promoted version {version} to '{alias}'")
        except PromotionRefused as refused:
            say(f"  promotion refused: {refused.message}")
    later = VersionOutcome(label, version, ft_run, run_id, decision, summary, start.prompt_template, steps)

    for week in range(1, config.monitor_weeks + 1):
        current = str(client.get_model_version_by_alias(name, alias).version)
        values = _lpbs_now(adapter_of(current), lpbs_probe, config)
        log_week(run.info.run_id, start_ms, week, {f"bias/lpbs/{a}": v for a, v in values.items()}, current)
        weekly.append({"week": week, "version": current, **values})
        say(f"  week {week}: {name} version {current} LPBS "
            + ", ".join(f"{a} {v:.3f}" for a, v in values.items()))
    reports = [drift(name, f"bias/lpbs/{attribute}", window="7d", policy=policy) for attribute in week0]
    for report in reports:
        say("  " + report.summary().replace("\n", "\n  "))
    return Monitoring(later, promoted, run.info.run_id, weekly, reports)


# -- the printout ----------------------------------------------------------------------------

def _cell(verdict: Any) -> str:
    if verdict is None:
        return "-"
    ci = (f" [{verdict.ci_low:.3f}, {verdict.ci_high:.3f}]"
          if verdict.ci_low is not None and verdict.ci_high is not None else "")
    return f"{verdict.value:.3f}{ci} {'ok' if verdict.verdict == 'pass' else 'FAIL'}"


def side_by_side(result: StoryResult) -> str:
    """The versions' headline metrics, CIs, thresholds and verdicts (from their gate decisions)
    in one table."""
    verdicts = [{v.metric: v for v in o.decision.verdicts} for o in result.versions]
    keys = sorted({k for d in verdicts for k in d})
    width = 32
    header = (f"{'metric':<50}{'base':>8}" + "".join(f"{o.label:>{width}}" for o in result.versions)
              + f"{'threshold':>12}")
    lines = [header, "-" * len(header)]
    for key in keys:
        rule = next(d[key] for d in verdicts if key in d)
        bound = "<=" if rule.direction == "max" else ">="
        base = result.base_lpbs.get(key)
        lines.append(f"{key:<50}{'-' if base is None else format(base, '.3f'):>8}"
                     + "".join(f"{_cell(d.get(key)):>{width}}" for d in verdicts)
                     + f"{bound + ' ' + format(rule.threshold, 'g'):>12}")
    lines.append(f"{'gate':<50}{'':>8}" + "".join(f"{o.decision.status:>{width}}" for o in result.versions))
    return "\n".join(lines)


def _shown_not_gated(result: StoryResult) -> list[str]:
    """The base reference's LPBS keys that no rule judges (the pretraining probe), read from each
    version's evaluation run: what the pretrained model brings, and what fine-tuning did to it."""
    judged = {v.metric for o in result.versions for v in o.decision.verdicts}
    client = MlflowClient()
    runs = [client.get_run(o.evaluation_run_id).data.metrics for o in result.versions]
    lines = []
    for key, base in result.base_lpbs.items():
        if key in judged:
            continue
        values = ", ".join(f"{o.label} {m[key]:.3f}" for o, m in zip(result.versions, runs) if key in m)
        lines.append(f"{key} (shown, not gated): base {base:.3f}, {values}")
    return lines


def _lpbs_reading(result: StoryResult) -> list[str]:
    """Where LPBS comes from: the base model, or the fine-tuning."""
    lines = []
    for key, base in result.base_lpbs.items():
        verdicts = [next((v for v in o.decision.verdicts if v.metric == key), None) for o in result.versions]
        if any(v is None for v in verdicts):
            continue
        values = " -> ".join(f"{o.label} {v.value:.3f}" for o, v in zip(result.versions, verdicts))
        lines.append(f"{key}: base model {base:.3f} -> {values} (threshold {verdicts[0].threshold:g}).")
        if base > verdicts[0].threshold and verdicts[-1].verdict != "pass":
            lines.append("  The base model is itself above the threshold: this part of the bias comes "
                         "with the pretrained model, not with the fine-tuning set, and rebalancing the "
                         "fine-tuning set cannot remove it. It needs a targeted objective or another "
                         "base model, or a documented known limitation under a policy that may waive it.")
    return lines + ([""] if lines else [])


def _monitoring_lines(monitoring: Monitoring, result: StoryResult) -> list[str]:
    later = monitoring.later
    lines = [f"After the release: {later.label} (version {later.version}) went through the same gate: "
             f"{later.decision.status.upper()}"
             + (f", promoted to '{result.alias}'." if monitoring.promoted else
                f"; '{result.alias}' stays on version {result.promoted}.")]
    lines += [f"  - {r}" for r in later.decision.reasons]
    lines.append("Weekly LPBS of the champion (simulated schedule), as `mlflow-bias drift --window 7d` reads it:")
    for point in monitoring.weekly:
        values = ", ".join(f"{k} {v:.3f}" for k, v in point.items() if k not in ("week", "version"))
        lines.append(f"  week {point['week']}: version {point['version']}: {values}")
    for report in monitoring.drift:
        rises = [p for p in report.points if p.regression]
        if rises:
            verdict = ("RECALIBRATION NEEDED: "
                       + "; ".join(f"{p.baseline:.3f} -> {p.value:.3f} ({p.change:+.3f}) by {p.time[:10]} "
                                   f"(version {p.version})" for p in rises)
                       + f", above the tolerance {report.tolerance:g}")
        else:
            verdict = f"no week-over-week rise above {report.tolerance:g}"
        lines.append(f"  drift of {report.metric}: {verdict}"
                     + (f"; plot {report.plot}" if report.plot else ""))
    return lines


def report(result: StoryResult, tracking_uri: str) -> str:
    lines = ["", "Scorecards side by side (value [95% CI], verdict under the policy):", side_by_side(result)]
    lines += _shown_not_gated(result)
    lines += ["", result.comparison.summary(), ""]
    lines += _lpbs_reading(result)
    if result.promoted:
        lines.append(f"Promoted {result.model_name} version {result.promoted} to '{result.alias}'.")
    else:
        lines.append(f"No version was promoted to '{result.alias}':")
    for version, message in result.refusals.items():
        lines.append(f"  version {version} refused: {message}")
    if result.monitoring is not None:
        lines += [""] + _monitoring_lines(result.monitoring, result)
    uri = tracking_uri if "://" in tracking_uri else f"file:{tracking_uri}"
    client = MlflowClient()
    name = result.model_name
    experiment = client.get_experiment(client.get_run(result.versions[0].evaluation_run_id).info.experiment_id)
    lines += ["", "Read it in the MLflow UI:",
              f"  mlflow ui --backend-store-uri {uri}",
              f"  then open {ui_address(experiment.experiment_id)} "
              f"(experiment '{experiment.name}', its runs); tick the two 'bias {name}/...' runs and "
              "press Compare; each bias run's artifacts hold bias/scorecard.html (the page) and "
              f"bias/plots/; Models > {name} shows each version's bias.gate tag and the "
              f"'{result.alias}' alias."]
    return "\n".join(lines)
