"""Supervision as a caller sees it: a crash-looping upstream fails calls at once (issue 11,
item 15), saying why and when the next attempt is, instead of holding each call for the
whole time a request may wait for a (re)starting server."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.hub_proxy.test_standalone_hub import connected, server_yaml, start_hub

CRASH_SERVER = [sys.executable, str(Path(__file__).parents[1] / "crash_server.py")]
# Well under the 30 s a request may wait for a starting server: a call that
# waited for a crash-looping one would time out here instead of failing.
CALL_SECONDS = 15.0
TEST_SECONDS = 90


async def test_a_crash_looping_upstream_fails_calls_at_once_saying_when_it_retries(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "crashed"

    def write(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        env = f"    env: [{{name: CRASH_MARKER, value: {str(marker)!r}}}]\n"
        (folder / "crashy.yaml").write_text(server_yaml("crashy", CRASH_SERVER, env))
        return folder

    hub = await asyncio.to_thread(start_hub, tmp_path, write)
    try:
        with anyio.fail_after(TEST_SECONDS):
            async with connected(hub.url("/mcp/crashy")) as client:
                with pytest.raises(MCPError) as crashed:
                    await client.call_tool("crash", {})
                assert "exited with code 3 before answering" in crashed.value.error.message
                # The restarted child exits at once: from its second failure on,
                # every call is refused without waiting, with the reason.
                for _ in range(3):
                    with pytest.raises(MCPError) as refused:
                        await client.call_tool("hello", {}, read_timeout_seconds=CALL_SECONDS)
                    message = refused.value.error.message
                    assert message.startswith("MCP server crashy is unavailable: "), message
                    assert "child exited with code 3, restarting in " in message, message
                    assert "it failed to start" in message, message
    finally:
        await asyncio.to_thread(hub.process.stop)
