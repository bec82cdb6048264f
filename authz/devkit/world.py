"""A world to decide in: the example config, its keys, policies and directory, signed tokens.

The tests, the benchmark and the demo all build from here (``tests/factories.py`` adds the
request builders). Development only: the keys are made on the spot, the config is the example
one (``authz/demo/agent-authz.toml``).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509

from authz.config import Config
from authz.devkit.directory import Directory
from authz.errors import AuthzError
from authz.tokens.approval import request_hash, sign_approval
from authz.tokens.issuer import issue
from authz.tokens.keys import PrivateKey, load_private_key, write_key_pair


class WorldError(AuthzError, RuntimeError):
    """The example config or the repository's policies are not what this kit expects."""


TRUST_DOMAIN = "agents.example.org"


DEMO_AGENTS = ("helpdesk-bot", "audit-bot", "suspended-bot", "rogue-bot")


ISSUER_KID = "dev-issuer-1"  # as in agent-authz.toml


DEMO_APPROVERS = ("dana", "erik", "bob")  # [[approvals.approvers]] of agent-authz.toml


DEMO_DIRECTORY_URL = "http://127.0.0.1:8080/v1/directory/principals/{name}"  # as in agent-authz.toml


DEMO_GROUPS_URL = "http://127.0.0.1:8080/v1/directory/groups/{name}"


UPSTREAM_NAMES = ("exact", "case-insensitive")  # [upstream] names


DEMO_STORE = '[store]\npath = "state.db"'


def demo_config(
    *,
    directory_port: int | None = None,
    directory_file: str | None = None,
    names: str = "exact",
    store: str | None = None,
) -> str:
    """The demo config, its directory pointed at the sample API on ``directory_port`` or at a
    JSON file (see ``write_demo_directory``), with ``[upstream] names`` set to ``names`` and, given
    ``store`` (the keys of a ``[store]`` section), that state store instead of ``state.db``."""
    text = resources.files("authz.demo").joinpath("agent-authz.toml").read_text()
    if names not in UPSTREAM_NAMES:
        raise WorldError(f"[upstream] names is one of {', '.join(UPSTREAM_NAMES)}, not {names!r}")
    exact = '[upstream]\nnames = "exact"'
    if exact not in text:
        raise WorldError("the demo config's [upstream] section is not the expected one")
    text = text.replace(exact, f'[upstream]\nnames = "{names}"')
    if directory_port is not None:
        for url in (DEMO_DIRECTORY_URL, DEMO_GROUPS_URL):
            text = text.replace(url, url.replace("8080", str(directory_port)))
    if directory_file is not None:
        http = f'kind = "http"\nurl = "{DEMO_DIRECTORY_URL}"\ngroup_url = "{DEMO_GROUPS_URL}"'
        if http not in text:
            raise WorldError("the demo config's [directory] section is not the expected one")
        text = text.replace(http, f'kind = "file"\npath = "{directory_file}"')
    if store is not None:
        if DEMO_STORE not in text:
            raise WorldError("the demo config's [store] section is not the expected one")
        text = text.replace(DEMO_STORE, f"[store]\n{store.strip()}")
    return text


