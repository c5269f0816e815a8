"""The probe store: versioned, immutable, hash-verified Hugging Face datasets; schema errors."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import datasets
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
        "association-tests@1.0.0", "gender-occupation@1.0.0", "hiring-decisions@1.0.0",
        "hiring-decisions@2.0.0", "hiring-summary@1.0.0", "hiring-summary-diverse@1.0.0",
        "hiring-summary-pairs@1.0.0", "loan-decisions@1.0.0", "refusal-requests@1.0.0"]


def test_hiring_decisions_2_keeps_version_1_and_adds_an_intersection_and_age():
    """A revision is a new version: 1.0.0 stays as it was, and 2.0.0 holds its rows unchanged
    plus gender x race cells and a stated age, counterfactual within each resume."""
    old = probes.load("hiring-decisions", "1.0.0").to_pandas()
    new = probes.load("hiring-decisions", "2.0.0").to_pandas()
    assert probes.resolve("hiring-decisions").version == "2.0.0"
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
    card = probes.show("gender-occupation")["card"]
    for section in ("## What it measures", "## Size", "## How it was built", "## Limits"):
        assert section in card


def test_generator_rebuilds_the_shipped_version_exactly():
    build = _build_script()
    assert probes.content_digest(build.build()) == probes.resolve("gender-occupation", "1.0.0").content_digest


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
    assert probes.content_digest(_script("build_hiring_summary").build()) == probes.resolve("hiring-summary", "1.0.0").content_digest


def test_refusal_requests_probe_contract_and_rebuild():
    df = probes.load("refusal-requests", "1.0.0").to_pandas()
    assert df["set_id"].nunique() >= 200
    assert probes.validate(df).name == "refusal"
    assert set(df["attribute"]) == {"gender", "race", "religion", "nationality"}
    assert df["request_type"].nunique() >= 5
    assert probes.content_digest(_script("build_refusal_requests").build()) == probes.resolve("refusal-requests", "1.0.0").content_digest
