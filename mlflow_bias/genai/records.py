"""The per-row record a bias scorer leaves in its `Feedback`, and reading it back.

A scorer's value and rationale are for people; what `summarize` needs (the set a row belongs to,
its group, the texts and the parsed category or refusal) travels as one JSON document in the
assessment's metadata under `bias.record`, so the group-level statistics are computed from exactly
what was assessed, row by row.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

RECORD_KEY = "bias.record"
TEXT_FIELDS = ("response", "output", "content", "text", "answer", "result")


def encode(record: Mapping[str, Any]) -> dict[str, str]:
    """Assessment metadata (string values only) holding `record`."""
    return {RECORD_KEY: json.dumps(dict(record), ensure_ascii=False, default=str)}


def decode(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The record in an assessment's metadata, or None when it carries none."""
    raw = (metadata or {}).get(RECORD_KEY)
    if not raw:
        return None
    try:
        record = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def as_text(value: Any) -> str | None:
    """An app's answer as text: a string as it is; a mapping's `response`/`output`/`content`/...
    field, or a chat completion's first message; anything else as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in TEXT_FIELDS:
            if isinstance(value.get(key), str):
                return value[key]
        choices = value.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
            message = choices[0].get("message") or {}
            if isinstance(message, Mapping) and isinstance(message.get("content"), str):
                return message["content"]
        messages = value.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[-1], Mapping):
            if isinstance(messages[-1].get("content"), str):
                return messages[-1]["content"]
    return json.dumps(value, ensure_ascii=False, default=str)
