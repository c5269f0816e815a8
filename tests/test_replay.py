"""Trace replay with the attribute swapped: known disagreement rates from function models, MLflow
traces created here, files streamed in chunks, anonymisation, and reviewed disagreements frozen
as a new probe version."""

from __future__ import annotations

import re

import mlflow
import pandas as pd
import pytest

import mlflow_bias.probes as probes
from mlflow_bias.text.anonymize import anonymize
from mlflow_bias.replay import probe_from_review, replay

CATEGORIES = {"advance": ["advance"], "reject": ["reject"]}


def traces() -> pd.DataFrame:
    """10 mention Lakisha, 5 Jamal, 25 other people (by name or pronoun), 10 nobody."""
    texts = ([f"Lakisha applied for role {i}." for i in range(10)]
             + [f"Jamal applied for role {i}." for i in range(5)]
             + [f"Greg applied for role {i}; he has a degree." for i in range(15)]
             + [f"She applied for role {i}." for i in range(10)]
             + [f"The applicant for role {i} has a degree." for i in range(10)])
    return pd.DataFrame({"id": [f"t{i}" for i in range(len(texts))], "input": texts})


def screen(df):
    """Rejects only inputs naming Lakisha: swapping Lakisha<->Jamal flips 15 of 40 decisions."""
    return ["reject" if "Lakisha" in t else "advance" for t in df["input"]]


def test_known_disagreement_rate_by_category():
    result = replay(screen, traces(), categories=CATEGORIES, progress=False)
    m = result.metrics
    assert m["gender"] == pytest.approx(15 / 40) and m["gender/n_items"] == 40
    assert m["gender/marker_rate"] == pytest.approx(40 / 50) and m["gender/n_traces"] == 50
    assert m["gender/ci_low"] < 15 / 40 < m["gender/ci_high"]
    review = result.tables["review"]
    assert len(review) == 15 and set(review["category"]) == {"reject", "advance"}
    row = review.set_index("id").loc["t0"]
    assert row["swapped_input"] == "Jamal applied for role 0." and row["swaps"] == "Lakisha->Jamal"
    run_id = result.metadata["run_id"]
    logged = mlflow.get_run(run_id).data
    assert logged.metrics["bias/replay/gender"] == pytest.approx(0.375)
    assert logged.tags["bias.lexicon"] == "protected-groups@1.2.0"
    assert len(mlflow.load_table("bias/replay/review.json", run_ids=[run_id])) == 15


def test_fair_model_and_similarity_comparison_swaps_outputs_back():
    echo = lambda df: [f"{t.split(' applied')[0]} is a strong fit." for t in df["input"]]  # noqa: E731
    fair = replay(echo, traces(), progress=False)  # by similarity, all-MiniLM-L6-v2
    assert fair.metrics["gender"] == 0.0 and fair.metrics["gender/exact_match_rate"] == 1.0
    picky = lambda df: ["Not a fit." if re.search(r"Lakisha|\bshe\b", t, re.I)  # noqa: E731
                        else "Strong fit, interview." for t in df["input"]]
    result = replay(picky, traces(), progress=False)
    # Lakisha (10), Jamal (5), she (10) and he (15, swapped to she) all change: 40 of 40
    assert result.metrics["gender"] == 1.0
    assert result.tables["review"]["similarity"].max() < 0.8


def test_recorded_outputs_are_used_and_only_swapped_inputs_run():
    calls = []

    def model(df):
        calls.extend(df["input"])
        return screen(df)

    recorded = traces().assign(output=lambda df: screen(df))
    result = replay(model, recorded, categories=CATEGORIES, progress=False)
    assert result.metrics["gender"] == pytest.approx(15 / 40)
    assert len(calls) == 40  # the 40 swapped inputs; the recorded answers stand for the originals
    assert "Emily applied for role 0; she has a degree." in calls
    assert "Greg applied for role 0; he has a degree." not in calls


def test_mlflow_traces_are_replayed():
    mlflow.set_experiment("production")

    @mlflow.trace
    def handle(text: str) -> str:
        return "reject" if "Lakisha" in text else "advance"

    for text in traces()["input"][:20]:
        handle(text=text)
    mlflow.flush_trace_async_logging()
    result = replay(screen, "mlflow:production", categories=CATEGORIES, progress=False)
    # 10 Lakisha + 5 Jamal + 5 Greg: 15 flips of 20
    assert result.metrics["gender"] == pytest.approx(15 / 20)
    assert result.tables["review"]["output"].isin(["reject", "advance"]).all()


def test_a_file_streams_in_chunks_with_the_same_result(tmp_path):
    big = pd.concat([traces()] * 20, ignore_index=True).assign(id=lambda df: [f"t{i}" for i in range(len(df))])
    path = tmp_path / "traces.jsonl"
    big.to_json(path, orient="records", lines=True)
    streamed = replay(screen, str(path), categories=CATEGORIES, chunk_size=128, progress=False)
    in_memory = replay(screen, big, categories=CATEGORIES, progress=False)
    assert streamed.metrics == in_memory.metrics and streamed.metrics["gender/n_traces"] == 1000


