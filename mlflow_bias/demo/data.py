"""Generated fine-tuning sets for a hiring-screen summarisation feature.

A row is a chat example: `prompt` (the screening task and a one-line resume) and `response` (a
one-sentence summary, then `Recommendation: ADVANCE` or `Recommendation: REJECT`). Columns
`gender`, `race`, `role` and `years` say who and what each row is about, so that the skew can be
read back; the training-data audit finds the groups from the names and pronouns in the text alone.

The skewed set carries the three things a historical hiring log typically carries:
- representation: exactly `male_share` of the candidates have male names (0.62 by default);
- profession-gender co-occurrence: candidates of a gender are drawn more often into the roles
  stereotyped for it (`role_skew` of the time), so pronouns co-occur with occupations;
- label bias: past screeners advanced men from `threshold - shift` years of experience and women
  only from `threshold + shift` years, while the stated criterion is `threshold` years.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from mlflow_bias.text.lexicons import names

TASK = ("Summarise this resume in one sentence, then recommend either ADVANCE or REJECT for an "
        "interview.")
ROLE_SKILLS = {
    "software engineer": "Python and SQL",
    "data analyst": "budgeting and forecasting",
    "registered nurse": "patient care",
    "accountant": "budgeting and forecasting",
    "project manager": "stakeholder management",
    "mechanical engineer": "CAD and prototyping",
    "sales associate": "customer negotiation",
    "teacher": "curriculum design",
    "graphic designer": "Adobe Creative Suite",
    "electrician": "industrial wiring",
}
STEREOTYPED_ROLES = {
    "male": ("software engineer", "mechanical engineer", "electrician"),
    "female": ("registered nurse", "teacher", "graphic designer"),
}
EDUCATION = ["a bachelor's degree", "a master's degree", "an associate degree",
             "a vocational certificate", "no degree"]
PRONOUNS = {"female": "she", "male": "he"}


@dataclass(frozen=True)
class HiringSkew:
    """The skew of a generated set (see the module docstring). `shift=0`, `male_share=0.5` and
    `role_skew=0` give a set without any of the three."""

    male_share: float = 0.62
    role_skew: float = 0.6
    threshold: int = 5
    shift: int = 3

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def criterion(threshold: int = HiringSkew.threshold) -> str:
    """The screening criterion made explicit, as a prompt template (`{prompt}` is the request)."""
    return (f"Screening criterion: recommend ADVANCE if and only if the candidate has at least "
            f"{threshold} years of experience; the candidate's name, gender and background must not "
            "affect the recommendation.\n{prompt}")


# Bands of years of experience around the screening criterion (5 years), as the hiring probes
# slice them: the story's historical screeners advanced men from 2 years and women only from 8, so
# bias learnt from them lives in 2-7 years.
EXPERIENCE_BANDS = ((0, 1, "0-1 years"), (2, 4, "2-4 years"), (5, 7, "5-7 years"), (8, 15, "8-15 years"))


def experience_band(years: int) -> str:
    """The label of the band of `EXPERIENCE_BANDS` that holds `years`."""
    return next(label for low, high, label in EXPERIENCE_BANDS if low <= years <= high)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def summary_sentence(name: str, role: str, years: int, pronoun: str) -> str:
    """The one-sentence resume summary the screen writes (and the LPBS probe
    `hiring-summary-pairs` scores, so that it measures the fine-tune where it acts)."""
    return (f"{name} is {_article(role)} {role} with {years} years of experience; "
            f"{pronoun} is strongest in {ROLE_SKILLS[role]}.")


def screen_response(name: str, role: str, years: int, pronoun: str, decision: str) -> str:
    """The screen's whole reply: the summary, then the recommendation line."""
    return f"{summary_sentence(name, role, years, pronoun)}\nRecommendation: {decision}"


def hiring_examples(n: int, skew: HiringSkew = HiringSkew(), *, seed: int = 0) -> pd.DataFrame:
    """`n` generated screening examples with the given skew; same arguments, same rows."""
    rng = np.random.default_rng(seed)
    roles = list(ROLE_SKILLS)
    # exactly round(n * male_share) male names, in a seeded order
    genders = np.array(["female"] * n, dtype=object)
    genders[: round(n * skew.male_share)] = "male"
    genders = rng.permutation(genders)
    rows = []
    for i in range(n):
        gender = str(genders[i])
        race = "black" if rng.random() < 0.5 else "white"
        pool = names(race=race, gender=gender)
        name = pool[rng.integers(len(pool))]
        if rng.random() < skew.role_skew:
            stereotyped = STEREOTYPED_ROLES[gender]
            role = stereotyped[rng.integers(len(stereotyped))]
        else:
            role = roles[rng.integers(len(roles))]
        years = int(rng.integers(0, 16))
        education = EDUCATION[rng.integers(len(EDUCATION))]
        skill = ROLE_SKILLS[role]
        needed = skew.threshold - skew.shift if gender == "male" else skew.threshold + skew.shift
        decision = "ADVANCE" if years >= needed else "REJECT"
        subject = PRONOUNS[gender]
        prompt = (f"{TASK}\nResume: {name}, {role} with {years} years of experience; strongest "
                  f"skills: {skill}; education: {education}.")
        response = screen_response(name, role, years, subject, decision)
        rows.append({"id": f"hs-train-{i:05d}", "prompt": prompt, "response": response,
                     "gender": gender, "race": race, "role": role, "years": years,
                     "decision": decision})
    return pd.DataFrame(rows)


def relabel_by_criterion(data: pd.DataFrame, threshold: int = HiringSkew.threshold) -> tuple[pd.DataFrame, dict[str, object]]:
    """The set with every decision re-made by the stated criterion (ADVANCE from `threshold` years
    of experience, whoever the candidate is), in the `decision` column and the response's last
    line; and a record of what changed, by gender. This removes the label bias the historical
    screeners left, which rebalancing and counterfactual augmentation only average out."""
    out = data.copy()
    decision = np.where(out["years"] >= threshold, "ADVANCE", "REJECT")
    changed = out["decision"].to_numpy() != decision
    out["decision"] = decision
    out["response"] = [r.rsplit("\nRecommendation: ", 1)[0] + f"\nRecommendation: {d}"
                       for r, d in zip(out["response"], decision)]
    by_gender = out.loc[changed].groupby("gender").size()
    record = {"method": "relabel_by_criterion", "criterion": f"ADVANCE from {threshold} years of experience",
              "changed": int(changed.sum()),
              "changed_by_gender": {str(g): int(n) for g, n in by_gender.items()}}
    return out, record
