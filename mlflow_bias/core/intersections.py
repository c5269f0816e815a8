"""Intersectional attributes: several protected attributes scored together as one.

A probe names an intersection as an attribute whose parts are joined by `_x_` (`gender_x_race`);
each of its groups joins one group of every part, in the attribute's order (`female_x_black`).
The intersection is scored like any attribute, its groups being the cells of the cross product;
the marginal of a part is the same rows grouped by that part alone, so the two can be compared
(bias is often largest where attributes meet, and a marginal can hide it).
"""

from __future__ import annotations

import itertools
from typing import Iterable, Sequence

import pandas as pd

from mlflow_bias.core.groups import group_labels

SEPARATOR = "_x_"


def attribute_parts(attribute: str) -> tuple[str, ...]:
    """The attributes an attribute's name joins: ('gender', 'race') for `gender_x_race`, the
    attribute alone for a plain one."""
    return tuple(str(attribute).split(SEPARATOR))


def is_intersection(attribute: str) -> bool:
    return len(attribute_parts(attribute)) > 1


def group_parts(group: str) -> tuple[str, ...]:
    """The groups a cell's label joins: ('female', 'black') for `female_x_black`."""
    return tuple(str(group).split(SEPARATOR))


def marginal_labels(cells: Iterable[str], position: int) -> list[str]:
    """Each cell's group of the part at `position` (the rows' marginal groups)."""
    return [group_parts(cell)[position] for cell in cells]


def _name_problem(attribute: str) -> str | None:
    parts = attribute_parts(attribute)
    if any(not part.strip() for part in parts):
        return (f"attribute {attribute!r} has an empty part; an intersection joins attribute names "
                f"with {SEPARATOR!r}, e.g. 'gender{SEPARATOR}race'")
    repeated = sorted({part for part in parts if parts.count(part) > 1})
    if repeated:
        return (f"attribute {attribute!r} names {', '.join(map(repr, repeated))} more than once; an "
                "intersection joins different attributes")
    return None


def intersection_problems(df: pd.DataFrame, group_columns: Sequence[str] = ("group",)) -> list[str]:
    """Everything wrong with a probe's intersectional attributes, each problem naming its fix:
    an intersection named with an empty or repeated part; a group whose number of parts is not
    its attribute's (`female_x_black` under `gender`, or `female` under `gender_x_race`); a part
    that is no group of that attribute where the probe also scores the attribute alone (a typo,
    or the parts in another order than the attribute's); a cell of the cross product with no
    rows, whose rate would be undefined."""
    problems: list[str] = []
    attributes = group_labels(df["attribute"])
    alone: dict[str, set[str]] = {}
    for attribute in sorted(set(attributes)):
        if not is_intersection(attribute):
            rows = df[attributes == attribute]
            alone[attribute] = {g for column in group_columns for g in group_labels(rows[column])}
    for attribute in sorted(set(attributes)):
        rows = df[attributes == attribute]
        groups = sorted({g for column in group_columns for g in group_labels(rows[column]) if g})
        parts = attribute_parts(attribute)
        if len(parts) == 1:
            joined = [g for g in groups if len(group_parts(g)) > 1]
            if joined:
                problems.append(f"attribute {attribute!r} has intersectional group(s) "
                                f"{', '.join(map(repr, joined[:3]))}; name the attribute after "
                                f"its parts, e.g. '{attribute}{SEPARATOR}race', or give plain groups")
            continue
        name_problem = _name_problem(attribute)
        if name_problem:
            problems.append(name_problem)
            continue
        wrong = [g for g in groups if len(group_parts(g)) != len(parts)]
        if wrong:
            example = SEPARATOR.join(f"<{part} group>" for part in parts)
            problems.append(f"attribute {attribute!r} joins {len(parts)} attributes but group(s) "
                            f"{', '.join(map(repr, wrong[:3]))} have a different number of parts; "
                            f"write each group as {example}")
            continue
        misnamed: list[str] = []
        for position, part in enumerate(parts):
            known = alone.get(part)
            values = sorted({group_parts(g)[position] for g in groups})
            unknown = [v for v in values if known and v not in known]
            if unknown:
                elsewhere = [p for p in parts if p != part and alone.get(p) and set(unknown) <= alone[p]]
                hint = (f"; they are {elsewhere[0]!r} groups: write the parts in the attribute's order "
                        f"({', '.join(parts)})" if elsewhere else
                        f"; {part!r} groups are {', '.join(sorted(known))}")
                misnamed.append(f"attribute {attribute!r}: {', '.join(map(repr, unknown[:3]))} in "
                                f"part {position + 1} is no {part!r} group of this probe{hint}")
        if misnamed:
            problems += misnamed
            continue
        seen = set(groups)
        values = [sorted({group_parts(g)[i] for g in groups}) for i in range(len(parts))]
        empty = [SEPARATOR.join(cell) for cell in itertools.product(*values)
                 if SEPARATOR.join(cell) not in seen]
        if empty:
            problems.append(f"attribute {attribute!r}: cell(s) {', '.join(map(repr, empty[:5]))} "
                            "have no rows, and with 0 rows a cell's rate is undefined; add items "
                            "for every combination of the parts' groups, or leave out the groups "
                            "that cannot be covered")
    return problems
