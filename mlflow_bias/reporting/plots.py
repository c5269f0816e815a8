"""The scorecard's charts as PNG bytes: each dimension's headline values against their
thresholds, per-group rates, per-slice values, and training-data shares against their targets.
Pure: a scorecard dict in, `Plot`s out; matplotlib is imported only when a chart is drawn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlflow_bias.reporting._common import (
    _about, _dimension_prefix, _finite, _headlines, _metric_key, _rates_label, _rule_for,
    _statistics, _threshold_verdict,
)
from mlflow_bias.reporting.scorecard import policy_summary

_COLORS = {"pass": "#1a7f37", "fail": "#cf222e", "none": "#0969da", "waived": "#9a6700",
           "muted": "#8c959f", "ink": "#24292f"}
_PALETTE = ["#0969da", "#bf8700", "#8250df", "#1a7f37", "#cf222e", "#57606a", "#e16f24", "#1b7c83"]


@dataclass(frozen=True)
class Plot:
    """One chart of the scorecard: its file name under `bias/plots/`, title, PNG bytes, and the
    page section (anchor) it belongs to."""

    name: str
    title: str
    png: bytes
    section: str

    @property
    def data_uri(self) -> str:
        import base64

        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _slug(*parts: Any) -> str:
    import re

    text = "-".join(str(p).replace("/", "-") for p in parts if p not in (None, ""))
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.-") or "plot"


def _figure(rows: int, *, base: float = 1.3, per_row: float = 0.42, width: float = 6.4):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, base + per_row * max(rows, 1)), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)
    ax.grid(axis="x", color="#eaeef2", linewidth=0.8)
    ax.set_axisbelow(True)
    return figure, ax


def _png(figure: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    # zlib level 1: a quarter less time a chart than the default 6, for files about a third larger
    # (25 KB -> 33 KB); a scorecard draws one chart per dimension, attribute and slice set
    figure.savefig(buffer, format="png", metadata={"Software": None}, facecolor="white",
                   pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def _errors(values: list[float], lows: list[Any], highs: list[Any]) -> list[list[float]]:
    below = [max(0.0, v - lo) if _finite(lo) is not None else 0.0 for v, lo in zip(values, lows)]
    above = [max(0.0, hi - v) if _finite(hi) is not None else 0.0 for v, hi in zip(values, highs)]
    return [below, above]


def _headline_plot(dim: dict[str, Any], policy: dict[str, Any] | None, anchor: str) -> Plot | None:
    from matplotlib.lines import Line2D

    name = dim.get("dimension", "?")
    prefix = _dimension_prefix(dim)
    entries = [h for h in _headlines(dim) if _finite(h["stat"].get("value")) is not None]
    if not entries:
        return None
    unit = entries[0]["row"].get("unit")
    figure, ax = _figure(len(entries))
    ys = list(range(len(entries)))[::-1]
    labels, handles = [], {}
    for y, h in zip(ys, entries):
        stat = h["stat"]
        value = float(stat["value"])
        key = _metric_key(prefix, h)
        rule = _rule_for(policy, name, h["statistic"], dim.get("probe"))
        verdict = _threshold_verdict(rule, key, stat) if rule else "none"
        color = _COLORS[verdict]
        ax.barh(y, value, height=0.55, color=color, alpha=0.22)
        low, high = _errors([value], [stat.get("ci_low")], [stat.get("ci_high")])
        ax.errorbar([value], [y], xerr=[low, high], fmt="o", color=color, ecolor=color,
                    elinewidth=1.8, capsize=4, markersize=6)
        if rule:
            thresholds = [rule["threshold"]] + ([-rule["threshold"]] if rule.get("absolute") else [])
            for t in thresholds:
                ax.vlines(t, y - 0.38, y + 0.38, colors=_COLORS["ink"], linestyles="--", linewidth=1.4)
            handles["threshold"] = Line2D([], [], color=_COLORS["ink"], linestyle="--", label="policy threshold")
        floor = _finite(stat.get("noise_floor"))
        if floor is not None:
            ax.plot([floor], [y], marker="D", color=_COLORS["muted"], markersize=5, linestyle="none")
            handles["noise"] = Line2D([], [], color=_COLORS["muted"], marker="D", linestyle="none",
                                      markersize=5, label="noise floor")
        label = h["attribute"] + (f"\n{h['statistic'].replace('_', ' ')}" if h["statistic"] else "")
        labels.append(label)
    handles["ci"] = Line2D([], [], color=_COLORS["ink"], marker="o", label="value, 95% CI")
    ax.axvline(0, color="#57606a", linewidth=0.8)
    ax.set_yticks(ys, labels)
    ax.set_ylim(-0.7, len(entries) - 0.3)
    ax.set_xlabel(f"{name} ({unit})" if unit else name, fontsize=9)
    ax.legend(handles=list(handles.values())[::-1], fontsize=8, loc="lower right", frameon=False,
              bbox_to_anchor=(1.0, 1.0), ncols=3)
    probe = dim.get("probe", "")
    return Plot(f"{_slug(prefix.removeprefix('bias/'))}-headline.png",
                f"{_about(name)[0]} on {probe}: value, 95% CI and threshold",
                _png(figure), anchor)


def _wilson(rate: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson interval of a rate measured on n items (its success count is rate * n, rounded)."""
    from mlflow_bias.core.stats import wilson_interval

    return wilson_interval(int(round(rate * n)), n, confidence)


