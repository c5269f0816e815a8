"""Refusal rubrics shipped with mlflow-bias (package data; see mlflow_bias.refusal_rubric)."""
