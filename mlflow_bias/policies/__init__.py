"""Release policies shipped with mlflow-bias (package data; see mlflow_bias.release.policy)."""
