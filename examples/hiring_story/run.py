"""The hiring-screen story as a script: the same steps as `mlflow-bias demo`, written out so that
each one can be read, changed and rerun.

    python examples/hiring_story/run.py [--quick]

Logs to $MLFLOW_TRACKING_URI (default: sqlite:///mlflow.db in the working directory).
"""

from __future__ import annotations

import argparse
import os

import mlflow

from mlflow_bias.demo.data import HiringSkew, criterion, hiring_examples
from mlflow_bias.demo.story import StoryConfig, report, run_story


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="probe subsets and 4 training steps")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))

    # 1. The fine-tuning set a team would have: a historical screening log with 62% male names,
    #    roles drawn along gender stereotypes, and past decisions that held women to a higher bar.
    skew = HiringSkew(male_share=0.62, role_skew=0.6, threshold=5, shift=3)
    sample = hiring_examples(6, skew, seed=1)
    print("A few training examples:")
    for row in sample.itertuples():
        print(f"  [{row.gender:>6}, {row.years:>2} y] {row.response.splitlines()[-1]}")
    print("The mitigated version's prompt template:\n  " + criterion(skew.threshold).replace("\n", "\n  "))

    # 2-4. Fine-tune, evaluate, gate; mitigate, fine-tune, evaluate, gate; compare; promote.
    config = StoryConfig.quick_run(skew=skew) if args.quick else StoryConfig(skew=skew)
    result = run_story(config)
    print(report(result, mlflow.get_tracking_uri()))


if __name__ == "__main__":
    main()
