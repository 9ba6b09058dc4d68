"""Every metric the dashboard and the alerts use is one the running programs export.

A dashboard on a renamed metric shows "No data" and an alert on one never
fires: both fail silently.  So the hub, a stdio bridge and the operator run
here as deployed -- the hub with its metrics on a port of its own, as its
Deployment has them -- and their ``/metrics`` are scraped after some traffic;
every ``mcphub_*`` series a panel or a rule names must be among what they
export.  A metric declared and not yet observed counts (its ``HELP`` and
``TYPE`` are exported), since a query on it is right, only empty for now.
"""

from __future__ import annotations

from pathlib import Path

from tests.hub_proxy.bridge_process import command_of, running_bridge
from tests.hub_proxy.raw_http import open_session, rpc
from tests.hub_proxy.remote_server_yaml import remote_yaml
from tests.hub_proxy.test_standalone_hub import start_hub
from tests.manifests.monitoring import dashboard_queries, metric_names, rule_expressions
from tests.testbed.kube import ControlPlane
from tests.testbed.mcp_servers import everything_stdio
from tests.testbed.operator_process import start_operator
from tests.testbed.processes import free_port
from tests.testbed.scraping import exported_names


def test_the_extraction_finds_the_metrics_of_every_program() -> None:
    used = metric_names(rule_expressions()) | metric_names(dashboard_queries())
    for prefix in ("mcphub_mcp_", "mcphub_upstream_", "mcphub_operator_", "mcphub_bridge_"):
        assert any(name.startswith(prefix) for name in used), prefix


def test_every_metric_a_panel_or_an_alert_uses_is_exported(
    crds_installed: ControlPlane, tmp_path: Path
) -> None:
    used = metric_names(rule_expressions()) | metric_names(dashboard_queries())
    metrics_port = free_port()
    with running_bridge(tmp_path / "bridge", command=command_of(everything_stdio())) as bridge:

        def write(folder: Path) -> Path:
            folder.mkdir(parents=True)
            (folder / "everything.yaml").write_text(remote_yaml("everything", bridge.url))
            return folder

        hub = start_hub(tmp_path / "hub", write, args=["--metrics-port", str(metrics_port)])
        operator = start_operator(crds_installed, tmp_path / "operator")
        try:
            session = open_session(hub.port, "/mcp")
            call = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "everything__echo", "arguments": {"message": "hi"}},
            }
            assert "result" in rpc(hub.port, "/mcp", call, session=session).last
            exported = {
                "hub": exported_names(f"http://127.0.0.1:{metrics_port}/metrics"),
                "bridge": exported_names(f"http://127.0.0.1:{bridge.port}/metrics"),
                "operator": exported_names(operator.url("/metrics")),
            }
        finally:
            operator.stop()
            hub.process.stop()
    missing = used - exported["hub"] - exported["bridge"] - exported["operator"]
    assert missing == set()
    # Each program exports its own: the bridge's are not the hub's, and so on.
    for program, prefix in (("bridge", "mcphub_bridge_"), ("operator", "mcphub_operator_")):
        assert {name for name in used if name.startswith(prefix)} <= exported[program]
    assert {name for name in used if name.startswith(("mcphub_mcp_", "mcphub_upstream_"))} <= (
        exported["hub"]
    )
