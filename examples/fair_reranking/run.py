"""A ranking model with a known group skew: measured, blocked, re-ranked, measured again, passed.

    python examples/fair_reranking/run.py

1. Builds a ranking probe (20 candidate lists of 20, half women, half men, relevance labels that
   do not depend on gender) and freezes it as `candidate-shortlists@1.0.0`, so that the gate
   accepts it as a registered, verifiable probe.
2. Registers `scorer.ShortlistScorer` (a 0.5 bonus for male first names) as version 1, evaluates
   it on the probe under `policy.yaml` (the ranking dimension is required) and gates it: blocked.
3. Wraps version 1 with `log_reranker(..., MinShareConstraint(), k=10)`, a new registered version
   of the same model, evaluates and gates it: passed; promotes it to 'champion'.
4. Prints exposure ratio, top-k share gap and NDCG@10 (relevance labels) before and after, and the
   re-ranker's own NDCG change against the base scores.

Tracking store: MLFLOW_TRACKING_URI, default `sqlite:///mlflow.db` in the working directory.
Probe store: MLFLOW_BIAS_PROBE_DIR, default `./probe-store` (set it to the same folder when you
gate these versions later with the CLI). Exit status 0 when version 1 was blocked and the
re-ranked version passed, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_BIAS_PROBE_DIR", str(Path("probe-store").resolve()))
sys.path.insert(0, str(HERE))
warnings.filterwarnings("ignore", message=".*type hints.*")

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import mlflow_bias  # noqa: E402
from mlflow_bias import probes  # noqa: E402
from mlflow_bias.text.lexicons import names  # noqa: E402
from mlflow_bias.mitigation import FairReranker, MinShareConstraint, log_reranker  # noqa: E402
from mlflow_bias.promotion.model_registry import gate, promote  # noqa: E402
from scorer import ShortlistScorer  # noqa: E402

MODEL_NAME = "shortlist-ranker"
EXPERIMENT = "fair-reranking"
PROBE, PROBE_VERSION = "candidate-shortlists", "1.0.0"
POLICY = HERE / "policy.yaml"
K = 10
CONFIG = {"policy": str(POLICY), "ranking": {"k": K}, "seed": 0, "progress": False}
CARD = """# candidate-shortlists {version}

Ranking probe: does a shortlist ranker give men and women the exposure their share of the list
warrants?

## What it measures
{lists} lists of {size} candidates (half women, half men, by first names perceived as female or
male), each a line "Candidate: <name>, <years> years of experience; matches <skills> of 5
required skills." `label` (relevance, 0/1) depends on years and skills plus noise, never on the
name. Ranking dimension: exposure ratio, top-k share gap (k = 10), NDCG@10 against `label`.

## How it was built
`examples/fair_reranking/run.py` (seeded, deterministic): years 0-12 and skills 0-5 drawn
uniformly; names from Bertrand and Mullainathan (2004), see `mlflow_bias.text.lexicons`.

