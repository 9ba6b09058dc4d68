"""The hub in a cluster: objects applied with kubectl reach an already-connected client.

Real control plane, the operator as a process (it verifies the server and
writes ``status.url``), the hub as a process with ``--cluster``, and an MCP
client connected to a group's endpoint before the server exists.
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

from tests.hub_proxy.test_standalone_hub import connected, tool_names
from tests.testbed.kube import ControlPlane
from tests.testbed.mcp_servers import running_everything_http
from tests.testbed.paths import REPO_ROOT
from tests.testbed.processes import ManagedProcess, free_port, port_is_open
from tests.testbed.waiting import eventually

CHANGE_SECONDS = 45.0


@pytest.fixture
def everything(tmp_path: Path) -> Iterator[str]:
    with running_everything_http(tmp_path / "everything") as url:
        yield url


def scope_exists(port: int, path: str) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=b"{}",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310 - loopback only
    except urllib.error.HTTPError as refused:
        return refused.code != 404
    except (urllib.error.URLError, OSError):
        return False
    return True


def hub_kubeconfig(plane: ControlPlane, folder: Path) -> Path:
    """The hub's own ServiceAccount, bound to the shipped read-only RBAC."""
    hub = REPO_ROOT / "manifests" / "hub"
    plane.kubectl(
        "apply", "--server-side", "-f", str(REPO_ROOT / "manifests/operator/namespace.yaml")
    )
    for name in ("service_account.yaml", "role.yaml", "role_binding.yaml"):
        plane.kubectl("apply", "--server-side", "-f", str(hub / name))
    token = plane.kubectl("create", "token", "mcphub-hub", "-n", "mcphub-system").strip()
    return plane.token_kubeconfig(token, folder / "hub.kubeconfig")


def apply(plane: ControlPlane, namespace: str, document: dict[str, object]) -> None:
    plane.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=json.dumps(document))


async def test_applied_server_reaches_a_connected_group_client_and_leaves_on_delete(
    crds_installed: ControlPlane,
    operator: ManagedProcess,
    namespace: str,
    everything: str,
    tmp_path: Path,
) -> None:
    apply(
        crds_installed,
        namespace,
        {
            "apiVersion": "mcphub.dev/v1alpha1",
            "kind": "MCPGroup",
            "metadata": {"name": "assistant"},
            "spec": {
                "servers": [{"name": "everything", "tools": {"include": ["echo", "get-sum"]}}]
            },
        },
    )
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
        ],
        env={
            "KUBECONFIG": str(hub_kubeconfig(crds_installed, tmp_path)),
            "PATH": os.environ["PATH"],
        },
        cwd=REPO_ROOT,
        log_dir=tmp_path,
    )
    try:
        await asyncio.to_thread(
            hub.wait_until, lambda: port_is_open(port), timeout=60, what="the hub listening"
        )
        await asyncio.to_thread(
            eventually,
            lambda: scope_exists(port, "/mcp/assistant"),
            timeout=30,
            what="the group's endpoint",
        )
        told = asyncio.Event()

        async def on_message(message: object) -> None:
            if isinstance(message, ToolListChangedNotification):
                told.set()

        async with connected(
            f"http://127.0.0.1:{port}/mcp/assistant", message_handler=on_message
        ) as client:
            assert await tool_names(client) == set()

            apply(
                crds_installed,
                namespace,
                {
                    "apiVersion": "mcphub.dev/v1alpha1",
                    "kind": "MCPServer",
                    "metadata": {"name": "everything"},
                    "spec": {"remote": {"url": everything}},
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