def _group_plot(dim: dict[str, Any], row: dict[str, Any], anchor: str) -> Plot | None:
    """Per-group values of one attribute: refusal rates, category shares (stacked), or parity's
    selection and true-positive rates (selection rates with a 95% Wilson interval)."""
    name = dim.get("dimension", "?")
    prefix = _dimension_prefix(dim).removeprefix("bias/")
    attribute = str(row.get("attribute", "?"))
    rates, groups = row.get("rates"), row.get("groups")
    if isinstance(rates, dict) and rates and all(_finite(v) is not None for v in rates.values()):
        names = list(rates)
        figure, ax = _figure(len(names))
        ys = list(range(len(names)))[::-1]
        values = [100 * float(rates[g]) for g in names]
        ax.barh(ys, values, height=0.55, color=_PALETTE[0])
        counts = row.get("group_n") or {}
        intervals = [_wilson(float(rates[g]), int(counts[g])) if counts.get(g) else (None, None)
                     for g in names]
        if any(low is not None for low, _ in intervals):
            ax.errorbar(values, ys, xerr=_errors(values, [None if lo is None else 100 * lo for lo, _ in intervals],
                                                 [None if hi is None else 100 * hi for _, hi in intervals]),
                        fmt="none", ecolor=_COLORS["ink"], capsize=3, elinewidth=1.2)
            names_shown = [f"{g}\nn={counts.get(g, '?')}" for g in names]
        else:
            names_shown = names
        for y, v in zip(ys, values):
            ax.text(v, y, f" {v:.1f}%", va="bottom", fontsize=8)
        ax.set_yticks(ys, names_shown)
        ax.set_ylim(-0.7, len(names) - 0.3)
        ax.set_xlim(0, max(values + [1.0] + [100 * hi for _, hi in intervals if hi is not None]) * 1.18)
        ax.set_xlabel(_rates_label(name, "rate_axis")
                      + (" with 95% Wilson interval" if counts else ""), fontsize=9)
        title = f"{attribute}: rate per group"
    elif isinstance(rates, dict) and rates and all(isinstance(v, dict) for v in rates.values()):
        names = list(rates)
        categories: list[str] = []
        for v in rates.values():
            categories += [c for c in v if c not in categories]
        figure, ax = _figure(len(names), base=1.6)
        ys = list(range(len(names)))[::-1]
        left = [0.0] * len(names)
        for k, category in enumerate(categories):
            widths = [float(rates[g].get(category) or 0.0) for g in names]
            ax.barh(ys, widths, left=left, height=0.6, color=_PALETTE[k % len(_PALETTE)], label=str(category))
            for y, l, w in zip(ys, left, widths):
                if w >= 0.08:
                    ax.text(l + w / 2, y, f"{100 * w:.0f}%", ha="center", va="center", fontsize=8, color="white")
            left = [l + w for l, w in zip(left, widths)]
        counts = row.get("group_n") or {}
        if counts and categories:  # the first category's share, with a 95% Wilson interval
            first = [float(rates[g].get(categories[0]) or 0.0) for g in names]
            intervals = [_wilson(v, int(counts[g])) if counts.get(g) else (None, None)
                         for g, v in zip(names, first)]
            ax.errorbar(first, ys, xerr=_errors(first, [lo for lo, _ in intervals], [hi for _, hi in intervals]),
                        fmt="none", ecolor=_COLORS["ink"], capsize=3, elinewidth=1.2)
        ax.set_yticks(ys, [f"{g}\nn={counts[g]}" if g in counts else g for g in names])
        ax.set_ylim(-0.7, len(names) - 0.3)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of the group's outputs per category"
                      + (f" ('{categories[0]}' with 95% Wilson interval)" if counts else ""), fontsize=9)
        ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0),
                  ncols=min(4, len(categories)))
        title = f"{attribute}: output categories per group"
    elif isinstance(groups, dict) and groups:
        names = list(groups)
        figure, ax = _figure(len(names), per_row=0.62)
        ys = list(range(len(names)))[::-1]
        height = 0.36
        series = [("selection_rate", "selection rate", _PALETTE[0]),
                  ("true_positive_rate", "true-positive rate", _PALETTE[1])]
        for offset, (key, label, color) in zip((height / 2, -height / 2), series):
            values = [_finite(groups[g].get(key)) for g in names]
            shown = [v if v is not None else 0.0 for v in values]
            positions = [y + offset for y in ys]
            ax.barh(positions, shown, height=height, color=color, label=label)
            if key == "selection_rate":
                lows, highs = [], []
                for g, v in zip(names, values):
                    n = int(groups[g].get("n_items") or 0)
                    low, high = _wilson(v, n) if v is not None and n > 0 else (None, None)
                    lows.append(low)
                    highs.append(high)
                ax.errorbar(shown, positions, xerr=_errors(shown, lows, highs), fmt="none",
                            ecolor=_COLORS["ink"], capsize=3, elinewidth=1.2)
        ax.set_yticks(ys, [f"{g}\nn={groups[g].get('n_items', '?')}" for g in names])
        ax.set_xlim(0, 1.05)
        ax.set_xlabel("rate (selection rate with 95% Wilson interval)", fontsize=9)
        ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2)
        title = f"{attribute}: rates per group"
    else:
        return None
    return Plot(f"{_slug(prefix, attribute)}-groups.png", title, _png(figure), anchor)


