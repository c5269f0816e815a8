"""Log-Probability Bias Score from per-item log-likelihoods of counterfactual pairs."""

import datasets
import evaluate
import pandas as pd

from mlflow_bias.dimensions import lpbs
from mlflow_bias.core.stats import sign_flip_test

_DESCRIPTION = "Log-Probability Bias Score (LPBS) with bootstrap CI, sign-flip p-value and noise floor, from the log-likelihoods of counterfactual pairs (mlflow-bias lpbs dimension)."
_KWARGS = """
Args:
    logprob_a, logprob_b (list of float): log-likelihoods of text_a and text_b.
    prior_logprob_a, prior_logprob_b (list of float): the same for the prior sentences (0 if none).
    conditions (list of str): what is held fixed in each pair (e.g. the occupation).
    stereotypes (list of str): "a", "b" or "" (which side is stereotype-consistent).
    seed (int, optional), bootstrap_samples (int, optional).
Returns: lpbs, ci_low, ci_high, p_value, noise_floor, stereotype_rate.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class LPBS(evaluate.Measurement):
    def _info(self):
        return evaluate.MeasurementInfo(
            module_type="measurement", description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=datasets.Features({k: datasets.Value("float64") for k in
                                        ("logprob_a", "logprob_b", "prior_logprob_a", "prior_logprob_b")}
                                       | {"conditions": datasets.Value("string"),
                                          "stereotypes": datasets.Value("string")}),
        )

    def _compute(self, logprob_a, logprob_b, prior_logprob_a, prior_logprob_b, conditions,
                 stereotypes, seed=0, bootstrap_samples=1000, permutation_samples=2000):
        items = pd.DataFrame({
            "id": range(len(logprob_a)), "condition": conditions, "stereotype": stereotypes,
            "group_a": "a", "group_b": "b",
            "delta": [(a - b) - (pa - pb) for a, b, pa, pb in
                      zip(logprob_a, logprob_b, prior_logprob_a, prior_logprob_b)],
        })
        config = lpbs.LPBSConfig(bootstrap_samples=bootstrap_samples,
                                 permutation_samples=permutation_samples, seed=seed)
        score, (values, statistic) = lpbs._score(lpbs.orient(items), config)
        null = sign_flip_test(values, statistic, n_resamples=permutation_samples, seed=seed)
        return {"lpbs": score.value, "ci_low": score.ci_low, "ci_high": score.ci_high,
                "p_value": null.p_value, "noise_floor": null.noise_floor,
                "stereotype_rate": score.stereotype_rate}
