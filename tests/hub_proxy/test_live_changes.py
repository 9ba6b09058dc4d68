"""Live changes of the standalone hub's folder, seen by a client that stays connected.

A server file is added, broken and removed under a running hub with a client
connected to ``/mcp``: the client is told ``list_changed`` each time what it
sees changes, the removed server's child is gone, and a broken file changes
nothing but the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import anyio
from mcp import Client
from mcp.types import ToolListChangedNotification

from tests.hub_proxy.bridge_process import command_of, only_text, wait_gone
from tests.hub_proxy.test_standalone_hub import (
    TEST_SECONDS,
    connected,
    server_yaml,
    start_hub,
    tool_names,
)
from tests.testbed.mcp_servers import everything_stdio, time_stdio
from tests.testbed.waiting import eventually

# A poll, a reload, and for an added server its start and first listing.
CHANGE_SECONDS = 30.0
INVALID = (
    "apiVersion: mcphub.dev/v1alpha1\nkind: MCPServer\nmetadata: {name: everything}\n"
    "spec: {transport: stdio, container: {image: x, command: [y], port: 99999}}\n"
)


def write_time_only(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "time.yaml").write_text(server_yaml("time", command_of(time_stdio())))
    return folder


async def _told_until(
    client: Client, told: asyncio.Event, wanted: Callable[[set[str]], bool]
) -> set[str]:
    """Re-list on each list_changed until the tool names are ``wanted``; those names."""
    with anyio.fail_after(CHANGE_SECONDS):
        while True:
            await told.wait()
            told.clear()
            listed = await tool_names(client)
            if wanted(listed):
                return listed


async def test_added_broken_and_removed_server_files_apply_live(tmp_path: Path) -> None:
    hub = await asyncio.to_thread(start_hub, tmp_path, write_time_only)
    folder = tmp_path / "config"
    told = asyncio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, ToolListChangedNotification):
            told.set()

    try:
        with anyio.fail_after(TEST_SECONDS + 3 * CHANGE_SECONDS):
            async with connected(hub.url(), message_handler=on_message) as client:
                assert "everything__echo" not in await tool_names(client)

                (folder / "everything.yaml").write_text(
                    server_yaml("everything", command_of(everything_stdio()))
                )
                await _told_until(client, told, lambda names: "everything__echo" in names)
                echoed = await client.call_tool("everything__echo", {"message": "added"})
                assert only_text(echoed.content) == "Echo: added"
                pid = await asyncio.to_thread(
                    eventually,
                    lambda: hub.servers()["everything"]["pid"],
                    timeout=CHANGE_SECONDS,
                    what="everything's child in /status",
                )

                (folder / "everything.yaml").write_text(INVALID)
                await asyncio.to_thread(
                    eventually,
                    lambda: "spec.container.port" in hub.process.log_tail(),
                    timeout=CHANGE_SECONDS,
                    what="the refused change in the hub's log",
                )
                echoed = await client.call_tool("everything__echo", {"message": "still here"})
                assert only_text(echoed.content) == "Echo: still here"
                assert not told.is_set()

                (folder / "everything.yaml").unlink()
                listed = await _told_until(
                    client,
                    told,
                    lambda names: not any(name.startswith("everything__") for name in names),
                )
                assert "time__get_current_time" in listed
        assert await asyncio.to_thread(wait_gone, pid, timeout=15), f"child {pid} outlived its file"
        assert set(await asyncio.to_thread(hub.servers)) == {"time"}
    finally:
        await asyncio.to_thread(hub.process.stop)
