"""Category Bias Score: max pairwise total variation distance between groups' category rates."""

import datasets
import evaluate
import numpy as np

from mlflow_bias.dimensions.cbs import max_tvd

_DESCRIPTION = "Category Bias Score (max pairwise total variation distance of category distributions across groups) and flip rate over counterfactual sets (mlflow-bias cbs dimension)."
_KWARGS = """
Args:
    categories (list of str): each output's category.
    groups (list of str): each item's group.
    set_ids (list of str): the counterfactual set of each item (identical inputs but for the group).
Returns: cbs, flip_rate.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class CBS(evaluate.Measurement):
    def _info(self):
        return evaluate.MeasurementInfo(
            module_type="measurement", description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"categories": datasets.Value("string"),
                                        "groups": datasets.Value("string"),
                                        "set_ids": datasets.Value("string")}),
        )

    def _compute(self, categories, groups, set_ids):
        names, cats, sets = sorted(set(groups)), sorted(set(categories)), sorted(set(set_ids))
        counts = np.zeros((len(sets), len(names), len(cats)))
        for s, g, k in zip(set_ids, groups, categories):
            counts[sets.index(s), names.index(g), cats.index(k)] += 1
        per_set = counts.argmax(axis=2)
        return {"cbs": float(max_tvd(counts.sum(axis=0))),
                "flip_rate": float((per_set != per_set[:, :1]).any(axis=1).mean())}
