"""Remote upstreams: the standalone hub in front of server-everything over streamable HTTP.

The upstream is a real process on a fixed loopback port, so the test can stop
it under a connected client and start it again where the hub expects it: the
hub must notice, fail only that server's calls while it is gone, and carry on
with a new upstream session once it is back, without the client reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.hub_proxy.bridge_process import command_of, only_text
from tests.hub_proxy.remote_server_yaml import remote_yaml
from tests.hub_proxy.test_standalone_hub import (
    TEST_SECONDS,
    connected,
    server_yaml,
    start_hub,
    tool_names,
)
from tests.testbed.mcp_servers import (
    everything_entry,
    node22,
    running_everything_http,
    time_stdio,
)
from tests.testbed.processes import ManagedProcess, free_port, port_is_open
from tests.testbed.waiting import eventually

# Back-off after a few failed reconnects plus a re-initialization.
RECOVER_SECONDS = 40.0


def _remote(name: str, url: str, transport: str = "streamable-http") -> str:
    return remote_yaml(
        name, url, transport, "    headers: [{name: X-Mcphub-Test, value: literal}]\n"
    )


class Upstream:
    """server-everything on a fixed port, stopped and started again by the test."""

    def __init__(self, log_dir: Path, port: int) -> None:
        self._log_dir = log_dir
        self._port = port
        self._starts = 0
        self._running: contextlib.AbstractContextManager[str] | None = None

    async def start(self) -> str:
        self._starts += 1
        running = running_everything_http(self._log_dir / f"run-{self._starts}", self._port)
        url = await asyncio.to_thread(running.__enter__)
        self._running = running
        return url

    async def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            await asyncio.to_thread(running.__exit__, None, None, None)


async def test_a_remote_upstream_survives_its_own_restart(tmp_path: Path) -> None:
    remote = Upstream(tmp_path / "upstream", free_port())
    url = await remote.start()

    def write(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "remote.yaml").write_text(_remote("remote", url))
        (folder / "time.yaml").write_text(server_yaml("time", command_of(time_stdio())))
        return folder

    try:
        hub = await asyncio.to_thread(start_hub, tmp_path, write)
    except BaseException:
        await remote.stop()
        raise
    try:
        with anyio.fail_after(TEST_SECONDS + 2 * RECOVER_SECONDS):
            async with connected(hub.url()) as client:
                names = await tool_names(client)
                assert {"remote__echo", "time__get_current_time"} <= names
                echoed = await client.call_tool("remote__echo", {"message": "over HTTP"})
                assert only_text(echoed.content) == "Echo: over HTTP"

                # Gone: its calls fail, naming it; the other server is untouched.
                await remote.stop()
                with pytest.raises(MCPError) as failed:
                    await client.call_tool("remote__echo", {"message": "nobody there"})
                assert "MCP server remote" in failed.value.error.message
                now = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
                assert json.loads(only_text(now.content))["timezone"] == "UTC"
                servers = await asyncio.to_thread(hub.servers)
                assert servers["remote"]["ready"] is False
                assert servers["time"]["ready"] is True

                # Back on the same port: the same client session works again.
                await remote.start()
                await asyncio.to_thread(
                    eventually,
                    lambda: hub.servers()["remote"]["ready"],
                    timeout=RECOVER_SECONDS,
                    what="the hub to reconnect to the restarted upstream",
                )
                echoed = await client.call_tool("remote__echo", {"message": "again"})
                assert only_text(echoed.content) == "Echo: again"

                # Restarted between two calls: the hub's session has expired
                # there, and the next call still succeeds, on a new one.
                await remote.stop()
                await remote.start()
                echoed = await client.call_tool("remote__echo", {"message": "once more"})
                assert only_text(echoed.content) == "Echo: once more"
    finally:
        await asyncio.to_thread(hub.process.stop)
        await remote.stop()


async def test_a_remote_upstream_over_legacy_sse(tmp_path: Path) -> None:
    port = free_port()
    server = ManagedProcess(
        "server-everything-sse",
        [node22(), everything_entry(), "sse"],
        env={"PORT": str(port)},
        log_dir=tmp_path,
    )

    def write(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        url = f"http://127.0.0.1:{port}/sse"
        (folder / "legacy.yaml").write_text(_remote("legacy", url, "sse"))
        return folder

    try:
        await asyncio.to_thread(
            server.wait_until, lambda: port_is_open(port), timeout=30, what="listening"
        )
        hub = await asyncio.to_thread(start_hub, tmp_path, write)
        try:
            with anyio.fail_after(TEST_SECONDS):
                async with connected(hub.url("/mcp/legacy")) as client:
                    assert "echo" in await tool_names(client)
                    echoed = await client.call_tool("echo", {"message": "over SSE"})
            assert only_text(echoed.content) == "Echo: over SSE"
        finally:
            await asyncio.to_thread(hub.process.stop)
    finally:
        await asyncio.to_thread(server.stop)
