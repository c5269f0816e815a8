"""Building blocks every other layer may use: errors, strict validation of user settings,
statistics (bootstrap, permutation and Wilson intervals), metric-key naming, hashing, version
ordering, group labels, ranking metrics, the `bias.model_version` label, and the guard every
MLflow write goes through.

Imports nothing from the rest of mlflow_bias.
"""
