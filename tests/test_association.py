"""WEAT/SEAT association tests: against hand-computed cases and an independent numpy implementation
(explicit loops and an exhaustive enumeration of splits), and the real all-MiniLM-L6-v2 encoder."""

from __future__ import annotations

import itertools
import math

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlflow_bias.dimensions import association
from mlflow_bias.dimensions.association import AssociationConfig, weat
from mlflow_bias.core.errors import CapabilityError, ProbeSchemaError

FAST = {"bootstrap_samples": 200, "progress": False}


def numpy_weat(x, y, a, b):
    """Effect size and exact one-sided p-value, written out with loops: the yardstick."""
    def cos(u, v):
        return float(np.dot(u, v) / (np.sqrt(np.dot(u, u)) * np.sqrt(np.dot(v, v))))

    def s(w):
        return sum(cos(w, ai) for ai in a) / len(a) - sum(cos(w, bi) for bi in b) / len(b)

    sx, sy = [s(w) for w in x], [s(w) for w in y]
    everyone = sx + sy
    mean = sum(everyone) / len(everyone)
    std = math.sqrt(sum((v - mean) ** 2 for v in everyone) / (len(everyone) - 1))
    d = (sum(sx) / len(sx) - sum(sy) / len(sy)) / std
    observed = sum(sx) / len(sx) - sum(sy) / len(sy)
    at_least, total = 0, 0
    for chosen in itertools.combinations(range(len(everyone)), len(sx)):
        rest = [everyone[i] for i in range(len(everyone)) if i not in chosen]
        stat = sum(everyone[i] for i in chosen) / len(sx) - sum(rest) / len(rest)
        at_least += stat >= observed - 1e-12
        total += 1
    return d, at_least / total, total


@pytest.fixture(scope="module")
def random_sets():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(5, 16)), rng.normal(size=(6, 16))
    x = rng.normal(size=(5, 16)) + 0.6 * a.mean(axis=0)  # X leans towards A
    y = rng.normal(size=(5, 16)) + 0.6 * b.mean(axis=0)
    return x, y, a, b


def test_matches_an_independent_numpy_implementation_exactly(random_sets):
    x, y, a, b = random_sets
    d, p, splits = numpy_weat(x, y, a, b)
    assert splits == math.comb(10, 5) == 252
    ours = weat(x, y, a, b, permutation_samples=252, bootstrap_samples=100, seed=0)
    assert ours.exact and ours.effect_size == pytest.approx(d, abs=1e-12)
    assert ours.p_value == pytest.approx(p, abs=1e-12)
    assert d > 1 and p < 0.05
    assert ours.ci_low <= d <= ours.ci_high


def test_monte_carlo_p_value_uses_the_plus_one_correction(random_sets):
    x, y, a, b = random_sets
    _, exact_p, _ = numpy_weat(x, y, a, b)
    mc = weat(x, y, a, b, permutation_samples=200, bootstrap_samples=10, seed=5)
    assert not mc.exact and mc.resamples == 200
    hits = round(mc.p_value * 201) - 1
    assert mc.p_value == pytest.approx((hits + 1) / 201, abs=1e-12)  # (1 + #{null >= observed}) / (1 + n)
    assert mc.p_value == pytest.approx(exact_p, abs=0.04)
    again = weat(x, y, a, b, permutation_samples=200, bootstrap_samples=10, seed=5)
    assert again.p_value == mc.p_value  # seeded


