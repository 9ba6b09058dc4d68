"""In a cluster the hub dials a server only while the operator has verified it.

Real control plane and the hub as a process with ``--cluster``, as in
:mod:`tests.hub_proxy.test_in_cluster`, but no operator: the statuses are
written here, as the operator writes them, so that each state lasts while it
is checked (an operator would verify the server and move on).  That is also
why this is a module of its own: the other one's operator, shared by its
tests, would verify this one's server too.  server-everything stands behind a
forwarder that counts connections, so "not dialled" means that nothing
reached it at all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import ToolListChangedNotification

from tests.hub_proxy.bridge_process import only_text
from tests.hub_proxy.counting_proxy import counting_proxy
from tests.hub_proxy.test_in_cluster import (
    CHANGE_SECONDS,
    agent_token,
    apply,
    cluster_hub,
)
from tests.hub_proxy.test_standalone_hub import connected, tool_names
from tests.operator.manifests import remote_server
from tests.testbed.kube import ControlPlane
from tests.testbed.mcp_servers import running_everything_http

POLICY: dict[str, object] = {
    "apiVersion": "mcphub.dev/v1alpha1",
    "kind": "AccessPolicy",
    "metadata": {"name": "agent"},
    "spec": {
        "subjects": [{"kind": "Group", "name": "system:serviceaccounts"}],
        "rules": [{"servers": ["everything"], "actions": ["list", "call"]}],
    },
}
UNKNOWN = "Unknown tool: everything__echo"
DOWN = "MCP server everything is unavailable: not verified by the operator (HandshakeFailed): "


@pytest.fixture
def everything(tmp_path: Path) -> Iterator[str]:
    with running_everything_http(tmp_path / "everything") as url:
        yield url


def set_verified(
    plane: ControlPlane, namespace: str, url: str, *, verdict: str, reason: str, message: str
) -> None:
    """Write the status the operator would for MCPServer ``everything``: ``url``, and a verdict."""
    conditions = [
        {
            "type": kind,
            "status": verdict,
            "reason": reason,
            "message": message,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
        for kind in ("Verified", "Ready")
    ]
    plane.kubectl(
        "patch", "mcpserver", "everything", "-n", namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": {"url": url, "conditions": conditions}}),
    )  # fmt: skip


async def echo(client: Client) -> str:
    """What calling ``everything__echo`` answers: its text, or the error's message."""
    try:
        return only_text((await client.call_tool("everything__echo", {"message": "hi"})).content)
    except MCPError as refused:
        return refused.error.message


async def until(told: asyncio.Event, check: Callable[[], Awaitable[bool]]) -> None:
    """Wait for ``check``, trying again whenever the hub says the tools changed."""
    with anyio.fail_after(CHANGE_SECONDS):
        while True:
            told.clear()
            if await check():
                return
            await told.wait()


async def test_a_server_is_dialled_once_verified_and_let_go_when_it_no_longer_is(
    crds_installed: ControlPlane, namespace: str, everything: str, tmp_path: Path
) -> None:
    with counting_proxy(everything) as upstream:
        apply(crds_installed, namespace, remote_server("everything", upstream.url))
        apply(crds_installed, namespace, POLICY)
        failed = {"verdict": "False", "reason": "HandshakeFailed"}
        set_verified(crds_installed, namespace, upstream.url, **failed, message="it timed out")
        agent = agent_token(crds_installed, namespace)
        hub, port = await cluster_hub(crds_installed, namespace, tmp_path)
        told = asyncio.Event()

        async def on_message(message: object) -> None:
            if isinstance(message, ToolListChangedNotification):
                told.set()

        try:
            headers = {"Authorization": f"Bearer {agent}"}
            url = f"http://127.0.0.1:{port}/mcp"
            async with connected(url, headers, message_handler=on_message) as client:

                async def known() -> bool:
                    # Until the hub has read the namespace, nothing of it is known.
                    return await echo(client) != UNKNOWN

                async def listed() -> bool:
                    return "everything__echo" in await tool_names(client)

                async def gone() -> bool:
                    return await tool_names(client) == set()

                await until(told, known)
                assert await echo(client) == f"{DOWN}it timed out"
                await asyncio.sleep(2)  # time to dial, for a hub that meant to
                assert upstream.connections == 0

                await asyncio.to_thread(
                    set_verified, crds_installed, namespace, upstream.url,
                    verdict="True", reason="HandshakeSucceeded", message="it speaks MCP",
                )  # fmt: skip
                await until(told, listed)
                assert await echo(client) == "Echo: hi"
                assert upstream.connections > 0

                await asyncio.to_thread(
                    set_verified, crds_installed, namespace, upstream.url,
                    **failed, message="no answer in 5s",
                )  # fmt: skip
                await until(told, gone)
                assert await echo(client) == f"{DOWN}no answer in 5s"
        finally:
            hub.stop()
