"""Signing keys (``authz/tokens/keys.py``): one algorithm per key, key files read once and strictly."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from authz.tokens.keys import (
    KeyFileError,
    algorithm_of,
    load_private_key,
    load_public_key,
    public_pem,
    public_pem_of,
    write_key_pair,
)

ED = ed25519.Ed25519PrivateKey.generate()
P256 = ec.generate_private_key(ec.SECP256R1())
P384 = ec.generate_private_key(ec.SECP384R1())


@pytest.mark.parametrize(
    ("key", "algorithm"),
    [(ED, "EdDSA"), (ED.public_key(), "EdDSA"), (P256, "ES256"), (P256.public_key(), "ES256")],
)
def test_each_key_has_one_algorithm(key: ed25519.Ed25519PrivateKey, algorithm: str) -> None:
    assert algorithm_of(key) == algorithm


def test_another_curve_has_no_algorithm() -> None:
    with pytest.raises(KeyFileError, match="secp384r1"):
        algorithm_of(P384)


def pem_private(key: object, encryption: serialization.KeySerializationEncryption | None = None) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    )


def test_a_key_pair_written_is_read_back(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "keys"  # made, with its parents
    private_path, public_path = write_key_pair(folder, "dana")
    assert (private_path, public_path) == (folder / "dana.key", folder / "dana.pub")
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    private, public = load_private_key(private_path), load_public_key(public_path)
    assert public_pem(private) == public_pem_of(public) == public_path.read_bytes()
    assert algorithm_of(private) == "EdDSA"
    with pytest.raises(FileExistsError):
        write_key_pair(folder, "dana")  # never overwrites a private key


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read"),
        (b"not a key", "is not a PEM public key"),
        (rsa.generate_private_key(65537, 1024).public_key(), "only Ed25519 and P-256"),
        (P384.public_key(), "unsupported elliptic curve"),
    ],
)
def test_public_key_files_that_are_refused(tmp_path: Path, content: object, problem: str) -> None:
    path = tmp_path / "key.pub"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_bytes(
            content.public_bytes(  # type: ignore[attr-defined]
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    with pytest.raises(KeyFileError, match=problem):
        load_public_key(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read"),
        (b"not a key", "is not an unencrypted PEM private key"),
        (
            pem_private(ED, serialization.BestAvailableEncryption(b"pw")),
            "is not an unencrypted PEM private key",
        ),
        (pem_private(rsa.generate_private_key(65537, 1024)), "only Ed25519 and P-256"),
        (pem_private(P384), "unsupported elliptic curve"),
    ],
)
def test_private_key_files_that_are_refused(tmp_path: Path, content: bytes | None, problem: str) -> None:
    path = tmp_path / "key.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(KeyFileError, match=problem):
        load_private_key(path)


def test_a_p256_private_key_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(pem_private(P256))
    assert algorithm_of(load_private_key(path)) == "ES256"
