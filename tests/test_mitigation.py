"""Mitigations the representation audit points to: inverse-frequency weights, balanced resampling
and counterfactual augmentation, each checked by hand and by re-auditing the result."""

from __future__ import annotations

import datasets
import pandas as pd
import pytest

from mlflow_bias.text import lexicons
from mlflow_bias.data_audit.representation import audit_representation
from mlflow_bias.core.errors import ConfigError, TrainingDataError
from mlflow_bias.mitigation import (
    counterfactual_augment,
    inverse_frequency_weights,
    resample_balanced,
)


def gender_audit(data, **kwargs):
    return audit_representation(data, attributes=["gender"], context_terms=["engineer"],
                                progress=False, **kwargs)


def skewed(n_he: int = 80, n_she: int = 20) -> pd.DataFrame:
    """Engineer sentences, n_he with "he" and n_she with "she", plus two with no group."""
    texts = ([f"He is an engineer ({i})." for i in range(n_he)]
             + [f"She is an engineer ({i})." for i in range(n_she)]
             + ["The engineers met.", "Rain fell."])
    return pd.DataFrame({"id": range(len(texts)), "text": texts})


# --- inverse-frequency weights --------------------------------------------------------------------

def test_weights_by_hand_single_group_examples():
    df = pd.DataFrame({"text": ["he", "he", "he", "he", "she", "rain"], "label": list("aaabbb")})
    out, record = inverse_frequency_weights(df, text_column="text")
    # n_male 4, n_female 1, N 5; f_male = .5 * 5 / 4, f_female = .5 * 5 / 1; no group -> 1
    # raw weights sum to 4 * .625 + 2.5 + 1 = 6 = the number of rows, so the mean is already 1
    assert out["weight"].tolist() == pytest.approx([0.625, 0.625, 0.625, 0.625, 2.5, 1.0])
    assert out["label"].tolist() == list("aaabbb") and "weight" not in df
    assert record.counts_before == {"female": 1, "male": 4, "nonbinary": 0}
    assert record.counts_after == pytest.approx({"female": 2.5, "male": 2.5, "nonbinary": 0})
    assert record.parameters["factors"] == pytest.approx({"female": 2.5, "male": 0.625})
    assert (record.method, record.rows_before, record.rows_after, record.seed) == (
        "inverse_frequency_weights", 6, 6, None)
    reaudit = gender_audit(out, weight_column="weight", text_column="text")
    assert reaudit.gaps["gender"] == pytest.approx(0.0)


def test_weights_by_hand_several_groups_and_target():
    df = pd.DataFrame({"text": ["he", "he", "he", "he", "she", "rain", "he and she"]})
    out, _ = inverse_frequency_weights(df)
    # n_male 5, n_female 2, N 7: f_male = .5*7/5 = .7, f_female = .5*7/2 = 1.75; "he and she"
    # gets their mean 1.225; raw sum 4*.7 + 1.75 + 1 + 1.225 = 6.775 -> scaled by 7 / 6.775
    scale = 7 / 6.775
    assert out["weight"].tolist() == pytest.approx(
        [0.7 * scale] * 4 + [1.75 * scale, 1.0 * scale, 1.225 * scale])
    assert out["weight"].mean() == pytest.approx(1.0)
    targeted, record = inverse_frequency_weights(df.iloc[:6], target={"female": 0.25, "male": 0.75})
    # f_male = .75 * 5 / 4 = .9375, f_female = .25 * 5 = 1.25, raw sum 3.75 + 1.25 + 1 = 6
    assert targeted["weight"].tolist() == pytest.approx([0.9375] * 4 + [1.25, 1.0])
    audit = gender_audit(targeted, weight_column="weight", targets={"gender": record.parameters["target"]})
    assert audit.shares["gender"] == pytest.approx({"female": 0.25, "male": 0.75, "nonbinary": 0})
    assert audit.gaps["gender"] == pytest.approx(0.0)


