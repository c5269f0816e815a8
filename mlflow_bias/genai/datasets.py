"""Probes as the data of `mlflow.genai.evaluate`, and as MLflow evaluation datasets.

`probe_data("hiring-summary@1.0.0", input_key="question")` gives one row per distinct text of the
probe: the text under the app's parameter in `inputs`, and where the probe rows with that text sit
(probe, id, set, group, attribute, slices) in `expectations`, which MLflow logs on each trace and
the bias scorers read.

`register_probe` writes the same rows to an `mlflow.genai.datasets` dataset tagged with the probe's
name, version and content digest. `check_probe_dataset` compares such a dataset, row by row, with
the frozen probe it names and refuses a changed copy; `evaluate` and `summarize` check the rows
they score the same way.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mlflow_bias import probes as probe_store
from mlflow_bias.core.errors import ConfigError, ProbeIntegrityError

TEXT_COLUMNS = {"counterfactual_sets": "input", "refusal": "prompt"}
TAG_NAME, TAG_VERSION, TAG_DIGEST = "bias.probe", "bias.probe.version", "bias.probe.digest"
TAG_INPUT_KEY = "bias.input_key"


def _resolve(probe: Any) -> tuple[probe_store.ProbeInfo, pd.DataFrame]:
    """A frozen probe (`name` or `name@version`), hash-verified, and its rows."""
    if isinstance(probe, probe_store.ProbeInfo):
        probe = f"{probe.name}@{probe.version}"
    if not isinstance(probe, str):
        raise ConfigError("Give the probe as 'name' or 'name@version' of a frozen probe "
                          "(mlflow-bias probes list).")
    name, _, version = probe.partition("@")
    info = probe_store.verify(name, version or None)
    frame = probe_store.load(info.name, info.version).to_pandas()
    if info.kind not in TEXT_COLUMNS:
        raise ConfigError(
            f"Probe {info.name}@{info.version} is a {info.kind} probe; the GenAI scorers read "
            f"counterfactual-sets and refusal probes. Score {info.kind} probes with "
            "mlflow.models.evaluate(..., model_type='bias', evaluators=['bias']).")
    return info, frame


def probe_records(info: probe_store.ProbeInfo, frame: pd.DataFrame, input_key: str) -> list[dict[str, Any]]:
    """The probe's rows as evaluation records, one per distinct text: {"inputs": {input_key: text},
    "expectations": {"bias_probe": "name@version", "bias_rows": [where each row with that text
    sits: id, set_id, group, attribute, slices]}}. A text several rows share is asked once, as an
    MLflow evaluation dataset keeps one record per distinct input."""
    text = TEXT_COLUMNS[info.kind]
    ref = f"{info.name}@{info.version}"
    by_text: dict[str, list[dict[str, Any]]] = {}
    for row in frame.to_dict("records"):
        member = {"id": str(row["id"]), "set_id": str(row["set_id"]), "group": str(row["group"]),
                  "attribute": str(row["attribute"])}
        slices = {c: str(row[c]) for c in info.slice_columns
                  if c in row and row[c] is not None and not pd.isna(row[c])}
        if slices:
            member["slices"] = slices
        by_text.setdefault(str(row[text]), []).append(member)
    return [{"inputs": {input_key: body}, "expectations": {"bias_probe": ref, "bias_rows": members}}
            for body, members in by_text.items()]


def expand_rows(text: Any, expectations: Any) -> dict[str, dict[str, Any]]:
    """{probe id: {"input", "set_id", "group", "attribute"}} for the rows one record stands for."""
    members = (expectations or {}).get("bias_rows") or []
    return {str(m.get("id")): {"input": text, "set_id": m.get("set_id"), "group": m.get("group"),
                               "attribute": m.get("attribute")}
            for m in members if isinstance(m, dict)}


def probe_data(probe: Any, *, input_key: str = "input") -> pd.DataFrame:
    """Data for `mlflow.genai.evaluate` from a frozen probe (`name@version`) or a registered probe
    dataset (checked against its probe first). `input_key` is the app's parameter for the text."""
    if hasattr(probe, "to_df") and hasattr(probe, "tags"):
        info, _ = check_probe_dataset(probe)
        return probe.to_df()[["inputs", "expectations"]].reset_index(drop=True)
    info, frame = _resolve(probe)
    return pd.DataFrame(probe_records(info, frame, input_key))


def dataset_name(info: probe_store.ProbeInfo) -> str:
    return f"bias-probe-{info.name}-{info.version}"


