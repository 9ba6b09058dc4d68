"""The hub in a cluster: objects applied with kubectl reach an already-connected client.

Real control plane, the operator as a process (it verifies the server and
writes ``status.url``), the hub as a process with ``--cluster`` under its own
ServiceAccount and the shipped RBAC, and an MCP client connected to a group's
endpoint before the server exists.  The client authenticates with a
ServiceAccount token the hub checks by TokenReview, and is authorized by an
AccessPolicy of the namespace; the server's header comes from a Secret of the
namespace, which the hub reads to reach it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp.types import ToolListChangedNotification

from tests.hub_proxy.bridge_process import JSON_AND_SSE
from tests.hub_proxy.test_standalone_hub import connected, tool_names
from tests.operator.manifests import remote_server
from tests.testbed.kube import ControlPlane
from tests.testbed.manifests import RBAC_KINDS, apply_documents, kustomize, overlay_serving
from tests.testbed.mcp_servers import running_everything_http
from tests.testbed.paths import REPO_ROOT
from tests.testbed.processes import ManagedProcess, free_port, port_is_open
from tests.testbed.waiting import eventually

CHANGE_SECONDS = 45.0
AUDIENCE = "mcphub"
# The client's ServiceAccount may use the group; its namespace is the test's.
AGENT_POLICY: dict[str, object] = {
    "apiVersion": "mcphub.dev/v1alpha1",
    "kind": "AccessPolicy",
    "metadata": {"name": "agent"},
    "spec": {
        "subjects": [{"kind": "Group", "name": "system:serviceaccounts"}],
        "rules": [{"groups": ["assistant"], "actions": ["list", "call"]}],
    },
}


@pytest.fixture
def everything(tmp_path: Path) -> Iterator[str]:
    with running_everything_http(tmp_path / "everything") as url:
        yield url


def initialize_status(url: str, token: str | None) -> int | None:
    """The HTTP status of an (empty) initialize with ``token``; None if nothing answered."""
    headers = {"Content-Type": "application/json", "Accept": JSON_AND_SSE}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=b"{}", headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code
    except (urllib.error.URLError, OSError):
        return None


def hub_kubeconfig(plane: ControlPlane, folder: Path, namespace: str) -> Path:
    """The hub's own ServiceAccount, with the RBAC an install serving ``namespace`` grants."""
    rendered = kustomize(plane, overlay_serving(folder / "overlay", namespace))
    apply_documents(plane, [doc for doc in rendered if doc["kind"] in RBAC_KINDS])
    token = plane.kubectl("create", "token", "mcphub-hub", "-n", "mcphub-system").strip()
    return plane.token_kubeconfig(token, folder / "hub.kubeconfig")


def apply(plane: ControlPlane, namespace: str, document: dict[str, object]) -> None:
    plane.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=json.dumps(document))


def assistant(*tools: str) -> dict[str, object]:
    """The MCPGroup ``assistant``: those tools of the MCPServer ``everything``."""
    return {
        "apiVersion": "mcphub.dev/v1alpha1",
        "kind": "MCPGroup",
        "metadata": {"name": "assistant"},
        "spec": {"servers": [{"name": "everything", "tools": {"include": list(tools)}}]},
    }


async def cluster_hub(
    plane: ControlPlane, namespace: str, folder: Path
) -> tuple[ManagedProcess, int]:
    """The hub serving ``namespace`` with its own identity, once it listens; and its port."""
    port = free_port()
    hub = ManagedProcess(
        "hub",
        [
            sys.executable,
            "-m",
            "hub_proxy",
            "--cluster",
            "--namespace",
            namespace,
            "--port",
            str(port),
            "--token-review",
            f"--audience={AUDIENCE}",
        ],
        env={
            "KUBECONFIG": str(hub_kubeconfig(plane, folder, namespace)),
            "PATH": os.environ["PATH"],
        },
        cwd=REPO_ROOT,
        log_dir=folder,
    )
    try:
        await asyncio.to_thread(
            hub.wait_until, lambda: port_is_open(port), timeout=60, what="the hub listening"
        )
    except BaseException:
        hub.stop()
        raise
    return hub, port


def agent_token(plane: ControlPlane, namespace: str) -> str:
    """A token of a new ServiceAccount ``agent``, made for the hub's audience."""
    plane.kubectl("create", "serviceaccount", "agent", "-n", namespace)
    return plane.kubectl(
        "create", "token", "agent", "-n", namespace, f"--audience={AUDIENCE}"
    ).strip()


