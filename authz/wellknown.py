"""Paths agent-authz answers itself, through the proxy, before the pipeline (``authz/endpoints.py``)."""

from __future__ import annotations

#: The agent-facing approval API: ``GET`` + an approval request id (the agent polls it).
POLL_PATH = "/.well-known/agent-authz/approvals/"
#: ``POST`` here ends the caller's task: its token stops working.
COMPLETE_TASK_PATH = "/.well-known/agent-authz/task/complete"
#: ``GET`` here: a readiness probe of the whole path (mTLS, Envoy, agent-authz); answered ``ready``.
READY_PATH = "/.well-known/agent-authz/ready"
