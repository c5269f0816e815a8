"""Stage 4's judgement: the versioned release policy and the rule judging a logged metric, the
gate's decision over an evaluation run (evidence, bindings, signatures, thresholds), known
limitations of a model version, the search for evaluation runs, drift over time, and the
comparison of two evaluations.

May import: `core`, `trust`, `dimensions` (the registry, for what a rule may judge), `probes`
(digest checks). Reads MLflow; never scores a model.
"""
