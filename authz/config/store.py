"""``[store]``: where the state that spans requests lives (docs/design.md, "State store").

[store]                                  # one host: a SQLite file (the default)
path = "state.db"

[store]                                  # several hosts: Redis
kind = "redis"
url = "rediss://redis.internal:6379/0"   # redis:// or rediss:// (TLS, with ca_file)
ca_file = "/etc/agent-authz/redis-ca.pem"
password_file = "/run/secrets/redis"     # or password_env = "AUTHZ_REDIS_PASSWORD"; never inline
reads_when_unavailable = "deny"          # or "allow": reads from the last known state ...
max_staleness = 5                        # ... for at most this many seconds
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from authz.config.model import StoreConfig
from authz.config.table import Table

KINDS = ("sqlite", "redis")
_URL = re.compile(r"rediss?://[^/?#@\s:]+(?::\d{1,5})?(?:/\d{1,2})?\Z")


def read_store(t: Table) -> StoreConfig:
    d = StoreConfig()
    kind = t.text("kind", d.kind)
    if kind not in KINDS:
        raise t.fail("kind", f"must be one of {', '.join(KINDS)}")
    if kind == "sqlite":
        path = t.path("path")
        if not path.parent.is_dir():
            raise t.fail("path", f"folder {path.parent} does not exist")
        t.done()
        return StoreConfig(kind, path=path)
    url = _url(t)
    cfg = StoreConfig(
        kind,
        url=url,
        password=_password(t),
        ca_file=_ca_file(t, url),
        timeout_ms=t.integer("timeout_ms", d.timeout_ms),
        retries=t.integer("retries", d.retries, minimum=0),
        pool_size=t.integer("pool_size", d.pool_size),
        replicas=t.integer("replicas", d.replicas, minimum=0),
        key_prefix=t.text("key_prefix", d.key_prefix),
        reads_when_unavailable=_rule(t, d.reads_when_unavailable),
        max_staleness=t.integer("max_staleness", d.max_staleness),
        sentinels=tuple(_address(t, s) for s in t._take("sentinels", list, [])),
        sentinel_service=t.text("sentinel_service", d.sentinel_service),
    )
    t.done()
    return cfg


def _url(t: Table) -> str:
    url: str = t.text("url")
    if "@" in url:
        raise t.fail("url", "credentials are never inline: use password_file or password_env")
    if not _URL.match(url):
        raise t.fail("url", "must be redis://host[:port][/db] or rediss://host[:port][/db]")
    return url


def _password(t: Table) -> str | None:
    if "password" in t.data:
        raise t.fail("password", "a password is never inline: use password_file or password_env")
    if "password_file" in t.data and "password_env" in t.data:
        raise t.fail("password_env", "give password_file or password_env, not both")
    if "password_file" in t.data:
        path = t.path("password_file")
        try:
            password = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise t.fail("password_file", f"cannot be read: {exc}") from None
        if not password or "\n" in password:
            raise t.fail("password_file", "must hold one password on one line")
        return password
    name = t.opt_str("password_env")
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise t.fail("password_env", f"the environment variable {name} is not set")
    return value


def _ca_file(t: Table, url: str) -> Path | None:
    if "ca_file" not in t.data:
        return None
    path = t.path("ca_file")
    if not path.is_file():
        raise t.fail("ca_file", f"{path} is not a file")
    if not url.startswith("rediss://"):
        raise t.fail("ca_file", "only for a rediss:// url")
    return path


def _rule(t: Table, default: str) -> str:
    rule: str = t.text("reads_when_unavailable", default)
    if rule not in ("deny", "allow"):
        raise t.fail("reads_when_unavailable", 'must be "deny" or "allow"')
    return rule


def _address(t: Table, value: object) -> tuple[str, int]:
    host, sep, port = str(value).rpartition(":")
    if not isinstance(value, str) or not sep or not host or not port.isdigit():
        raise t.fail("sentinels", f"each must be HOST:PORT, got {value!r}")
    return host, int(port)
