"""deploy/prometheus/alerts.yml: promtool accepts it, its unit tests pass, every alert says what to do,
and it names only metrics (and labels) that authz/metrics.py registers.

``metric_catalogue`` and ``promql_problems`` are shared with test_grafana.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from authz.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
#: Labels Prometheus adds to every scraped series (and ``le``, below, to histogram buckets).
TARGET_LABELS = frozenset({"job", "instance"})
#: The series each metric type exposes, as suffixes of the family name.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}
REQUIRED_ALERTS = {
    "AgentAuthzAuditFailures",
    "AgentAuthzNotServing",
    "AgentAuthzStoreErrors",
    "AgentAuthzDenySpike",
    "AgentAuthzRevocationBurst",
    "AgentAuthzApprovalReplays",
    "AgentAuthzOutcomesMissing",
    "AgentAuthzCheckLatencyHigh",
    "AgentAuthzReloadFailed",
}
#: Alerts alerts_test.yml must show firing; and the one it must show quiet under normal load.
MUST_FIRE = {
    "AgentAuthzAuditFailures",
    "AgentAuthzNotServing",
    "AgentAuthzStoreErrors",
    "AgentAuthzDenySpike",
}
MUST_STAY_QUIET = "AgentAuthzDenySpike"

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_WORD = re.compile(r"(?<![\w:.$])[A-Za-z_:][\w:]*")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
     "offset", "inf", "nan", "atan2"}
)  # fmt: skip


@cache
def metric_catalogue() -> dict[str, frozenset[str]]:
    """Every series name a fresh ``Metrics()`` registry exposes, with the labels it may carry."""
    metrics = Metrics()
    # A labelled metric without children exposes no sample, so its label names come from the
    # wrapper (prometheus_client keeps them in ``_labelnames``).
    wrappers = [m for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)]
    labels = {m._name: frozenset(m._labelnames) for m in wrappers}
    catalogue: dict[str, frozenset[str]] = {}
    for family in metrics.registry.collect():
        own = labels.get(family.name, frozenset()) | TARGET_LABELS
        for suffix in SUFFIXES.get(family.type, ("",)):
            catalogue[family.name + suffix] = own | ({"le"} if suffix == "_bucket" else set())
    return catalogue


def promql_problems(expr: str, catalogue: dict[str, frozenset[str]]) -> tuple[set[str], list[str]]:
    """The metric names ``expr`` selects, and what in it is not in ``catalogue``: unknown metrics,
    and label names no metric of the expression carries."""
    text = _STRING.sub('""', expr)
    problems: list[str] = []
    for name, matchers in _SELECTOR.findall(text):
        allowed = catalogue.get(name, frozenset())
        problems += [f"{name} has no label {label!r}" for label in _MATCHER_LABEL.findall(matchers)
                     if name in catalogue and label not in allowed]  # fmt: skip
    text = _RANGE.sub(" ", _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", text))
    grouped = {label.strip() for labels in _GROUPING.findall(text) for label in labels.split(",")} - {""}
    text = _GROUPING.sub(" ", text)
    names = set()
    for word in _WORD.finditer(text):
        if word.group() not in _KEYWORDS and not text[word.end() :].lstrip().startswith("("):
            names.add(word.group())
    problems += [f"unknown metric {name}" for name in sorted(names - set(catalogue))]
    carried = set(TARGET_LABELS).union(*(catalogue.get(name, frozenset()) for name in names))
    problems += [f"no metric here has label {label!r}" for label in sorted(grouped - carried)]
    return names, problems


def promtool() -> str:
    found = shutil.which("promtool") or shutil.which("promtool", path="/usr/bin")
    if found is None:
        pytest.fail("promtool is missing: `make test` installs it (Debian package prometheus)")
    return found


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    result = run_promtool("check", "rules", str(RULES.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alerts_fire_as_their_unit_tests_say() -> None:
    result = run_promtool("test", "rules", str(RULE_TESTS.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_in_the_group_with_a_severity_and_a_runbook() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    assert [g["name"] for g in groups] == ["agent-authz"]
    found = {rule["alert"] for rule in rules()}
    assert REQUIRED_ALERTS <= found, f"missing: {sorted(REQUIRED_ALERTS - found)}"
    for rule in rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert "Runbook:" in rule["annotations"]["description"], rule["alert"]


def test_the_unit_tests_cover_the_key_alerts() -> None:
    cases = [c for test in yaml.safe_load(RULE_TESTS.read_text())["tests"] for c in test["alert_rule_test"]]
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert MUST_FIRE <= fired, f"never shown firing: {sorted(MUST_FIRE - fired)}"
    assert MUST_STAY_QUIET in quiet
    assert {c["alertname"] for c in cases} <= {rule["alert"] for rule in rules()}, "a test of no alert"


def test_the_rules_use_only_registered_metrics_and_labels() -> None:
    catalogue = metric_catalogue()
    for rule in rules():
        names, problems = promql_problems(rule["expr"], catalogue)
        assert names, f"{rule['alert']} selects no metric"
        assert problems == [], rule["alert"]


def test_the_catalogue_is_the_registrys() -> None:
    catalogue = metric_catalogue()
    assert catalogue["authz_decisions_total"] == {"decision", "reason", "class", "job", "instance"}
    assert "le" in catalogue["authz_check_duration_seconds_bucket"]
    assert {"authz_serving", "authz_check_duration_seconds_count", "authz_outcomes_missing_total"} < set(
        catalogue
    )
    assert "authz_decisions" not in catalogue, "a counter is exposed as NAME_total only"


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("rate(authz_decision_total[5m]) > 0", "unknown metric authz_decision_total"),
        ("authz_decisions > 0", "unknown metric authz_decisions"),
        ('sum(rate(authz_decisions_total{reasons="x"}[5m]))', "authz_decisions_total has no label 'reasons'"),
        ("sum by (status) (rate(authz_outcomes_total[5m]))", "no metric here has label 'status'"),
        ("histogram_quantile(0.99, rate(authz_check_duration_seconds_bucket[5m])) > up", "unknown metric up"),
    ],
)
def test_the_metric_check_catches_strays(expr: str, problem: str) -> None:
    assert problem in promql_problems(expr, metric_catalogue())[1]


def test_the_metric_check_passes_a_good_expression() -> None:
    expr = (
        'sum by (le) (rate(authz_check_duration_seconds_bucket{job=~"a|b", instance!=""}[$__rate_interval]))'
    )
    assert promql_problems(expr, metric_catalogue()) == ({"authz_check_duration_seconds_bucket"}, [])
