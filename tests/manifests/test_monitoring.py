"""The monitoring objects: alert rules that parse and fire when they should, a dashboard whose
queries parse, PodMonitors and a PrometheusRule the Prometheus Operator's CRDs accept, and a chart
that renders the same objects as ``manifests/monitoring``.

Rules and queries are judged by ``promtool``, built from the Prometheus
module by the test bed; the objects by a real API server with the Prometheus
Operator's own CRDs.  That every metric they name is one the programs export
is :mod:`tests.manifests.test_monitored_metrics`'s to show.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests.helm import CHART, helm
from tests.manifests.monitoring import DASHBOARD, MONITORING, dashboard_queries, rule_groups
from tests.testbed.go_tools import PROMTOOL, run
from tests.testbed.kube import ControlPlane
from tests.testbed.manifests import MANIFESTS, kustomize
from tests.testbed.prometheus_operator import crd_files

RULE_TESTS = Path(__file__).parent / "monitoring_rules_test.yaml"
DASHBOARD_CONFIGMAP = "mcphub-grafana-dashboard"
ALL_ON = {
    "monitoring": {
        "podMonitors": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "grafanaDashboard": {"enabled": True},
    }
}


def test_the_rules_parse_and_fire_when_their_unit_tests_say(tmp_path: Path) -> None:
    rules = tmp_path / "mcphub.rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups()}))
    checked = run(PROMTOOL, "check", "rules", str(rules))
    assert "SUCCESS: 13 rules found" in checked
    # promtool compares annotations verbatim; `check rules` has parsed their templates.
    bare = [
        {
            **group,
            "rules": [
                {k: v for k, v in rule.items() if k != "annotations"} for rule in group["rules"]
            ],
        }
        for group in rule_groups()
    ]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": bare}))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    tested = run(PROMTOOL, "test", "rules", str(tmp_path / RULE_TESTS.name))
    assert "SUCCESS" in tested


def test_every_alert_has_a_unit_test() -> None:
    alerts = {rule["alert"] for group in rule_groups() for rule in group["rules"]}
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert fired == alerts


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    # As recording rules, so that promtool's parser judges each expression.
    queries = dashboard_queries()
    recorded = [{"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)]
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    assert f"SUCCESS: {len(queries)} rules found" in run(PROMTOOL, "check", "rules", str(path))


def test_every_panel_asks_the_chosen_data_source() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queried = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert queried
    assert {json.dumps(panel["datasource"]) for panel in queried} == {
        json.dumps({"type": "prometheus", "uid": "${datasource}"})
    }
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def _chart(folder: Path, values: dict[str, Any]) -> list[dict[str, Any]]:
    path = folder / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    rendered = helm(
        "template", "mcphub", str(CHART), "--namespace", "mcphub-system", "--values", str(path)
    )
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def _monitoring(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The monitoring objects among a chart's."""
    return [
        d
        for d in docs
        if d["kind"] in ("PodMonitor", "PrometheusRule")
        or d["metadata"]["name"] == DASHBOARD_CONFIGMAP
    ]


def _essence(doc: dict[str, Any]) -> Any:
    """What a monitoring object does; labels and the chart's instance selector aside."""
    match doc["kind"]:
        case "PodMonitor":
            spec = doc["spec"]
            return spec["podMetricsEndpoints"], spec.get("namespaceSelector")
        case "PrometheusRule":
            return doc["spec"]
        case _:
            return {key: json.loads(text) for key, text in doc["data"].items()}


def test_the_chart_renders_the_kustomize_monitoring(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    chart = {(d["kind"], d["metadata"]["name"]): d for d in _monitoring(_chart(tmp_path, ALL_ON))}
    base = {(d["kind"], d["metadata"]["name"]): d for d in kustomize(control_plane, MONITORING)}
    assert sorted(chart) == sorted(base)
    assert [key for key in base if _essence(chart[key]) != _essence(base[key])] == []
    # The chart's monitors select its own release's pods.
    hub = chart[("PodMonitor", "mcphub-hub")]["spec"]["selector"]["matchLabels"]
    assert hub == {"app.kubernetes.io/name": "mcphub-hub", "app.kubernetes.io/instance": "mcphub"}


def test_monitoring_is_off_by_default(tmp_path: Path) -> None:
    assert _monitoring(_chart(tmp_path, {})) == []


def test_the_charts_monitoring_values_are_honoured(tmp_path: Path) -> None:
    docs = _chart(
        tmp_path,
        {
            "monitoring": {
                "podMonitors": {"enabled": True, "labels": {"release": "kps"}, "interval": "15s"},
                "prometheusRule": {"enabled": True, "labels": {"role": "alerts"}},
                "grafanaDashboard": {
                    "enabled": True,
                    "namespace": "grafana",
                    "annotations": {"grafana_folder": "MCP"},
                },
            }
        },
    )
    monitors = [d for d in docs if d["kind"] == "PodMonitor"]
    assert len(monitors) == 3
    for monitor in monitors:
        assert monitor["metadata"]["labels"]["release"] == "kps"
        assert {e["interval"] for e in monitor["spec"]["podMetricsEndpoints"]} == {"15s"}
    (rule,) = (d for d in docs if d["kind"] == "PrometheusRule")
    assert rule["metadata"]["labels"]["role"] == "alerts"
    (dashboard,) = (d for d in docs if d["metadata"]["name"] == DASHBOARD_CONFIGMAP)
    assert dashboard["metadata"]["namespace"] == "grafana"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "MCP"}


@pytest.fixture(scope="module")
def prometheus_operator_crds(control_plane: ControlPlane) -> ControlPlane:
    for path in crd_files():
        control_plane.kubectl("apply", "--server-side", "-f", str(path))
    for kind in ("podmonitors", "prometheusrules"):
        control_plane.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s",
            f"crd/{kind}.monitoring.coreos.com",
        )  # fmt: skip
    control_plane.kubectl(
        "apply", "--server-side", "-f", str(MANIFESTS / "operator" / "namespace.yaml")
    )
    return control_plane


def test_the_monitoring_objects_pass_admission(
    prometheus_operator_crds: ControlPlane, tmp_path: Path
) -> None:
    plane = prometheus_operator_crds
    plane.kubectl(
        "apply", "--server-side", "--dry-run=server", "-k", str(MONITORING)
    )  # fmt: skip
    monitoring = _monitoring(_chart(tmp_path, ALL_ON))
    plane.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-",
        stdin=yaml.safe_dump_all(monitoring),
    )  # fmt: skip