def test_weights_on_a_dataset_and_errors():
    ds = datasets.Dataset.from_pandas(skewed(), preserve_index=False)
    out, record = inverse_frequency_weights(ds, weight_column="w")
    assert isinstance(out, datasets.Dataset) and out.features["w"] == datasets.Value("float64")
    # f_male = .5 * 100 / 80, f_female = .5 * 100 / 20; raw sum 50 + 50 + 2 = 102 rows: mean 1
    assert record.counts_after == pytest.approx({"female": 50.0, "male": 50.0, "nonbinary": 0})
    assert gender_audit(ds).gaps["gender"] == pytest.approx(0.3)
    assert gender_audit(out, weight_column="w").gaps["gender"] == pytest.approx(0.0)
    with pytest.raises(TrainingDataError, match="already has a column 'w'"):
        inverse_frequency_weights(out, weight_column="w")
    with pytest.raises(TrainingDataError, match="No example mentions any gender group"):
        inverse_frequency_weights(pd.DataFrame({"text": ["rain", "snow"]}))
    with pytest.raises(TrainingDataError, match="DataFrame or a datasets.Dataset"):
        inverse_frequency_weights("train.csv")
    _, only_he = inverse_frequency_weights(pd.DataFrame({"text": ["he", "he", "rain"]}))
    assert only_he.warnings == ["No example mentions gender group 'female'; weighting cannot raise "
                                "its share to the target 0.5."]


# --- resampling ------------------------------------------------------------------------------------

def resampling_frame() -> pd.DataFrame:
    texts = [f"He builds ({i})." for i in range(8)] + ["She builds (0).", "She builds (1).",
                                                       "Rain.", "He and she build."]
    return pd.DataFrame({"id": range(12), "text": texts})


def test_oversample_counts_by_hand():
    df = resampling_frame()
    out, record = resample_balanced(df, strategy="oversample", seed=0)
    # mentions: male 8 + 1 shared, female 2 + 1 shared; T = max(9, 3) / .5 = 18, so each group
    # gets 9: female needs 6 more from 2 single-group rows = 3 full copies of each
    assert len(out) == 18 and out["id"].tolist()[:12] == list(range(12))
    assert sorted(out["id"].tolist()[12:]) == [8, 8, 8, 9, 9, 9]
    assert record.counts_before == {"female": 3, "male": 9, "nonbinary": 0}
    assert record.counts_after == {"female": 9, "male": 9, "nonbinary": 0}
    assert (record.rows_before, record.rows_after, record.seed) == (12, 18, 0)
    assert gender_audit(out).gaps["gender"] == 0.0


def test_undersample_counts_by_hand_and_seed_reproducibility():
    df = resampling_frame()
    out, record = resample_balanced(df, strategy="undersample", seed=0)
    # T = min(9, 3) / .5 = 6: each group 3 mentions = 1 shared + 2 single-group rows; all male
    # single rows but 2 are dropped; the no-group and several-group rows stay
    assert len(out) == 6
    ids = out["id"].tolist()
    assert ids == sorted(ids) and {8, 9, 10, 11} <= set(ids)
    assert len(set(ids) & set(range(8))) == 2
    assert record.counts_after == {"female": 3, "male": 3, "nonbinary": 0}
    again, _ = resample_balanced(df, strategy="undersample", seed=0)
    assert again["id"].tolist() == ids
    picks = {tuple(resample_balanced(df, strategy="undersample", seed=s)[0]["id"]) for s in range(6)}
    assert len(picks) > 1  # the seed matters
    assert gender_audit(out).gaps["gender"] == 0.0


def test_oversample_remainder_is_seeded_and_reproducible():
    df = skewed(7, 3)
    first, record = resample_balanced(df, seed=3)
    # T = 14: female needs 4 more from 3 rows = 1 full copy of each + 1 drawn
    extra = first["id"].tolist()[len(df):]
    assert len(extra) == 4 and sorted(set(extra)) == [7, 8, 9] and record.counts_after == {
        "female": 7, "male": 7, "nonbinary": 0}
    assert resample_balanced(df, seed=3)[0]["id"].tolist() == first["id"].tolist()


def test_resampling_datasets_targets_and_errors():
    ds = datasets.Dataset.from_pandas(skewed(), preserve_index=False)
    out, record = resample_balanced(ds, strategy="undersample", target={"female": 0.4, "male": 0.6})
    assert isinstance(out, datasets.Dataset)
    # T = min(80 / .6, 20 / .4) = 50: male 30, female 20, plus the two no-group rows
    assert len(out) == 52 and record.counts_after == {"female": 20, "male": 30, "nonbinary": 0}
    audit = gender_audit(out, targets={"gender": {"female": 0.4, "male": 0.6}})
    assert audit.gaps["gender"] == pytest.approx(0.0)
    with pytest.raises(ConfigError, match="'oversample' or 'undersample'"):
        resample_balanced(ds, strategy="smote")
    with pytest.raises(TrainingDataError, match=r"No example mentions gender group\(s\) \['female'\]"):
        resample_balanced(pd.DataFrame({"text": ["he", "him"]}))
    with pytest.raises(ConfigError, match="sums to 0.9"):
        resample_balanced(ds, target={"female": 0.4, "male": 0.5})


