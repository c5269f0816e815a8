"""The scorecard: its JSON model and text (`report`), the self-contained HTML page with its charts,
and the page logged to a run with the model version's known limitations (`scorecard_page`).

May import: `core`, `dimensions` (titles and explanations), `release` (judging a value against a
rule, known-limitation records).
"""
