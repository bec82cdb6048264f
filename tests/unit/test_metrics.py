"""Prometheus metrics (``authz/metrics.py``): each decision counted by outcome, reason and class and
timed, in a registry of the server's own."""

from __future__ import annotations

from authz.metrics import Metrics


def count(metrics: Metrics, decision: str, reason: str, op_class: str) -> float | None:
    labels = {"decision": decision, "reason": reason, "class": op_class}
    return metrics.registry.get_sample_value("authz_decisions_total", labels)


def test_each_decision_is_counted_under_its_labels_and_timed() -> None:
    metrics = Metrics()
    metrics.count_decision(True, "allowed", "read", 0.0004)
    metrics.count_decision(True, "allowed", "read", 0.002)
    metrics.count_decision(False, "unknown_route", "unknown", 0.0001)
    assert count(metrics, "allow", "allowed", "read") == 2
    assert count(metrics, "deny", "unknown_route", "unknown") == 1
    assert count(metrics, "deny", "allowed", "read") is None
    sample = metrics.registry.get_sample_value
    assert sample("authz_check_duration_seconds_count") == 3
    assert sample("authz_check_duration_seconds_bucket", {"le": "0.0005"}) == 2
    assert sample("authz_check_duration_seconds_sum") == 0.0004 + 0.002 + 0.0001


def test_two_servers_count_apart() -> None:
    first, second = Metrics(), Metrics()
    first.count_decision(True, "allowed", "read", 0.001)
    first.revocations.inc()
    assert count(first, "allow", "allowed", "read") == 1 and count(second, "allow", "allowed", "read") is None
    assert second.registry.get_sample_value("authz_revocations_total") == 0


def test_every_metric_the_docs_name_is_registered() -> None:
    names = {m.name for m in Metrics().registry.collect()}
    assert names >= {
        "authz_decisions",
        "authz_check_duration_seconds",
        "authz_approvals_consumed",
        "authz_approval_replays_blocked",
        "authz_revocations",
        "authz_shadow_denies",
        "authz_reloads",
        "authz_approval_webhook_failures",
        "authz_audit_failures",
        "authz_store_errors",
        "authz_serving",
    }
