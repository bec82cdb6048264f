"""Issuing task tokens under the catalogue's rules — the same checks for the CLI and programs.

token = issue(config, key=key, kid="dev-issuer-1", agent_cert=cert, intent="account_support",
              principals=["alice"], actions=["user.read"], ttl=300)
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from cryptography import x509

from authz.config import AgentStatus, Config
from authz.tokens.keys import PrivateKey, public_pem, public_pem_of
from authz.tokens.task import IssueError, issue_token


def _spiffe_id(cert: x509.Certificate) -> str:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise IssueError("the agent certificate has no URI SAN") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        raise IssueError("the agent certificate must have exactly one URI SAN (an X.509-SVID)")
    return uris[0]


def issue(
    config: Config,
    *,
    key: PrivateKey,
    kid: str,
    agent_cert: x509.Certificate,
    intent: str,
    principals: Sequence[str],
    actions: Sequence[str],
    ttl: int,
    on_behalf_of: str | None = None,
    delegation: Sequence[str] = (),
    max_calls: int | None = None,
    now: int | None = None,
) -> str:
    """Sign a task token for the agent whose SVID is ``agent_cert``, or raise ``IssueError``."""
    agent_id = _spiffe_id(agent_cert)
    agent = config.agents.get(agent_id)
    if agent is None or agent.status is not AgentStatus.ACTIVE:
        raise IssueError(f"{agent_id} is not a registered, active agent")
    entry = config.intents.get(intent)
    if entry is None:
        raise IssueError(f"intent {intent!r} is not in the catalogue")
    if agent_id not in entry.agents:
        raise IssueError(f"{agent_id} may not declare intent {intent!r}")
    if not actions or not principals:
        raise IssueError("a task names at least one action and one principal")
    if refused := sorted(set(actions) - entry.operations):
        raise IssueError(f"intent {intent!r} does not permit {', '.join(refused)}")
    if not 0 < ttl <= config.tasks.max_ttl:
        raise IssueError(f"ttl must be between 1 and {config.tasks.max_ttl} seconds")
    if len(delegation) + (1 if on_behalf_of else 0) > config.tasks.max_delegation_depth:
        raise IssueError(f"the delegation chain is deeper than {config.tasks.max_delegation_depth}")
    if max_calls is not None and max_calls < 1:
        raise IssueError("a call budget must be at least 1")
    configured = config.tasks.keys.get(kid)
    if configured is None or public_pem(key) != public_pem_of(configured):
        raise IssueError(f"the signing key is not the configured issuer key {kid!r}")
    return issue_token(
        key=key,
        kid=kid,
        issuer=config.tasks.issuer,
        audience=config.tasks.audience,
        agent_id=agent_id,
        agent_cert=agent_cert,
        intent=intent,
        principals=principals,
        actions=actions,
        ttl=ttl,
        now=int(time.time()) if now is None else now,
        on_behalf_of=on_behalf_of,
        delegation=delegation,
        max_calls=max_calls,
    )
