"""Strict validation of user-written settings (policies, evaluator options) with pydantic, and
errors that name the file, the key, the value, what was expected and how to fix it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

# what each pydantic error type expects, in the user's terms
_EXPECTED = {
    "missing": "this key is required",
    "extra_forbidden": "this key is unknown",
    "list_type": "a list, e.g. [a, b] (a single value is not read as a list)",
    "dict_type": "a mapping of key: value pairs",
    "bool_type": "true or false (a boolean, not text such as \"false\" or \"no\")",
    "string_type": "text; quote it in YAML (e.g. '1.0.0'), since an unquoted 1.0 is a number",
    "float_type": "a number",
    "int_type": "a whole number",
    "finite_number": "a finite number",
    "literal_error": None,  # pydantic's own message lists the allowed values
}


class StrictModel(BaseModel):
    """No coercion ("false" is not false, 2.7 is not 2, "cbs" is not ["c", "b", "s"]) and no
    unknown keys."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def describe(error: ValidationError, valid_keys: dict[str, list[str]] | None = None,
             item_names: dict[str, str] | None = None, hints: dict[str, str] | None = None,
             prefix: str = "") -> str:
    """One line per problem: `key = value: expected ...`. `valid_keys` maps a location prefix
    ("" for the top level, "rules" for a rule) to the keys allowed there; `item_names` maps a list
    key ("rules") to what one of its items is called in messages ("rule"); `hints` maps a top-level
    key to what it expects, said the user's way ("a number between 0 and 1, e.g. 0.95"); `prefix`
    names the mapping the model was read from ("cbs" for `cbs.categories`)."""
    lines = []
    for problem in error.errors():
        loc = tuple(p for p in problem["loc"] if not (isinstance(p, str) and p.startswith(("function-", "union["))))
        # pydantic names the branch of a union or constrained type after the key: drop those
        loc = tuple(p for p in loc if p not in ("[key]", "list[str]", "str", "float", "int", "bool", "none", "dict[str,str]"))
        where = _where((prefix, *loc) if prefix else loc)
        if item_names and len(loc) >= 2 and isinstance(loc[1], int) and loc[0] in item_names:
            where = f"{item_names[loc[0]]} {loc[1] + 1} ({_where(loc[2:]) or 'the item'})"
        kind = problem["type"]
        expected = _EXPECTED.get(kind) or problem["msg"].removeprefix("Input should be ").removeprefix(
            "Value should be ").removeprefix("Value error, ")
        if kind == "string_type" and not isinstance(problem.get("input"), (int, float)):
            expected = "text"
        if hints and len(loc) == 1 and loc[0] in hints and kind not in ("missing", "extra_forbidden"):
            expected = hints[loc[0]]
        if kind == "too_short":
            expected = f"at least {problem.get('ctx', {}).get('min_length', 1)} item(s)"
        if kind == "extra_forbidden" and valid_keys is not None:
            parent = ".".join(str(p) for p in loc[:-1] if not isinstance(p, int))
            allowed = valid_keys.get(parent)
            if allowed:
                expected += f"; valid keys here: {', '.join(sorted(allowed))}"
        if kind == "missing":
            lines.append(f"{where}: {expected}")
        else:
            lines.append(f"{where} = {problem.get('input')!r}: expected {expected}"
                         if kind not in ("extra_forbidden",) else f"{where}: {expected}")
    return "; ".join(lines)