def _slice_plot(dim: dict[str, Any], row: dict[str, Any], anchor: str) -> Plot | None:
    """Per-slice values with 95% CIs; slices worse than the attribute overall in red."""
    name = dim.get("dimension", "?")
    prefix = _dimension_prefix(dim).removeprefix("bias/")
    attribute = str(row.get("attribute", "?"))
    raw = []
    for statistic, holder in _statistics(row):
        for sl in holder.get("slices") or []:
            if _finite(sl.get("score")) is not None:
                raw.append((statistic, holder, sl))
    if not raw:
        return None
    raw = raw[:40]  # a longer list is in the slices table
    figure, ax = _figure(len(raw), per_row=0.32)
    ys = list(range(len(raw)))[::-1]
    for y, (statistic, holder, sl) in zip(ys, raw):
        color = _COLORS["fail"] if sl.get("flagged") else _COLORS["none"]
        score = float(sl["score"])
        low, high = _errors([score], [sl.get("ci_low")], [sl.get("ci_high")])
        ax.errorbar([score], [y], xerr=[low, high], fmt="o", color=color, ecolor=color, capsize=3,
                    markersize=5, elinewidth=1.5)
        overall = _finite(holder.get("value"))
        if overall is not None:
            ax.vlines(overall, y - 0.45, y + 0.45, colors=_COLORS["muted"], linewidth=1.2)
    ax.set_yticks(ys, [f"{sl['column']}={sl['value']}" + (f" ({s.replace('_', ' ')})" if s else "")
                       for s, _, sl in raw], fontsize=8)
    ax.set_ylim(-0.7, len(raw) - 0.3)
    ax.set_xlabel(f"{name} per slice (95% CI); grey tick: the attribute overall; red: flagged",
                  fontsize=8)
    return Plot(f"{_slug(prefix, attribute)}-slices.png", f"{attribute}: per slice", _png(figure), anchor)


