"""Mitigation comparison (paired CIs, held-out slice, what got worse) and drift across versions."""

from __future__ import annotations

import datetime as dt
import time

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import mlflow_bias
import mlflow_bias.probes as probes
from mlflow_bias.cli import main
from mlflow_bias.release.compare import compare
from mlflow_bias.release.drift import drift, parse_window
from mlflow_bias.adapters.models import log_causal_lm

FAST = {"bootstrap_samples": 300, "permutation_samples": 300, "progress": False}


@pytest.fixture
def frozen(tiny_probe):
    probes.freeze(tiny_probe, "tiny-occupations", "1.0.0", card="# tiny occupations\n\nTest probe.")
    return probes.load("tiny-occupations").to_pandas()


def _run(model, data, **config) -> str:
    mlflow_bias.evaluate(model, data, **{**FAST, **config})
    return mlflow.last_active_run().info.run_id


def test_heldout_slice_is_deterministic_and_sized():
    ids = [f"item-{i}" for i in range(2000)]
    mask = probes.heldout_mask(ids, 0.2)
    assert 0.17 < mask.mean() < 0.23
    shuffled = list(reversed(ids))
    assert list(probes.heldout_mask(shuffled, 0.2)) == list(reversed(mask))
    with pytest.raises(mlflow_bias.core.errors.ProbeSchemaError, match="between 0 and 1"):
        probes.heldout_mask(ids, 1.5)


def test_mitigation_improves_with_paired_ci_and_heldout(skewed_lm, balanced_lm, frozen):
    before = _run(skewed_lm, "tiny-occupations")
    after = _run(balanced_lm, "tiny-occupations")
    result = compare(before, after, bootstrap_samples=500)
    (change,) = result.changes
    metrics_a = MlflowClient().get_run(before).data.metrics
    metrics_b = MlflowClient().get_run(after).data.metrics
    assert change.metric == "bias/lpbs/gender"
    assert change.diff == pytest.approx(metrics_b["bias/lpbs/gender"] - metrics_a["bias/lpbs/gender"], abs=1e-9)
    assert change.paired and change.verdict == "improved"
    assert change.ci_low <= change.diff <= change.ci_high < 0
    assert change.heldout["paired"] and change.heldout["diff"] < 0
    assert change.heldout["n_items"] < 40

    # independent paired bootstrap with plain numpy (labelled LPBS = |mean p|, items resampled
    # within occupations)
    items_a = mlflow.load_table("bias/lpbs/items.json", run_ids=[before]).set_index("id")
    items_b = mlflow.load_table("bias/lpbs/items.json", run_ids=[after]).set_index("id").loc[items_a.index]
    rng = np.random.default_rng(123)
    groups = [np.flatnonzero(items_a["condition"].to_numpy() == c) for c in items_a["condition"].unique()]
    diffs = []
    for _ in range(3000):
        pick = np.concatenate([rng.choice(g, size=len(g)) for g in groups])
        diffs.append(abs(items_b["preference"].to_numpy()[pick].mean())
                     - abs(items_a["preference"].to_numpy()[pick].mean()))
    low, high = np.quantile(diffs, [0.025, 0.975])
    assert change.ci_low == pytest.approx(low, abs=0.03)
    assert change.ci_high == pytest.approx(high, abs=0.03)

    logged = mlflow.artifacts.load_dict(f"runs:/{after}/bias/comparison/{before}.json")
    assert logged["changes"][0]["verdict"] == "improved" and logged["worse"] == []


def test_regression_is_flagged_worse_and_cli_fails(skewed_lm, balanced_lm, frozen, capsys):
    fair = _run(balanced_lm, "tiny-occupations")
    biased = _run(skewed_lm, "tiny-occupations")
    assert [c.metric for c in compare(fair, biased).worse] == ["bias/lpbs/gender"]
    assert main(["compare", fair, biased, "--bootstrap-samples", "200"]) == 1
    out = capsys.readouterr().out
    assert "WORSE: bias/lpbs/gender" in out


def test_different_probe_versions_are_compared_unpaired(skewed_lm, balanced_lm, frozen):
    probes.freeze(frozen.iloc[::2], "tiny-occupations", "1.1.0", card="# tiny occupations\n\nEvery other item.")
    before = _run(skewed_lm, "tiny-occupations@1.0.0")
    after = _run(balanced_lm, "tiny-occupations@1.1.0")
    (change,) = compare(before, after, bootstrap_samples=300).changes
    assert change.paired is False and change.verdict == "improved"


def test_drift_flags_a_regression_across_versions(skewed_lm, balanced_lm, frozen):
    for lm in (balanced_lm, skewed_lm):  # v1 fair, v2 biased: a regression
        with mlflow.start_run():
            log_causal_lm(*lm, registered_model_name="screen")
    _run("models:/screen/1", "tiny-occupations")
    time.sleep(0.05)
    _run("models:/screen/2", "tiny-occupations")
    report = drift("screen", "bias/lpbs/gender")
    assert [p.version for p in report.points] == ["1", "2"]
    assert report.points[1].regression and report.recalibration_needed
    assert report.points[1].change == pytest.approx(report.points[1].value - report.points[0].value)
    assert report.tolerance == 0.03 and report.threshold == 0.10
    drift_run = MlflowClient().search_runs(
        [e.experiment_id for e in MlflowClient().search_experiments()],
        filter_string="tags.`bias.drift.model` = 'screen'")[0]
    assert drift_run.data.tags["bias.drift.recalibration_needed"] == "true"
    artifacts = [f.path for f in MlflowClient().list_artifacts(drift_run.info.run_id, "bias/drift")]
    assert "bias/drift/drift_bias_lpbs_gender.png" in artifacts


