"""Diverse prompts: expanding probes along axes keeps them counterfactual and makes slices."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

import mlflow_bias.probes as probes
from mlflow_bias.core.errors import ProbeSchemaError
from mlflow_bias.probes.expand import FORMALITY, PERSONA, Axis, expand

ROOT = Path(__file__).resolve().parents[1]
REGISTER = Axis("register", {"plain": "{text}", "formal": "Dear team, {text} Regards.",
                             "casual": "hey {text} thx"})
BRACKET = Axis("bracket", {"none": "{text}", "square": "[{text}]"})


def _sets(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame([{"id": f"s{s}-{g}", "attribute": "gender", "set_id": f"s{s}", "group": g,
                          "input": f"Assess {name} for case {s}."}
                         for s in range(n) for g, name in (("female", "Emily"), ("male", "Greg"))])


def test_product_writes_every_combination_and_keeps_sets_complete():
    out = expand(_sets(3), [REGISTER, BRACKET], mode="product")
    assert len(out) == 3 * 2 * 6
    assert probes.validate(out).name == "counterfactual_sets" and out["id"].is_unique
    row = out[(out["id"] == "s1-male|register=formal|bracket=square")].iloc[0]
    assert row["input"] == "[Dear team, Assess Greg for case 1. Regards.]"  # axes applied in order
    assert row["set_id"] == "s1|register=formal|bracket=square"
    assert (row["register"], row["bracket"]) == ("formal", "square")
    # the two groups of every new set got the same rewrite: only the name differs
    for _, part in out.groupby("set_id"):
        assert len({t.replace("Emily", "X").replace("Greg", "X") for t in part["input"]}) == 1


def test_sample_is_seeded_per_set_and_draws_distinct_combinations():
    a = expand(_sets(), [REGISTER, BRACKET], per_item=2, seed=1)
    b = expand(_sets(), [REGISTER, BRACKET], per_item=2, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 6 * 2 * 2 and a.groupby("set_id")["group"].count().eq(2).all()
    per_base = a.assign(base=a["id"].str.split("-").str[0]).groupby("base")["set_id"].nunique()
    assert per_base.eq(2).all()  # two different combinations per original set
    c = expand(_sets(), [REGISTER, BRACKET], per_item=2, seed=2)
    assert set(c["set_id"]) != set(a["set_id"])


def test_pairs_rewrite_both_sides_and_priors_alike(tiny_probe):
    pairs = tiny_probe.head(4).assign(prior_b=lambda df: df["prior_b"].where(df.index > 0, ""),
                                      prior_a=lambda df: df["prior_a"].where(df.index > 0, ""))
    out = expand(pairs, ["formality"], mode="product")
    casual = out[out["formality"] == "casual"].reset_index(drop=True)
    assert casual.loc[1, "text_a"] == FORMALITY.apply("casual", pairs.loc[1, "text_a"])
    assert casual.loc[1, "text_b"] == FORMALITY.apply("casual", pairs.loc[1, "text_b"])
    assert casual.loc[0, "prior_a"] == ""  # an empty prior stays empty
    assert probes.validate(out).name == "counterfactual_pairs"


@pytest.mark.parametrize("call, message", [
    (lambda: Axis("tone", {"a": "no slot"}), "must contain '{text}' exactly once"),
    (lambda: Axis("group", {"a": "{text}"}), "is a probe column"),
    (lambda: expand(_sets(), ["mood"]), "Unknown axis 'mood'"),
    (lambda: expand(_sets().assign(persona="x"), [PERSONA]), "already has a column 'persona'"),
    (lambda: expand(_sets(), [REGISTER], per_item=4), "per_item must be between 1 and 3"),
    (lambda: expand(_sets(), []), "at least one axis"),
])
def test_bad_expansions(call, message):
    with pytest.raises(ProbeSchemaError, match=message):
        call()


def test_shipped_diverse_hiring_probe_contract_and_rebuild():
    info = probes.resolve("hiring-summary-diverse", "1.0.0")
    assert info.slice_columns == ["language", "formality", "persona", "role"]
    df = probes.load("hiring-summary-diverse", "1.0.0").to_pandas()
    assert probes.validate(df).name == "counterfactual_sets" and len(df) == 800
    assert df.groupby("language")["set_id"].nunique().to_dict() == {"en": 200, "es": 200}
    assert set(df["formality"]) == {"plain", "formal", "casual"}
    assert set(df["persona"]) == {"none", "recruiter", "hiring-manager", "compliance"}
    for _, part in df.groupby("set_id"):  # within a set only the name differs
        assert len({t.replace(n, "NAME") for t, n in zip(part["input"], part["name"])}) == 1
    assert df.loc[df["language"] == "es", "input"].str.contains("currículum").all()
    spec = importlib.util.spec_from_file_location("hsd", ROOT / "scripts" / "build_hiring_summary_diverse.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert probes.content_digest(module.build()) == info.content_digest