def test_sentences_of_one_word_move_together_in_the_permutation_test(random_sets):
    """SEAT: 5 words per target set, 3 template sentences each; exchanging whole words."""
    x, y, a, b = random_sets
    rng = np.random.default_rng(9)
    xs = np.repeat(x, 3, axis=0) + 0.3 * rng.normal(size=(15, 16))
    ys = np.repeat(y, 3, axis=0) + 0.3 * rng.normal(size=(15, 16))
    words_x, words_y = np.repeat(np.arange(5), 3), np.repeat(np.arange(5, 10), 3)
    ours = weat(xs, ys, a, b, permutation_samples=252, bootstrap_samples=100, seed=0,
                x_clusters=words_x, y_clusters=words_y)
    # by hand: sentence-level s, then every split of the 10 words into 5 + 5
    s = np.concatenate([association.associations(xs, a, b), association.associations(ys, a, b)])
    word = np.concatenate([words_x, words_y])
    observed = s[:15].mean() - s[15:].mean()
    hits = 0
    for chosen in itertools.combinations(range(10), 5):
        inside = np.isin(word, chosen)
        hits += s[inside].mean() - s[~inside].mean() >= observed - 1e-12
    assert ours.exact and ours.p_value == pytest.approx(hits / 252, abs=1e-12)
    assert ours.effect_size == pytest.approx(observed / s.std(ddof=1), abs=1e-12)
    sentence_level = weat(xs, ys, a, b, permutation_samples=20000, bootstrap_samples=100, seed=0)
    assert sentence_level.p_value < ours.p_value  # treating copies as independent overstates it
    assert ours.ci_low <= ours.effect_size <= ours.ci_high


def test_hand_computed_two_dimensional_case():
    # A points along e1, B along e2; cos with unit vectors is just the coordinates
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    x = np.array([[1.0, 0.0], [0.6, 0.8]])   # s = 1, -0.2
    y = np.array([[0.0, 2.0], [0.8, 0.6]])   # s = -1, 0.2
    s = np.array([1.0, -0.2, -1.0, 0.2])
    expected = (0.4 - (-0.4)) / s.std(ddof=1)
    result = weat(x, y, a, b, permutation_samples=100, bootstrap_samples=50, seed=0)
    assert result.effect_size == pytest.approx(expected, abs=1e-12)
    # 6 splits of 4 items into 2 + 2; mean difference >= 0.8 for {1, -0.2} (0.8, the observed
    # split) and {1, 0.2} (1.2); the others give 0, -0.8, -1.2 and 0
    assert result.exact and result.p_value == pytest.approx(2 / 6)
    np.testing.assert_allclose(result.association[:4], s, atol=1e-12)


def test_swapping_targets_flips_the_sign(random_sets):
    x, y, a, b = random_sets
    forward = weat(x, y, a, b, permutation_samples=252, bootstrap_samples=10, seed=0)
    backward = weat(y, x, a, b, permutation_samples=252, bootstrap_samples=10, seed=0)
    assert backward.effect_size == pytest.approx(-forward.effect_size, abs=1e-12)
    assert backward.p_value > 0.9  # one-sided: Y is not closer to A than X is
    swapped_attributes = weat(x, y, b, a, permutation_samples=252, bootstrap_samples=10, seed=0)
    assert swapped_attributes.effect_size == pytest.approx(-forward.effect_size, abs=1e-12)


def test_zero_variance_and_empty_sets_are_clear_errors():
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    same = np.array([[1.0, 1.0], [2.0, 2.0]])
    with pytest.raises(ProbeSchemaError, match="zero variance"):
        weat(same, same * 3, a, b, permutation_samples=10, bootstrap_samples=10, seed=0, name="t")
    with pytest.raises(ProbeSchemaError, match="'t' has no Y items"):
        weat(same, same[:0], a, b, permutation_samples=10, bootstrap_samples=10, seed=0, name="t")
    with pytest.raises(ProbeSchemaError, match="zero length"):
        weat(np.zeros((2, 2)), same, a, b, permutation_samples=10, bootstrap_samples=10, seed=0)


class _TableEncoder:
    """An encoder that looks its vectors up: lets the dimension be checked end to end by hand."""

    capabilities = frozenset({"embed"})

    def __init__(self, table):
        self.table = table

    def describe(self):
        return {"model": "table"}

    def embed(self, texts):
        return np.array([self.table[t] for t in texts])


def _probe(words: dict[str, list[str]], test="toy", attribute="gender"):
    return pd.DataFrame([{"id": f"{test}-{role}-{w}", "attribute": attribute, "test": test,
                          "role": role, "text": w, "word": w}
                         for role, ws in words.items() for w in ws])


