"""Runs an evaluation could not finish because the tracking server went away: a local record of
why, and `resume`, which marks such a run failed with its reason once the server answers again
(`mlflow-bias evaluate --resume RUN_ID`, and at the start of every later evaluation)."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from mlflow_bias.core.tracking_guard import written

_logger = logging.getLogger(__name__)
STATE_ENV = "MLFLOW_BIAS_STATE_DIR"


def _folder() -> Path:
    return Path(os.environ.get(STATE_ENV, Path.home() / ".mlflow-bias" / "state")) / "interrupted"


def record_interruption(run_id: str, tracking_uri: str, reason: str) -> Path:
    """Keep, on this machine, why run `run_id` stopped and what it holds."""
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.json"
    path.write_text(json.dumps({
        "run_id": run_id, "tracking_uri": tracking_uri, "reason": reason, "written": written(run_id),
        "at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}, indent=2))
    return path


def _record(run_id: str) -> dict[str, Any] | None:
    path = _folder() / f"{run_id}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def resume(run_id: str, client: MlflowClient | None = None) -> str:
    """Mark an evaluation that stopped half-way failed, with its reason; say what it holds.
    A completed evaluation is left alone."""
    client = client or MlflowClient()
    run = client.get_run(run_id)
    tags = run.data.tags
    metrics = [k for k in run.data.metrics if k.startswith(("bias/", "data/"))]
    dimensions = {k[len("bias.dimension."):]: v for k, v in tags.items() if k.startswith("bias.dimension.")}
    holds = (f"{len(metrics)} metric(s); dimensions: "
             + (", ".join(f"{d} {s}" for d, s in sorted(dimensions.items())) or "none scored"))
    record = _record(run_id)
    if tags.get("bias.status") == "completed" and run.info.status == "FINISHED":
        _discard(run_id)
        return f"Run {run_id} is a completed evaluation ({holds}); nothing to resume."
    if tags.get("bias.status") == "failed" and run.info.status == "FAILED":
        _discard(run_id)
        return f"Run {run_id} is already marked failed: {tags.get('bias.error', '')}"
    reason = (record or {}).get("reason") or (
        f"the evaluation stopped before it completed (bias.status={tags.get('bias.status', 'missing')}); "
        "this machine has no record of why")
    client.set_tag(run_id, "bias.status", "failed")
    client.set_tag(run_id, "bias.error", f"interrupted: {reason}"[:5000])
    if run.info.status == "RUNNING":
        client.set_terminated(run_id, "FAILED")
    _discard(run_id)
    return (f"Run {run_id} marked failed: interrupted: {reason}. It holds {holds}. The gate blocks "
            "it; evaluate the model again for a complete result.")


def _discard(run_id: str) -> None:
    (_folder() / f"{run_id}.json").unlink(missing_ok=True)


def resume_pending(tracking_uri: str) -> list[str]:
    """Mark failed every recorded interrupted run of `tracking_uri` (called as an evaluation
    starts, when that server answers); the ones that still cannot be reached stay recorded."""
    done = []
    folder = _folder()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
            if record.get("tracking_uri") != tracking_uri:
                continue
            _logger.warning("%s", resume(record["run_id"], MlflowClient(tracking_uri=tracking_uri)))
            done.append(record["run_id"])
        except Exception:  # noqa: BLE001 - stays recorded for the next attempt
            _logger.debug("could not resume %s", path, exc_info=True)
    return done
