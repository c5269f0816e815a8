"""Writes to a tracking server that may go away: say within seconds that it does not answer,
give up with a message naming what the run already holds, and never wait on a dead server twice.

MLflow retries each request (MLFLOW_HTTP_REQUEST_MAX_RETRIES, default 7, with exponential
backoff: minutes in all). `writing` runs one write under a watchdog that warns once it has taken
MLFLOW_BIAS_SLOW_WRITE_SECONDS (default 5), turns an unreachable server into
`TrackingUnavailableError`, and keeps, per run, the list of what was written."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Iterator

from mlflow_bias.core.errors import BiasEvaluationError

_logger = logging.getLogger("mlflow_bias")
SLOW_WRITE_ENV = "MLFLOW_BIAS_SLOW_WRITE_SECONDS"
_WRITTEN: dict[str, list[str]] = {}  # run id -> what was written to it, in order
_DOWN: dict[str, str] = {}  # run id -> why the server was given up on


class TrackingUnavailableError(BiasEvaluationError):
    """The tracking server did not answer a write, after MLflow's retries."""

    def __init__(self, message: str, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id


def written(run_id: str) -> list[str]:
    return list(_WRITTEN.get(run_id, []))


def _tracking_uri() -> str:
    import mlflow

    return mlflow.get_tracking_uri()


def is_unreachable(exc: BaseException) -> bool:
    """A connection that failed (refused, reset, timed out), as opposed to a request the server
    answered with an error."""
    import requests

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                             ConnectionError, TimeoutError)):
            return True
        text = str(seen)
        if "Max retries exceeded" in text or "Failed to establish a new connection" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _retry_settings() -> str:
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )

    return (f"MLFLOW_HTTP_REQUEST_MAX_RETRIES={MLFLOW_HTTP_REQUEST_MAX_RETRIES.get()}, "
            f"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR={MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get()}, "
            f"MLFLOW_HTTP_REQUEST_TIMEOUT={MLFLOW_HTTP_REQUEST_TIMEOUT.get()} s")


def summary_of(run_id: str) -> str:
    done = written(run_id)
    return "; ".join(done) if done else "nothing"


@contextlib.contextmanager
def writing(run_id: str, what: str) -> Iterator[None]:
    """One write of `what` to run `run_id` (see the module doc)."""
    uri = _tracking_uri()
    if run_id in _DOWN:
        raise TrackingUnavailableError(
            f"Not writing {what}: the tracking server {uri} stopped answering earlier in this "
            f"evaluation ({_DOWN[run_id]}).", run_id)
    done = threading.Event()
    delay = float(os.environ.get(SLOW_WRITE_ENV, "5"))

    def watchdog() -> None:
        if not done.wait(delay):
            _logger.warning(
                "The tracking server %s has not answered for %g s while mlflow-bias writes %s to "
                "run %s; MLflow keeps retrying (%s) before it gives up. Already written: %s.",
                uri, delay, what, run_id, _retry_settings(), summary_of(run_id))

    threading.Thread(target=watchdog, daemon=True, name="mlflow-bias-watchdog").start()
    try:
        yield
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        _DOWN[run_id] = f"writing {what} failed after MLflow's retries"
        message = (
            f"The tracking server {uri} did not answer while writing {what} to run {run_id} "
            f"({_retry_settings()}), so the evaluation stopped. Already in the run: "
            f"{summary_of(run_id)}. Once the server is back, `mlflow-bias evaluate --resume "
            f"{run_id}` marks the run failed with this reason (the next evaluation does so too); "
            "then evaluate again.")
        _logger.error(message)
        raise TrackingUnavailableError(message, run_id) from exc
    finally:
        done.set()
    _WRITTEN.setdefault(run_id, []).append(what)


@contextlib.contextmanager
def without_retries() -> Iterator[None]:
    """One quick attempt per request (for the cleanup after the server was given up on)."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "5"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