def test_dimension_metrics_and_tables(random_sets):
    x, y, a, b = random_sets
    words = {"X": [f"x{i}" for i in range(5)], "Y": [f"y{i}" for i in range(5)],
             "A": [f"a{i}" for i in range(5)], "B": [f"b{i}" for i in range(6)]}
    table = {w: v for role, m in zip("XYAB", (x, y, a, b)) for w, v in zip(words[role], m)}
    probe = _probe(words).sample(frac=1, random_state=0)  # row order must not matter
    result = association.compute(_TableEncoder(table), probe,
                                 AssociationConfig(permutation_samples=252, **FAST))
    d, p, _ = numpy_weat(x, y, a, b)
    assert result.metrics["toy"] == pytest.approx(d) and result.metrics["toy/p_value"] == pytest.approx(p)
    assert result.metrics["toy/n_items"] == 21
    row = result.items.set_index("text").loc["x0"]
    assert row["association"] == pytest.approx(
        np.mean([np.dot(x[0], v) / np.linalg.norm(x[0]) / np.linalg.norm(v) for v in a])
        - np.mean([np.dot(x[0], v) / np.linalg.norm(x[0]) / np.linalg.norm(v) for v in b]))
    assert set(result.tables["words"]["role"]) == {"X", "Y", "A", "B"}


@pytest.mark.parametrize("mutate, message", [
    (lambda df: df[df["role"] != "B"], "test 'toy' has no B items"),
    (lambda df: df.assign(role=df["role"].replace({"A": "Z"})), "role must be X, Y"),
    (lambda df: df.drop(columns=["test"]), "lacks the column"),
])
def test_bad_association_probes(mutate, message):
    probe = _probe({"X": ["a", "b"], "Y": ["c", "d"], "A": ["e"], "B": ["f"]})
    with pytest.raises(ProbeSchemaError, match=message):
        association.compute(_TableEncoder({}), mutate(probe), AssociationConfig(**FAST))


def test_outputs_only_model_cannot_embed():
    probe = _probe({"X": ["a", "b"], "Y": ["c", "d"], "A": ["e"], "B": ["f"]})
    with pytest.raises(CapabilityError, match="association dimension needs a model that gives embed"):
        mlflow.models.evaluate(model=lambda df: ["x"] * len(df), data=probe, model_type="bias",
                               evaluators=["bias"], evaluator_config={"bias": FAST})


# -- embedding adapters ------------------------------------------------------------------------

def test_sentence_encoder_adapter_equals_encode_in_any_batch_size():
    from mlflow_bias.adapters import SentenceEncoder
    from mlflow_bias.adapters.models import load_minilm

    model = load_minilm()
    texts = ["This is math.", "poetry", "He is here.", "poetry", "A much longer sentence about dance."]
    direct = model.encode(texts, convert_to_numpy=True)
    for batch_size in (1, 2, 64):
        got = SentenceEncoder(model, batch_size=batch_size, progress=False).embed(texts)
        np.testing.assert_allclose(got, direct, atol=1e-5)


def test_transformers_encoder_mean_pools_over_the_attention_mask():
    import torch
    from transformers import BertConfig, BertModel

    import tiny_lm
    from mlflow_bias.adapters import HFEncoder, resolve_adapter

    tok = tiny_lm.tokenizer()
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=64)).eval()
    texts = ["the nurse said", "he", "the engineer said that she was late"]
    adapter = resolve_adapter((model, tok), batch_size=2, progress=False)
    assert isinstance(adapter, HFEncoder)
    got = adapter.embed(texts)
    for text, vector in zip(texts, got):  # one at a time, no padding: plain mean over tokens
        ids = torch.tensor([tok(text)["input_ids"]])
        with torch.no_grad():
            expected = model(input_ids=ids).last_hidden_state[0].mean(dim=0).numpy()
        np.testing.assert_allclose(vector, expected, atol=1e-5)


def test_causal_lm_embedding_is_the_mean_of_the_text_tokens(skewed_lm):
    import torch

    from mlflow_bias.adapters import HFCausalLM

    model, tok = skewed_lm
    texts = ["the nurse said", "he", "the engineer said that she was late"]
    got = HFCausalLM(model, tok, batch_size=2, progress=False).embed(texts)
    for text, vector in zip(texts, got):  # after BOS, pooled over the text's tokens only
        ids = torch.tensor([[tok.bos_token_id, *tok(text, add_special_tokens=False)["input_ids"]]])
        with torch.no_grad():
            hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0]
        np.testing.assert_allclose(vector, hidden[1:].mean(dim=0).numpy(), atol=1e-4)


