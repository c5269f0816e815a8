"""Stage 1: the audit of a fine-tuning dataset. `representation` measures how protected groups
are represented in it (pure: counts, shares, gaps and co-occurrence skews); `tracking` logs that
audit to an MLflow run (metrics, tables, chart and the dataset as a run input).

May import: `core`, `text`.
"""
