"""Shared pieces of the trust tests: a rule-based screening pyfunc (fair or biased by name), a
small frozen CBS probe, the policy, and the forgeries someone with write access to the tracking
store can make."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import yaml
from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

import mlflow_bias.probes as probes

PROBE = "screen-sets"
FAST = {"bootstrap_samples": 100, "permutation_samples": 100, "progress": False}
POLICY = {"name": "trust-test", "version": "1.0.0",
          "rules": [{"metric": "cbs", "threshold": 0.10, "direction": "max"}],
          "required_dimensions": ["cbs"], "probes": [PROBE],
          "protected_aliases": ["champion", "production"]}


class Screen(mlflow.pyfunc.PythonModel):
    """Advances 5+ years of experience; the biased screen also advances Greg from 1 year on."""

    def __init__(self, biased: bool) -> None:
        self.biased = biased

    def predict(self, context, model_input, params=None):
        answers = []
        for text in model_input["input"]:
            years = int(text.split(" with ")[1].split()[0])
            advance = years >= 5 or (self.biased and "Greg" in text and years >= 1)
            answers.append("ADVANCE" if advance else "REJECT")
        return answers


def freeze_probe() -> None:
    rows = [{"id": f"s{i}-{group}", "set_id": f"s{i}", "attribute": "gender", "group": group,
             "input": f"Resume: {name}, engineer with {i % 10} years of experience."}
            for i in range(30) for group, name in (("female", "Emily"), ("male", "Greg"))]
    probes.freeze(pd.DataFrame(rows), PROBE, "1.0.0", card="# screen sets\n\nTrust tests.")


def probe_frame() -> pd.DataFrame:
    """The frozen probe's rows, as `mlflow.models.evaluate` takes them."""
    return probes.load(PROBE).to_pandas()


def register_screens() -> None:
    """`screen` v1: fair (CBS 0); v2: biased (CBS 0.4), never evaluated honestly."""
    for biased in (False, True):
        with mlflow.start_run():
            mlflow.pyfunc.log_model(name="model", python_model=Screen(biased),
                                    registered_model_name="screen", pip_requirements=["pandas"])


def write_policy(path: Path, **changes) -> Path:
    path.write_text(yaml.safe_dump({**POLICY, **changes}))
    return path


def evaluate(version: int | str, policy: Path, **config) -> str:
    """Evaluate `screen/<version>` honestly in a new run; return the run id."""
    import mlflow_bias

    mlflow_bias.evaluate(f"models:/screen/{version}", PROBE, policy=str(policy), **FAST, **config)
    return mlflow.last_active_run().info.run_id


def copy_evidence(client: MlflowClient, source_run: str, **tag_changes: str) -> str:
    """A new run holding `source_run`'s bias tags, metrics and attestation, with `tag_changes`
    (dots written as `__`, e.g. bias__model_version="screen/2")."""
    source = client.get_run(source_run)
    run = client.create_run(source.info.experiment_id, run_name="copied evidence")
    tags = {k: v for k, v in source.data.tags.items() if k.startswith("bias.")}
    tags.update({k.replace("__", "."): v for k, v in tag_changes.items()})
    metrics = [Metric(k, v, 0, 0) for k, v in source.data.metrics.items()]
    client.log_batch(run.info.run_id, metrics=metrics, tags=[RunTag(k, v) for k, v in tags.items()])
    attestation = read_json(client, source_run, "bias/attestation.json")
    if attestation is not None:
        client.log_dict(run.info.run_id, attestation, "bias/attestation.json")
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def read_json(client: MlflowClient, run_id: str, path: str):
    names = {f.path for f in client.list_artifacts(run_id, str(Path(path).parent))}
    if path not in names:
        return None
    return json.loads(Path(client.download_artifacts(run_id, path)).read_text())


def point_gate_at(client: MlflowClient, version: str, run_id: str) -> None:
    """What a forger does on the version: claim a passed gate decision from `run_id`."""
    for key, value in {"bias.gate": "passed", "bias.gate.run_id": run_id}.items():
        client.set_model_version_tag("screen", version, key, value)