# -- the real encoder through MLflow ------------------------------------------------------------

MATH_ARTS = {  # Caliskan et al. (2017), WEAT 7
    "X": "math algebra geometry calculus equations computation numbers addition".split(),
    "Y": "poetry art dance literature novel symphony drama sculpture".split(),
    "A": "male man boy brother he him his son".split(),
    "B": "female woman girl sister she her hers daughter".split(),
}


def test_minilm_logged_to_mlflow_gives_the_independent_numbers():
    from mlflow.tracking import MlflowClient

    from mlflow_bias.adapters.models import load_minilm, log_sentence_encoder

    model = load_minilm()
    with mlflow.start_run():
        log_sentence_encoder(model, registered_model_name="minilm")
    probe = _probe(MATH_ARTS, test="math-arts")
    with mlflow.start_run() as run:
        metrics = mlflow.models.evaluate(
            model="models:/minilm/1", data=probe, model_type="bias", evaluators=["bias"],
            evaluator_config={"bias": {**FAST, "permutation_samples": 20000}},
        ).metrics
    vectors = {role: model.encode(words) for role, words in MATH_ARTS.items()}
    d, p, splits = numpy_weat(*(vectors[r] for r in "XYAB"))
    assert splits == 12870  # <= 20000 samples: the p-value is exact
    assert metrics["bias/association/math-arts"] == pytest.approx(d, abs=1e-4)
    assert metrics["bias/association/math-arts/p_value"] == pytest.approx(p, abs=1e-9)
    assert d > 0.5  # MiniLM places math nearer male terms than arts
    tables = mlflow.load_table("bias/association/items.json", run_ids=[run.info.run_id])
    assert len(tables) == 32 and set(tables["role"]) == {"X", "Y", "A", "B"}
    tags = MlflowClient().get_run(run.info.run_id).data.tags
    assert tags["bias.model_version"] == "minilm/1"


def test_minilm_on_the_shipped_association_tests():
    """All eight shipped tests on the real encoder, in memory, through `mlflow.models.evaluate`."""
    import mlflow_bias.probes as probes
    from mlflow_bias.adapters import SentenceEncoder
    from mlflow_bias.adapters.models import load_minilm

    probe = probes.load("association-tests").to_pandas()
    with mlflow.start_run() as run:
        metrics = mlflow.models.evaluate(
            model=SentenceEncoder(load_minilm(), progress=False), data=probe,
            model_type="bias", evaluators=["bias"], evaluator_config={"bias": FAST},
        ).metrics
    tests = sorted(probe["test"].unique())
    assert len(tests) == 8
    for test in tests:
        d = metrics[f"bias/association/{test}"]
        assert -2 < d < 2 and metrics[f"bias/association/{test}/ci_low"] <= d
        assert 0 < metrics[f"bias/association/{test}/p_value"] <= 1
    # the word form, recomputed independently from the encoder's vectors
    words = probe[probe["test"] == "weat7-math-arts"]
    vectors = {r: load_minilm().encode(list(words.loc[words["role"] == r, "text"])) for r in "XYAB"}
    d, _, _ = numpy_weat(*(vectors[r] for r in "XYAB"))
    assert metrics["bias/association/weat7-math-arts"] == pytest.approx(d, abs=1e-4)
    per_word = mlflow.load_table("bias/association/words.json", run_ids=[run.info.run_id])
    seat = per_word[per_word["test"] == "seat7-math-arts"]
    assert len(seat) == 32 and set(seat["n_texts"]) == {5}
    from mlflow.tracking import MlflowClient

    tags = MlflowClient().get_run(run.info.run_id).data.tags
    assert tags["bias.probe.association-tests"].startswith("1.0.0@")


