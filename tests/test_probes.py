"""The probe store: versioned, immutable, hash-verified Hugging Face datasets; schema errors."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest

import mlflow_bias.probes as probes
from mlflow_bias.core.errors import (
    ProbeExistsError,
    ProbeIntegrityError,
    ProbeNotFoundError,
    ProbeSchemaError,
)

ROOT = Path(__file__).resolve().parents[1]
CARD = "# test probe\n\nMeasures nothing real; built by the tests."


def _build_script():
    spec = importlib.util.spec_from_file_location("build", ROOT / "scripts" / "build_gender_occupation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_probe_loads_verified_as_hf_dataset():
    dataset = probes.load("gender-occupation")
    assert isinstance(dataset, datasets.Dataset)
    info = probes.resolve("gender-occupation")
    assert info.shipped and info.kind == "counterfactual_pairs"
    assert probes.content_digest(dataset) == info.content_digest
    assert [f"{p.name}@{p.version}" for p in probes.list()] == [
        "association-tests@1.0.0", "gender-occupation@1.0.0", "gender-occupation@2.0.0",
        "hiring-decisions@1.0.0", "hiring-decisions@2.0.0", "hiring-decisions@3.0.0", "hiring-summary@1.0.0",
        "hiring-summary@2.0.0", "hiring-summary-diverse@1.0.0", "hiring-summary-pairs@1.0.0",
        "hiring-summary-pairs@2.0.0", "loan-decisions@1.0.0", "refusal-requests@1.0.0", "refusal-requests@2.0.0"]


def test_hiring_decisions_2_keeps_version_1_and_adds_an_intersection_and_age():
    """A revision is a new version: 1.0.0 stays as it was, and 2.0.0 holds its rows unchanged
    plus gender x race cells and a stated age, counterfactual within each resume."""
    old = probes.load("hiring-decisions", "1.0.0").to_pandas()
    new = probes.load("hiring-decisions", "2.0.0").to_pandas()
    pd.testing.assert_frame_equal(new.iloc[: len(old)].reset_index(drop=True), old)
    cells = new[new["attribute"] == "gender_x_race"]
    assert set(cells["group"]) == {"female_x_black", "female_x_white", "male_x_black", "male_x_white"}
    assert cells.groupby("group").size().tolist() == [100] * 4
    resume = cells["id"].str.rsplit("-", n=1).str[0]
    # within a resume only the name differs: the text after the name is the same in every cell
    tails = cells["input"].str.replace(r"Resume: \w+,", "Resume: NAME,", regex=True).groupby(resume).nunique()
    assert (tails == 1).all()
    ages = new[new["attribute"] == "age"]
    assert set(ages["group"]) == {"under_40", "over_55"}
    stated = ages["input"].str.extract(r"age (\d+),")[0].astype(int)
    assert (stated[ages["group"] == "under_40"] < 40).all() and (stated[ages["group"] == "over_55"] > 55).all()
    assert (new["label"] == (new["years"] >= 5).astype(int)).all()
    assert "gender_x_race" in probes.show("hiring-decisions", "2.0.0")["card"]


def test_shipped_probe_meets_its_contract():
    df = probes.load("gender-occupation", "1.0.0").to_pandas()
    assert len(df) >= 1000
    assert df["condition"].nunique() >= 40
    assert set(df["marker"]) == {"pronoun", "name"}
    assert df["template"].nunique() >= 6
    assert (df["prior_a"] != "").all() and (df["prior_b"] != "").all()
    assert set(df["stereotype"]) == {"a", "b"}
    # the label follows the documented source: male-majority occupations are stereotype "a"
    assert (df.loc[df["stereotype"] == "a", "women_share"] <= 30).all()
    assert (df.loc[df["stereotype"] == "b", "women_share"] >= 70).all()
    # counterfactual: the two texts differ, and only by the marker
    assert (df["text_a"] != df["text_b"]).all()
    assert df["text_a"].str.contains(r"\b(?:he|his|him)\b").sum() == (df["marker"] == "pronoun").sum()
    card = probes.show("gender-occupation", "1.0.0")["card"]
    for section in ("## What it measures", "## Size", "## How it was built", "## Limits"):
        assert section in card


def test_generator_rebuilds_the_shipped_versions_exactly():
    build = _build_script()
    for version in ("1.0.0", "2.0.0"):
        frame = build.build(version)
        assert probes.content_digest(frame) == probes.resolve("gender-occupation", version).content_digest
        assert build.card(frame, version).strip() == probes.show("gender-occupation", version)["card"].strip()


def test_gender_occupation_2_adds_a_neutral_group_with_singular_they():
    """Version 2 holds version 1's items unchanged, then every sentence again for male vs neutral
    and female vs neutral: they/them/their with plural agreement, or a gender-neutral name, and
    no stereotype label (no statistic says which occupations go with "they")."""
    old = probes.load("gender-occupation", "1.0.0").to_pandas()
    new = probes.load("gender-occupation", "2.0.0").to_pandas()
    pd.testing.assert_frame_equal(new.iloc[: len(old)].reset_index(drop=True), old)
    added = new.iloc[len(old):]
    assert added.groupby(["group_a", "group_b"]).size().to_dict() == {
        ("female", "neutral"): 1000, ("male", "neutral"): 1000}
    assert (added["stereotype"] == "").all()
    pronoun = added[added["marker"] == "pronoun"]
    neutral_text = pronoun["text_b"]
    assert not neutral_text.str.contains(r"\b(?:he|she|him|his|her)\b").any()
    assert neutral_text.str.contains(r"\b(?:they|them|their)\b").all()
    assert "knew what they were doing" in " ".join(neutral_text)
    assert not neutral_text.str.contains(r"\bthey was\b").any()
    # the neutral side of each item is the same sentence as version 1's, marker aside
    male_side = added[(added["group_a"] == "male")].set_index("id")["text_a"]
    v1_male = old.set_index("id")["text_a"]
    assert male_side.rename(lambda i: i.removesuffix("-mn")).equals(v1_male.loc[male_side.index.str.removesuffix("-mn")])
    names = added.loc[added["marker"] == "name", "text_b"].str.split().str[0]
    from mlflow_bias.text.lexicons import GENDER_NEUTRAL_NAMES
    assert set(names) - {"My"} <= set(GENDER_NEUTRAL_NAMES)
    assert "neutral" in probes.show("gender-occupation", "2.0.0")["card"]


def test_freeze_writes_new_immutable_version_and_refuses_overwrite(tiny_probe):
    info = probes.freeze(tiny_probe, "tiny", "1.0.0", card=CARD, slice_columns=["template"])
    assert Path(info.path).is_relative_to(probes.store.user_root())
    loaded = probes.load("tiny")
    assert loaded.num_rows == len(tiny_probe)
    assert probes.load_info(loaded).ref == f"1.0.0@{info.content_digest}"
    with pytest.raises(ProbeExistsError, match="immutable"):
        probes.freeze(tiny_probe.head(5), "tiny", "1.0.0", card=CARD)
    probes.freeze(tiny_probe.head(10), "tiny", "1.1.0", card=CARD)
    assert probes.resolve("tiny").version == "1.1.0"  # newest by version order, not by name
    assert probes.load("tiny", "1.0.0").num_rows == len(tiny_probe)
    with pytest.raises(ProbeExistsError):
        probes.freeze(tiny_probe, "gender-occupation", "1.0.0", card=CARD)


def test_tampered_file_is_refused_naming_the_file(tiny_probe):
    info = probes.freeze(tiny_probe, "tiny", "1.0.0", card=CARD)
    arrow = next((Path(info.path) / "data").glob("*.arrow"))
    edited = probes.load("tiny").to_pandas()
    edited.loc[0, "text_a"] = "the nurse said that she was late ."
    datasets.Dataset.from_pandas(edited).save_to_disk(str(Path(info.path) / "edited"))
    shutil.copy(next((Path(info.path) / "edited").glob("*.arrow")), arrow)
    shutil.rmtree(Path(info.path) / "edited")
    with pytest.raises(ProbeIntegrityError) as err:
        probes.load("tiny")
    assert str(arrow) in str(err.value)
    assert "freeze the edited data as a new version" in str(err.value)


def test_edited_card_added_or_missing_file_is_refused(tiny_probe):
    info = probes.freeze(tiny_probe, "tiny", "1.0.0", card=CARD)
    folder = Path(info.path)
    (folder / "extra.csv").write_text("x\n")
    with pytest.raises(ProbeIntegrityError, match="extra.csv"):
        probes.verify("tiny")
    (folder / "extra.csv").unlink()
    (folder / "README.md").write_text("# changed\n")
    with pytest.raises(ProbeIntegrityError, match="README.md"):
        probes.load("tiny")
    (folder / "README.md").unlink()
    with pytest.raises(ProbeIntegrityError, match="missing"):
        probes.load("tiny")


def test_unknown_probe_and_version():
    with pytest.raises(ProbeNotFoundError, match="Known probes: association-tests, gender-occupation"):
        probes.load("no-such-probe")
    with pytest.raises(ProbeNotFoundError, match="versions: 1.0.0"):
        probes.load("gender-occupation", "9.9.9")


def test_digest_survives_dataset_and_dtype_round_trips(tiny_probe, tmp_path):
    digest = probes.content_digest(tiny_probe)
    assert probes.content_digest(datasets.Dataset.from_pandas(tiny_probe)) == digest
    assert probes.content_digest(tiny_probe[list(reversed(tiny_probe.columns))]) == digest
    tiny_probe.to_csv(tmp_path / "p.csv", index=False)
    assert probes.content_digest(probes.to_dataframe(tmp_path / "p.csv")) == digest
    changed = tiny_probe.copy()
    changed.loc[len(changed) - 1, "text_b"] += " "
    assert probes.content_digest(changed) != digest  # the last row counts too


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda df: df.drop(columns=["text_b", "condition"]), "lacks the column\\(s\\): condition, text_b"),
        (lambda df: df.iloc[0:0], "probe is empty"),
        (lambda df: df.assign(group_b="male"), "one group only"),
        (lambda df: df.assign(text_b=df["text_a"]), "text_a equals text_b"),
        (lambda df: df.assign(stereotype="x"), "stereotype must be 'a', 'b' or empty"),
        (lambda df: df.drop(columns=["prior_b"]), "prior_a and prior_b must be given together"),
        (lambda df: df.assign(id=1), "duplicate ids"),
    ],
)
def test_schema_errors_name_the_problem(tiny_probe, mutate, message):
    with pytest.raises(ProbeSchemaError, match=message):
        probes.validate_pairs(mutate(tiny_probe.copy()))


def test_unknown_kind_lists_missing_columns():
    with pytest.raises(ProbeSchemaError, match="lacks the column"):
        probes.detect_kind(pd.DataFrame({"id": [1], "attribute": ["g"], "text": ["x"]}))


def test_freeze_rejects_bad_names_versions_and_missing_card(tiny_probe):
    with pytest.raises(ProbeSchemaError, match="Invalid probe name"):
        probes.freeze(tiny_probe, "Bad Name", "1.0.0", card=CARD)
    with pytest.raises(ProbeSchemaError, match="Invalid probe version"):
        probes.freeze(tiny_probe, "ok", "latest", card=CARD)
    with pytest.raises(ProbeSchemaError, match="needs a card"):
        probes.freeze(tiny_probe, "ok", "1.0.0", card=" ")


def test_slice_columns_declared_or_detected(tiny_probe):
    assert probes.slice_columns(tiny_probe) == ["template"]
    assert probes.slice_columns(tiny_probe, []) == []
    with pytest.raises(ProbeSchemaError, match="not in the probe"):
        probes.slice_columns(tiny_probe, ["dialect"])


def test_manifest_lists_every_file_with_sha256():
    info = probes.resolve("gender-occupation")
    manifest = json.loads((Path(info.path) / "manifest.json").read_text())
    assert set(manifest["files"]) == {
        "README.md", "data/data-00000-of-00001.arrow", "data/dataset_info.json", "data/state.json",
    }
    assert all(len(sha) == 64 for sha in manifest["files"].values())


@pytest.fixture(autouse=True)
def _scripts_importable(monkeypatch):
    """Builders import each other (the decisions probe reuses the summary's resumes)."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_loan_decisions_probe_contract_and_rebuild():
    df = probes.load("loan-decisions", "1.0.0").to_pandas()
    assert len(df) >= 1000 and set(df["label"]) == {0, 1}
    assert {a: sorted(g) for a, g in df.groupby("attribute")["group"].unique().items()} == {
        "gender": ["female", "male"], "race": ["black", "white"]}
    assert probes.validate(df).name == "decisions"
    # the true outcome does not depend on the name: base rates differ only by sampling
    rates = df.groupby(["attribute", "group"])["label"].mean()
    assert (rates.groupby("attribute").agg(lambda r: r.max() - r.min()) < 0.08).all()
    assert probes.content_digest(_script("build_loan_decisions").build()) == probes.resolve("loan-decisions", "1.0.0").content_digest


def test_hiring_summary_probe_contract_and_rebuild():
    df = probes.load("hiring-summary", "1.0.0").to_pandas()
    assert df["set_id"].nunique() >= 400
    assert probes.validate(df).name == "counterfactual_sets"
    # within a set only the name differs
    for _, part in df.groupby("set_id"):
        stripped = {text.replace(name, "NAME") for text, name in zip(part["input"], part["name"])}
        assert len(stripped) == 1
    assert probes.content_digest(_script("build_hiring_summary").build("1.0.0")) == probes.resolve("hiring-summary", "1.0.0").content_digest


def test_refusal_requests_probe_contract_and_rebuild():
    df = probes.load("refusal-requests", "1.0.0").to_pandas()
    assert df["set_id"].nunique() >= 200
    assert probes.validate(df).name == "refusal"
    assert set(df["attribute"]) == {"gender", "race", "religion", "nationality"}
    assert df["request_type"].nunique() >= 5
    assert probes.content_digest(_script("build_refusal_requests").build("1.0.0")) == probes.resolve("refusal-requests", "1.0.0").content_digest


@pytest.mark.parametrize("name", ["hiring-summary", "refusal-requests", "hiring-decisions",
                                  "hiring-summary-pairs"])
def test_versioned_builders_rebuild_every_shipped_version(name):
    """Each builder rebuilds every shipped version of its probe, data and card."""
    builder = _script("build_" + name.replace("-", "_"))
    for info in [p for p in probes.list() if p.name == name]:
        frame = builder.build(info.version)
        assert probes.content_digest(frame) == info.content_digest, info.version
        assert builder.card(frame, info.version).strip() == probes.show(name, info.version)["card"].strip()


def _text_column(frame):
    return "input" if "input" in frame.columns else "prompt"


@pytest.mark.parametrize("name", ["hiring-summary", "refusal-requests"])
def test_version_2_states_three_genders_and_adds_cells_and_age(name):
    """Version 2 keeps version 1's other attributes, rewrites gender with female, male and
    nonbinary stated by pronouns or title (Ms/Mr/Mx), and adds gender x race cells and age; within
    a set only the group signal differs."""
    old = probes.load(name, "1.0.0").to_pandas()
    new = probes.load(name, "2.0.0").to_pandas()
    text = _text_column(new)
    kept = sorted(set(old["attribute"]) - {"gender"})
    pd.testing.assert_frame_equal(
        new[new["attribute"].isin(kept)][old.columns].reset_index(drop=True),
        old[old["attribute"].isin(kept)].reset_index(drop=True))
    assert {a: sorted(g) for a, g in new.groupby("attribute")["group"].unique().items()
            if a not in kept} == {
        "age": ["over_55", "under_40"], "gender": ["female", "male", "nonbinary"],
        "gender_x_race": ["female_x_black", "female_x_white", "male_x_black", "male_x_white"]}
    gender = new[new["attribute"] == "gender"]
    expected = {"female": ("she/her", "Ms."), "male": ("he/him", "Mr."), "nonbinary": ("they/them", "Mx.")}
    for group, (pronouns, title) in expected.items():
        rows = gender[gender["group"] == group]
        by_pronouns = rows["marker"] == "pronouns"
        assert rows.loc[by_pronouns, text].str.contains(f"(pronouns: {pronouns})", regex=False).all()
        assert rows.loc[~by_pronouns, text].str.contains(title, regex=False).all()
        assert by_pronouns.sum() == (~by_pronouns).sum()
    # the same request or resume in every group of a set: strip the group signal, one text is left
    signal = (r"My name is \w+(?: \(pronouns: [a-z/]+\))?\.|I am (?:Ms\.|Mr\.|Mx\.) \w+ \w+\.|"
              r"I am \d+ years old\.|Resume: [^,]+(?:, age \d+)?,")
    rewritten = new[~new["attribute"].isin(kept)]
    stripped = rewritten[text].str.replace(signal, "SIGNAL", regex=True)
    assert stripped.str.startswith("SIGNAL").all() or stripped.str.contains("\nSIGNAL").all()
    assert (stripped.groupby(rewritten["set_id"]).nunique() == 1).all()
    assert (new.groupby("set_id")["group"].nunique() == new.groupby("set_id").size()).all()
    ages = new[new["attribute"] == "age"]
    stated = ages[text].str.extract(r"(?:age |I am )(\d+)")[0].astype(int)
    assert (stated[ages["group"] == "under_40"] < 40).all() and (stated[ages["group"] == "over_55"] > 55).all()
    assert probes.validate(new).name == probes.validate(old).name
    card = probes.show(name, "2.0.0")["card"]
    assert "nonbinary" in card and "Mx." in card and "## Limits" in card


def test_hiring_summary_2_shares_its_new_resumes_with_hiring_decisions_2():
    """A screen evaluated on both answers each gender x race and age resume once."""
    summary = probes.load("hiring-summary", "2.0.0").to_pandas()
    decisions = probes.load("hiring-decisions", "2.0.0").to_pandas()
    new = ["gender_x_race", "age"]
    assert (summary.loc[summary["attribute"].isin(new), "input"].tolist()
            == decisions.loc[decisions["attribute"].isin(new), "input"].tolist())


def test_hiring_decisions_3_is_hiring_summary_2_in_labelled_counterfactual_sets():
    """Version 3: every resume of hiring-summary@2.0.0, the same inputs and sets, labelled by the
    criterion; its manifest names the kind (the columns fit counterfactual sets too)."""
    summary = probes.load("hiring-summary", "2.0.0").to_pandas()
    decisions = probes.load("hiring-decisions", "3.0.0").to_pandas()
    info = probes.resolve("hiring-decisions", "3.0.0")
    assert info.kind == "decisions" and probes.resolve("hiring-decisions").version == "3.0.0"
    assert decisions["input"].tolist() == summary["input"].tolist()
    assert (decisions["set_id"].str.removeprefix("hd-") == summary["set_id"].str.removeprefix("hs-")).all()
    assert (decisions.groupby("set_id")["label"].nunique() == 1).all()
    years = decisions["input"].str.extract(r"with (\d+) years")[0].astype(int)
    assert (decisions["label"] == (years >= 5).astype(int)).all()
    assert set(decisions.loc[decisions["attribute"] == "gender", "group"]) == {"female", "male", "nonbinary"}
    with pytest.raises(ProbeSchemaError, match="fit more than one probe kind"):
        probes.validate(decisions)  # without the manifest's kind it is ambiguous, and said so
    assert probes.validate(decisions, "decisions").name == "decisions"


def test_hiring_summary_pairs_2_writes_every_resume_for_every_two_cells():
    old = probes.load("hiring-summary-pairs", "1.0.0").to_pandas()
    new = probes.load("hiring-summary-pairs", "2.0.0").to_pandas()
    pd.testing.assert_frame_equal(new.iloc[: len(old)].reset_index(drop=True), old)
    cells = new.iloc[len(old):]
    assert set(cells["attribute"]) == {"gender_x_race"}
    assert cells.groupby(["group_a", "group_b"]).size().tolist() == [80] * 6
    # within an item only the name and its pronoun differ
    strip = r"^\w+ is (an? .*?) with (\d+) years of experience; (?:he|she) is"
    assert (cells["text_a"].str.extract(strip).fillna("").agg("|".join, axis=1)
            == cells["text_b"].str.extract(strip).fillna("").agg("|".join, axis=1)).all()
    assert all(t.endswith(r) for t, r in zip(cells["text_a"], cells["recommendation"]))
    # on ADVANCE the stereotype side holds more of the favoured groups (male, white), the other
    # side on REJECT; a tie (white woman vs Black man) is labelled a on ADVANCE by convention
    tie = (cells["group_a"] == "female_x_white") & (cells["group_b"] == "male_x_black")
    advanced = cells["recommendation"] == "ADVANCE"
    assert set(cells.loc[tie & advanced, "stereotype"]) == {"a"} and set(cells.loc[tie & ~advanced, "stereotype"]) == {"b"}
    chosen = cells[~tie & advanced]
    side = np.where(chosen["stereotype"] == "a", chosen["group_a"], chosen["group_b"])
    favour = {"female_x_black": 0, "female_x_white": 1, "male_x_black": 1, "male_x_white": 2}
    other = np.where(chosen["stereotype"] == "a", chosen["group_b"], chosen["group_a"])
    assert all(favour[s] > favour[o] for s, o in zip(side, other))
    assert (cells["stereotype"] != "").all()
