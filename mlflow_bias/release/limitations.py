"""Known-limitation records on registered model versions.

What cannot be removed is documented: which dimension and attribute, the measured value and the
run that measured it, a description, the use cases it rules out, an owner and a review date. Each
record is a model-version tag `bias.limitation.<id>` holding the record as JSON (so it travels
with the version and is seen by every client and the `bias-gate` server), `bias.limitations`
lists the open ids, and a JSON copy is logged to the version's source run
(`bias/limitations/<id>.json`). Gate decisions quote the open records, and an open record's
restricted uses keep the version off aliases a policy binds to those use cases (`alias_use_cases`).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Sequence

from mlflow.tracking import MlflowClient

from mlflow_bias.core.metric_keys import MetricKey
from mlflow_bias.dimensions.registry import all_dimensions
from mlflow_bias.release.evaluations import latest_evaluation
from mlflow_bias.core.errors import ConfigError

TAG_PREFIX = "bias.limitation."
OPEN_TAG = "bias.limitations"
MAX_TAG_CHARS = 5000  # MLflow's limit on a model-version tag value
# what a limitation may be about besides the registered dimensions: the training-data audit
DATA_AUDIT = "representation"


def known_dimensions() -> tuple[str, ...]:
    """Every registered dimension and the training-data audit: from the registry, so a new
    dimension is never missing here."""
    return (*all_dimensions(), DATA_AUDIT)


def __getattr__(name: str) -> tuple[str, ...]:
    if name == "KNOWN_DIMENSIONS":
        return known_dimensions()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Limitation:
    id: str
    model: str
    version: str
    dimension: str
    attribute: str
    description: str
    restricted_uses: list[str]
    owner: str
    review_date: str  # ISO date: when the limitation must be looked at again
    value: float | None = None
    run_id: str | None = None
    status: str = "open"
    created_at: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    resolved_at: str | None = None
    resolution: str | None = None

    @property
    def overdue(self) -> bool:
        return self.status == "open" and _dt.date.fromisoformat(self.review_date) < _dt.date.today()

    def line(self) -> str:
        value = f" = {self.value:.4g}" if self.value is not None else ""
        uses = ", ".join(self.restricted_uses) or "none"
        due = " OVERDUE" if self.overdue else ""
        return (f"limitation {self.id} [{self.status}] {self.dimension}/{self.attribute}{value}: "
                f"{self.description} (restricted uses: {uses}; owner {self.owner}; review by "
                f"{self.review_date}{due})")


def _check(dimension: str, attribute: str, description: str, owner: str, review_date: str,
           restricted_uses: Sequence[str]) -> None:
    known = known_dimensions()
    if dimension not in known:
        raise ConfigError(f"Unknown dimension {dimension!r} for a limitation; use one of "
                          f"{', '.join(known)}.")
    for what, value in (("attribute", attribute), ("description", description), ("owner", owner)):
        if not str(value).strip():
            raise ConfigError(f"A limitation needs a non-empty {what}: who and what it is about is "
                              "the point of the record.")
    try:
        _dt.date.fromisoformat(review_date)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"review_date {review_date!r} is not a date; write it as YYYY-MM-DD.") from exc
    if any(not str(u).strip() for u in restricted_uses):
        raise ConfigError("restricted uses must be non-empty names, e.g. 'hiring'.")


def _measured(client: MlflowClient, model: str, version: str, dimension: str,
              attribute: str) -> tuple[float | None, str | None]:
    """The attribute's value in the version's newest evaluation run, if it has one."""
    run_id = latest_evaluation(model, version, client)
    if run_id is None:
        return None, None
    value = client.get_run(run_id).data.metrics.get(MetricKey(dimension, attribute).build())
    return value, run_id


def add_limitation(model: str, version: str | int, *, dimension: str, attribute: str,
                   description: str, restricted_uses: Sequence[str], owner: str, review_date: str,
                   value: float | None = None, run_id: str | None = None,
                   client: MlflowClient | None = None) -> Limitation:
    """Attach a known-limitation record to `model`/`version` (the value and run default to the
    version's newest evaluation of that dimension and attribute)."""
    client = client or MlflowClient()
    version = str(version)
    mv = client.get_model_version(model, version)  # a clear MLflow error for an unknown version
    _check(dimension, attribute, description, owner, review_date, restricted_uses)
    if value is None and run_id is None:
        value, run_id = _measured(client, model, version, dimension, attribute)
    existing = list_limitations(model, version, include_resolved=True, client=client)
    record = Limitation(id=f"L{len(existing) + 1}", model=model, version=version,
                        dimension=dimension, attribute=attribute, description=description.strip(),
                        restricted_uses=[str(u).strip() for u in restricted_uses],
                        owner=owner.strip(), review_date=review_date, value=value, run_id=run_id)
    _store(client, record, mv.run_id)
    return record


def _store(client: MlflowClient, record: Limitation, source_run_id: str | None) -> None:
    payload = json.dumps(asdict(record), sort_keys=True)
    if len(payload) > MAX_TAG_CHARS:
        raise ConfigError(f"The limitation record is {len(payload)} characters; model-version tags "
                          f"hold {MAX_TAG_CHARS}. Shorten the description.")
    client.set_model_version_tag(record.model, record.version, TAG_PREFIX + record.id, payload)
    open_ids = [r.id for r in list_limitations(record.model, record.version, client=client)]
    client.set_model_version_tag(record.model, record.version, OPEN_TAG, ",".join(open_ids))
    if source_run_id:
        client.log_dict(source_run_id, asdict(record), f"bias/limitations/{record.id}.json")


class LimitationRecordError(ConfigError):
    """A stored limitation record that cannot be read; whatever depends on it must fail closed."""


_ID = re.compile(r"^L\d+$")
_FIELDS = {f.name for f in fields(Limitation)}


def _parse(model: str, version: str, key: str, value: str) -> Limitation:
    """The record in tag `key`, checked field by field: a tag edited into something else is an
    error, never a silently different record."""
    where = f"the model-version tag {key} of {model}/{version}"
    try:
        raw = json.loads(value)
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        extra = sorted(set(raw) - _FIELDS)
        if extra:
            raise ValueError(f"unknown field(s) {', '.join(extra)}")
        record = Limitation(**raw)  # a missing field raises TypeError
        if record.id != key[len(TAG_PREFIX):] or not _ID.match(record.id):
            raise ValueError(f"its id {record.id!r} does not match the tag")
        if record.status not in ("open", "resolved"):
            raise ValueError(f"status {record.status!r} is neither 'open' nor 'resolved'")
        if not isinstance(record.restricted_uses, list) or not all(
                isinstance(u, str) for u in record.restricted_uses):
            raise ValueError("restricted_uses is not a list of names")
        _dt.date.fromisoformat(record.review_date)
    except (TypeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        raise LimitationRecordError(
            f"{where} is not a valid limitation record ({exc}); it was changed outside "
            "mlflow-bias. Restore it from bias/limitations/<id>.json in the version's source run "
            "or add the record again.") from exc
    return record


def list_limitations(model: str, version: str | int, *, include_resolved: bool = False,
                     client: MlflowClient | None = None) -> list[Limitation]:
    """The version's limitation records (open ones only unless `include_resolved`); a record
    that cannot be read raises LimitationRecordError."""
    client = client or MlflowClient()
    tags = client.get_model_version(model, str(version)).tags
    records = [_parse(model, str(version), k, v) for k, v in tags.items() if k.startswith(TAG_PREFIX)]
    records.sort(key=lambda r: int(r.id[1:]))
    return [r for r in records if include_resolved or r.status == "open"]


def restricting(model: str, version: str | int, use_case: str,
                client: MlflowClient | None = None) -> list[Limitation]:
    """The version's open records that rule out `use_case` (names compared without regard to
    case). A record listed in the `bias.limitations` tag counts as open even if its own tag says
    resolved (the two are written together; a mismatch is a half-written or edited record), and
    an id listed there without a record raises LimitationRecordError."""
    client = client or MlflowClient()
    version = str(version)
    tags = client.get_model_version(model, version).tags
    records = {r.id: r for r in list_limitations(model, version, include_resolved=True, client=client)}
    listed = [i for i in (tags.get(OPEN_TAG) or "").split(",") if i.strip()]
    unknown = [i for i in listed if i not in records]
    if unknown:
        raise LimitationRecordError(
            f"{model}/{version} lists open limitation(s) {', '.join(unknown)} in its {OPEN_TAG} tag "
            "but has no such record: its limitation records were changed outside mlflow-bias.")
    wanted = use_case.strip().casefold()
    return [r for r in records.values()
            if (r.status == "open" or r.id in listed)
            and any(u.strip().casefold() == wanted for u in r.restricted_uses)]


def resolve_limitation(model: str, version: str | int, limitation_id: str, resolution: str,
                       client: MlflowClient | None = None) -> Limitation:
    """Mark a record resolved (it stays on the version, with how it was resolved)."""
    client = client or MlflowClient()
    if not resolution.strip():
        raise ConfigError("Say how the limitation was resolved (e.g. the run that shows it fixed).")
    records = {r.id: r for r in list_limitations(model, version, include_resolved=True, client=client)}
    if limitation_id not in records:
        raise ConfigError(f"{model}/{version} has no limitation {limitation_id!r}; it has: "
                          f"{', '.join(records) or 'none'}.")
    record = records[limitation_id]
    record.status = "resolved"
    record.resolution = resolution.strip()
    record.resolved_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    _store(client, record, client.get_model_version(model, str(version)).run_id)
    return record


def limitation_lines(model: str, version: str | int, client: MlflowClient | None = None) -> list[str]:
    return [r.line() for r in list_limitations(model, version, client=client)]


def as_dicts(records: Sequence[Limitation]) -> list[dict[str, Any]]:
    return [asdict(r) for r in records]
