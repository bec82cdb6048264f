"""Prometheus metrics (docs/design.md), one registry per server so tests can run several."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.decisions = Counter(
            "authz_decisions_total",
            "Decisions by outcome, reason and class",
            ["decision", "reason", "class"],
            registry=r,
        )
        self.duration = Histogram(
            "authz_check_duration_seconds", "Time to decide one Check", buckets=_BUCKETS, registry=r
        )
        self.approvals_consumed = Counter(
            "authz_approvals_consumed_total", "Approval tokens spent on an allowed request", registry=r
        )
        self.replays_blocked = Counter(
            "authz_approval_replays_blocked_total", "Approval tokens presented again after use", registry=r
        )
        self.revocations = Counter("authz_revocations_total", "Tasks revoked", registry=r)
        self.shadow_denies = Counter(
            "authz_shadow_denies_total", "Policy denies not enforced (shadow mode): the request went on",
            ["reason", "class"], registry=r,
        )  # fmt: skip
        self.reloads = Counter(
            "authz_reloads_total", "Config and policy reloads, by result (a failed one changes nothing)",
            ["result"], registry=r,
        )  # fmt: skip
        self.webhook_failures = Counter(
            "authz_approval_webhook_failures_total",
            "Approval-request events the webhook dropped or could not deliver",
            registry=r,
        )
        self.audit_failures = Counter(
            "authz_audit_failures_total", "Audit records that could not be written", registry=r
        )
        self.store_errors = Counter("authz_store_errors_total", "State store errors", registry=r)
        self.outcomes = Counter(
            "authz_outcomes_total", "What the API did with requests, from Envoy's access log",
            ["status_class", "upstream"], registry=r,
        )  # fmt: skip
        self.outcomes_missing = Counter(
            "authz_outcomes_missing_total", "State-changing allows whose outcome never arrived", registry=r
        )
        self.serving = Gauge("authz_serving", "1 when the authorizer can decide safely", registry=r)
        self._decision_children: dict[tuple[str, str, str], Counter] = {}

    def count_decision(self, allowed: bool, reason: str, op_class: str, seconds: float) -> None:
        key = ("allow" if allowed else "deny", reason, op_class)
        child = self._decision_children.get(key)
        if child is None:
            child = self._decision_children.setdefault(key, self.decisions.labels(*key))
        child.inc()
        self.duration.observe(seconds)