def test_resampling_with_group_columns():
    df = pd.DataFrame({"text": list("abcdef"), "g": ["x", "x", "x", "x", "y", "y"]})
    out, record = resample_balanced(df, "g", group_columns={"g": "g"})
    assert record.counts_after == {"x": 4, "y": 4} and record.lexicon is None
    assert out["text"].tolist()[6:] == ["e", "f"]


# --- counterfactual augmentation -------------------------------------------------------------------

def test_augment_append_closes_the_gap_and_the_cooccurrence_skew():
    df = skewed()
    before = gender_audit(df, min_count=1)
    assert before.gaps["gender"] == pytest.approx(0.3)
    out, record = counterfactual_augment(df)
    # every gendered row gets a swapped copy; the two rows without gender words are not copied
    assert len(out) == 202 and out["id"].tolist()[102:] == list(range(100))
    assert out["text"].iloc[102] == "She is an engineer (0)."
    assert record.counts_before == {"female": 20, "male": 80, "nonbinary": 0}
    assert record.counts_after == {"female": 100, "male": 100, "nonbinary": 0}
    assert (record.rows_before, record.rows_after, record.parameters["rows_swapped"]) == (102, 202, 100)
    after = gender_audit(out, min_count=1)
    assert after.gaps["gender"] == 0.0
    assert after.cooccurrence["log_ratio"].abs().max() == pytest.approx(0.0)
    assert after.flagged.empty


def test_augment_replace_and_datasets():
    ds = datasets.Dataset.from_pandas(skewed(3, 1), preserve_index=False)
    out, record = counterfactual_augment(ds, mode="replace", flag_column="swapped")
    assert isinstance(out, datasets.Dataset) and out.column_names == ["id", "text", "swapped"]
    assert out["text"][:4] == ["She is an engineer (0).", "She is an engineer (1).",
                               "She is an engineer (2).", "He is an engineer (0)."]
    assert out["swapped"] == [True] * 4 + [False, False]
    assert record.counts_after == {"female": 3, "male": 1, "nonbinary": 0}
    appended, _ = counterfactual_augment(ds, flag_column="swapped")
    assert len(appended) == 10 and appended["swapped"] == [False] * 6 + [True] * 4
    assert appended.features["text"] == ds.features["text"]
    assert gender_audit(appended).gaps["gender"] == 0.0


def test_augment_several_text_columns_and_errors():
    df = pd.DataFrame({"prompt": ["Describe him.", "Hi"], "response": ["He is kind.", "Hello"]})
    out, record = counterfactual_augment(df, text_columns=["prompt", "response"])
    assert out.to_dict("list") == {"prompt": ["Describe him.", "Hi", "Describe her."],
                                   "response": ["He is kind.", "Hello", "She is kind."]}
    assert record.counts_after == {"female": 1, "male": 1, "nonbinary": 0}
    with pytest.raises(ConfigError, match="'append'"):
        counterfactual_augment(df, text_columns="prompt", mode="both")
    with pytest.raises(TrainingDataError, match="no text column 'body'"):
        counterfactual_augment(df, text_columns="body")
    with pytest.raises(TrainingDataError, match="several string columns"):
        counterfactual_augment(df)


def test_oversampling_says_it_cannot_remove_a_group_with_target_zero():
    df = pd.DataFrame({"text": ["x"] * 10, "g": ["a"] * 5 + ["b"] * 3 + ["c"] * 2})
    out, record = resample_balanced(df, "g", group_columns={"g": "g"},
                                    target={"a": 0.5, "b": 0.5, "c": 0.0})
    assert record.counts_after == {"a": 5, "b": 5, "c": 2}
    assert any("target of 0" in w for w in record.warnings)
    out, record = resample_balanced(df, "g", group_columns={"g": "g"}, strategy="undersample",
                                    target={"a": 0.5, "b": 0.5, "c": 0.0})
    assert record.counts_after == {"a": 3, "b": 3, "c": 0}
