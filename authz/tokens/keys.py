"""Signing keys: Ed25519 (EdDSA) by default, P-256 (ES256) where configured.

Keys are parsed once, at start-up, into key objects; nothing on the request path reads or
parses a key.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from authz.errors import TokenError

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


class KeyFileError(TokenError, ValueError):
    """A key file is missing, unreadable or of an unsupported kind."""


def algorithm_of(key: PublicKey | PrivateKey) -> str:
    """The one JWS algorithm a key may be used with (RFC 8725 §3.1: no algorithm agility per key)."""
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise KeyFileError(f"unsupported elliptic curve {key.curve.name}")


def load_public_key(path: Path) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise KeyFileError(f"{path} is not a PEM public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise KeyFileError(f"{path}: only Ed25519 and P-256 keys are supported")
    algorithm_of(key)
    return key


def load_private_key(path: Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise KeyFileError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyFileError(f"{path}: only Ed25519 and P-256 keys are supported")
    algorithm_of(key)
    return key


def public_pem_of(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_pem(key: PrivateKey) -> bytes:
    return public_pem_of(key.public_key())


def write_key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    """A new Ed25519 pair as NAME.key (0600) and NAME.pub in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ed25519.Ed25519PrivateKey.generate()
    private_path, public_path = directory / f"{name}.key", directory / f"{name}.pub"
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public_path.write_bytes(public_pem(key))
    return private_path, public_path
