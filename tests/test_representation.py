"""Training-data representation audit: counts, shares, gap and co-occurrence skew against
hand-counted texts; streaming from files; errors; logging to MLflow; the CLI."""

from __future__ import annotations

import hashlib
import json
import math

import datasets
import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mlflow_bias.text import lexicons
from mlflow_bias.data_audit.tracking import audit_data, log_representation
from mlflow_bias.cli import main
from mlflow_bias.data_audit.representation import audit_representation, log_ratio
from mlflow_bias.core.errors import ConfigError, TrainingDataError

# Hand-counted: which gender / race groups and which context terms each text mentions.
TEXTS = [
    "He is an engineer.",                       # male; engineer
    "She is an engineer too.",                  # female; engineer
    "The engineer said he would fix it.",       # male; engineer
    "Greg and his brother are engineers.",      # male (Greg, his, brother), white; engineer (plural)
    "Lakisha is a nurse.",                      # female, black; nurse
    "Her mother was a nurse; she retired.",     # female; nurse
    "Emily met Jamal at the hospital.",         # female + male, white + black; no term
    "The weather is nice.",                     # nothing
    "Therapists in the shell of history.",      # nothing: the, her, he, she, his only inside words
    "A nurse and a man.",                       # male; nurse
]
TERMS = ["engineer", "nurse"]
RACE_TARGET = {"black": 0.25, "white": 0.75}


def audit(data, **kwargs):
    # pinned: the hand counts are of gender and race, the attributes of 1.0.0
    kwargs = {"context_terms": TERMS, "targets": {"race": RACE_TARGET}, "min_count": 3,
              "lexicon": "protected-groups@1.0.0", "progress": False, **kwargs}
    return audit_representation(data, **kwargs)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"id": range(len(TEXTS)), "text": TEXTS})


def test_counts_shares_gap_against_hand_counts(frame):
    result = audit(frame)
    assert result.n_examples == 10
    assert result.lexicon == "protected-groups@1.0.0"
    counts = {(r["attribute"], r["group"]): r["count"] for r in result.counts.to_dict("records")}
    assert counts == {("gender", "female"): 4, ("gender", "male"): 5,
                      ("race", "black"): 2, ("race", "white"): 2}
    assert result.shares["gender"] == pytest.approx({"female": 4 / 9, "male": 5 / 9})
    assert result.targets["gender"] == {"female": 0.5, "male": 0.5}  # uniform by default
    assert result.gaps["gender"] == pytest.approx(1 / 18)             # |5/9 - 1/2|
    assert result.none_counts == {"gender": 2, "race": 7}
    assert result.multiple_counts == {"gender": 1, "race": 1}
    # race: shares 1/2 each against the given 1/4, 3/4
    assert result.shares["race"] == {"black": 0.5, "white": 0.5}
    assert result.gaps["race"] == pytest.approx(0.25)
    diffs = result.counts.set_index(["attribute", "group"])["difference"]
    assert diffs["race", "black"] == pytest.approx(0.25)
    assert diffs["race", "white"] == pytest.approx(-0.25)


