"""A deployment's facts for ``agent-authz envoy-config --from FILE``: the ``[envoy]`` table of a
small TOML file, read as strictly as the main config (file:line, unknown keys, types), and
turned into the ``EnvoyParams`` the same ``render`` uses for the demo, the tests and compose.

[envoy]
listen = "0.0.0.0:8443"                    # where agents connect (mTLS)
upstream = "iam-api.internal:443"          # the IAM API
upstream_tls = { ca = "/etc/envoy/iam-ca.pem", sni = "iam-api.internal" }   # optional
authz = ["agent-authz.iam.svc:9001"]       # agent-authz's Check port(s)
authz_tls = { cert = "…", key = "…", ca = "…" }   # optional: a protected Check port
dns = true                                 # host names, not IP addresses
approval_api = "/etc/agent-authz/agent_authz.pb"  # optional: serve agents' polls (descriptor set)
certificates = { cert = "/etc/envoy/server.crt", key = "/etc/envoy/server.key" }
# or: certificates = { spire_socket = "/run/spire/sockets/agent.sock", spiffe_id = "spiffe://…" }
# or: certificates = { sds_file = "/etc/envoy/sds/server.yaml" }   (rotated by rename)
[[envoy.trust_domains]]                    # not with SPIRE, whose bundles come over SDS
name = "agents.example.org"
bundle = "/etc/envoy/agents-bundle.pem"
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from authz.config.model import ConfigError
from authz.config.table import Table, string_list
from authz.envoy.config import EnvoyParams
from authz.envoy.sds import Sds


def read_facts(path: Path) -> EnvoyParams:
    try:
        top = Table(path, "", tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(path, "", f"cannot be read: {exc}") from None
    t = top.table("envoy")
    d = EnvoyParams("", "", ())
    cert, key, sds = _certificates(t.table("certificates"))
    params = EnvoyParams(
        server_cert=cert,
        server_key=key,
        sds=sds,
        trust_domains=[_trust_domain(td) for td in t.tables("trust_domains")],
        listen=_host_port(t, "listen", d.listen),
        admin=_host_port(t, "admin", d.admin),
        upstream=_host_port(t, "upstream", None),
        upstream_tls=_pair(t, "upstream_tls", ("ca", "sni")),
        authz=[_split(t, "authz", a) for a in string_list(t, "authz")],
        authz_tls=_files(t, "authz_tls"),
        dns=t.flag("dns", True),
        authz_timeout=t.text("authz_timeout", d.authz_timeout),
        max_request_bytes=t.integer("max_request_bytes", d.max_request_bytes),
        approvals_descriptor=str(t.path("approval_api")) if "approval_api" in t.data else None,
    )
    if not params.trust_domains and (sds is None or sds.kind != "spire"):
        raise t.fail("trust_domains", "at least one [[envoy.trust_domains]] (or certificates from SPIRE)")
    t.done()
    top.done()
    return params


def _trust_domain(t: Table) -> tuple[str, str]:
    out = t.text("name"), str(t.path("bundle"))
    t.done()
    return out


def _certificates(t: Table) -> tuple[str, str, Sds | None]:
    keys = set(t.data)
    out: tuple[str, str, Sds | None]
    if keys == {"cert", "key"}:
        out = str(t.path("cert")), str(t.path("key")), None
    elif keys == {"spire_socket", "spiffe_id"}:
        out = "", "", Sds("spire", t.text("spire_socket"), cert_name=t.text("spiffe_id"))
    elif keys == {"sds_file"}:
        out = "", "", Sds("file", str(t.path("sds_file")))
    else:
        raise t.fail("", "give cert and key, or spire_socket and spiffe_id, or sds_file")
    t.done()
    return out


def _split(t: Table, name: str, value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise t.fail(name, f"must be HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _host_port(t: Table, name: str, default: tuple[str, int] | None) -> Any:
    value = t.text(name, None if default is None else f"{default[0]}:{default[1]}")
    return _split(t, name, value)


def _pair(t: Table, name: str, keys: tuple[str, str]) -> tuple[str, str] | None:
    if name not in t.data:
        return None
    sub = t.table(name)
    out = (str(sub.path(keys[0])), sub.text(keys[1]))
    sub.done()
    return out


def _files(t: Table, name: str) -> tuple[str, str, str] | None:
    if name not in t.data:
        return None
    sub = t.table(name)
    out = (str(sub.path("cert")), str(sub.path("key")), str(sub.path("ca")))
    sub.done()
    return out