def test_transformers_encoder_logged_to_mlflow_is_mean_pooled():
    """A feature-extraction transformers model given by URI reaches the encoder adapter."""
    import torch
    from transformers import BertConfig, BertModel

    import tiny_lm
    from mlflow_bias.adapters import HFEncoder, resolve_adapter

    tok = tiny_lm.tokenizer()
    torch.manual_seed(1)
    model = BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=64)).eval()
    with mlflow.start_run():
        info = mlflow.transformers.log_model(
            transformers_model={"model": model, "tokenizer": tok}, name="encoder",
            task="feature-extraction", pip_requirements=["torch", "transformers"])
    adapter = resolve_adapter(info.model_uri, batch_size=4, progress=False)
    assert isinstance(adapter, HFEncoder)
    words = {"X": ["nurse", "teacher", "cook"], "Y": ["engineer", "pilot", "builder"],
             "A": ["she", "her"], "B": ["he", "him"]}
    probe = _probe(words)
    metrics = mlflow.models.evaluate(model=info.model_uri, data=probe, model_type="bias",
                                     evaluators=["bias"], evaluator_config={"bias": FAST}).metrics
    direct = HFEncoder(model, tok, progress=False)
    vectors = {r: direct.embed(ws) for r, ws in words.items()}
    d, p, _ = numpy_weat(*(vectors[r] for r in "XYAB"))
    assert metrics["bias/association/toy"] == pytest.approx(d, abs=1e-4)
    assert metrics["bias/association/toy/p_value"] == pytest.approx(p, abs=1e-9)


def test_too_few_units_and_mixed_word_and_sentence_rows(random_sets):
    x, y, a, b = random_sets
    with pytest.raises(ProbeSchemaError, match="has 1 X and 5 Y item"):
        weat(x[:1], y, a, b, permutation_samples=10, bootstrap_samples=10, seed=0, name="t")
    with pytest.raises(ProbeSchemaError, match="has 1 X and 5 Y word"):
        weat(x[:3], y, a, b, permutation_samples=10, bootstrap_samples=10, seed=0, name="t",
             x_clusters=np.array(["w", "w", "w"]), y_clusters=np.arange(5))
    # a WEAT test (no word) beside a SEAT test (words) in one probe: each WEAT row is its own unit
    words = {"X": [f"x{i}" for i in range(5)], "Y": [f"y{i}" for i in range(5)],
             "A": [f"a{i}" for i in range(5)], "B": [f"b{i}" for i in range(6)]}
    table = {w: v for role, m in zip("XYAB", (x, y, a, b)) for w, v in zip(words[role], m)}
    weat_rows = _probe(words, test="weat").assign(word=None)
    seat_rows = _probe(words, test="seat")
    result = association.compute(_TableEncoder(table), pd.concat([weat_rows, seat_rows]),
                                 AssociationConfig(permutation_samples=252, **FAST))
    d, p, _ = numpy_weat(x, y, a, b)
    assert result.metrics["weat/p_value"] == pytest.approx(p) and result.metrics["seat/p_value"] == pytest.approx(p)


def test_unequal_word_clusters_are_weighted_by_their_sentences(random_sets):
    """Words with different numbers of sentences: the statistic is a mean over sentences."""
    x, y, a, b = random_sets
    sizes_x, sizes_y = [1, 4, 2, 3, 1], [3, 1, 1, 5, 2]
    rng = np.random.default_rng(4)
    xs = np.repeat(x, sizes_x, axis=0) + 0.3 * rng.normal(size=(sum(sizes_x), 16))
    ys = np.repeat(y, sizes_y, axis=0) + 0.3 * rng.normal(size=(sum(sizes_y), 16))
    words_x, words_y = np.repeat(np.arange(5), sizes_x), np.repeat(np.arange(5, 10), sizes_y)
    ours = weat(xs, ys, a, b, permutation_samples=252, bootstrap_samples=50, seed=0,
                x_clusters=words_x, y_clusters=words_y)
    s = np.concatenate([association.associations(xs, a, b), association.associations(ys, a, b)])
    word = np.concatenate([words_x, words_y])
    observed = s[: len(xs)].mean() - s[len(xs):].mean()
    hits = sum(s[np.isin(word, chosen)].mean() - s[~np.isin(word, chosen)].mean() >= observed - 1e-12
               for chosen in itertools.combinations(range(10), 5))
    assert ours.p_value == pytest.approx(hits / 252, abs=1e-12)
