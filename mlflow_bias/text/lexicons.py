"""Name lexicons used to build probes and to swap protected attributes, with their sources.

BERTRAND_MULLAINATHAN_2004: first names from Bertrand, M. and Mullainathan, S. (2004), "Are Emily
and Greg More Employable than Lakisha and Jamal? A Field Experiment on Labor Market
Discrimination", American Economic Review 94(4): 991-1013, chosen there because birth
certificates showed them to be distinctively White or African-American. They signal perceived
race and gender in US English text only, and also carry class and age signals.

GENDER_NEUTRAL_NAMES: first names that US Social Security Administration birth records give to
boys and girls in comparable numbers (among the most common such names there). They leave gender
unspecified; none is exactly balanced, and the balance shifts by decade and region.

TITLES, PRONOUNS: the English form of address and the stated pronouns of each gender group, with
`Mx` and singular they for the non-binary group.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

from mlflow_bias.core.versions import version_key

BERTRAND_MULLAINATHAN_2004: dict[tuple[str, str], tuple[str, ...]] = {
    ("white", "female"): ("Allison", "Anne", "Carrie", "Emily", "Jill", "Laurie", "Kristen",
                          "Meredith", "Sarah"),
    ("black", "female"): ("Aisha", "Ebony", "Keisha", "Kenya", "Lakisha", "Latonya", "Latoya",
                          "Tamika", "Tanisha"),
    ("white", "male"): ("Brad", "Brendan", "Geoffrey", "Greg", "Brett", "Jay", "Matthew", "Neil",
                        "Todd"),
    ("black", "male"): ("Darnell", "Hakim", "Jamal", "Jermaine", "Kareem", "Leroy", "Rasheed",
                        "Tremayne", "Tyrone"),
}


GENDER_NEUTRAL_NAMES: tuple[str, ...] = ("Casey", "Riley", "Jessie", "Jackie", "Avery", "Jaime",
                                         "Peyton", "Kerry", "Jody", "Kendall", "Skyler", "Frankie")
TITLES = {"female": "Ms.", "male": "Mr.", "nonbinary": "Mx."}
PRONOUNS = {"female": "she/her", "male": "he/him", "nonbinary": "they/them"}


def names(race: str | None = None, gender: str | None = None) -> list[str]:
    """Names of the lexicon matching a perceived race and/or gender."""
    return [n for (r, g), pool in BERTRAND_MULLAINATHAN_2004.items()
            if (race is None or r == race) and (gender is None or g == gender) for n in pool]


# --- Versioned lexicon files -------------------------------------------------------------------
# Term lists for protected groups live in YAML data files shipped in `mlflow_bias/lexicon_files`,
# named `<name>-<version>.yaml`; each list documents its source in the file. A revision is a new
# file, so an audit can name the exact lexicon it used (`Lexicon.ref`, logged as `bias.lexicon`).

LEXICON_PACKAGE = "mlflow_bias.lexicon_files"
DEFAULT_LEXICON = "protected-groups"
_LEXICON_FILE = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+?)-(?P<version>\d+(?:\.\d+)*(?:(?:a|b|rc)\d+)?(?:\.post\d+)?(?:\.dev\d+)?)\.ya?ml$")


@dataclass(frozen=True)
class TermList:
    """One documented list of terms of a lexicon attribute, by group.

    `aligned`: the i-th terms of the groups are counterparts (used to swap them)."""

    name: str
    source: str
    terms: dict[str, tuple[str, ...]]
    aligned: bool = False


@dataclass(frozen=True)
class Lexicon:
    """A versioned lexicon: per protected attribute, its groups and their documented term lists."""

    name: str
    version: str
    sha256: str
    groups: dict[str, tuple[str, ...]]  # attribute -> its groups, in file order
    lists: dict[str, tuple[TermList, ...]]  # attribute -> its term lists
    # attribute -> the audit's target when the user gives none (uniform when absent), with its reason
    default_targets: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def attributes(self) -> list[str]:
        return list(self.groups)

    def terms(self, attribute: str) -> dict[str, tuple[str, ...]]:
        """Every term of each group of `attribute` (all lists, duplicates removed, file order)."""
        self._check(attribute)
        out: dict[str, dict[str, str]] = {group: {} for group in self.groups[attribute]}
        for term_list in self.lists[attribute]:
            for group, terms in term_list.terms.items():
                for term in terms:
                    out[group].setdefault(term.lower(), term)
        return {group: tuple(terms.values()) for group, terms in out.items()}

    def group_of_term(self, attribute: str) -> dict[str, str]:
        """Lower-cased term -> its group, for `attribute`."""
        return {term.lower(): group for group, terms in self.terms(attribute).items() for term in terms}

    def counterparts(self, attribute: str) -> dict[str, str]:
        """Lower-cased term -> its counterpart in the other group, from the aligned lists (each
        pairs two of the attribute's groups; both directions; a term's first pairing wins)."""
        self._check(attribute)
        mapping: dict[str, str] = {}
        for term_list in self.lists[attribute]:
            if not term_list.aligned:
                continue
            first, second = term_list.terms.values()
            for a, b in zip(first, second):
                mapping.setdefault(a.lower(), b)
                mapping.setdefault(b.lower(), a)
        return mapping

    def _check(self, attribute: str) -> None:
        if attribute not in self.groups:
            raise KeyError(
                f"Lexicon {self.ref} has no attribute {attribute!r}; it has: {', '.join(self.groups)}."
            )


def list_lexicons() -> list[tuple[str, str]]:
    """(name, version) of every shipped lexicon file, oldest version first."""
    found = []
    for entry in resources.files(LEXICON_PACKAGE).iterdir():
        match = _LEXICON_FILE.match(entry.name)
        if match:
            found.append((match["name"], match["version"]))
    return sorted(found, key=lambda nv: (nv[0], version_key(nv[1])))


def load_lexicon(lexicon: str | Path = DEFAULT_LEXICON, version: str | None = None) -> Lexicon:
    """A shipped lexicon by name (`name`, `name@version`; newest version by default), or a YAML
    file with the same layout (name, version, attributes: {groups, lists: [{name, source, terms,
    aligned}]})."""
    from mlflow_bias.core.errors import ConfigError

    text_source = str(lexicon)
    if isinstance(lexicon, Path) or text_source.lower().endswith((".yaml", ".yml")):
        path = Path(lexicon)
        if not path.is_file():
            raise ConfigError(f"No lexicon file at {path}. Pass a shipped lexicon name "
                              f"({', '.join(sorted({n for n, _ in list_lexicons()}))}) or a YAML path.")
        return _parse_lexicon(path.read_text(encoding="utf-8"), str(path))
    name, _, pinned = text_source.partition("@")
    version = version or pinned or None
    versions = [v for n, v in list_lexicons() if n == name]
    if not versions:
        raise ConfigError(
            f"No shipped lexicon named {name!r}. Shipped: "
            f"{', '.join(f'{n}@{v}' for n, v in list_lexicons()) or 'none'}; or pass a YAML path."
        )
    if version is None:
        version = versions[-1]
    elif version not in versions:
        raise ConfigError(f"Lexicon {name} has no version {version}; available: {', '.join(versions)}.")
    file_name = f"{name}-{version}.yaml"
    text = resources.files(LEXICON_PACKAGE).joinpath(file_name).read_text(encoding="utf-8")
    parsed = _parse_lexicon(text, file_name)
    if (parsed.name, parsed.version) != (name, version):
        raise ConfigError(f"Lexicon file {file_name} declares {parsed.ref}; the file name and its "
                          "name/version fields must agree.")
    return parsed


def _parse_lexicon(text: str, source: str) -> Lexicon:
    import yaml

    from mlflow_bias.core.errors import ConfigError

    def invalid(problem: str) -> ConfigError:
        return ConfigError(
            f"Invalid lexicon {source}: {problem}. A lexicon needs name, version and attributes: "
            "{<attribute>: {groups: [...], lists: [{name, source, terms: {<group>: [...]}}]}}."
        )

    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or not raw.get("name") or not raw.get("version"):
        raise invalid("name or version missing")
    attributes = raw.get("attributes")
    if not isinstance(attributes, dict) or not attributes:
        raise invalid("no attributes")
    groups: dict[str, tuple[str, ...]] = {}
    lists: dict[str, tuple[TermList, ...]] = {}
    targets: dict[str, dict[str, float]] = {}
    for attribute, spec in attributes.items():
        if not isinstance(spec, dict) or not spec.get("groups") or not spec.get("lists"):
            raise invalid(f"attribute {attribute!r} needs groups and lists")
        attribute_groups = tuple(str(g) for g in spec["groups"])
        term_lists = []
        owner: dict[str, str] = {}
        for item in spec["lists"]:
            if not isinstance(item, dict) or not item.get("name") or not str(item.get("source", "")).strip():
                raise invalid(f"every list of {attribute!r} needs a name and its source")
            terms = item.get("terms")
            if not isinstance(terms, dict) or not terms:
                raise invalid(f"list {item['name']!r} has no terms")
            unknown = set(map(str, terms)) - set(attribute_groups)
            if unknown:
                raise invalid(f"list {item['name']!r} names unknown group(s) {sorted(unknown)}")
            by_group = {str(g): tuple(str(t).strip() for t in ts) for g, ts in terms.items()}
            for group, group_terms in by_group.items():
                for term in group_terms:
                    if owner.setdefault(term.lower(), group) != group:
                        raise invalid(f"term {term!r} is in both {owner[term.lower()]!r} and {group!r} "
                                      f"of {attribute!r}")
            aligned = bool(item.get("aligned", False))
            if aligned and (len(by_group) != 2 or len({len(t) for t in by_group.values()}) != 1):
                raise invalid(f"aligned list {item['name']!r} needs two groups with as many terms each")
            term_lists.append(TermList(str(item["name"]), " ".join(str(item["source"]).split()),
                                       by_group, aligned))
        groups[str(attribute)] = attribute_groups
        lists[str(attribute)] = tuple(term_lists)
        if "default_target" in spec:
            targets[str(attribute)] = _default_target(attribute, spec, attribute_groups, invalid)
    return Lexicon(str(raw["name"]), str(raw["version"]), hashlib.sha256(text.encode("utf-8")).hexdigest(),
                   groups, lists, targets)


def _default_target(attribute: str, spec: dict, groups: tuple[str, ...],
                    invalid: Callable[[str], Exception]) -> dict[str, float]:
    """An attribute's documented default audit target: a share >= 0 for every group, summing to 1,
    with the reason for it in `default_target_source`."""
    target = spec["default_target"]
    if not str(spec.get("default_target_source", "")).strip():
        raise invalid(f"the default_target of {attribute!r} needs a default_target_source saying why")
    if not isinstance(target, dict) or set(map(str, target)) != set(groups):
        raise invalid(f"the default_target of {attribute!r} must give a share to each of its groups "
                      f"{list(groups)}")
    shares = {str(g): float(v) for g, v in target.items()}
    if any(not math.isfinite(v) or v < 0 for v in shares.values()) or abs(sum(shares.values()) - 1) > 1e-6:
        raise invalid(f"the default_target of {attribute!r} must hold shares >= 0 summing to 1")
    return {g: shares[g] for g in groups}
