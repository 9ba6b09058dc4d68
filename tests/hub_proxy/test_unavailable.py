"""A call of a down server's item names the server, to callers who may see it only.

A standalone hub runs a stdio server that crashes at every start, so it never
lists a tool; two API keys call it, one whose policy grants the server and one
whose policy does not.  The first is told which server is down and why, on
``/mcp`` and on the server's own path; the second gets exactly the answer a
name that never existed gets, so that trying names teaches it nothing.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from hub_proxy.auth.apikeys import hash_key
from hub_proxy.upstream.base import SERVER_UNAVAILABLE
from tests.hub_proxy.test_standalone_hub import connected, server_yaml, start_hub

CRASH_SERVER = [sys.executable, str(Path(__file__).parent / "crash_server.py")]
CALL_SECONDS = 15.0
TEST_SECONDS = 90
INVALID_PARAMS = -32602
ALLOWED_KEY = "mcphub_allowed-to-see-crashy-0123456789-0123"
STRANGER_KEY = "mcphub_stranger-to-crashy-0123456789-012345"
POLICIES = """\
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: crashy-users}
spec:
  subjects: [{kind: APIKey, name: allowed}]
  rules: [{servers: [crashy], actions: [list, call]}]
---
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: strangers}
spec:
  subjects: [{kind: APIKey, name: stranger}]
  rules: [{servers: [elsewhere], actions: [list, call]}]
"""


def api_key(name: str, key: str) -> str:
    return (
        "apiVersion: v1\nkind: Secret\n"
        f"metadata: {{name: {name}, labels: {{mcphub.dev/api-key: 'true'}}}}\n"
        f"stringData: {{sha256: {hash_key(key)}}}\n"
    )


async def refusal(url: str, key: str, tool: str) -> MCPError:
    """The error a call of ``tool`` at ``url`` with API key ``key`` is answered."""
    async with connected(url, {"X-API-Key": key}) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool(tool, {}, read_timeout_seconds=CALL_SECONDS)
    return refused.value


async def test_a_crash_looping_servers_tool_is_named_down_only_to_who_sees_it(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "crashed"
    marker.touch()  # crashes at every start: it never lists a tool

    def write(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        env = f"    env: [{{name: CRASH_MARKER, value: {str(marker)!r}}}]\n"
        (folder / "crashy.yaml").write_text(server_yaml("crashy", CRASH_SERVER, env))
        (folder / "policies.yaml").write_text(POLICIES)
        keys = [api_key("allowed", ALLOWED_KEY), api_key("stranger", STRANGER_KEY)]
        (folder / "keys.yaml").write_text("---\n".join(keys))
        return folder

    hub = await asyncio.to_thread(start_hub, tmp_path, write, open_access=False)
    try:
        with anyio.fail_after(TEST_SECONDS):
            for path, tool in (("/mcp", "crashy__hello"), ("/mcp/crashy", "hello")):
                told = await refusal(hub.url(path), ALLOWED_KEY, tool)
                assert told.error.code == SERVER_UNAVAILABLE, told.error
                why = told.error.message.removeprefix("MCP server crashy is unavailable: ")
                # The supervisor's reason: between restarts, or while it starts one.
                assert why.startswith(("child exited with code 3", "starting ")), why

            stranger = await refusal(hub.url("/mcp"), STRANGER_KEY, "crashy__hello")
            never_existed = await refusal(hub.url("/mcp"), STRANGER_KEY, "nowhere__hello")
            assert stranger.error.code == never_existed.error.code == INVALID_PARAMS
            assert stranger.error.message == "Unknown tool: crashy__hello"
            assert never_existed.error.message == "Unknown tool: nowhere__hello"
            # Nor is its own path there for the stranger.
            assert hub.get("/mcp/crashy", {"X-API-Key": STRANGER_KEY})[0] == 404
    finally:
        await asyncio.to_thread(hub.process.stop)
