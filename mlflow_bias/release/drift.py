"""Drift across a registered model's versions and across scheduled re-evaluations: a bias metric
that regresses by more than the policy's tolerance calls for recalibration."""

from __future__ import annotations

import datetime as _dt
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from mlflow_bias.core.metric_keys import dimension_of
from mlflow_bias.release.policy import load_policy
from mlflow_bias.release.evaluations import search_evaluations

# `<this>.<step>` on a run re-evaluated on a schedule: the version that answered at that step
SCHEDULED_VERSION_TAG = "bias.schedule.version"
_WINDOW = re.compile(r"^(\d+(?:\.\d+)?)([hdw])$")


@dataclass
class DriftPoint:
    time: str
    version: str
    run_id: str
    value: float
    step: int = 0
    baseline: float | None = None
    change: float | None = None
    regression: bool = False


@dataclass
class DriftReport:
    model: str
    metric: str
    tolerance: float
    threshold: float | None
    direction: str
    window: str | None
    points: list[DriftPoint] = field(default_factory=list)
    plot: str | None = None

    @property
    def recalibration_needed(self) -> bool:
        return any(p.regression for p in self.points)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["recalibration_needed"] = self.recalibration_needed
        return out

    def summary(self) -> str:
        against = f"the value {self.window} earlier" if self.window else "the previous evaluation"
        lines = [f"{self.metric} for {self.model}: regression tolerance {self.tolerance:g} against {against}"]
        for p in self.points:
            flag = "  <- recalibration needed" if p.regression else ""
            change = f" ({p.change:+.3f})" if p.change is not None else ""
            lines.append(f"  {p.time}  v{p.version}  {p.value:.3f}{change}{flag}")
        lines.append("RECALIBRATION NEEDED" if self.recalibration_needed else "no regression beyond tolerance")
        return "\n".join(lines)


def parse_window(window: str | None) -> _dt.timedelta | None:
    """'7d', '12h', '2w' (or None: compare with the previous evaluation)."""
    if window is None:
        return None
    match = _WINDOW.match(window.strip())
    if not match:
        raise ValueError(f"window {window!r}: use a number and h, d or w, e.g. 7d.")
    amount, unit = float(match.group(1)), match.group(2)
    return _dt.timedelta(hours=amount) if unit == "h" else _dt.timedelta(days=amount * (7 if unit == "w" else 1))


def collect(name: str, metric: str, client: MlflowClient) -> list[DriftPoint]:
    """Every logged value of `metric` in completed evaluations of any version of `name`, by time
    (a run re-evaluated on a schedule contributes one point per logged step)."""
    runs = search_evaluations(
        client,
        f"tags.`bias.model_version` LIKE '{name}/%' and tags.`bias.status` = 'completed'",
        max_results=5000,
    )
    points = []
    for run in runs:
        model, _, version = run.data.tags["bias.model_version"].partition("/")
        if model != name:  # LIKE treats "_" and "%" in the name as wildcards
            continue
        for entry in client.get_metric_history(run.info.run_id, metric):
            when = _dt.datetime.fromtimestamp(entry.timestamp / 1000, _dt.timezone.utc)
            # a re-evaluation of an alias records which version answered at each step
            answered = run.data.tags.get(f"{SCHEDULED_VERSION_TAG}.{entry.step}", version)
            points.append(DriftPoint(when.isoformat(timespec="milliseconds"), answered,
                                     run.info.run_id, entry.value, step=entry.step))
    return sorted(points, key=lambda p: (p.time, p.step))


def drift(
    name: str,
    metric: str = "bias/lpbs/gender",
    window: str | None = None,
    policy: Any = None,
    *,
    client: MlflowClient | None = None,
    log: bool = True,
) -> DriftReport:
    """Flag regressions of `metric` beyond the policy's drift tolerance for its dimension, against
    the previous evaluation or against the value `window` earlier (article: LPBS +0.03 week over
    week). Logs the report and a plot with the threshold line to a `bias-drift` run."""
    client = client or MlflowClient()
    policy = load_policy(policy)
    dimension = dimension_of(metric)
    dimension = metric if dimension is None else dimension
    rules = policy.rules_for(dimension)
    report = DriftReport(
        model=name, metric=metric, tolerance=policy.drift_tolerance.get(dimension, 0.03),
        threshold=rules[0].threshold if rules else None,
        direction=rules[0].direction if rules else "max", window=window,
    )
    span = parse_window(window)
    report.points = collect(name, metric, client)
    for i, point in enumerate(report.points):
        now = _dt.datetime.fromisoformat(point.time)
        earlier = [p for p in report.points[:i]
                   if span is None or _dt.datetime.fromisoformat(p.time) <= now - span]
        if not earlier:
            continue
        point.baseline = earlier[-1].value
        point.change = point.value - point.baseline
        worse = point.change if report.direction == "max" else -point.change
        point.regression = worse > report.tolerance
    if log and report.points:
        _log(report)
    return report


def _log(report: DriftReport) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    times = [_dt.datetime.fromisoformat(p.time) for p in report.points]
    values = [p.value for p in report.points]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(times, values, marker="o", color="#35618f", label=report.metric)
    for t, p in zip(times, report.points):
        ax.annotate(f"v{p.version}", (t, p.value), textcoords="offset points", xytext=(0, 8),
                    ha="center", fontsize=8)
        if p.regression:
            ax.scatter([t], [p.value], s=120, facecolors="none", edgecolors="#c0392b", linewidths=2)
    if report.threshold is not None:
        ax.axhline(report.threshold, color="#c0392b", linestyle="--",
                   label=f"policy threshold {report.threshold:g}")
    ax.set_title(f"{report.metric} of {report.model} over time "
                 f"(circled: regression > {report.tolerance:g})")
    ax.set_ylabel(report.metric)
    ax.legend(loc="best", fontsize=8)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    fig.tight_layout()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"drift_{report.metric.replace('/', '_')}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        with mlflow.start_run(run_name=f"bias-drift {report.model}", nested=mlflow.active_run() is not None):
            mlflow.set_tags({"bias.drift.model": report.model, "bias.drift.metric": report.metric,
                             "bias.drift.recalibration_needed": str(report.recalibration_needed).lower()})
            mlflow.log_artifact(str(path), artifact_path="bias/drift")
            mlflow.log_dict(report.to_dict(), f"bias/drift/{path.stem}.json")
            report.plot = f"runs:/{mlflow.active_run().info.run_id}/bias/drift/{path.name}"