def test_cooccurrence_log_ratios_against_hand_counts(frame):
    result = audit(frame)
    table = result.cooccurrence.set_index(["attribute", "term", "group"])
    # gender: engineer with male 3, female 1; nurse with female 2, male 1; overall male 5, female 4
    assert table.loc[("gender", "engineer", "male"), "count"] == 3
    assert table.loc[("gender", "engineer", "male"), "term_total"] == 4
    assert table.loc[("gender", "engineer", "male"), "share"] == pytest.approx(0.75)
    assert table.loc[("gender", "engineer", "male"), "baseline_share"] == pytest.approx(5 / 9)
    # ln[(3 + .5) / (1 + .5)] - ln[(5 + .5) / (4 + .5)] = ln(21/11)
    assert table.loc[("gender", "engineer", "male"), "log_ratio"] == pytest.approx(math.log(21 / 11))
    assert table.loc[("gender", "engineer", "female"), "log_ratio"] == pytest.approx(math.log(11 / 21))
    # ln[(2 + .5) / (1 + .5)] - ln[(4 + .5) / (5 + .5)] = ln(55/27)
    assert table.loc[("gender", "nurse", "female"), "log_ratio"] == pytest.approx(math.log(55 / 27))
    # race: engineer only with white (Greg), baseline 2 of 4: ln(1.5/0.5) - ln(2.5/2.5) = ln 3
    assert table.loc[("race", "engineer", "white"), "log_ratio"] == pytest.approx(math.log(3))
    assert table.loc[("race", "engineer", "black"), "count"] == 0
    assert log_ratio(3, 4, 5, 9, alpha=1.0) == pytest.approx(math.log(4 / 2) - math.log(6 / 5))
    # flagged: terms seen >= 3 times, by |log-ratio|; race terms were seen once each
    flagged = list(zip(result.flagged["term"], result.flagged["group"], result.flagged["direction"]))
    assert flagged == [("nurse", "female", "over"), ("nurse", "male", "under"),
                       ("engineer", "female", "under"), ("engineer", "male", "over")]
    assert set(result.flagged["attribute"]) == {"gender"}


def test_metrics_names_and_values(frame):
    metrics = audit(frame).metrics()
    assert metrics == pytest.approx({
        "data/representation/n_examples": 10,
        "data/representation/gender/female": 4 / 9, "data/representation/gender/male": 5 / 9,
        "data/representation/gender/gap": 1 / 18, "data/representation/gender/none_rate": 0.2,
        "data/representation/gender/multiple_rate": 0.1,
        "data/representation/race/black": 0.5, "data/representation/race/white": 0.5,
        "data/representation/race/gap": 0.25, "data/representation/race/none_rate": 0.7,
        "data/representation/race/multiple_rate": 0.1,
    })


def test_attributes_subset_and_lexicon_pin(frame):
    result = audit_representation(frame, lexicon="protected-groups@1.0.0", attributes=["gender"],
                                  context_terms=[], progress=False)
    assert result.attributes == ["gender"]
    assert result.cooccurrence.empty and result.flagged.empty
    with pytest.raises(ConfigError, match="has no attribute"):
        audit_representation(frame, attributes=["disability"], progress=False)
    with pytest.raises(ConfigError, match="no version 9.9.9"):
        audit_representation(frame, lexicon="protected-groups@9.9.9", progress=False)


def test_group_column_mode():
    df = pd.DataFrame({
        "text": ["An engineer.", "An engineer.", "An engineer.", "A nurse.", "Hello.", "A nurse."],
        "gender_col": ["man", "man", "woman", "woman", None, ""],
        "race_col": ["x", "y", "x", "y", "x", ["x", "y"]],
    })
    result = audit_representation(df, group_columns={"gender": "gender_col", "race": "race_col"},
                                  targets={"gender": {"man": 0.4, "woman": 0.4, "nonbinary": 0.2}},
                                  context_terms=TERMS, min_count=1, progress=False)
    assert result.lexicon is None
    assert result.shares["gender"] == pytest.approx({"man": 0.5, "nonbinary": 0.0, "woman": 0.5})
    assert result.gaps["gender"] == pytest.approx(0.2)  # nonbinary: |0 - 0.2|
    assert result.none_counts["gender"] == 2 and result.multiple_counts["gender"] == 0
    assert result.shares["race"] == pytest.approx({"x": 4 / 7, "y": 3 / 7})
    assert result.multiple_counts["race"] == 1
    table = result.cooccurrence.set_index(["attribute", "term", "group"])
    assert table.loc[("gender", "engineer", "man"), "count"] == 2
    assert table.loc[("gender", "engineer", "nonbinary"), "count"] == 0
    # the text column is found among the string columns other than the group columns
    assert result.metadata["text_column"] == "text"
    with pytest.raises(ConfigError, match="gives no share for group"):
        audit_representation(df, group_columns={"gender": "gender_col"},
                             targets={"gender": {"man": 1.0}}, progress=False)


