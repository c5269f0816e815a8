"""Name lexicons used to build probes and to swap protected attributes, with their sources.

BERTRAND_MULLAINATHAN_2004: first names from Bertrand, M. and Mullainathan, S. (2004), "Are Emily
and Greg More Employable than Lakisha and Jamal? A Field Experiment on Labor Market
Discrimination", American Economic Review 94(4): 991-1013, chosen there because birth
certificates showed them to be distinctively White or African-American. They signal perceived
race and gender in US English text only, and also carry class and age signals.
"""

from __future__ import annotations

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


def names(race: str | None = None, gender: str | None = None) -> list[str]:
    """Names of the lexicon matching a perceived race and/or gender."""
    return [n for (r, g), pool in BERTRAND_MULLAINATHAN_2004.items()
            if (race is None or r == race) and (gender is None or g == gender) for n in pool]
