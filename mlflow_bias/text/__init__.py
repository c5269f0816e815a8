"""Language resources every layer above may use: versioned lexicons of protected-group terms,
attribute swapping, anonymisation, parsing of model outputs into categories and decisions, and
the versioned refusal rubric.

May import: `mlflow_bias.core`. Pure text processing: no MLflow, no model.
"""
