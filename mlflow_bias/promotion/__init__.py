"""Promotion on the MLflow model registry: `model_registry.gate` and `promote` (tag a version,
set an alias only for a version whose decision passes, evaluating it first when needed) and the
`bias-gate` tracking-server app (`server`) that enforces the same check on alias requests.

May import every layer below it; nothing imports it except `demo` and `cli`.
"""
