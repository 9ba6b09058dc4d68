"""MCPServer reconciliation by the real operator process on the real control plane."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.operator.manifests import remote_server
from tests.testbed.kube import ControlPlane
from tests.testbed.mcp_servers import running_everything_http
from tests.testbed.paths import REPO_ROOT
from tests.testbed.processes import ManagedProcess, free_port
from tests.testbed.waiting import eventually

SAMPLES = REPO_ROOT / "manifests" / "samples"
LOCKED_DOWN = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def sample_image(sample: str) -> str:
    """The image a sample names (pinned by digest), as the operator must pass it on."""
    image: str = yaml.safe_load((SAMPLES / sample).read_text())["spec"]["container"]["image"]
    return image


def get(plane: ControlPlane, namespace: str, *what: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(plane.kubectl("get", "-n", namespace, *what, "-o", "json"))
    return found


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == kind), None)


def apply(plane: ControlPlane, namespace: str, document: dict[str, Any]) -> None:
    plane.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=json.dumps(document))


def apply_sample(plane: ControlPlane, namespace: str, sample: str, kind: str, name: str) -> Any:
    """Apply a sample file and wait for the operator to make ``kind``/``name`` for it."""
    plane.kubectl("apply", "--server-side", "-n", namespace, "-f", str(SAMPLES / sample))
    return eventually(
        lambda: get(plane, namespace, kind, name), timeout=30, what=f"{kind} {name} of {sample}"
    )


@pytest.fixture(scope="module")
def everything_port() -> int:
    return free_port()


@pytest.fixture
def everything(tmp_path: Path, everything_port: int) -> Iterator[str]:
    with running_everything_http(tmp_path, everything_port) as url:
        yield url


def test_stdio_sample_gets_a_locked_down_deployment_with_the_bridge_wired_in(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str
) -> None:
    deployment = apply_sample(
        crds_installed, namespace, "mcpserver-time-stdio.yaml", "deployment", "time"
    )
    server = get(crds_installed, namespace, "mcpserver", "time")
    owner = deployment["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "MCPServer",
        "time",
        server["metadata"]["uid"],
        True,
    )
    assert deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mcphub-operator"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["selector"] == {"matchLabels": {"mcphub.dev/server": "time"}}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}

    (bridge,) = pod["initContainers"]
    assert bridge["name"] == "mcp-bridge"
    assert bridge["restartPolicy"] == "Always"  # a native sidecar: starts first, stays up
    assert bridge["image"] == "ghcr.io/mcphub/mcphub:0.1.0"
    assert bridge["command"] == ["python", "-m", "hub_proxy.bridge"]
    assert bridge["args"] == [
        "--fifo-dir",
        "/var/run/mcphub",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
        "--path",
        "/mcp",
    ]
    assert bridge["ports"] == [{"name": "mcp", "containerPort": 8080, "protocol": "TCP"}]
    assert bridge["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert bridge["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert bridge["securityContext"] == LOCKED_DOWN

    (server_container,) = pod["containers"]
    assert server_container["image"] == sample_image("mcpserver-time-stdio.yaml")
    assert server_container["command"] == [
        "/bin/sh",
        "-c",
        'exec "$@" </var/run/mcphub/stdin >/var/run/mcphub/stdout',
        "mcphub-stdio",
    ]
    assert server_container["args"] == ["mcp-server-time", "--local-timezone=UTC"]
    assert "ports" not in server_container
    assert server_container["securityContext"] == LOCKED_DOWN
    assert server_container["resources"] == {
        "requests": {"cpu": "20m", "memory": "48Mi"},
        "limits": {"memory": "128Mi"},
    }
    mounts = {m["name"]: m["mountPath"] for m in server_container["volumeMounts"]}
    assert mounts == {"tmp": "/tmp", "bridge": "/var/run/mcphub"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["bridge"]["emptyDir"]["medium"] == "Memory"

    # The Service is applied right after the Deployment, in the same pass.
    service = eventually(
        lambda: get(crds_installed, namespace, "service", "time"), timeout=30, what="the Service"
    )
    assert service["spec"]["selector"] == {"mcphub.dev/server": "time"}
    assert service["spec"]["ports"][0]["port"] == 8080
    assert service["spec"]["ports"][0]["targetPort"] == "mcp"
    status = eventually(
        lambda: get(crds_installed, namespace, "mcpserver", "time").get("status", {}).get("url"),
        timeout=30,
        what="status.url",
    )
    assert status == f"http://time.{namespace}.svc:8080/mcp"
    ready = condition(get(crds_installed, namespace, "mcpserver", "time"), "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "PodsNotReady")


def test_http_sample_runs_its_own_port_with_probes_and_replicas(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str
) -> None:
    deployment = apply_sample(
        crds_installed, namespace, "mcpserver-everything-http.yaml", "deployment", "everything"
    )
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    (container,) = pod["containers"]
    assert container["args"] == ["streamableHttp"]
    assert container["ports"] == [{"name": "mcp", "containerPort": 3001, "protocol": "TCP"}]
    assert container["readinessProbe"]["tcpSocket"] == {"port": "mcp"}
    assert container["livenessProbe"]["tcpSocket"] == {"port": "mcp"}
    assert {"name": "PORT", "value": "3001"} in container["env"]
    assert {"name": "HOME", "value": "/tmp"} in container["env"]
    assert container["securityContext"] == LOCKED_DOWN
    # The Service is applied right after the Deployment, in the same pass.
    service = eventually(
        lambda: get(crds_installed, namespace, "service", "everything"),
        timeout=30,
        what="the Service",
    )
    assert service["spec"]["ports"][0]["port"] == 3001


def test_deleting_the_server_garbage_collects_its_deployment_and_service(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str
) -> None:
    apply_sample(crds_installed, namespace, "mcpserver-time-stdio.yaml", "service", "time")
    crds_installed.kubectl("delete", "-n", namespace, "mcpserver", "time")

    def workload_gone() -> bool:
        listed = get(
            crds_installed, namespace, "deployments,services", "-l", "mcphub.dev/server=time"
        )
        return not listed["items"]

    eventually(workload_gone, timeout=60, what="garbage collection of the Deployment and Service")


def test_hand_edits_and_deletions_of_owned_objects_are_repaired(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str
) -> None:
    apply_sample(
        crds_installed, namespace, "mcpserver-everything-http.yaml", "service", "everything"
    )
    # Another field manager (a person, an HPA) takes over replicas: a conflict
    # the operator must win, not lose.
    crds_installed.kubectl(
        "patch",
        "-n",
        namespace,
        "deployment",
        "everything",
        "--type=merge",
        "-p",
        json.dumps(
            {
                "spec": {
                    "replicas": 7,
                    "template": {
                        "spec": {"containers": [{"name": "server", "image": "evil/image:1"}]}
                    },
                }
            }
        ),
    )
    crds_installed.kubectl("delete", "-n", namespace, "service", "everything")

    def repaired() -> bool:
        deployment = get(crds_installed, namespace, "deployment", "everything")
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        service = get(crds_installed, namespace, "service", "everything")
        return bool(
            deployment["spec"]["replicas"] == 2
            and image == sample_image("mcpserver-everything-http.yaml")
            and service["metadata"]["name"] == "everything"
        )

    eventually(repaired, timeout=30, what="the operator to repair the Deployment and Service")


def test_remote_server_is_verified_with_its_real_tools_and_degrades_when_it_stops(
    crds_installed: ControlPlane,
    operator: ManagedProcess,
    namespace: str,
    tmp_path: Path,
    everything_port: int,
) -> None:
    url = f"http://127.0.0.1:{everything_port}/mcp"
    with running_everything_http(tmp_path / "first", everything_port):
        apply(
            crds_installed,
            namespace,
            remote_server(
                "everything",
                url,
                tools={
                    "exclude": ["trigger-*"],
                    "overrides": [{"name": "get-sum", "alias": "add"}],
                },
            ),
        )
        crds_installed.wait_ready(namespace, "mcpserver/everything")
        server = get(crds_installed, namespace, "mcpserver", "everything")
        status = server["status"]
        assert status["url"] == url
        assert status["serverInfo"]["name"] == "mcp-servers/everything"
        assert status["serverInfo"]["protocolVersion"]
        assert "tools" in status["serverInfo"]["capabilities"]
        names = [tool["name"] for tool in status["tools"]]
        assert "echo" in names
        assert "add" in names
        assert "get-sum" not in names
        assert not [name for name in names if name.startswith("trigger-")]
        assert status["toolCount"] == len(names)
        echo = next(tool for tool in status["tools"] if tool["name"] == "echo")
        assert echo["descriptionHash"].startswith("sha256:")
        assert echo["inputSchemaHash"].startswith("sha256:")
        assert condition(server, "Verified")["status"] == "True"  # type: ignore[index]
        assert status["observedGeneration"] == server["metadata"]["generation"]

    def degraded() -> bool:
        current = get(crds_installed, namespace, "mcpserver", "everything")
        found = condition(current, "Degraded")
        return bool(found and found["status"] == "True")

    eventually(degraded, timeout=20, what="Degraded=True after the server stopped")
    stopped = get(crds_installed, namespace, "mcpserver", "everything")
    ready = condition(stopped, "Ready")
    assert ready is not None
    assert ready["status"] == "False"
    assert url in ready["message"]

    with running_everything_http(tmp_path / "second", everything_port):
        crds_installed.wait_ready(namespace, "mcpserver/everything")

    reasons = crds_installed.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "involvedObject.name=everything",
        "-o",
        "jsonpath={.items[*].reason}",
    ).split()
    assert "HandshakeSucceeded" in reasons
    assert "Unreachable" in reasons


def test_missing_secret_is_a_condition_until_it_is_created(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str, everything: str
) -> None:
    apply(
        crds_installed,
        namespace,
        remote_server(
            "guarded",
            everything,
            remote={
                "url": everything,
                "headers": [
                    {
                        "name": "Authorization",
                        "valueFrom": {"secretKeyRef": {"name": "mcp-token", "key": "token"}},
                    }
                ],
            },
        ),
    )

    def refused() -> dict[str, Any] | None:
        found = condition(get(crds_installed, namespace, "mcpserver", "guarded"), "Ready")
        return found if found and found["reason"] == "SecretNotFound" else None

    ready = eventually(refused, timeout=30, what="Ready=False for the missing Secret")
    assert ready is not None
    assert ready["message"] == (
        f"Secret 'mcp-token' named by spec.remote.headers[0] does not exist in {namespace}"
    )
    crds_installed.kubectl(
        "create",
        "secret",
        "generic",
        "mcp-token",
        "-n",
        namespace,
        "--from-literal=token=Bearer test",
    )
    crds_installed.wait_ready(namespace, "mcpserver/guarded")


def test_kubectl_wait_returns_once_a_sample_like_server_is_ready(
    crds_installed: ControlPlane, operator: ManagedProcess, namespace: str, everything: str
) -> None:
    sample = yaml.safe_load((SAMPLES / "mcpserver-remote-github.yaml").read_text())
    sample["spec"]["remote"] = {"url": everything}
    sample["spec"]["tools"] = {"include": ["echo", "get-*"]}
    apply(crds_installed, namespace, sample)
    done = subprocess.run(
        [
            str(crds_installed.kubectl_binary),
            f"--kubeconfig={crds_installed.kubeconfig}",
            "wait",
            "-n",
            namespace,
            "--for=condition=Ready",
            "--timeout=30s",
            "mcpserver/github",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "condition met" in done.stdout
    server = get(crds_installed, namespace, "mcpserver", "github")
    assert sorted(tool["name"] for tool in server["status"]["tools"]) == [
        "echo",
        "get-annotated-message",
        "get-env",
        "get-resource-links",
        "get-resource-reference",
        "get-structured-content",
        "get-sum",
        "get-tiny-image",
    ]
