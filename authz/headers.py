"""Header names agent-authz reads, sets, strips or refuses — one list each, shared by the pipeline,
the Envoy adapter and the Envoy config, so that they cannot drift apart."""

from __future__ import annotations

#: Headers agent-authz sets towards the upstream; client copies never pass (docs/reasons.md).
INJECTED_HEADERS = (
    "x-authz-decision-id",
    "x-agent-id",
    "x-agent-owner",
    "x-agent-task",
    "x-on-behalf-of",
    "x-approved-by",
)

#: Credentials for agent-authz only; they never reach the upstream.
CREDENTIAL_HEADERS = ("x-agent-task-token", "x-approval-token")

#: Headers an agent writes for the humans who read audit records and approval requests,
#: kept only up to this many characters.
NOTE_HEADERS = {"x-agent-intent": 128, "x-agent-justification": 1024, "x-agent-prompt-ref": 256}

#: Headers with which frameworks let a client replace the method or the path that Envoy routed
#: and agent-authz decided on (Rails, Laravel, Symfony, Express method-override, IIS URL
#: rewrite…). A request carrying one is refused; on an allow they are stripped anyway.
METHOD_OVERRIDE_HEADERS = ("x-http-method-override", "x-http-method", "x-method-override")
PATH_OVERRIDE_HEADERS = ("x-original-url", "x-rewrite-url")
_OVERRIDES = METHOD_OVERRIDE_HEADERS + PATH_OVERRIDE_HEADERS
#: Also their spellings with underscores, which some servers map onto the same name.
REWRITING_HEADERS = _OVERRIDES + tuple(h.replace("-", "_") for h in _OVERRIDES)
