"""Pure building blocks every other layer may use: metric-key naming, statistics, hashing, version
ordering and group names. Imports nothing from the rest of mlflow_bias."""
