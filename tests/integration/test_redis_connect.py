"""Connecting to Redis as production does (``authz/store/redis_client.py``): TLS verified against
the configured CA, a password from a file, and every way of getting it wrong refused at start
with a clear error — never an open store that fails later."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from authz.config.model import StoreConfig
from authz.devkit.pki import DevPki
from authz.devkit.redis_server import RedisServer, RedisTls
from authz.store import StoreOpenError
from authz.store.redis_client import connect
from authz.store.redis_store import RedisStore

PASSWORD = "s3cret-Redis-pw"


@pytest.fixture
def pki(tmp_path: Path) -> DevPki:
    return DevPki.create(tmp_path / "pki", "agents.example.org")


@pytest.fixture
def server(tmp_path: Path, pki: DevPki) -> Iterator[RedisServer]:
    tls = RedisTls(pki.server_cert, pki.server_key, pki.bundle)
    with RedisServer(tmp_path / "redis", password=PASSWORD, tls=tls) as started:
        yield started


def open_with(server: RedisServer, **cfg: object) -> RedisStore:
    settings = StoreConfig("redis", url=server.url, **cfg)  # type: ignore[arg-type]
    try:
        return RedisStore(connect(settings))
    except StoreOpenError:
        raise
    except Exception as exc:  # noqa: BLE001 - the test names what escaped
        raise AssertionError(f"not a StoreOpenError: {exc!r}") from exc


def test_tls_and_a_password_open_a_working_store(server: RedisServer, pki: DevPki) -> None:
    store = open_with(server, ca_file=pki.bundle, password=PASSWORD)
    try:
        assert store.revoke_task("t1", reason="r", by="ops") and store.task_revoked("t1")
    finally:
        store.close()


def test_a_server_certificate_from_another_ca_is_refused(server: RedisServer, tmp_path: Path) -> None:
    other = DevPki.create(tmp_path / "other", "agents.example.org")
    with pytest.raises(StoreOpenError, match="certificate verify failed"):
        open_with(server, ca_file=other.bundle, password=PASSWORD)


@pytest.mark.parametrize("password", [None, "wrong"])
def test_a_missing_or_wrong_password_is_refused(
    server: RedisServer, pki: DevPki, password: str | None
) -> None:
    with pytest.raises(StoreOpenError, match="(?i)auth|password"):
        open_with(server, ca_file=pki.bundle, password=password)


def test_plaintext_against_a_tls_port_is_refused(server: RedisServer, pki: DevPki) -> None:
    plain = StoreConfig("redis", url=server.url.replace("rediss://", "redis://"), password=PASSWORD)
    with pytest.raises(StoreOpenError):
        RedisStore(connect(plain))
