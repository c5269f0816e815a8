"""Ed25519 keys for signing evaluations: generate a pair, load the evaluator's private key, and
load the public keys a policy or a server trusts. Key handling is `cryptography`'s; the key ids
(fingerprints) are `securesystemslib`'s, the ids a DSSE signature names its key by."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from mlflow_bias.core.errors import ConfigError

PRIVATE_KEY_FILE = "bias-signing.pem"
PUBLIC_KEY_FILE = "bias-signing.pub.pem"
SIGNING_KEY_ENV = "MLFLOW_BIAS_SIGNING_KEY"
TRUSTED_KEYS_ENV = "MLFLOW_BIAS_TRUSTED_KEYS"
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", re.S)


class SigningKeyError(ConfigError):
    """A signing or trusted key that cannot be used as given (missing, unreadable, wrong kind)."""


@dataclass(frozen=True)
class TrustedKey:
    """A public key that may sign evaluations, with where it came from (for messages)."""

    key: Any  # securesystemslib SSlibKey
    source: str

    @property
    def keyid(self) -> str:
        return self.key.keyid


def fingerprint(keyid: str) -> str:
    """The short form shown to people: `ed25519:` and the first 16 hex digits of the key id."""
    return f"ed25519:{keyid[:16]}"


def generate_keypair(out_dir: str | os.PathLike) -> tuple[Path, Path, str]:
    """Write a new Ed25519 pair to `out_dir` (private key mode 600; never overwrites); return
    the two paths and the key id."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from securesystemslib.signer import SSlibKey

    out = Path(out_dir)
    private_path, public_path = out / PRIVATE_KEY_FILE, out / PUBLIC_KEY_FILE
    existing = [str(p) for p in (private_path, public_path) if p.exists()]
    if existing:
        raise SigningKeyError(f"{', '.join(existing)} already exist(s); keys are never overwritten. "
                              "Choose another --out directory or move the old pair away first.")
    out.mkdir(parents=True, exist_ok=True)
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())
    public_pem = private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    # created with mode 600 from the start: the key is never readable by others, not even briefly
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(descriptor, "wb") as f:
        f.write(private_pem)
    public_path.write_bytes(public_pem)
    return private_path, public_path, SSlibKey.from_crypto(private_key.public_key()).keyid


def _read(path: Path, what: str, fix: str) -> bytes:
    if not path.exists():
        raise SigningKeyError(f"{what} {path} does not exist. {fix}")
    if not path.is_file():
        raise SigningKeyError(f"{what} {path} is not a file. {fix}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"{what} {path} cannot be read ({exc.strerror}). Check its "
                              "permissions: the user running mlflow-bias must be able to read it.") from exc


def load_signer(path: str | os.PathLike) -> Any:
    """The evaluator's signer (a securesystemslib CryptoSigner) from an Ed25519 private key PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from securesystemslib.signer import CryptoSigner

    path = Path(path).expanduser()
    fix = (f"Point {SIGNING_KEY_ENV} (or evaluator_config 'signing_key') at the private key "
           f"written by `mlflow-bias keys generate --out DIR` ({PRIVATE_KEY_FILE}).")
    data = _read(path, "The signing key", fix)
    if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
        raise SigningKeyError(f"The signing key {path} is a public key; signing needs the private "
                              f"key. {fix}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise SigningKeyError(f"The signing key {path} is encrypted with a password, which "
                              "mlflow-bias does not read. Keep the key unencrypted in a file only "
                              "the evaluation service can read (mode 600).") from exc
    except ValueError as exc:
        raise SigningKeyError(f"The signing key {path} is not a PEM private key ({exc}). {fix}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"The signing key {path} is not an Ed25519 key ({type(key).__name__}); "
                              f"evaluations are signed with Ed25519 keys. {fix}")
    return CryptoSigner(key)


def _public_key_from_pem(pem: bytes, source: str) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from securesystemslib.signer import SSlibKey

    fix = f"Give the public key ({PUBLIC_KEY_FILE}) written by `mlflow-bias keys generate`."
    if b"PRIVATE KEY-----" in pem:
        raise SigningKeyError(f"Trusted key {source} is a private key. A verifier needs only the "
                              f"public key; never hand out the private one. {fix}")
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise SigningKeyError(f"Trusted key {source} is not a PEM public key ({exc}). {fix}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"Trusted key {source} is not an Ed25519 key ({type(key).__name__}); "
                              f"evaluations are signed with Ed25519 keys. {fix}")
    return SSlibKey.from_crypto(key)


def load_trusted_keys(entries: Iterable[str], base_dir: str | os.PathLike | None = None,
                      source: str = "trusted_keys") -> tuple[TrustedKey, ...]:
    """Public keys from PEM text or from files (relative paths resolve against `base_dir`)."""
    keys: list[TrustedKey] = []
    for entry in entries:
        if not isinstance(entry, str) or not entry.strip():
            raise SigningKeyError(f"{source}: {entry!r} is neither a public key file nor PEM text.")
        if "-----BEGIN" in entry:
            blocks = [m.group(0) for m in _PEM_BLOCK.finditer(entry)]
            if not blocks:
                raise SigningKeyError(f"{source}: the PEM text has no complete "
                                      "-----BEGIN/END----- block.")
            keys += [TrustedKey(_public_key_from_pem(b.encode(), f"{source} (PEM text)"), f"{source} (PEM text)")
                     for b in blocks]
            continue
        path = Path(entry.strip()).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        data = _read(path, f"{source}: the trusted key file",
                     "Fix the path (relative paths are read from the policy file's folder) or "
                     "remove the entry.")
        keys.append(TrustedKey(_public_key_from_pem(data, str(path)), str(path)))
    return tuple(keys)


def trusted_keys_from_env(value: str | None) -> tuple[TrustedKey, ...]:
    """`MLFLOW_BIAS_TRUSTED_KEYS`: PEM text, or public key files separated by commas or the
    platform's path separator."""
    if not value or not value.strip():
        return ()
    if "-----BEGIN" in value:
        return load_trusted_keys([value], source=TRUSTED_KEYS_ENV)
    files = [p.strip() for p in re.split(rf"[,{re.escape(os.pathsep)}]", value) if p.strip()]
    return load_trusted_keys(files, source=TRUSTED_KEYS_ENV)
