"""Desired workloads: the pod template override and the stdio wiring."""

from __future__ import annotations

from typing import Any

from mcphub_api import MCPServer
from mcphub_api.loader import parse_object
from mcphub_operator.core import workloads


def server(spec: dict[str, Any]) -> MCPServer:
    parsed = parse_object(
        {
            "apiVersion": "mcphub.dev/v1alpha1",
            "kind": "MCPServer",
            "metadata": {"name": "s", "namespace": "ns", "uid": "u-1"},
            "spec": spec,
        }
    )
    assert isinstance(parsed, MCPServer)
    return parsed


def test_pod_template_override_merges_containers_by_name_and_adds_new_ones() -> None:
    manifest = workloads.deployment(
        server(
            {
                "container": {
                    "image": "img",
                    "podTemplate": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "server",
                                    "securityContext": {"readOnlyRootFilesystem": False},
                                }
                            ],
                            "nodeSelector": {"disk": "ssd"},
                            "volumes": [{"name": "cache", "emptyDir": {}}],
                        }
                    },
                }
            }
        ),
        bridge_image="bridge:1",
    )
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "img"
    assert container["securityContext"]["readOnlyRootFilesystem"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["nodeSelector"] == {"disk": "ssd"}
    assert [v["name"] for v in pod["volumes"]] == ["tmp", "cache"]


def test_stdio_server_runs_its_command_and_args_behind_the_fifo_wrapper() -> None:
    manifest = workloads.deployment(
        server(
            {
                "transport": "stdio",
                "container": {
                    "image": "img",
                    "command": ["node", "server.js"],
                    "args": ["--verbose"],
                    "port": 9000,
                },
            }
        ),
        bridge_image="bridge:1",
    )
    pod = manifest["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["node", "server.js", "--verbose"]
    assert pod["initContainers"][0]["image"] == "bridge:1"
    assert "--port" in pod["initContainers"][0]["args"]
    assert (
        pod["initContainers"][0]["args"][pod["initContainers"][0]["args"].index("--port") + 1]
        == "9000"
    )


def test_a_declared_home_is_kept() -> None:
    manifest = workloads.deployment(
        server({"container": {"image": "img", "env": [{"name": "HOME", "value": "/data"}]}}),
        bridge_image="bridge:1",
    )
    env = manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "HOME", "value": "/data"}]


def test_service_account_name_mounts_its_token() -> None:
    manifest = workloads.deployment(
        server({"container": {"image": "img", "serviceAccountName": "reader"}}),
        bridge_image="bridge:1",
    )
    pod = manifest["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "reader"
    assert pod["automountServiceAccountToken"] is True
