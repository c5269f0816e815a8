"""Tracking stores for the tests: a copy of one migrated sqlite store (MLflow's schema migrations
take seconds; a copy takes milliseconds)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path


def copy_migrated_store(template: Path, path: Path, artifact_location: str) -> str:
    """A tracking store at `path` copied from the migrated template, its default experiment's
    artifacts at `artifact_location`; returns its URI."""
    shutil.copyfile(template, path)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                           (artifact_location,))
    return f"sqlite:///{path}"
