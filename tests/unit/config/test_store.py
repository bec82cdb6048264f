"""``[store]`` (``authz/config/store.py``): SQLite by default; Redis with its URL, a password
only ever from a file or the environment, TLS only for rediss://, and the degraded rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import make_world

from authz.config import ConfigError, load_config
from authz.config.model import StoreConfig
from authz.devkit.world import DEMO_STORE


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return make_world(tmp_path).config_path


def with_store(config_path: Path, section: str) -> Path:
    text = config_path.read_text().replace(DEMO_STORE, f"[store]\n{section.strip()}")
    config_path.write_text(text)
    return config_path


def refused(config_path: Path, section: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(with_store(config_path, section))
    return str(info.value)


def test_the_default_is_a_sqlite_file_beside_the_config(config_path: Path) -> None:
    store = load_config(config_path).store
    assert store == StoreConfig("sqlite", path=config_path.parent / "state.db")


def test_a_redis_store_with_every_key(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHZ_REDIS_PASSWORD", "pw from env")
    (config_path.parent / "ca.pem").write_text("a CA bundle")
    store = load_config(with_store(config_path, """
        kind = "redis"
        url = "rediss://redis.internal:6380/2"
        ca_file = "ca.pem"
        password_env = "AUTHZ_REDIS_PASSWORD"
        timeout_ms = 100
        retries = 0
        pool_size = 8
        replicas = 1
        key_prefix = "prod"
        reads_when_unavailable = "allow"
        max_staleness = 2
        sentinels = ["10.0.0.1:26379", "10.0.0.2:26379"]
        sentinel_service = "authz"
    """)).store  # fmt: skip
    assert store == StoreConfig(
        "redis", url="rediss://redis.internal:6380/2", password="pw from env",
        ca_file=config_path.parent / "ca.pem", timeout_ms=100, retries=0, pool_size=8, replicas=1,
        key_prefix="prod", reads_when_unavailable="allow", max_staleness=2,
        sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26379)), sentinel_service="authz",
    )  # fmt: skip
    assert "pw from env" not in repr(store)


def test_a_password_file_is_read_once_and_stripped(config_path: Path) -> None:
    (config_path.parent / "redis.pw").write_text("  s3cret\n")
    store = load_config(with_store(config_path, 'kind = "redis"\nurl = "redis://127.0.0.1:6379"\n'
                                                'password_file = "redis.pw"')).store  # fmt: skip
    assert (store.password, store.reads_when_unavailable, store.max_staleness) == ("s3cret", "deny", 5)


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ('kind = "memcached"', "store.kind: must be one of sqlite, redis"),
        ('kind = "redis"', "store.url: is required"),
        ('kind = "redis"\nurl = "http://redis:6379"', "store.url: must be redis://"),
        ('kind = "redis"\nurl = "redis://:pw@redis:6379"', "store.url: credentials are never inline"),
        ('kind = "redis"\nurl = "redis://u:pw@redis"', "store.url: credentials are never inline"),
        ('kind = "redis"\nurl = "redis://redis:6379/0?x=1"', "store.url: must be redis://"),
        ('kind = "redis"\nurl = "redis://r"\npassword = "pw"', "store.password: a password is never inline"),
        ('kind = "redis"\nurl = "redis://r"\npassword_env = "AUTHZ_NOT_SET_ANYWHERE"', "is not set"),
        (
            'kind = "redis"\nurl = "redis://r"\npassword_file = "missing.pw"',
            "store.password_file: cannot be read",
        ),
        (
            'kind = "redis"\nurl = "redis://r"\nca_file = "agent-authz.toml"',
            "store.ca_file: only for a rediss:// url",
        ),
        ('kind = "redis"\nurl = "rediss://r"\nca_file = "nowhere.pem"', "is not a file"),
        ('kind = "redis"\nurl = "redis://r"\nreads_when_unavailable = "maybe"', 'must be "deny" or "allow"'),
        ('kind = "redis"\nurl = "redis://r"\nmax_staleness = 0', "store.max_staleness: must be at least 1"),
        ('kind = "redis"\nurl = "redis://r"\nsentinels = ["nohost"]', "each must be HOST:PORT"),
        ('kind = "redis"\nurl = "redis://r"\npath = "state.db"', "store: unknown key(s): path"),
        ('path = "no/such/folder/state.db"', "does not exist"),
    ],
)
def test_a_broken_store_section_is_refused(config_path: Path, section: str, problem: str) -> None:
    assert problem in refused(config_path, section)


def test_two_password_sources_are_refused(config_path: Path) -> None:
    (config_path.parent / "redis.pw").write_text("s3cret\n")
    section = 'kind = "redis"\nurl = "redis://r"\npassword_file = "redis.pw"\npassword_env = "X"'
    assert "give password_file or password_env, not both" in refused(config_path, section)


def test_a_redis_store_has_no_file(config_path: Path) -> None:
    config = load_config(with_store(config_path, 'kind = "redis"\nurl = "redis://127.0.0.1:6379"'))
    with pytest.raises(ConfigError, match="the redis store has no file"):
        config.store_path  # noqa: B018
