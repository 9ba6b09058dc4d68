"""An operator killed mid-reconcile leaves nothing a successor cannot converge."""

from __future__ import annotations

import json
from pathlib import Path

from tests.testbed.kube import ControlPlane
from tests.testbed.operator_process import start_operator
from tests.testbed.waiting import eventually

SERVERS = 40


def server(index: int) -> dict[str, object]:
    return {
        "apiVersion": "mcphub.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": f"server-{index:02d}"},
        "spec": {
            "transport": "stdio" if index % 2 else "streamable-http",
            "container": {"image": "mcp/time:latest", "command": ["mcp-server-time"]},
        },
    }


def names(plane: ControlPlane, namespace: str, kind: str) -> list[str]:
    listed = json.loads(plane.kubectl("get", kind, "-n", namespace, "-o", "json"))
    return [item["metadata"]["name"] for item in listed["items"]]


def servers_with_status(plane: ControlPlane, namespace: str) -> list[str]:
    listed = json.loads(plane.kubectl("get", "mcps", "-n", namespace, "-o", "json"))
    return [s["metadata"]["name"] for s in listed["items"] if s.get("status", {}).get("url")]


def test_operator_killed_mid_reconcile_converges_without_duplicates(
    crds_installed: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    first = start_operator(crds_installed, tmp_path / "first")
    documents = {"apiVersion": "v1", "kind": "List", "items": [server(i) for i in range(SERVERS)]}
    crds_installed.kubectl(
        "apply",
        "--server-side",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=json.dumps(documents),
        timeout=240,  # one request per object, on a machine that may be busy
    )
    eventually(
        lambda: names(crds_installed, namespace, "deployments"),
        timeout=30,
        what="the first Deployments",
        every=0.05,
    )
    first.kill()
    halfway = len(names(crds_installed, namespace, "deployments"))
    with_status = len(servers_with_status(crds_installed, namespace))

    second = start_operator(crds_installed, tmp_path / "second")
    try:
        expected = sorted(f"server-{i:02d}" for i in range(SERVERS))

        def converged() -> bool:
            servers = json.loads(
                crds_installed.kubectl("get", "mcps", "-n", namespace, "-o", "json")
            )
            return bool(
                sorted(names(crds_installed, namespace, "deployments")) == expected
                and sorted(names(crds_installed, namespace, "services")) == expected
                and all(s.get("status", {}).get("url") for s in servers["items"])
            )

        eventually(converged, timeout=90, what=f"all {SERVERS} servers to converge")

        def owners() -> set[str]:
            return {
                name.rsplit("-", 1)[0] for name in names(crds_installed, namespace, "replicasets")
            }

        # The Deployment controller makes ReplicaSets a moment after the Deployments.
        eventually(lambda: sorted(owners()) == expected, timeout=60, what="a ReplicaSet each")
        # One ReplicaSet per Deployment: no reconcile pass produced a different template.
        replica_sets = names(crds_installed, namespace, "replicasets")
        assert len(replica_sets) == SERVERS, replica_sets
        print(
            f"when the first operator was killed: {halfway}/{SERVERS} Deployments, "
            f"{with_status}/{SERVERS} statuses"
        )
    finally:
        second.stop()
