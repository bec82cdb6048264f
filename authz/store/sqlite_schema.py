"""The SQLite state store's tables, in one place: the state (revocations, suspensions, budgets,
consumed approvals) and the approval queue. ``SCHEMA_VERSION`` is the database's
``user_version``; a newer database is refused, an older one upgraded at open."""

from __future__ import annotations

QUEUE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS approval_requests (request_id TEXT PRIMARY KEY,"
    " agent TEXT NOT NULL, owner TEXT NOT NULL, task_id TEXT NOT NULL, on_behalf_of TEXT,"
    " intent TEXT NOT NULL, justification TEXT, prompt_ref TEXT, operation TEXT NOT NULL,"
    " op_class TEXT NOT NULL, principal TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,"
    " body BLOB NOT NULL, req TEXT NOT NULL, approvers_needed INTEGER NOT NULL, expires REAL NOT NULL,"
    " created REAL NOT NULL, status TEXT NOT NULL, decided_by TEXT, reason TEXT)",
    "CREATE INDEX IF NOT EXISTS approval_requests_by_request"
    " ON approval_requests (agent, task_id, req, status)",
    "CREATE INDEX IF NOT EXISTS approval_requests_by_agent ON approval_requests (agent, created)",
    "CREATE TABLE IF NOT EXISTS approval_tokens (request_id TEXT NOT NULL, approver TEXT NOT NULL,"
    " token TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (request_id, approver))",
)

SCHEMA_VERSION = 3  # 2: the approval queue; 3: audit anchors

STATE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS revoked_tasks"
    " (task_id TEXT PRIMARY KEY, reason TEXT NOT NULL, by TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS suspended_agents"
    " (spiffe_id TEXT PRIMARY KEY, by TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS task_usage (task_id TEXT PRIMARY KEY, calls INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS consumed_approvals"
    " (approval_id TEXT PRIMARY KEY, task_id TEXT, at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_anchors"
    " (chain TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL, at REAL NOT NULL)",
)


SCHEMA = (*STATE_SCHEMA, *QUEUE_SCHEMA)
