"""What ``manifests/monitoring`` asks of Prometheus: its alert rules and the dashboard's queries."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.testbed.manifests import MANIFESTS

MONITORING = MANIFESTS / "monitoring"
RULES = MONITORING / "prometheusrule.yaml"
DASHBOARD = MONITORING / "dashboards" / "mcphub.json"
# Grafana's variables, replaced by what a query would get for "all".
_VARIABLES = {"$__rate_interval": "5m", "$namespace": ".*", "$server": ".*"}
# Every metric of the project's programs has the prefix; labels never do.
_METRIC = re.compile(r"\bmcphub_[a-z0-9_]+\b")


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["spec"]["groups"]
    return groups


def rule_expressions() -> list[str]:
    return [rule["expr"] for group in rule_groups() for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard's panels, Grafana's variables filled in."""
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            # label_values(SELECTOR, LABEL): the selector is PromQL.
            found = re.fullmatch(r"label_values\((.*), *\w+\)", variable["query"]["query"])
            assert found, variable["query"]
            expressions.append(found.group(1))
    for name, value in _VARIABLES.items():
        expressions = [expression.replace(name, value) for expression in expressions]
    return expressions


def metric_names(expressions: list[str]) -> frozenset[str]:
    """The series names the expressions select (``_bucket`` and ``_total`` as written)."""
    return frozenset(name for expression in expressions for name in _METRIC.findall(expression))
