"""The scorecard page of a run, logged to MLflow: rendered from `bias/scorecard.json` with the
model version's open known-limitation records and description, and its charts."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_bias.core.labels import registered_version
from mlflow_bias.release.limitations import LimitationRecordError, list_limitations
from mlflow_bias.reporting.report import HTML_PATH, PLOTS_DIR, render_report
from mlflow_bias.core.tracking_guard import writing

_logger = logging.getLogger(__name__)


def model_version_context(scorecard: dict[str, Any], client: MlflowClient | None = None
                          ) -> tuple[list[Any] | None, str | None]:
    """The open known-limitation records and the description of the scorecard's model version,
    when it is a registered version (else None, None). Records that cannot be read are not hidden:
    a warning saying so is added to `scorecard["warnings"]` for the page to show."""
    registered = registered_version((scorecard.get("model") or {}).get("version"))
    if registered is None:
        return None, None
    client = client or MlflowClient()
    try:
        description = client.get_model_version(*registered).description or None
    except MlflowException:  # a label that only looks like a registered version
        return None, None
    try:
        return list_limitations(*registered, client=client), description
    except LimitationRecordError as exc:
        scorecard.setdefault("warnings", []).append(
            f"The known-limitation records of {'/'.join(registered)} cannot be read, so the gate "
            f"refuses to promote it until they are fixed: {exc.message}")
        return None, description


def log_scorecard_html(run_id: str, scorecard: dict[str, Any], *, policy: Any = None,
                       client: MlflowClient | None = None) -> bool:
    """Render the scorecard page and its charts and log them to the run (`bias/scorecard.html`,
    `bias/plots/*.png`), with the model version's open known-limitation records and description
    when the run's model is a registered version.

    The page is a view of `bias/scorecard.json`: when it cannot be made, a warning is logged and
    False returned; the evaluation or decision it shows stands.
    """
    client = client or MlflowClient()
    try:
        limitations, description = model_version_context(scorecard, client)
        html, plots = render_report(scorecard, policy=policy, limitations=limitations,
                                    model_description=description)
        if plots:
            with tempfile.TemporaryDirectory() as tmp, writing(run_id, f"{len(plots)} plot(s)"):
                for plot in plots:
                    (Path(tmp) / plot.name).write_bytes(plot.png)
                client.log_artifacts(run_id, tmp, PLOTS_DIR)
        with writing(run_id, HTML_PATH):
            client.log_text(run_id, html, HTML_PATH)
        return True
    except Exception:  # noqa: BLE001 - the page is a view; the numbers are already logged
        _logger.warning("Could not render the HTML scorecard of run %s.", run_id, exc_info=True)
        return False
