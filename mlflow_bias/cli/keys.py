"""Signed evaluations: `mlflow-bias keys generate` (a signing key pair) and `mlflow-bias verify`
(check a run's signed statement)."""

from __future__ import annotations

import argparse
import json
import os

from mlflow_bias.cli._common import AddCommand, Subparsers


def add_keys(sub: Subparsers) -> None:
    """`keys generate`: its options, and `cmd_keys_generate` to run it."""
    keys = sub.add_parser("keys", help="signing keys for evaluations")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    kg = ksub.add_parser("generate", help="write an Ed25519 pair: bias-signing.pem (private, mode "
                                          "600) and bias-signing.pub.pem")
    kg.add_argument("--out", required=True, help="folder to write the pair to")
    kg.set_defaults(func=cmd_keys_generate)


def cmd_keys_generate(args: argparse.Namespace) -> int:
    """Write a new Ed25519 signing key pair."""
    from mlflow_bias.trust.keys import SIGNING_KEY_ENV, fingerprint, generate_keypair

    private_path, public_path, keyid = generate_keypair(args.out)
    print(f"Wrote {private_path} (private, mode 600) and {public_path} (public).\n"
          f"Key {fingerprint(keyid)} (key id {keyid}).\n"
          f"Sign evaluations: export {SIGNING_KEY_ENV}={private_path.resolve()}\n"
          f"Trust them: add {public_path.name} to the policy's trusted_keys (or the bias-gate "
          f"server's MLFLOW_BIAS_TRUSTED_KEYS). Keep the private key where only the evaluation "
          f"service can read it.")
    return 0


def add_verify(sub: Subparsers) -> None:
    """`verify`: its options, and `cmd_verify` to run it."""
    ve = sub.add_parser("verify", help="print a run's signed statement and check it (exit 0: "
                                       "verified, 1: not)")
    ve.add_argument("run_id", help="the bias evaluation run")
    ve.add_argument("--key", action="append", default=None,
                    help="the signer's public key file or PEM text (repeatable; default: "
                         "MLFLOW_BIAS_TRUSTED_KEYS)")
    ve.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 when the run's attestation verifies, 1 when it does not."""
    from mlflow_bias.trust.evidence import verify_run
    from mlflow_bias.trust.keys import TRUSTED_KEYS_ENV, load_trusted_keys, trusted_keys_from_env

    keys = (load_trusted_keys(args.key, source="--key") if args.key
            else trusted_keys_from_env(os.environ.get(TRUSTED_KEYS_ENV)))
    report = verify_run(args.run_id, keys)
    if report.statement is not None:
        print(json.dumps(report.statement, indent=2, sort_keys=True))
    print(report.summary())
    return 0 if report.verified else 1


#: The commands this module adds, by name.
COMMANDS: dict[str, AddCommand] = {"keys": add_keys, "verify": add_verify}