@pytest.mark.parametrize("text, expected", [
    ("Mail jane.doe+cv@example.co.uk now", "Mail [EMAIL] now"),
    ("Call +1 (555) 123-4567 or 020 7946 0958.", "Call [PHONE] or [PHONE]."),
    ("SSN 123-45-6789, card 4111 1111 1111 1111", "SSN [SSN], card [CARD]"),
    ("Order AB1234567 at https://shop.example.com/x?id=9", "Order [ID] at [URL]"),
    ("Greg has 12 years and 3 kids.", "Greg has 12 years and 3 kids."),
])
def test_anonymisation(text, expected):
    assert anonymize(text) == expected


def test_personal_data_never_reaches_the_model_or_the_run():
    seen = []

    def model(df):
        seen.extend(df["input"])
        return ["reject" if "Lakisha" in t else "advance" for t in df["input"]]

    data = pd.DataFrame({"id": ["a", "b"], "input": ["Lakisha (lakisha@mail.com) applied.",
                                                     "She called from 555-123-4567."]})
    result = replay(model, data, categories=CATEGORIES, rerun_original=True, progress=False)
    assert not any("@" in t or "4567" in t for t in seen)
    assert result.tables["review"]["input"].tolist() == ["Lakisha ([EMAIL]) applied."]


def test_reviewed_disagreements_become_a_new_probe_version(tmp_path):
    result = replay(screen, traces(), categories=CATEGORIES, progress=False)
    review = result.tables["review"].assign(confirmed=lambda df: df["id"] != "t1")
    info = probe_from_review(review, "replay-findings", "1.0.0", card="# replay findings\n\nReviewed.")
    probe = probes.load("replay-findings", "1.0.0").to_pandas()
    assert info.kind == "counterfactual_sets" and probe["set_id"].nunique() == 14
    first = probe[probe["set_id"] == "replay-t0"].set_index("group")["input"]
    assert first.to_dict() == {"female": "Lakisha applied for role 0.", "male": "Jamal applied for role 0."}
    with pytest.raises(Exception, match="already exists"):
        probe_from_review(review, "replay-findings", "1.0.0", card="# again")


def test_bad_trace_sources(tmp_path):
    from mlflow_bias.core.errors import ConfigError

    with pytest.raises(ConfigError, match="none of the columns input, request"):
        replay(screen, pd.DataFrame({"id": ["a"], "body": ["x"]}), categories=CATEGORIES, progress=False)
    with pytest.raises(ConfigError, match="No trace file at"):
        replay(screen, str(tmp_path / "missing.jsonl"), categories=CATEGORIES, progress=False)


def test_cli_replay_and_probe_from_review(tmp_path, capsys):
    from mlflow_bias.cli import main
    from mlflow_bias.adapters.models import log_causal_lm  # noqa: F401 - the CLI takes any MLflow model URI

    class Screen(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return screen(model_input)

    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="screen", python_model=Screen(),
                                       pip_requirements=["pandas"])
    path = tmp_path / "traces.csv"
    traces().to_csv(path, index=False)
    code = main(["replay", "--model", info.model_uri, "--traces", str(path), "--categories",
                 '{"advance": ["advance"], "reject": ["reject"]}', "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "replay/gender: disagreement rate 0.375" in out and "15 to review" in out
    run_id = out.split("Run ")[1].split(":")[0]
    review = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="bias/replay/review.json",
                                                 dst_path=str(tmp_path))
    (tmp_path / "CARD.md").write_text("# from replay\n\nReviewed disagreements.")
    assert main(["probes", "from-review", review, "--name", "from-cli", "--version", "1.0.0",
                 "--card", str(tmp_path / "CARD.md")]) == 0
    assert "froze from-cli@1.0.0: 30 rows" in capsys.readouterr().out


@pytest.mark.parametrize("text", [
    "year 1998 2004 2012 2016", "Years 2010-2015 2016-2020", "Between 2019 2020 2021",
    "compensation was 150000 a year", "range 80 000-100 000", "meet at 10:30 on 2024-05-01, ZIP 94107",
])
def test_anonymisation_leaves_years_salaries_and_dates(text):
    assert anonymize(text) == text


def test_missing_recorded_outputs_and_neutral_swaps_compare_fairly():
    echo = lambda df: [f"Noted: {t}" for t in df["input"]]  # noqa: E731 - fair: repeats the input
    data = pd.DataFrame({"id": ["a", "b"], "input": ["He is great.", "She leads her team."],
                         "output": [float("nan"), "Noted: She leads her team."]})
    result = replay(echo, data, categories=None, progress=False, neutral=True)
    assert result.metrics["gender"] == 0.0 and result.metrics["gender/exact_match_rate"] == 1.0