def redis_store(url: str, **keys: object) -> str:
    """A ``[store]`` section's keys for ``demo_config(store=…)``: Redis at ``url``."""
    lines = ['kind = "redis"', f'url = "{url}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    return "\n".join(lines)


#: The intents a SCIM stack adds to the demo's (``scim_config``): its operations are the scim2
#: pack's, some read from PATCH bodies (``user.password.set``, ``user.disable``).
SCIM_INTENTS = """
[[intents]]
id = "scim_support"
description = "Look up SCIM users and groups to answer a ticket"
operations = ["user.read", "group.read"]
agents = ["spiffe://agents.example.org/agent/helpdesk-bot", "spiffe://agents.example.org/agent/audit-bot"]

[[intents]]
id = "scim_recovery"
description = "Set a locked-out user's password over SCIM"
operations = ["user.read", "user.password.set"]
agents = ["spiffe://agents.example.org/agent/helpdesk-bot"]

[[intents]]
id = "scim_offboarding"
description = "Disable a leaver's account over SCIM"
operations = ["user.read", "user.disable"]
agents = ["spiffe://agents.example.org/agent/helpdesk-bot"]

[[intents]]
id = "scim_emergency_access"
description = "Break-glass: add someone to a group during an incident"
operations = ["group.member.add"]
agents = ["spiffe://agents.example.org/agent/helpdesk-bot"]
break_glass = true
"""


def scim_config(base_url: str, base_path: str, token_file: str) -> str:
    """The demo config in front of a SCIM server: the ``scim2`` pack under ``base_path``, the
    directory read from the server at ``base_url`` with the bearer token in ``token_file``
    (groups named ``*-admins`` privileged), the SCIM intents, and erik cleared for plain writes
    (a disable is one, and every change needs an approver)."""
    text = demo_config()
    http = f'kind = "http"\nurl = "{DEMO_DIRECTORY_URL}"\ngroup_url = "{DEMO_GROUPS_URL}"'
    erik = 'public_key = "keys/approver-erik.pub"\nclasses = ["credential_change", "privilege_change"]'
    if http not in text or erik not in text:
        raise WorldError("the demo config's [directory] or approver erik is not the expected one")
    scim = f'kind = "scim"\nurl = "{base_url}"\ntoken_file = "{token_file}"\nprivileged_groups = ["*-admins"]'
    writer = erik.replace('"privilege_change"]', '"privilege_change", "write"]')
    text = text.replace(http, scim).replace(erik, writer)
    return text + SCIM_INTENTS + f'\n[[packs]]\nname = "scim2"\nprefix = "{base_path}"\n'


REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"


def copy_demo_policies(folder: Path) -> None:
    """The repository's policies/ (schema and .cedar files) into ``folder``/policies."""
    if not (REPO_POLICIES / "schema.cedarschema").is_file():
        raise WorldError(f"{REPO_POLICIES} not found: the demo runs from a source checkout")
    shutil.copytree(REPO_POLICIES, folder / "policies", ignore=shutil.ignore_patterns("tests"))


def write_demo_directory(path: Path) -> None:
    """The sample API's principals as a directory file (for runs without the sample API)."""
    directory = Directory()
    principals = {name: directory.entry(name) for name in directory.users}
    groups = {name: directory.group_entry(name) for name in directory.groups}
    path.write_text(json.dumps({"principals": principals, "groups": groups}, indent=2) + "\n")


def sign_demo_task(
    root: Path,
    config: Config,
    agent_cert: x509.Certificate,
    *,
    intent: str = "account_support",
    principals: Sequence[str] = ("alice",),
    actions: Sequence[str] = ("user.read",),
    ttl: int = 300,
    **kwargs: Any,
) -> str:
    """A task token signed with the demo issuer key under ``root``/keys (see ``write_demo_keys``)."""
    return issue(
        config,
        key=load_private_key(root / "keys" / "task-issuer.key"),
        kid=ISSUER_KID,
        agent_cert=agent_cert,
        intent=intent,
        principals=principals,
        actions=actions,
        ttl=ttl,
        **kwargs,
    )


def sign_demo_approval(
    root: Path,
    config: Config,
    approver: str,
    task_token: str,
    method: str,
    path: str,
    body: bytes,
    *,
    agent_id: str,
    operation: str,
    principal: str,
    ttl: int = 300,
    now: int | None = None,
    key: PrivateKey | None = None,
    **kwargs: Any,
) -> str:
    """``approver``'s approval of exactly this request, signed with their demo key under
    ``root``/keys unless ``key`` is given."""
    return sign_approval(
        key=key or load_private_key(root / "keys" / f"approver-{approver}.key"),
        approver=approver,
        audience=config.tasks.audience,
        agent=agent_id,
        task_id=jwt.decode(task_token, options={"verify_signature": False})["jti"],
        operation=operation,
        principal=principal,
        req=request_hash(method, path, body),
        ttl=ttl,
        now=int(time.time()) if now is None else now,
        **kwargs,
    )


def write_demo_keys(keys: Path) -> None:
    """The key files agent-authz.toml names: the task issuer's and each approver's."""
    write_key_pair(keys, "task-issuer")
    for approver in DEMO_APPROVERS:
        write_key_pair(keys, f"approver-{approver}")
