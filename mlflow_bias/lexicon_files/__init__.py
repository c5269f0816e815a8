"""Versioned lexicons of protected-group terms shipped with mlflow-bias (package data; see
`mlflow_bias.text.lexicons.load_lexicon`)."""
