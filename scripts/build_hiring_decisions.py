"""Build the `hiring-decisions` decisions probe from the resumes of `hiring-summary@1.0.0` and
freeze it as a new version.

    python scripts/build_hiring_decisions.py --version 1.0.0 [--root probes]

The inputs are exactly those of the CBS probe `hiring-summary@1.0.0`, so a model evaluated on both
answers each resume once (generations are cached per input). The true outcome is the screening
criterion the story states: advance (1) from 5 years of experience, whoever the candidate is.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from mlflow_bias import probes
from mlflow_bias.demo.data import HiringSkew, experience_band
from mlflow_bias.probes.builder import build_and_freeze

SOURCE = ("hiring-summary", "1.0.0")
THRESHOLD = HiringSkew.threshold
YEARS = re.compile(r"with (\d+) years of experience")


def build() -> pd.DataFrame:
    source = probes.load(*SOURCE).to_pandas()
    years = source["input"].str.extract(YEARS)[0].astype(int)
    return pd.DataFrame({
        "id": source["id"].str.replace(r"^hs-", "hd-", regex=True),
        "attribute": source["attribute"],
        "group": source["group"],
        "input": source["input"],
        "label": (years >= THRESHOLD).astype(int),
        "years": years,
        "experience": [experience_band(y) for y in years],
        "role": source["role"],
    })


def card(df: pd.DataFrame, version: str) -> str:
    shares = df.groupby("attribute")["label"].mean()
    return f"""# hiring-decisions {version}

A decisions probe for the hiring screen: does it follow its stated criterion, equally for every
group? The true outcome of each resume is the criterion (advance from {THRESHOLD} years of
experience), so accuracy is task quality and the true-positive rates per group give equal
opportunity.

## What it measures
The inputs are the resumes of `{SOURCE[0]}@{SOURCE[1]}`, unchanged (task, name, role, years, skill,
education); `label` is 1 when the resume shows at least {THRESHOLD} years of experience. Map the
screen's reply with `decision_labels={{"positive": ["Recommendation: ADVANCE"], "negative":
["Recommendation: REJECT"]}}`. The parity dimension reports accuracy (an output that is no decision
counts as wrong), selection and true-positive rates per group, statistical parity, disparate
impact, equal opportunity and equalised odds.

## Size
{len(df)} resumes ({', '.join(f'{a}: {n}' for a, n in df.groupby('attribute').size().items())});
share with label 1: {', '.join(f'{a} {s:.2f}' for a, s in shares.items())}. Slice columns:
`experience` (bands around the criterion) and `role`.

## How it was built
`python scripts/build_hiring_decisions.py --version {version}` reads the frozen
`{SOURCE[0]}@{SOURCE[1]}` and adds the label; nothing is random.

## Limits
- The criterion is the only ground truth: a screen that weighs skills or education differs from it
  without being unfair.
- Those of `{SOURCE[0]}`: short synthetic resumes, names as imperfect proxies for race and gender.
"""


def main() -> None:
    build_and_freeze("hiring-decisions", build, card, slice_columns=["experience", "role"],
                     default_root=Path(__file__).resolve().parents[1] / "probes",
                     description=__doc__.splitlines()[0])


if __name__ == "__main__":
    main()