async def test_applied_server_reaches_a_connected_group_client_and_leaves_on_delete(
    crds_installed: ControlPlane,
    operator: ManagedProcess,
    namespace: str,
    everything: str,
    tmp_path: Path,
) -> None:
    apply(crds_installed, namespace, assistant("echo", "get-sum"))
    apply(crds_installed, namespace, AGENT_POLICY)
    crds_installed.kubectl(
        "create", "secret", "generic", "everything-token", "-n", namespace,
        "--from-literal=token=Bearer in-cluster",
    )  # fmt: skip
    agent = agent_token(crds_installed, namespace)
    hub, port = await cluster_hub(crds_installed, namespace, tmp_path)
    url = f"http://127.0.0.1:{port}/mcp/assistant"
    try:
        await asyncio.to_thread(
            eventually,
            lambda: initialize_status(url, agent) not in (None, 404),
            timeout=30,
            what="the group's endpoint",
        )
        told = asyncio.Event()

        async def on_message(message: object) -> None:
            if isinstance(message, ToolListChangedNotification):
                told.set()

        # Without credentials, or with a token made for another audience: refused.
        assert initialize_status(url, None) == 401
        wrong = crds_installed.kubectl("create", "token", "agent", "-n", namespace).strip()
        assert initialize_status(url, wrong) == 401
        async with connected(
            url, {"Authorization": f"Bearer {agent}"}, message_handler=on_message
        ) as client:
            assert await tool_names(client) == set()

            apply(
                crds_installed,
                namespace,
                {
                    "apiVersion": "mcphub.dev/v1alpha1",
                    "kind": "MCPServer",
                    "metadata": {"name": "everything"},
                    "spec": {
                        "remote": {
                            "url": everything,
                            "headers": [
                                {
                                    "name": "Authorization",
                                    "valueFrom": {
                                        "secretKeyRef": {"name": "everything-token", "key": "token"}
                                    },
                                }
                            ],
                        }
                    },
                },
            )
            with anyio.fail_after(CHANGE_SECONDS):
                while await tool_names(client) != {"everything__echo", "everything__get-sum"}:
                    await told.wait()
                    told.clear()
            echoed = await client.call_tool("everything__echo", {"message": "in cluster"})
            assert not echoed.is_error

            told.clear()
            await asyncio.to_thread(
                crds_installed.kubectl, "delete", "-n", namespace, "mcpserver", "everything"
            )
            with anyio.fail_after(CHANGE_SECONDS):
                await told.wait()
                while await tool_names(client) != set():
                    told.clear()
                    await told.wait()
    finally:
        hub.stop()


async def test_the_endpoint_an_mcpgroup_publishes_is_served_by_the_hub(
    crds_installed: ControlPlane,
    operator: ManagedProcess,
    namespace: str,
    everything: str,
    tmp_path: Path,
) -> None:
    """The contract between the two: a client that follows ``status.endpoint`` gets the group."""
    apply(crds_installed, namespace, remote_server("everything", everything))
    apply(crds_installed, namespace, assistant("echo"))
    apply(crds_installed, namespace, AGENT_POLICY)
    agent = agent_token(crds_installed, namespace)
    await asyncio.to_thread(
        crds_installed.wait_ready, namespace, "mcpserver/everything", "mcpgroup/assistant"
    )
    group = json.loads(
        crds_installed.kubectl("get", "-n", namespace, "mcpgroup", "assistant", "-o", "json")
    )
    endpoint = group["status"]["endpoint"]
    assert endpoint == f"/mcp/{namespace}/assistant"
    hub, port = await cluster_hub(crds_installed, namespace, tmp_path)
    try:
        url = f"http://127.0.0.1:{port}{endpoint}"
        await asyncio.to_thread(
            eventually,
            lambda: initialize_status(url, agent) not in (None, 404),
            timeout=30,
            what=f"the hub serving {endpoint}",
        )
        told = asyncio.Event()

        async def on_message(message: object) -> None:
            if isinstance(message, ToolListChangedNotification):
                told.set()

        headers = {"Authorization": f"Bearer {agent}"}
        async with connected(url, headers, message_handler=on_message) as client:
            # The upstream may still be connecting: its tools come with a list_changed.
            with anyio.fail_after(CHANGE_SECONDS):
                while await tool_names(client) != {"everything__echo"}:
                    await told.wait()
                    told.clear()
    finally:
        hub.stop()