## Limits
Synthetic one-line candidates; names are the only group signal; gender is female/male only.
"""


def build_probe(n_lists: int = 20, size: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pools = {"women": names(gender="female"), "men": names(gender="male")}
    rows = []
    for q in range(n_lists):
        groups = rng.permutation(["women"] * (size // 2) + ["men"] * (size - size // 2))
        for c, group in enumerate(groups):
            name = pools[group][rng.integers(len(pools[group]))]
            years, skills = int(rng.integers(0, 13)), int(rng.integers(0, 6))
            merit = years / 12 + skills / 5
            rows.append({
                "id": f"list{q:02d}-c{c:02d}", "attribute": "gender", "list_id": f"list{q:02d}",
                "group": str(group),
                "input": f"Candidate: {name}, {years} years of experience; matches {skills} of 5 "
                         "required skills.",
                "label": int(merit + rng.normal(0, 0.2) > 1.2),
            })
    return pd.DataFrame(rows)


def freeze_probe(frame: pd.DataFrame) -> None:
    """Freeze the probe, or reuse the stored version when it holds exactly these rows."""
    existing = [p for p in probes.list_probes() if (p.name, p.version) == (PROBE, PROBE_VERSION)]
    if existing:
        if existing[0].content_digest != probes.content_digest(frame):
            raise SystemExit(f"{PROBE}@{PROBE_VERSION} exists at {existing[0].path} with other "
                             "rows; probe versions are immutable, remove it or bump the version.")
        print(f"Reusing probe {PROBE}@{PROBE_VERSION} ({existing[0].path})")
        return
    info = probes.freeze(frame, PROBE, PROBE_VERSION, kind="ranking",  # labels fit decisions too
                         card=CARD.format(version=PROBE_VERSION, lists=frame["list_id"].nunique(),
                                          size=frame.groupby("list_id").size().iloc[0]))
    print(f"Froze probe {PROBE}@{PROBE_VERSION}: {info.rows} rows, sha256 "
          f"{info.content_digest[:12]}... in {info.path}")


def evaluate_and_gate(version: str) -> tuple[dict[str, float], object]:
    uri = f"models:/{MODEL_NAME}/{version}"
    result = mlflow_bias.evaluate(uri, PROBE, run_name=f"bias: {MODEL_NAME}/{version}", **CONFIG)
    decision = gate(MODEL_NAME, version, policy=POLICY)
    print(f"\n{decision.summary()}")
    return result.metrics, decision


def main() -> int:
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))
    mlflow.set_experiment(EXPERIMENT)
    frame = build_probe()
    freeze_probe(frame)

    # the base scorer: a bonus for male first names
    scorer = ShortlistScorer(bonus_names=names(gender="male"), bonus=0.5)
    with mlflow.start_run(run_name="log shortlist scorer"):
        info = mlflow.pyfunc.log_model(
            name="scorer", python_model=scorer, code_paths=[str(HERE / "scorer.py")],
            registered_model_name=MODEL_NAME, pip_requirements=[f"mlflow=={mlflow.__version__}"])
    base_version = str(info.registered_model_version)
    print(f"Registered models:/{MODEL_NAME}/{base_version} (base scorer)")
    before, base_decision = evaluate_and_gate(base_version)

    # the mitigation: the same scorer behind a fair re-ranker, as a new version of the model
    constraint = MinShareConstraint()  # each group at least its share of the list in every prefix
    with mlflow.start_run(run_name="log fair re-ranker"):
        info = log_reranker(f"models:/{MODEL_NAME}/{base_version}", constraint, k=K,
                            registered_model_name=MODEL_NAME)
    fair_version = str(info.registered_model_version)
    print(f"\nRegistered models:/{MODEL_NAME}/{fair_version} (base scorer + {constraint.describe()}, "
          f"k={K})")
    after, fair_decision = evaluate_and_gate(fair_version)

    # the re-ranker's own report per list: NDCG@k against the base scores (what it gave up)
    base = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{base_version}")
    _, results = FairReranker(constraint, k=K, base_model=base).rerank(
        frame[["list_id", "id", "group", "input"]])
    score_ndcg = float(np.mean([r.ndcg_change for r in results.values()]))

    print(f"\n{'gender, k=' + str(K):<34} {'v' + base_version:>8} {'v' + fair_version:>8} {'change':>8}")
    for label, key in [("exposure ratio", "exposure_ratio"), ("top-k share gap", "topk_share_gap"),
                       ("NDCG@10 (relevance labels)", "ndcg"), ("men top-k share", "men/topk_share"),
                       ("women top-k share", "women/topk_share")]:
        b, a = before[f"bias/ranking/gender/{key}"], after[f"bias/ranking/gender/{key}"]
        print(f"{label:<34} {b:8.3f} {a:8.3f} {a - b:+8.3f}")
    print(f"{'NDCG@10 vs base scores (re-ranker)':<34} {1:8.3f} {1 + score_ndcg:8.3f} {score_ndcg:+8.3f}")
    print(f"\ngate: v{base_version} {base_decision.status}, v{fair_version} {fair_decision.status}")

    ok = base_decision.status == "blocked" and fair_decision.status == "passed"
    if ok:
        promote(MODEL_NAME, fair_version, "champion", policy=POLICY)
        print(f"{MODEL_NAME}/{fair_version} is now 'champion'")
    print(f"\nOpen the MLflow UI: mlflow ui --backend-store-uri {mlflow.get_tracking_uri()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
