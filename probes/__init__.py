"""Probe sets shipped with mlflow-bias (package data; see mlflow_bias.probes)."""
