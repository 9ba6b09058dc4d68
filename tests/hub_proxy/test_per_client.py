"""``sessionMode: perClient``: every downstream session gets a child of its own.

Two clients call the same tool of a per-client server through ``/mcp`` and are
answered by two different processes, neither of them the child the hub lists
the server's tools with; a client that disconnects takes its child along.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import anyio
from mcp.types import LoggingMessageNotificationParams

from hub_proxy.session import LOG_LEVELS
from tests.hub_proxy.bridge_process import only_text, wait_gone
from tests.hub_proxy.test_standalone_hub import TEST_SECONDS, connected, server_yaml, start_hub

PID_SERVER = [sys.executable, str(Path(__file__).with_name("pid_server.py"))]


def write_per_client(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pid.yaml").write_text(server_yaml("pid", PID_SERVER, "  sessionMode: perClient\n"))
    return folder


async def test_each_session_has_its_own_child_until_it_closes(tmp_path: Path) -> None:
    hub = await asyncio.to_thread(start_hub, tmp_path, write_per_client)
    try:
        listing_pid = (await asyncio.to_thread(hub.servers))["pid"]["pid"]
        with anyio.fail_after(TEST_SECONDS):
            async with connected(hub.url()) as first:
                async with connected(hub.url()) as second:
                    pids = [
                        int(only_text((await client.call_tool("pid__pid", {})).content))
                        for client in (first, second, first)
                    ]
                    servers = await asyncio.to_thread(hub.servers)
                assert pids[0] == pids[2]
                assert len({pids[0], pids[1], listing_pid}) == 3
                assert sorted(servers["pid"]["client_pids"]) == sorted(pids[:2])
                assert await asyncio.to_thread(wait_gone, pids[1], timeout=15)
                again = await first.call_tool("pid__pid", {})
                assert int(only_text(again.content)) == pids[0]
        assert await asyncio.to_thread(wait_gone, pids[0], timeout=15)
    finally:
        await asyncio.to_thread(hub.process.stop)


LOG_SERVER = [sys.executable, str(Path(__file__).with_name("log_server.py"))]


def write_log_servers(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shared.yaml").write_text(server_yaml("shared", LOG_SERVER))
    (folder / "own.yaml").write_text(server_yaml("own", LOG_SERVER, "  sessionMode: perClient\n"))
    return folder


async def test_each_client_gets_its_own_log_messages_at_the_level_it_set(tmp_path: Path) -> None:
    """Over stdio a log line says nothing of the call it belongs to: the hub gives it to the
    one client calling the child at the time, at that client's level, and to no one else."""
    hub = await asyncio.to_thread(start_hub, tmp_path, write_log_servers)
    try:
        with anyio.fail_after(TEST_SECONDS):
            quiet_got: list[str] = []
            chatty_got: list[str] = []

            async def quiet_log(params: LoggingMessageNotificationParams) -> None:
                quiet_got.append(params.level)

            async def chatty_log(params: LoggingMessageNotificationParams) -> None:
                chatty_got.append(params.level)

            async with (
                connected(hub.url(), logging_callback=quiet_log) as quiet,
                connected(hub.url(), logging_callback=chatty_log) as chatty,
            ):
                await quiet.set_logging_level("error")
                for tool in ("shared__log_every_level", "own__log_every_level"):
                    await quiet.call_tool(tool, {})
                    await chatty.call_tool(tool, {})
                await asyncio.sleep(0.5)  # time for a wrongly passed line to arrive
        severe = ["error", "critical", "alert", "emergency"]
        assert sorted(quiet_got) == sorted(severe * 2)
        assert sorted(chatty_got) == sorted(list(LOG_LEVELS) * 2)
    finally:
        await asyncio.to_thread(hub.process.stop)
