"""The scorecard's public import path: the model and its text form (`scorecard`), the charts
(`plots`) and the HTML page (`html`), importable from one module as in earlier versions
(`mlflow_bias.report` is the same module). All of it is pure: no MLflow calls; `scorecard_page`
logs what is rendered here."""

from __future__ import annotations

from mlflow_bias.reporting import html as _html
from mlflow_bias.reporting import plots as _plots
from mlflow_bias.reporting.html import render_html, render_report
from mlflow_bias.reporting.plots import Plot, make_plots, plot_groups
from mlflow_bias.reporting.scorecard import (
    HTML_PATH, PLOTS_DIR, SCHEMA, SCORECARD_PATH, Scorecard, format_scorecard, json_text, policy_summary,
)

__all__ = [
    "HTML_PATH", "PLOTS_DIR", "SCHEMA", "SCORECARD_PATH", "Plot", "Scorecard", "format_scorecard",
    "json_text", "make_plots", "plot_groups", "policy_summary", "render_html", "render_report",
]

# The page's view model and the charts' rate interval, also importable from this path.
_build_view = _html._build_view
_wilson = _plots._wilson
