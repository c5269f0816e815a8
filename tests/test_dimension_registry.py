"""The dimension registry: every registered dimension honours the contract, a dimension added
from outside the package runs through evaluate -> gate -> scorecard with nothing but its module
and a policy rule, and an entry point of another installed package adds one."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
import warnings

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

import mlflow_bias.probes as probes
from mlflow_bias.adapters.base import EMBED, GENERATE, LOGLIKELIHOOD, PREDICT
from mlflow_bias.evaluation.config import BiasConfig
from mlflow_bias.dimensions import registry
from mlflow_bias.dimensions.protocol import Dimension, MetricSpec, ScoringContext
from mlflow_bias.core.errors import ConfigError, ProbeSchemaError
from mlflow_bias.release.limitations import known_dimensions
from mlflow_bias.release.policy import PolicyError, load_policy
from mlflow_bias.probes.schemas import detect_kind
from mlflow_bias.core.validation import StrictModel

BUILT_IN = ["lpbs", "cbs", "refusal", "parity", "association", "ranking", "bbq", "coreference",
            "stereoset", "replay"]


def test_the_built_in_dimensions_are_registered_in_order():
    assert list(registry.all_dimensions())[:len(BUILT_IN)] == BUILT_IN
    assert list(registry.scored_from_probes())[:9] == BUILT_IN[:9]  # replay is fed traces
    assert list(registry.probe_kinds())[:9] == ["counterfactual_pairs", "counterfactual_sets", "refusal",
                                                "decisions", "association", "ranking", "bbq_questions",
                                                "coreference", "stereoset"]


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_dimension_honours_the_contract(name, tmp_path):
    dimension = registry.get_dimension(name)
    assert dimension.title and dimension.about and dimension.citation
    assert dimension.requires in {LOGLIKELIHOOD, GENERATE, PREDICT, EMBED}
    assert issubclass(dimension.options, StrictModel)
    options = dimension.options()  # every option has a default
    assert json.loads(json.dumps(dimension.describe()))["name"] == name
    # every metric it declares is a rule a policy may hold, and nothing else is
    rules = [{"metric": m.rule_name(name), "threshold": 0.5,
              "direction": "min" if m.direction == "higher" else "max"} for m in dimension.metrics]
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"name": "contract", "version": "1.0.0", "rules": rules}))
    assert [r.metric for r in load_policy(path).rules] == [m.rule_name(name) for m in dimension.metrics]
    path.write_text(yaml.safe_dump({"name": "contract", "version": "1.0.0",
                                    "rules": [{"metric": f"{name}/no_such_statistic", "threshold": 1}]}))
    with pytest.raises(PolicyError, match=f"{name} logs no 'no_such_statistic'"):
        load_policy(path)
    assert name in known_dimensions()
    assert BiasConfig.from_dict({name: {}}).options_for(dimension) == options
    kind = dimension.probe_kind
    if kind is None:
        return
    # the probe kind: detected from exactly its required columns, and its check refuses a probe
    # with no rows
    empty = pd.DataFrame(columns=list(kind.required))
    assert detect_kind(empty).name == kind.name
    assert detect_kind(empty).dimension == name
    with pytest.raises(ProbeSchemaError, match="empty"):
        kind.validate(empty)
    config = dimension.configure(options, ScoringContext(bootstrap_samples=7, seed=3, slice_columns=["x"]))
    assert (config.bootstrap_samples, config.seed, config.slice_columns) == (7, 3, ["x"])


def test_an_incomplete_dimension_is_refused_when_its_module_loads():
    class Incomplete(Dimension):
        name = "incomplete"
        title = "Incomplete"
        about = "Declares no metrics and computes nothing."
        requires = PREDICT

    with pytest.raises(TypeError, match="declare `metrics`.*implement `compute"):
        registry.register_dimension(Incomplete)
    assert "incomplete" not in registry.all_dimensions()

    class Shadow(Dimension):
        name = "cbs"
        title = "Another CBS"
        about = "Takes a name that is taken."
        requires = PREDICT
        metrics = (MetricSpec(None, "lower"),)

        def compute(self, adapter, probe, config):
            raise AssertionError

    with pytest.raises(TypeError, match="'cbs' is taken"):
        registry.register_dimension(Shadow)
    assert type(registry.get_dimension("cbs")).__name__ == "CBS"


def test_options_nest_under_their_dimension_and_flat_keys_still_work_with_a_warning():
    categories = {"advance": ["advance"], "reject": ["reject"]}
    nested = BiasConfig.from_dict({"cbs": {"categories": categories}, "ranking": {"k": 5}})
    with pytest.warns(FutureWarning, match="'ranking_k' is deprecated: give it as {'ranking': {'k'"):
        flat = BiasConfig.from_dict({"categories": categories, "ranking_k": 5})
    for name in ("cbs", "ranking"):
        dimension = registry.get_dimension(name)
        assert nested.options_for(dimension) == flat.options_for(dimension)
    assert nested.options_for(registry.get_dimension("ranking")).k == 5
    with pytest.raises(ConfigError, match="ranking.k = 0: expected a whole number of at least 1"):
        BiasConfig.from_dict({"ranking": {"k": 0}})
    with pytest.raises(ConfigError, match="cbs.categorys: this key is unknown; valid keys here: "
                                          "categories, verbalisers"):
        BiasConfig.from_dict({"cbs": {"categorys": categories}})
    with pytest.raises(ConfigError, match="given both flat and as cbs.categories"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            BiasConfig.from_dict({"categories": categories, "cbs": {"categories": categories}})


# -- a dimension from the tests folder, end to end ---------------------------------------------------
class YesModel(mlflow.pyfunc.PythonModel):
    """Says yes to every question about a man; to a woman only when `fair`."""

    def __init__(self, fair: bool) -> None:
        self.fair = fair

    def predict(self, context, model_input, params=None):
        return ["yes" if self.fair or " him " in q else "no" for q in model_input["input"]]


@pytest.fixture
def toy_dimension():
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent / "plugins"))
    module = importlib.import_module("toy_dimension")
    yield module
    registry.unregister("yes_gap")
    sys.modules.pop("toy_dimension", None)
    sys.path.pop(0)


def test_a_dimension_from_the_tests_folder_runs_through_evaluate_gate_and_scorecard(toy_dimension, tmp_path):
    from mlflow_bias.promotion.model_registry import gate
    from mlflow_bias.reporting.report import HTML_PATH

    rows = [{"id": f"q{i}-{g}", "attribute": "gender", "group": g,
             "question": f"Should we hire {pronoun} for role {i}?"}
            for i in range(20) for g, pronoun in (("female", "her"), ("male", "him"))]
    probes.freeze(pd.DataFrame(rows), "yes-questions", "1.0.0", card="# yes questions\n\nA toy probe.")
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({
        "name": "toy", "version": "1.0.0", "probes": ["yes-questions"], "required_dimensions": ["yes_gap"],
        "rules": [{"metric": "yes_gap", "threshold": 0.10, "direction": "max"}]}))
    for fair in (False, True):
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(name="model", python_model=YesModel(fair),
                                           registered_model_name="yes-screen", pip_requirements=["pandas"])
            mlflow.models.evaluate(info.model_uri, data=probes.load("yes-questions").to_pandas(),
                                   model_type="bias", evaluators=["bias"],
                                   evaluator_config={"bias": {"policy": str(policy), "progress": False,
                                                              "bootstrap_samples": 200, "yes_gap": {}}})
    client = MlflowClient()
    runs = {str(mv.version): client.get_run(mv.run_id) for mv in client.search_model_versions("name='yes-screen'")}
    assert runs["1"].data.metrics["bias/yes_gap/gender"] == pytest.approx(1.0)
    assert runs["2"].data.metrics["bias/yes_gap/gender"] == pytest.approx(0.0)
    assert runs["1"].data.tags["bias.dimension.yes_gap"] == "completed"
    assert gate("yes-screen", "1", policy=str(policy)).status == "blocked"
    assert gate("yes-screen", "2", policy=str(policy)).status == "passed"
    # the scorecard page (re-rendered with the gate's decision) explains the new dimension
    path = mlflow.artifacts.download_artifacts(run_id=runs["1"].info.run_id, artifact_path=HTML_PATH,
                                               dst_path=str(tmp_path))
    page = open(path, encoding="utf-8").read()
    assert "Yes-rate gap" in page
    assert "The largest difference between two groups" in page
    assert "bias/yes_gap/gender" in page and "BLOCKED" in page


def test_another_package_adds_a_dimension_through_its_entry_point(tmp_path, monkeypatch):
    (tmp_path / "gap_plugin.py").write_text(textwrap.dedent('''
        from mlflow_bias.adapters.base import PREDICT
        from mlflow_bias.dimensions import Dimension, MetricSpec, ProbeKind

        class LengthGap(Dimension):
            name = "length_gap"
            title = "Answer-length gap"
            about = "Difference of mean answer length between groups."
            requires = PREDICT
            probe_kind = ProbeKind("length_prompts", ("id", "attribute", "group", "prompt_text"))
            metrics = (MetricSpec(None, "lower"),)

            def compute(self, adapter, probe, config):
                raise NotImplementedError
    '''))
    dist = tmp_path / "gap_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gap-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[mlflow_bias.dimensions]\nlength_gap = gap_plugin:LengthGap\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        dimension = registry.get_dimension("length_gap")
        assert dimension.title == "Answer-length gap"
        assert registry.probe_kinds()["length_prompts"].dimension == "length_gap"
        assert "length_gap" in known_dimensions()
    finally:
        registry.unregister("length_gap")
        sys.modules.pop("gap_plugin", None)


def test_the_cli_lists_every_registered_dimension(capsys):
    from mlflow_bias.cli import main

    assert main(["dimensions", "--json"]) == 0
    cards = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in cards] == list(registry.all_dimensions())
    cbs = next(c for c in cards if c["name"] == "cbs")
    assert cbs["probe_kind"]["required"] == ["id", "attribute", "set_id", "group", "input"]
    assert cbs["options"] == ["categories", "verbalisers"]
    assert "cbs/unparsed_rate" in [m["metric"] for m in cbs["metrics"]]


def test_the_names_a_dimension_may_not_take_are_the_shared_evaluator_options():
    """The registry keeps the shared option names (it may not import the evaluator's config, a
    layer above it): they must be exactly BiasConfig's fields, or a dimension could shadow one."""
    assert registry.RESERVED_NAMES == set(BiasConfig.model_fields) - {"dimension_options"}
