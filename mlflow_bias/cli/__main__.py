"""`python -m mlflow_bias.cli`: the `mlflow-bias` command."""

import sys

from mlflow_bias.cli import main

sys.exit(main())
