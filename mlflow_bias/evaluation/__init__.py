"""The `bias` MLflow evaluator (`evaluator.BiasEvaluator`), `mlflow_bias.evaluate` (`api`), the
evaluator's options (`config`), what an evaluation logs (`tracking`), recovering runs a tracking-server
outage interrupted (`recovery`), and which refusal-rubric patterns fire by group in a run
(`refusal_audit`).

May import every layer below it: `core`, `text`, `trust`, `adapters`, `dimensions`, `probes`,
`data_audit`, `release`, `reporting`.
"""
