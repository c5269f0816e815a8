"""Decision metrics (statistical parity, disparate impact, equal opportunity, equalised odds)."""

import datasets
import evaluate
import numpy as np

from mlflow_bias.dimensions.parity import headline_values
from mlflow_bias.core.stats import run_starts

_DESCRIPTION = "Statistical parity difference, disparate impact, equal opportunity and equalised odds differences across groups (mlflow-bias parity dimension)."
_KWARGS = """
Args:
    predictions (list of int): the model's decisions, 0 or 1.
    references (list of int): the true outcomes, 0 or 1.
    groups (list of str): each item's group.
Returns: statistical_parity_difference, disparate_impact, equal_opportunity_difference,
    equalized_odds_difference.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Parity(evaluate.Measurement):
    def _info(self):
        return evaluate.MeasurementInfo(
            module_type="measurement", description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("int64"),
                                        "references": datasets.Value("int64"),
                                        "groups": datasets.Value("string")}),
        )

    def _compute(self, predictions, references, groups):
        order = np.argsort(np.asarray(groups), kind="stable")
        sorted_groups = np.asarray(groups)[order]
        values = headline_values(np.asarray(predictions, float)[order],
                                 np.asarray(references, float)[order], run_starts(sorted_groups))
        return {name: float(value) for name, value in values.items()}
