"""The command line shared by the probe generator scripts in `scripts/`."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Callable

import pandas as pd

from mlflow_bias.probes.store import freeze


def _takes_version(build: Callable[..., pd.DataFrame]) -> bool:
    """Whether a probe's `build` takes the version to build (a probe whose versions differ): its
    first parameter is named `version`. Other parameters (a seed) keep their defaults."""
    parameters = list(inspect.signature(build).parameters)
    return bool(parameters) and parameters[0] == "version"


def build_and_freeze(
    name: str,
    build: Callable[..., pd.DataFrame],
    card: Callable[[pd.DataFrame, str], str],
    *,
    slice_columns: list[str],
    default_root: Path,
    description: str,
    kind: Callable[[str], str | None] | None = None,
) -> None:
    """Parse `--version`/`--root`, build the probe (`build(version)` when it takes the version)
    and freeze it as a new version; `kind(version)` names the probe kind where its columns fit
    more than one (a decisions probe with counterfactual sets)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--version", required=True)
    parser.add_argument("--root", default=str(default_root),
                        help="probe store to write into (default: the repository's shipped probes)")
    args = parser.parse_args()
    df = build(args.version) if _takes_version(build) else build()
    info = freeze(df, name, args.version, card=card(df, args.version),
                  slice_columns=slice_columns, root=args.root,
                  kind=kind(args.version) if kind is not None else None)
    print(f"froze {info.name}@{info.version}: {info.rows} items, digest {info.content_digest}")