def test_drift_week_over_week_on_scheduled_reevaluations(balanced_lm, frozen):
    with mlflow.start_run():
        log_causal_lm(*balanced_lm, registered_model_name="screen")
    run_id = _run("models:/screen/1", "tiny-occupations")
    client = MlflowClient()
    first = client.get_metric_history(run_id, "bias/lpbs/gender")[0]
    day = 24 * 3600 * 1000
    # scheduled re-evaluations of the same version: +0.035 after 3 days, +0.05 after 8 days
    client.log_metric(run_id, "bias/lpbs/gender", first.value + 0.035, timestamp=first.timestamp + 3 * day, step=1)
    client.log_metric(run_id, "bias/lpbs/gender", first.value + 0.05, timestamp=first.timestamp + 8 * day, step=2)
    consecutive = drift("screen", window=None, log=False)  # +0.035 (flagged), then +0.015
    assert [p.regression for p in consecutive.points] == [False, True, False]
    weekly = drift("screen", window="7d", log=False)  # day 8 against day 0: +0.05
    assert [p.regression for p in weekly.points] == [False, False, True]
    assert weekly.points[2].baseline == pytest.approx(first.value)
    assert parse_window("2w") == dt.timedelta(days=14)
    with pytest.raises(ValueError, match="use a number and h, d or w"):
        parse_window("weekly")


def test_story_weekly_monitoring_flags_an_injected_rise_and_is_quiet_without(balanced_lm, frozen):
    """The story's monitoring step: week k's re-evaluation is logged k weeks after week 0, and
    `drift --window 7d` flags a week-over-week LPBS rise above the policy's 0.03, not a steady one."""
    from mlflow_bias.demo.story import WEEK, log_week

    with mlflow.start_run():
        log_causal_lm(*balanced_lm, registered_model_name="screen")
    run_id = _run("models:/screen/1", "tiny-occupations")
    client = MlflowClient()
    (week0,) = client.get_metric_history(run_id, "bias/lpbs/gender")
    log_week(run_id, week0.timestamp, 1, {"bias/lpbs/gender": week0.value + 0.02}, "2")  # quiet
    quiet = drift("screen", window="7d", policy="hiring-screen", log=False)
    history = client.get_metric_history(run_id, "bias/lpbs/gender")
    assert [h.step for h in history] == [0, 1]
    assert history[1].timestamp - history[0].timestamp == WEEK.total_seconds() * 1000
    assert quiet.tolerance == 0.03 and not quiet.recalibration_needed
    assert quiet.points[1].change == pytest.approx(0.02)
    log_week(run_id, week0.timestamp, 2, {"bias/lpbs/gender": week0.value + 0.06}, "3")  # +0.04 in a week
    flagged = drift("screen", window="7d", policy="hiring-screen")
    assert [p.regression for p in flagged.points] == [False, False, True]
    # each point names the version that answered that week (the run's own for week 0)
    assert [p.version for p in flagged.points] == ["1", "2", "3"]
    assert flagged.points[2].change == pytest.approx(0.04)
    assert flagged.plot and flagged.plot.endswith("drift_bias_lpbs_gender.png")


def test_story_weekly_monitoring_through_a_tracking_server(balanced_lm, frozen, tmp_path, monkeypatch,
                                                          template_tracking_db):
    """The same weekly points and drift reading through a real `mlflow server`, as a team shares
    MLflow: timestamps, steps and each week's version survive the REST round trip."""
    import bias_gate_server
    from tracking_stores import copy_migrated_store

    from mlflow_bias.demo.story import WEEK, log_week

    store = ["--backend-store-uri", copy_migrated_store(template_tracking_db, tmp_path / "server.db", "mlflow-artifacts:/0"),
             "--artifacts-destination", str(tmp_path / "served-artifacts")]
    with bias_gate_server.running(store, {"MLFLOW_BIAS_PROBE_DIR": str(tmp_path / "user-probes")},
                                  tmp_path / "server.log") as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        mlflow.set_tracking_uri(url)
        with mlflow.start_run():
            log_causal_lm(*balanced_lm, registered_model_name="screen")
        run_id = _run("models:/screen/1", "tiny-occupations")
        client = MlflowClient()
        (week0,) = client.get_metric_history(run_id, "bias/lpbs/gender")
        log_week(run_id, week0.timestamp, 1, {"bias/lpbs/gender": week0.value + 0.01}, "1")
        log_week(run_id, week0.timestamp, 2, {"bias/lpbs/gender": week0.value + 0.05}, "2")  # +0.04
        report = drift("screen", window="7d", policy="hiring-screen")
    assert [p.step for p in report.points] == [0, 1, 2]
    assert [p.version for p in report.points] == ["1", "1", "2"]
    assert [p.regression for p in report.points] == [False, False, True]
    assert report.points[2].change == pytest.approx(0.04)
    day0 = dt.datetime.fromisoformat(report.points[0].time)
    assert dt.datetime.fromisoformat(report.points[2].time) - day0 == 2 * WEEK
    assert report.plot and report.plot.endswith("drift_bias_lpbs_gender.png")