def test_streamed_csv_jsonl_parquet_and_iterable_match_in_memory(frame, tmp_path):
    expected = audit(frame)
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.to_json(tmp_path / "train.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "train.parquet")
    sources = [tmp_path / "train.csv", str(tmp_path / "train.jsonl"), tmp_path / "train.parquet",
               datasets.Dataset.from_pandas(frame).to_iterable_dataset(),
               datasets.Dataset.from_pandas(frame)]
    for source in sources:
        got = audit(source, batch_size=3)  # several batches
        assert got.metrics() == pytest.approx(expected.metrics()), source
        pd.testing.assert_frame_equal(got.counts, expected.counts)
        pd.testing.assert_frame_equal(got.cooccurrence, expected.cooccurrence)
        pd.testing.assert_frame_equal(got.flagged, expected.flagged)
    # the JSONL rows are hashed while streaming: SHA-256 over one sorted-key JSON line per row
    digest = hashlib.sha256()
    for row in frame.to_dict("records"):
        digest.update((json.dumps(row, sort_keys=True) + "\n").encode())
    streamed = audit(tmp_path / "train.jsonl")
    assert streamed.metadata["digest"] == digest.hexdigest()
    assert streamed.metadata["path"] == str((tmp_path / "train.jsonl").resolve())


def test_generated_skewed_set_flags_male_engineer():
    texts = ([f"{p} works as an engineer at the plant." for p in ["He"] * 80 + ["She"] * 20]
             + [f"{p} works as a teacher." for p in ["He"] * 50 + ["She"] * 50]
             + ["The plant opened in 1990."] * 10)
    result = audit_representation(pd.DataFrame({"text": texts}), attributes=["gender"],
                                  context_terms=["engineer", "teacher"], top_k=2, progress=False)
    assert result.n_examples == 210
    assert result.shares["gender"] == pytest.approx({"female": 70 / 200, "male": 130 / 200, "nonbinary": 0.0})
    assert result.gaps["gender"] == pytest.approx(0.15)
    assert result.none_counts["gender"] == 10
    # engineer: |ln(80.5/20.5) - ln(130.5/70.5)| = 0.752 beats teacher: |0 - ln(130.5/70.5)| = 0.616
    assert list(zip(result.flagged["term"], result.flagged["group"], result.flagged["direction"])) == [
        ("engineer", "female", "under"), ("engineer", "male", "over")]
    male_engineer = result.flagged.set_index(["term", "group"]).loc[("engineer", "male")]
    assert male_engineer["share"] == pytest.approx(0.8)
    assert male_engineer["log_ratio"] == pytest.approx(math.log(80.5 / 20.5) - math.log(130.5 / 70.5))
    assert male_engineer["log_ratio"] == pytest.approx(0.7521, abs=1e-4)


def test_bad_input_errors(frame, tmp_path):
    with pytest.raises(TrainingDataError, match="no text column 'body'.*columns are: id, text"):
        audit(frame, text_column="body")
    with pytest.raises(TrainingDataError, match=r"several string columns \(text, note\)"):
        audit(frame.assign(note="x"))
    with pytest.raises(TrainingDataError, match=r"no group column\(s\) \['sex'\]"):
        audit_representation(frame, group_columns={"gender": "sex"}, progress=False)
    with pytest.raises(ConfigError, match="sums to 1.1"):
        audit(frame, targets={"gender": {"female": 0.6, "male": 0.5}})
    with pytest.raises(ConfigError, match=r"unknown group\(s\) \['other'\]"):
        audit(frame, targets={"gender": {"female": 0.5, "male": 0.25, "other": 0.25}})
    with pytest.raises(ConfigError, match="not audited"):
        audit(frame, targets={"religion": {"a": 1.0}})
    with pytest.raises(ConfigError, match="either group_columns"):
        audit_representation(frame, group_columns={"gender": "text"}, lexicon="protected-groups")
    with pytest.raises(TrainingDataError, match="no rows"):
        audit(frame.iloc[:0])
    (tmp_path / "empty.csv").write_text("id,text\n")
    with pytest.raises(TrainingDataError, match="no rows"):
        audit(tmp_path / "empty.csv")
    with pytest.raises(TrainingDataError, match="No file at"):
        audit(tmp_path / "missing.jsonl")
    (tmp_path / "train.txt").write_text("he\n")
    with pytest.raises(TrainingDataError, match="use a .csv, .jsonl or .parquet"):
        audit(tmp_path / "train.txt")
    with pytest.raises(TrainingDataError, match="weights must be finite numbers >= 0"):
        audit(frame.assign(w=[1.0] * 9 + [-1.0]), weight_column="w")


def test_group_names_that_would_clash_as_metric_keys():
    df = pd.DataFrame({"text": ["a", "b"], "g": ["gap", "x"]})
    with pytest.raises(ConfigError, match="same MLflow key"):
        audit_representation(df, group_columns={"g": "g"}, progress=False)


def test_lexicon_file_matches_the_name_lexicon_and_documents_sources():
    lexicon = lexicons.load_lexicon()
    assert lexicons.list_lexicons() == [("protected-groups", "1.0.0"), ("protected-groups", "1.1.0"),
                                       ("protected-groups", "1.2.0")]
    assert lexicon.ref == "protected-groups@1.2.0"  # the newest by default
    race = lexicon.terms("race")
    assert set(race["black"]) == set(lexicons.names(race="black"))
    assert set(race["white"]) == set(lexicons.names(race="white"))
    gender = lexicon.terms("gender")
    assert set(lexicons.names(gender="female")) <= set(gender["female"])
    assert set(lexicons.names(gender="male")) <= set(gender["male"])
    assert {"she", "her", "woman", "mother", "sister", "queen"} <= set(gender["female"])
    assert {"he", "his", "man", "father", "brother", "king"} <= set(gender["male"])
    assert all(len(term_list.source) > 20 for lists in lexicon.lists.values() for term_list in lists)


def test_audit_data_logs_metrics_tables_chart_and_dataset(frame, tmp_path):
    frame.to_json(tmp_path / "train.jsonl", orient="records", lines=True)
    result = audit_data(tmp_path / "train.jsonl", context_terms=TERMS, min_count=3,
                        targets={"race": RACE_TARGET}, progress=False)
    run = mlflow.get_run(result.metadata["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["data/representation/gender/gap"] == pytest.approx(1 / 18)
    assert run.data.metrics["data/representation/gender/male"] == pytest.approx(5 / 9)
    assert run.data.metrics["data/representation/race/gap"] == pytest.approx(0.25)
    assert run.data.metrics["data/representation/gender/none_rate"] == pytest.approx(0.2)
    assert run.data.tags["bias.lexicon"] == "protected-groups@1.2.0"
    run_id = run.info.run_id
    counts = mlflow.load_table("data/representation/counts.json", run_ids=[run_id])
    assert counts.set_index(["attribute", "group"]).loc[("gender", "male"), "count"] == 5
    cooc = mlflow.load_table("data/representation/cooccurrence.json", run_ids=[run_id])
    row = cooc.set_index(["attribute", "term", "group"]).loc[("gender", "engineer", "male")]
    assert row["log_ratio"] == pytest.approx(math.log(21 / 11))
    flagged = mlflow.load_table("data/representation/flagged.json", run_ids=[run_id])
    assert len(flagged) == 4
    artifacts = {a.path for a in MlflowClient().list_artifacts(run_id, "data/representation")}
    assert "data/representation/shares.png" in artifacts
    png = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="data/representation/shares.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "train"
    assert dataset_input.dataset.digest == result.metadata["digest"][:32]
    assert json.loads(dataset_input.dataset.source)["uri"] == str((tmp_path / "train.jsonl").resolve())
    assert [(t.key, t.value) for t in dataset_input.tags] == [("mlflow.data.context", "training")]


def test_audit_data_into_active_run_with_a_dataframe(frame):
    with mlflow.start_run() as run:
        audit_data(frame, progress=False, dataset_name="sft-mix")
    logged = mlflow.get_run(run.info.run_id)
    assert logged.data.metrics["data/representation/n_examples"] == 10
    (dataset_input,) = logged.inputs.dataset_inputs
    assert dataset_input.dataset.name == "sft-mix"
    assert json.loads(dataset_input.dataset.profile)["num_rows"] == 10


def test_log_representation_keeps_what_was_logged_when_a_later_step_fails(frame, monkeypatch):
    import mlflow_bias.data_audit.tracking as audit_module

    def broken(_result):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(audit_module, "shares_figure", broken)
    result = audit(frame)
    with mlflow.start_run() as run:
        with pytest.raises(RuntimeError, match="no fonts"):
            log_representation(result, frame)
    logged = mlflow.get_run(run.info.run_id)
    assert logged.data.metrics["data/representation/gender/gap"] == pytest.approx(1 / 18)
    assert logged.data.tags["bias.audit.error"] == "RuntimeError: no fonts"
    counts = mlflow.load_table("data/representation/counts.json", run_ids=[run.info.run_id])
    assert len(counts) == 4
    with pytest.raises(ConfigError, match="No run to log the audit to"):
        log_representation(result)


def test_cli_audit_data(frame, tmp_path, capsys):
    frame.to_csv(tmp_path / "train.csv", index=False)
    code = main(["audit-data", str(tmp_path / "train.csv"), "--target", "race=black:0.25,white:0.75",
                 "--context-terms", "engineer,nurse", "--experiment", "audit", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "10 examples (lexicon protected-groups@1.2.0)" in out
    assert "gender: gap 0.056 (max |share - target|); no group 20.0%, several groups 10.0%" in out
    assert "  male                     5    0.556    0.500   +0.056" in out
    assert "race: gap 0.250" in out
    run = mlflow.last_active_run()
    assert MlflowClient().get_experiment(run.info.experiment_id).name == "audit"
    assert run.data.metrics["data/representation/race/black"] == 0.5

    frame.assign(sex=["m", "f", "m", "m", "f", "f", "", "", "", "m"]).to_csv(
        tmp_path / "labelled.csv", index=False)
    with mlflow.start_run() as existing:
        pass
    assert main(["audit-data", str(tmp_path / "labelled.csv"), "--run-id", existing.info.run_id,
                 "--group-column", "gender=sex", "--no-progress"]) == 0
    assert "group columns gender=sex" in capsys.readouterr().out
    metrics = mlflow.get_run(existing.info.run_id).data.metrics
    assert metrics["data/representation/gender/m"] == pytest.approx(4 / 7)
    assert metrics["data/representation/gender/none_rate"] == pytest.approx(0.3)

    assert main(["audit-data", str(tmp_path / "train.csv"), "--target", "gender=female:0.7,male:0.7"]) == 2
    assert "sums to 1.4" in capsys.readouterr().err
    assert main(["audit-data", str(tmp_path / "train.csv"), "--target", "gender=female"]) == 2
    assert "write it as gender=female:0.5,male:0.5" in capsys.readouterr().err
    assert main(["audit-data", str(tmp_path / "nope.csv")]) == 2
    assert "No file at" in capsys.readouterr().err
    assert main(["audit-data", str(tmp_path / "train.csv"), "--text-column", "body"]) == 2
    assert "no text column 'body'" in capsys.readouterr().err


def test_training_data_audit_is_logged_to_the_evaluation_run(tmp_path):
    """The audit of the data a model was tuned on lands in the run that evaluates the model."""
    from mlflow.tracking import MlflowClient

    from mlflow_bias.reporting.report import format_scorecard

    texts = ["He is an engineer."] * 6 + ["She is an engineer."] * 2 + ["The nurse said she would call."] * 2
    path = tmp_path / "tuning.jsonl"
    pd.DataFrame({"text": texts}).to_json(path, orient="records", lines=True)
    probe = pd.DataFrame([{"id": f"s{s}-{g}", "attribute": "gender", "set_id": f"s{s}", "group": g,
                           "input": f"case {s} {g}"} for s in range(4) for g in ("female", "male")])
    with mlflow.start_run() as run:
        metrics = mlflow.models.evaluate(
            model=lambda df: ["advance"] * len(df), data=probe, model_type="bias", evaluators=["bias"],
            evaluator_config={"bias": {"progress": False, "bootstrap_samples": 50,
                                       "training_data": {"data": str(path), "attributes": ["gender"]}}},
        ).metrics
    # 6 examples mention a man, 4 a woman: shares 0.6 / 0.4, gap 0.1 from a uniform target
    assert metrics["data/representation/gender/male"] == pytest.approx(0.6)
    assert metrics["data/representation/gender/gap"] == pytest.approx(0.1)
    assert metrics["bias/cbs/gender"] == 0.0
    client = MlflowClient()
    # the headline first: the MLflow UI lists metrics in logging order and charts the first one
    assert list(client.get_run(run.info.run_id).data.metrics)[0] == "bias/cbs/gender"
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    contexts = {t.value for i in inputs for t in i.tags if t.key == "mlflow.data.context"}
    assert {"bias-probe", "training"} <= contexts
    scorecard = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/bias/scorecard.json")
    assert "gender: female 0.400, male 0.600, nonbinary 0.000; gap 0.100" in format_scorecard(scorecard)
    artifacts = {f.path for f in client.list_artifacts(run.info.run_id, "data/representation")}
    assert "data/representation/shares.png" in artifacts


def test_integer_group_labels_and_ies_plurals():
    df = pd.DataFrame({"text": ["The secretaries met.", "A secretary left.", "x", "y"],
                       "g": [1, 0, None, 1]})  # an int column with a gap is read as floats
    result = audit_representation(df, text_column="text", group_columns={"g": "g"},
                                  targets={"g": {"1": 0.5, "0": 0.5}}, context_terms=["secretary"],
                                  min_count=1, progress=False)
    assert result.shares["g"] == {"0": pytest.approx(1 / 3), "1": pytest.approx(2 / 3)}
    rows = result.cooccurrence.set_index(["term", "group"])
    assert rows.loc[("secretary", "1"), "count"] == 1 and rows.loc[("secretary", "0"), "count"] == 1


def test_lexicon_1_1_adds_religion_and_leaves_the_earlier_attributes_as_they_were():
    old, new = lexicons.load_lexicon(version="1.0.0"), lexicons.load_lexicon(version="1.1.0")
    assert "religion" not in old.attributes and new.attributes[-1] == "religion"
    for attribute in old.attributes:  # audits under either version count gender and race alike
        assert new.terms(attribute) == old.terms(attribute)
    frame = pd.DataFrame({"text": ["I am a Muslim. Where is the nearest mosque?", "I am Jewish.",
                                   "The church choir sang.", "I am a Christian and she is Muslim.",
                                   "Nothing here."]})
    result = audit_representation(frame, text_column="text", attributes=["religion"],
                                  context_terms=[], progress=False)
    counts = {r["group"]: r["count"] for r in result.counts.to_dict("records")}
    assert counts == {"christian": 2, "jewish": 1, "muslim": 2}
    assert result.multiple_rate("religion") == pytest.approx(1 / 5)
    assert result.none_rate("religion") == pytest.approx(1 / 5)


def test_lexicon_1_2_counts_nonbinary_markers_without_targeting_a_third():
    """1.2.0 adds a nonbinary gender group found by explicit words (identity terms, Mx, themself,
    a stated they/them, xe/xem); plain "they" is never counted. Its documented default target
    keeps female/male even and gives nonbinary no share, so data without non-binary mentions
    audits exactly as under 1.1.0; a target passed by the user still applies."""
    old, new = lexicons.load_lexicon(version="1.1.0"), lexicons.load_lexicon(version="1.2.0")
    assert new.groups["gender"] == ("female", "male", "nonbinary")
    for group in ("female", "male"):
        assert new.terms("gender")[group] == old.terms("gender")[group]
    assert new.counterparts("gender") == old.counterparts("gender")  # augmentation swaps as before
    assert new.default_targets == {"gender": {"female": 0.5, "male": 0.5, "nonbinary": 0.0}}
    frame = pd.DataFrame({"text": [
        "Mx. Riley Brooks is our new engineer.",             # title
        "Alex (pronouns: they/them) leads the team.",        # stated pronouns
        "Sam is non-binary and a nurse.",                    # identity term, hyphenated
        "They said the results were ready.",                 # plural they: not counted
        "She asked him about the report.",                   # female and male
        "He fixed it himself.", "He is a pilot.", "She is a nurse.",
    ]})
    result = audit_representation(frame, text_column="text", attributes=["gender"], lexicon=new,
                                  context_terms=[], progress=False)
    counts = {r["group"]: r["count"] for r in result.counts.to_dict("records")}
    assert counts == {"female": 2, "male": 3, "nonbinary": 3}
    assert result.none_rate("gender") == pytest.approx(1 / 8)
    assert result.targets["gender"] == {"female": 0.5, "male": 0.5, "nonbinary": 0.0}
    assert result.shares["gender"]["nonbinary"] == pytest.approx(3 / 8)
    assert result.gaps["gender"] == pytest.approx(3 / 8)  # max(|2/8-.5|, |3/8-.5|, |3/8-0|)
    chosen = audit_representation(frame, text_column="text", attributes=["gender"], lexicon=new,
                                  targets={"gender": {"female": 0.45, "male": 0.45, "nonbinary": 0.1}},
                                  context_terms=[], progress=False)
    assert chosen.gaps["gender"] == pytest.approx(3 / 8 - 0.1)  # nonbinary now furthest off
    binary = pd.DataFrame({"text": ["She is a nurse.", "He is a pilot.", "He is a chef."]})
    under = {v: audit_representation(binary, text_column="text", attributes=["gender"], lexicon=lex,
                                     context_terms=[], progress=False).gaps["gender"]
             for v, lex in (("1.1.0", old), ("1.2.0", new))}
    assert under["1.1.0"] == under["1.2.0"] == pytest.approx(2 / 3 - 1 / 2)


def test_lexicon_default_target_must_cover_every_group_and_say_why(tmp_path):
    base = ("name: custom\nversion: 1.0.0\nattributes:\n  gender:\n    groups: [female, male]\n"
            "    lists:\n      - name: pronouns\n        source: English pronouns, by the tests.\n"
            "        terms: {female: [she], male: [he]}\n")
    no_reason = tmp_path / "custom-1.0.0.yaml"
    no_reason.write_text(base + "    default_target: {female: 0.5, male: 0.5}\n")
    with pytest.raises(ConfigError, match="default_target_source saying why"):
        lexicons.load_lexicon(no_reason)
    missing = tmp_path / "custom-1.0.1.yaml"
    missing.write_text(base + "    default_target: {female: 1.0}\n    default_target_source: mine\n")
    with pytest.raises(ConfigError, match=r"share to each of its groups \['female', 'male'\]"):
        lexicons.load_lexicon(missing)
    bad_sum = tmp_path / "custom-1.0.2.yaml"
    bad_sum.write_text(base + "    default_target: {female: 0.7, male: 0.7}\n    default_target_source: mine\n")
    with pytest.raises(ConfigError, match="summing to 1"):
        lexicons.load_lexicon(bad_sum)
