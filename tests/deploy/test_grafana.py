"""deploy/grafana/agent-authz.json: a dashboard Grafana can import, on a chosen Prometheus data
source, whose queries name only metrics (and labels) that authz/metrics.py registers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .test_prometheus import metric_catalogue, promql_problems, run_promtool

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "agent-authz.json"
DATASOURCE = "${datasource}"
#: What the dashboard must show: a metric, and a piece of PromQL one of its panels applies to it.
REQUIRED = [
    ("authz_decisions_total", "by (decision)"),
    ("authz_decisions_total", "by (reason)"),
    ("authz_check_duration_seconds_bucket", "histogram_quantile(0.5,"),
    ("authz_check_duration_seconds_bucket", "histogram_quantile(0.99,"),
    ("authz_serving", "authz_serving"),
    ("authz_audit_failures_total", "authz_audit_failures_total"),
    ("authz_store_errors_total", "authz_store_errors_total"),
    ("authz_revocations_total", "authz_revocations_total"),
    ("authz_approval_replays_blocked_total", "authz_approval_replays_blocked_total"),
    ("authz_outcomes_total", "by (status_class)"),
    ("authz_outcomes_missing_total", "authz_outcomes_missing_total"),
    ("authz_shadow_denies_total", "authz_shadow_denies_total"),
]
#: Grafana's variables, as values Prometheus can parse.
VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$job": ".*", "$instance": ".*"}
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.*),\s*)?([A-Za-z_]\w*)\s*\)\s*$")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' collapsed panels included."""
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query target."""
    every = panels(dashboard["panels"])
    return [(p.get("title", "?"), t["expr"]) for p in every for t in p.get("targets", [])]


def variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query", "")
    return str(query.get("query", "") if isinstance(query, dict) else query)


def test_it_is_a_dashboard_grafana_imports(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] and dashboard["title"]
    assert dashboard["panels"], "no panels"


def test_the_prometheus_data_source_is_a_variable(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels(dashboard["panels"]):
        if panel.get("type") == "row":
            continue
        assert panel["datasource"]["uid"] == DATASOURCE, panel["title"]
        assert all(t["datasource"]["uid"] == DATASOURCE for t in panel["targets"]), panel["title"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == DATASOURCE, variable["name"]


def test_panel_ids_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [panel.get("id") for panel in panels(dashboard["panels"])]
    assert all(isinstance(i, int) for i in ids), ids
    assert len(ids) == len(set(ids)), ids


def test_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                assert x < 24, f"{panel['title']} is wider than the grid"
                cells[(x, y)] = panel["title"]


def test_every_query_uses_only_registered_metrics_and_labels(dashboard: dict[str, Any]) -> None:
    catalogue = metric_catalogue()
    queries = exprs(dashboard)
    assert queries, "no queries"
    for title, expr in queries:
        names, problems = promql_problems(expr, catalogue)
        assert names, f"{title}: {expr} selects no metric"
        assert problems == [], title


def test_variables_use_only_registered_metrics_and_labels(dashboard: dict[str, Any]) -> None:
    catalogue = metric_catalogue()
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = _LABEL_VALUES.match(variable_query(variable))
        assert match and match.group(1), f"{variable['name']}: not label_values(SELECTOR, LABEL)"
        names, problems = promql_problems(match.group(1), catalogue)
        assert names and problems == [], variable["name"]
        assert all(match.group(2) in catalogue[name] for name in names), variable["name"]


@pytest.mark.parametrize(("metric", "promql"), REQUIRED, ids=[f"{m} {p}" for m, p in REQUIRED])
def test_the_dashboard_shows(dashboard: dict[str, Any], metric: str, promql: str) -> None:
    catalogue = metric_catalogue()
    found = [e for _, e in exprs(dashboard) if metric in promql_problems(e, catalogue)[0] and promql in e]
    assert found, f"no panel applies {promql!r} to {metric}"


def test_refusals_by_reason_leave_out_answers_that_are_not_refusals(dashboard: dict[str, Any]) -> None:
    by_reason = [e for _, e in exprs(dashboard) if "authz_decisions_total" in e and "by (reason)" in e]
    assert by_reason
    assert all('reason!~"ready|task_completed"' in e and 'decision="deny"' in e for e in by_reason)


def test_every_query_parses(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses each query, Grafana's variables filled in, as a recording rule."""
    rules = []
    for number, (_, expr) in enumerate(exprs(dashboard)):
        for variable, value in VARIABLES.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:query_{number}", "expr": expr})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
