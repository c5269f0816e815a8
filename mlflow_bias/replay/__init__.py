"""Stage 3: replay production traces with the protected attribute swapped, and log what disagrees.

`traces` reads and anonymises traces, `runner.replay` scores them on one machine and logs the
review table, `spark` runs the same on a Spark cluster. `probe_from_review` turns reviewed
disagreements into a new version of a probe.

May import: `core`, `text`, `adapters`, `dimensions`, `probes`, `data_audit`, `evaluation`
(logging helpers).
"""

from mlflow_bias.replay.runner import probe_from_review, replay
from mlflow_bias.replay.traces import read_traces

__all__ = ["probe_from_review", "read_traces", "replay"]
