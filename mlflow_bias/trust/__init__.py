"""Evidence the release gate can check rather than believe.

- `model_digest`: which exact model bytes were measured (a manifest of the model's files).
- `keys`: Ed25519 signing keys and the public keys a policy or server trusts.
- `attestation`: the signed in-toto statement of an evaluation, and its checks against the run.
- `evidence`: reading and writing that evidence in MLflow runs.

May import: `core`.
"""

from mlflow_bias.trust.attestation import ATTESTATION_PATH, AttestationError
from mlflow_bias.trust.keys import (
    SIGNING_KEY_ENV,
    TRUSTED_KEYS_ENV,
    SigningKeyError,
    TrustedKey,
    fingerprint,
    generate_keypair,
    load_signer,
    load_trusted_keys,
    trusted_keys_from_env,
)
from mlflow_bias.trust.model_digest import (
    ModelManifest,
    logged_model_manifest,
    manifest_of_directory,
    registered_version_manifest,
)

__all__ = [
    "ATTESTATION_PATH", "AttestationError", "ModelManifest", "SIGNING_KEY_ENV", "SigningKeyError",
    "TRUSTED_KEYS_ENV", "TrustedKey", "fingerprint", "generate_keypair", "load_signer",
    "load_trusted_keys", "logged_model_manifest", "manifest_of_directory",
    "registered_version_manifest", "trusted_keys_from_env",
]