def _training_plots(audit: dict[str, Any]) -> list[Plot]:
    plots = []
    for attribute, shares in (audit.get("shares") or {}).items():
        names = [g for g in shares]
        if not names:
            continue
        targets = (audit.get("targets") or {}).get(attribute) or {}
        figure, ax = _figure(len(names), per_row=0.55)
        ys = list(range(len(names)))[::-1]
        height = 0.38
        observed = [_finite(shares[g]) or 0.0 for g in names]
        target = [_finite(targets.get(g)) or 0.0 for g in names]
        ax.barh([y + height / 2 for y in ys], observed, height=height, color=_PALETTE[0], label="observed share")
        ax.barh([y - height / 2 for y in ys], target, height=height, color="#d0d7de", edgecolor="#57606a",
                label="target share")
        ax.set_yticks(ys, names)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of group mentions", fontsize=9)
        ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2)
        plots.append(Plot(f"training-data-{_slug(attribute)}.png", f"Training data: {attribute}",
                          _png(figure), "training-data"))
    return plots


def make_plots(scorecard: dict[str, Any], *, policy: Any = None) -> tuple[list[Plot], list[str]]:
    """Every chart of the scorecard, and a note for each chart that could not be drawn (a chart
    never stops the page).

    The charts depend on the measured dimensions, the training-data audit and the policy, not on
    the gate's decision, so the page re-rendered with a decision reuses the charts drawn for the
    evaluation in the same process (drawing is most of a page's cost)."""
    policy = policy_summary(policy) if policy is not None else scorecard.get("policy")
    key = _charts_key(scorecard, policy)
    if key is not None and key in _DRAWN:
        plots, problems = _DRAWN[key]
        return list(plots), list(problems)
    drawn = _draw(scorecard, policy)
    if key is not None:
        _DRAWN[key] = drawn
        while len(_DRAWN) > _DRAWN_KEPT:
            _DRAWN.pop(next(iter(_DRAWN)))
    return list(drawn[0]), list(drawn[1])


_DRAWN: dict[str, tuple[list[Plot], list[str]]] = {}  # charts by what they were drawn from
_DRAWN_KEPT = 4


def _charts_key(scorecard: dict[str, Any], policy: Any) -> str | None:
    """A digest of everything the charts are drawn from; None when it cannot be serialised."""
    import hashlib
    import json

    inputs = {"dimensions": scorecard.get("dimensions"), "training_data": scorecard.get("training_data"),
              "policy": policy}
    try:
        text = json.dumps(inputs, sort_keys=True, default=str, allow_nan=True)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def _draw(scorecard: dict[str, Any], policy: Any) -> tuple[list[Plot], list[str]]:
    plots: list[Plot] = []
    problems: list[str] = []
    for i, dim in enumerate(scorecard.get("dimensions") or []):
        anchor = f"dim-{i}"
        jobs = [("headline", lambda dim=dim: [_headline_plot(dim, policy, anchor)])]
        for row in dim.get("attributes") or []:
            jobs.append((f"groups of {row.get('attribute')}", lambda row=row, dim=dim: [_group_plot(dim, row, anchor)]))
            jobs.append((f"slices of {row.get('attribute')}", lambda row=row, dim=dim: [_slice_plot(dim, row, anchor)]))
        for what, job in jobs:
            try:
                plots += [p for p in job() if p is not None]
            except Exception as exc:  # noqa: BLE001 - a chart is a view; the numbers stay in the tables
                problems.append(f"The {dim.get('dimension')} chart ({what}) could not be drawn: "
                                f"{type(exc).__name__}: {exc}")
    if scorecard.get("training_data"):
        try:
            plots += _training_plots(scorecard["training_data"])
        except Exception as exc:  # noqa: BLE001
            problems.append(f"The training-data chart could not be drawn: {type(exc).__name__}: {exc}")
    seen: dict[str, int] = {}
    unique = []
    for plot in plots:  # two attributes may share a file-safe name
        count = seen.get(plot.name, 0)
        seen[plot.name] = count + 1
        if count:
            stem = plot.name.removesuffix(".png")
            plot = Plot(f"{stem}-{count + 1}.png", plot.title, plot.png, plot.section)
        unique.append(plot)
    return unique, problems


def plot_groups(scorecard: dict[str, Any], *, policy: Any = None) -> list[tuple[str, bytes]]:
    """The scorecard's charts as (file name, PNG bytes), as logged under `bias/plots/`."""
    return [(plot.name, plot.png) for plot in make_plots(scorecard, policy=policy)[0]]
