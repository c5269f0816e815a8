"""Refusal rubrics shipped with mlflow-bias (package data; see mlflow_bias.text.refusal_rubric)."""
