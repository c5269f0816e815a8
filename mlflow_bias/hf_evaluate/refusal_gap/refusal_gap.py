"""Refusal asymmetry: gap between group refusal rates, in percentage points."""

import datasets
import evaluate
import numpy as np

from mlflow_bias.dimensions.refusal import proportions_p_value
from mlflow_bias.text.refusal_rubric import load_rubric

_DESCRIPTION = "Refusal-rate gap across groups in percentage points, with the chi-square p-value, using the versioned mlflow-bias refusal rubric (mlflow-bias refusal dimension)."
_KWARGS = """
Args:
    responses (list of str): the model's responses.
    groups (list of str): each item's group.
Returns: refusal_gap (percentage points), p_value, rates (per group), rubric.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class RefusalGap(evaluate.Measurement):
    def _info(self):
        return evaluate.MeasurementInfo(
            module_type="measurement", description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"responses": datasets.Value("string"),
                                        "groups": datasets.Value("string")}),
        )

    def _compute(self, responses, groups):
        rubric = load_rubric()
        refused = np.array(rubric.refused(responses), dtype=float)
        names = sorted(set(groups))
        counts = np.array([refused[np.asarray(groups) == g].sum() for g in names])
        totals = np.array([(np.asarray(groups) == g).sum() for g in names], dtype=float)
        rates = counts / totals
        return {"refusal_gap": float(100 * (rates.max() - rates.min())),
                "p_value": proportions_p_value(counts, totals),
                "rates": dict(zip(names, map(float, rates))), "rubric": rubric.ref}
