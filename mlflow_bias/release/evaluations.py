"""Finding a model version's bias evaluation runs in the tracking store."""

from __future__ import annotations

from mlflow.tracking import MlflowClient


def model_version_label(name: str, version: str | int) -> str:
    return f"{name}/{version}"


def search_evaluations(client: MlflowClient, filter_string: str, max_results: int = 1000) -> list:
    """Bias evaluation runs matching `filter_string`, in every experiment, newest first."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, filter_string=filter_string,
                              order_by=["attributes.start_time DESC"], max_results=max_results)


def latest_evaluation(name: str, version: str | int, client: MlflowClient | None = None) -> str | None:
    """Run id of the newest bias evaluation of `name` version `version`, if any."""
    label = model_version_label(name, version).replace("'", "\\'")
    runs = search_evaluations(client or MlflowClient(),
                              f"tags.`bias.model_version` = '{label}'", max_results=1)
    return runs[0].info.run_id if runs else None
