"""The operator's own endpoint: /healthz, and /metrics scraped while it works."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from tests.operator.manifests import remote_server
from tests.testbed.kube import ControlPlane
from tests.testbed.operator_process import OperatorProcess, operator_kubeconfig
from tests.testbed.processes import ManagedProcess, free_port
from tests.testbed.waiting import eventually


def test_metrics_count_reconciles_verifications_and_objects(
    crds_installed: ControlPlane, operator: OperatorProcess, namespace: str, everything: str
) -> None:
    before = operator.metrics()
    crds_installed.apply(namespace, remote_server("good", everything))
    crds_installed.apply(namespace, remote_server("down", f"http://127.0.0.1:{free_port()}/mcp"))
    crds_installed.wait_ready(namespace, "mcpserver/good")

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return operator.metrics().get(key, 0.0) - before.get(key, 0.0)

    eventually(
        lambda: moved("mcphub_operator_verification_total", result="unreachable") >= 1,
        timeout=30,
        what="an unreachable verification counted",
    )
    assert moved("mcphub_operator_verification_total", result="success") >= 1
    assert moved("mcphub_operator_verification_duration_seconds_count") >= 2
    assert moved("mcphub_operator_reconcile_total", kind="MCPServer", result="success") >= 2
    assert moved("mcphub_operator_reconcile_duration_seconds_count", kind="MCPServer") >= 2
    samples = operator.metrics()
    assert samples[("mcphub_operator_managed_objects", (("kind", "MCPServer"),))] >= 2
    assert ("mcphub_operator_managed_objects", (("kind", "MCPGroup"),)) in samples
    assert samples[("mcphub_operator_leader", ())] == 1


def test_healthz_answers(operator: OperatorProcess) -> None:
    with urllib.request.urlopen(operator.url("/healthz"), timeout=10) as response:  # noqa: S310
        assert json.load(response) == {"alive": True}


def test_a_port_in_use_stops_the_operator_with_a_message_naming_the_setting(
    crds_installed: ControlPlane, operator: OperatorProcess, tmp_path: Path
) -> None:
    """As when the hub of `make run` held it: the operator says what to change, and exits."""
    clash = ManagedProcess(
        "clash",
        [sys.executable, "-m", "mcphub_operator", f"--port={operator.port}"],
        env={"KUBECONFIG": str(operator_kubeconfig(crds_installed, tmp_path))},
        log_dir=tmp_path,
    )
    try:
        eventually(lambda: clash.exit_code() is not None, timeout=60, what="the operator to exit")
        assert clash.exit_code() != 0
        assert "choose another with --port or MCPHUB_PORT" in clash.log_path.read_text()
    finally:
        clash.stop()