def register_probe(probe: Any, *, name: str | None = None, input_key: str = "input",
                   experiment_id: str | None = None) -> Any:
    """Create (or merge into) an MLflow evaluation dataset holding a frozen probe's rows, tagged
    with its name, version and content digest; return it, checked against the probe."""
    from mlflow.genai import datasets as mlflow_datasets

    info, frame = _resolve(probe)
    name = name or dataset_name(info)
    try:
        dataset = mlflow_datasets.get_dataset(name=name)
    except Exception:  # noqa: BLE001 - not found: create it
        dataset = None
    tags = {TAG_NAME: info.name, TAG_VERSION: info.version, TAG_DIGEST: info.content_digest,
            TAG_INPUT_KEY: input_key}
    if dataset is not None:
        held = dataset.tags or {}
        if held.get(TAG_DIGEST) and (held.get(TAG_NAME), held.get(TAG_VERSION), held.get(TAG_DIGEST)) != (
                info.name, info.version, info.content_digest):
            raise ProbeIntegrityError(
                f"Dataset {name!r} holds probe {held.get(TAG_NAME)}@{held.get(TAG_VERSION)} "
                f"(digest {str(held.get(TAG_DIGEST))[:12]}…), not {info.name}@{info.version}: a probe "
                "dataset holds one probe version. Register under another name=.")
    else:
        kwargs = {"experiment_id": experiment_id} if experiment_id else {}
        dataset = mlflow_datasets.create_dataset(name=name, tags=tags, **kwargs)
    dataset.merge_records(probe_records(info, frame, input_key))
    mlflow_datasets.set_dataset_tags(dataset_id=dataset.dataset_id, tags=tags)
    dataset = mlflow_datasets.get_dataset(dataset_id=dataset.dataset_id)
    check_probe_dataset(dataset)
    return dataset


def compare_rows(info: probe_store.ProbeInfo, frame: pd.DataFrame,
                 rows: dict[str, dict[str, Any]], what: str) -> None:
    """Raise ProbeIntegrityError unless `rows` ({probe id: {"input", "set_id", "group",
    "attribute"}}) are exactly the probe's rows: none missing, none added, none changed."""
    text = TEXT_COLUMNS[info.kind]
    expected = {str(r["id"]): {"input": str(r[text]), "set_id": str(r["set_id"]),
                               "group": str(r["group"]), "attribute": str(r["attribute"])}
                for r in frame.to_dict("records")}
    ref = f"{info.name}@{info.version}"
    missing = sorted(set(expected) - set(rows))
    added = sorted(set(rows) - set(expected))
    changed = sorted(i for i in set(rows) & set(expected)
                     if any(str(rows[i].get(k)) != v for k, v in expected[i].items()))
    problems = []
    if changed:
        first = changed[0]
        field = next(k for k, v in expected[first].items() if str(rows[first].get(k)) != v)
        problems.append(f"{len(changed)} row(s) differ from the frozen probe (row {first}: its {field} "
                        f"is {str(rows[first].get(field))[:80]!r}, the probe has "
                        f"{expected[first][field][:80]!r})")
    if added:
        problems.append(f"{len(added)} row(s) are not in the probe (e.g. {added[:3]})")
    if missing:
        problems.append(f"{len(missing)} of the probe's {len(expected)} rows are missing (e.g. {missing[:3]})")
    if problems:
        raise ProbeIntegrityError(
            f"{what} is not probe {ref}: {'; '.join(problems)}. A probe is never edited in place: "
            f"evaluate every row of {ref} as frozen (mlflow_bias.genai.probe_data('{ref}')), or "
            "freeze the changed rows as a new probe version.")


def check_probe_dataset(dataset: Any) -> tuple[probe_store.ProbeInfo, pd.DataFrame]:
    """Check a registered probe dataset against the frozen probe its tags name: the probe must
    verify, its digest must be the tagged one, and the records must be its rows. Returns the
    probe's info and rows."""
    tags = dataset.tags or {}
    if not tags.get(TAG_NAME) or not tags.get(TAG_VERSION):
        raise ConfigError(f"Dataset {dataset.name!r} is not a probe dataset (no {TAG_NAME} tag); "
                          "register one with `mlflow-bias probes register NAME@VERSION`.")
    info, frame = _resolve(f"{tags[TAG_NAME]}@{tags[TAG_VERSION]}")
    ref = f"{info.name}@{info.version}"
    if tags.get(TAG_DIGEST) != info.content_digest:
        raise ProbeIntegrityError(
            f"Dataset {dataset.name!r} says probe {ref} has digest {str(tags.get(TAG_DIGEST))[:12]}…, "
            f"but the frozen probe's is {info.content_digest[:12]}…: it is a copy of another "
            "version. Register the probe again under a new dataset name.")
    rows: dict[str, dict[str, Any]] = {}
    repeated: list[str] = []
    for record in dataset.to_df().to_dict("records"):
        inputs = record.get("inputs") or {}
        texts = [v for v in inputs.values() if isinstance(v, str)]
        for pid, fields in expand_rows(texts[0] if len(texts) == 1 else inputs,
                                       record.get("expectations")).items():
            if pid in rows:
                repeated.append(pid)
            rows[pid] = fields
    if repeated:
        raise ProbeIntegrityError(
            f"Dataset {dataset.name!r} is not probe {ref}: {len(repeated)} probe row(s) appear in two "
            f"records (e.g. {sorted(repeated)[:3]}), so a record was added or edited. Register the "
            "probe again under a new dataset name.")
    compare_rows(info, frame, rows, f"Dataset {dataset.name!r}")
    return info, frame
