"""MCP 2026-07-28, the revision without sessions, spoken by the standalone hub.

The MCP SDK's own client, in its default ``mode="auto"``, probes the hub with
``server/discover`` and must settle on 2026-07-28, then list and call the
real upstreams of the test bed through it; clients that shake hands the old
way must still get 2025-11-25 sessions.  A few exchanges are checked on the
wire, where the SDK client would hide what the hub did.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import aiohttp
import anyio
import pytest
from mcp.client.session import ClientRequestContext
from mcp.client.subscriptions import ToolsListChanged
from mcp.types import (
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequestParams,
    ElicitResult,
    TextContent,
)
from mcp_types import CLIENT_CAPABILITIES_META_KEY, PROTOCOL_VERSION_META_KEY

from tests.hub_proxy.bridge_process import JSON_AND_SSE, only_text
from tests.hub_proxy.test_per_client import write_per_client
from tests.hub_proxy.test_standalone_hub import (
    TEST_SECONDS,
    Hub,
    connected,
    serving,
    tool_names,
    write_changing_config,
)
from tests.testbed.waiting import eventually

MODERN: Final = "2026-07-28"
HANDSHAKE: Final = "2025-11-25"


async def test_an_auto_mode_client_settles_on_2026_07_28_and_calls_tools(hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with connected(hub.url(), mode="auto") as client:
            assert client.protocol_version == MODERN
            assert client.server_info is not None
            assert client.server_info.name == "mcphub"
            names = await tool_names(client)
            now = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
            echoed = await client.call_tool("everything__echo", {"message": "stateless"})
    assert {"time__get_current_time", "everything__echo"} <= names
    assert not any(name.startswith("everything__toggle-") for name in names)
    assert json.loads(only_text(now.content))["timezone"] == "UTC"
    assert only_text(echoed.content) == "Echo: stateless"


async def test_prompts_and_resources_at_2026_07_28(hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with connected(hub.url(), mode="auto") as client:
            prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
            got = await client.get_prompt("everything__simple-prompt")
            resources = (await client.list_resources()).resources
            read = await client.read_resource(resources[0].uri)
            templates = (await client.list_resource_templates()).resource_templates
    assert "everything__simple-prompt" in prompts
    assert got.messages
    assert read.contents
    assert templates


async def test_clients_that_shake_hands_keep_their_2025_11_25_sessions(hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with connected(hub.url()) as client:
            assert client.protocol_version == HANDSHAKE
            names = await tool_names(client)
            now = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
    assert "everything__echo" in names
    assert json.loads(only_text(now.content))["timezone"] == "UTC"


async def test_2026_07_28_calls_log_no_session_line_each(hub: Hub) -> None:
    """Inside the hub each such request is a session of its own; the log does not say so per
    call (the call's audit line is its record)."""
    opened_before = hub.process.log_path.read_text().count("session opened")
    with anyio.fail_after(TEST_SECONDS):
        async with connected(hub.url(), mode="auto") as client:
            assert client.protocol_version == MODERN
            for n in range(3):
                await client.call_tool("everything__echo", {"message": f"call {n}"})
    assert hub.process.log_path.read_text().count("session opened") == opened_before


async def test_an_upstreams_request_to_a_2026_07_28_client_fails_at_once(hub: Hub) -> None:
    """The revision has no server-to-client requests, and the hub bridges no input_required:
    the upstream is told so at once instead of waiting for a client that cannot answer."""
    with anyio.fail_after(TEST_SECONDS):
        async with connected(hub.url(), mode="auto") as client:
            result = await client.call_tool(
                "everything__trigger-sampling-request", {"prompt": "hello", "maxTokens": 5}
            )
    assert result.is_error
    assert MODERN in only_text(result.content)


async def test_a_client_that_answers_questions_falls_back_to_a_session_and_is_asked(
    hub: Hub,
) -> None:
    """Sampling and elicitation travel only within a session: a default-mode client that can
    answer them is refused 2026-07-28 at discovery, as by a server that does not speak it,
    and reaches the upstream's questions on the 2025-11-25 session it falls back to."""
    asked: list[str] = []

    async def sample(
        _context: ClientRequestContext, params: CreateMessageRequestParams
    ) -> CreateMessageResult:
        asked.append("sampling")
        reply = TextContent(type="text", text="a sampled reply")
        return CreateMessageResult(role="assistant", content=reply, model="hub-test-model")

    async def elicit(_context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append("elicitation")
        return ElicitResult(action="accept", content={"name": "Ada Lovelace", "check": True})

    with anyio.fail_after(TEST_SECONDS):
        async with connected(
            hub.url(), mode="auto", sampling_callback=sample, elicitation_callback=elicit
        ) as client:
            assert client.protocol_version == HANDSHAKE
            sampled = await client.call_tool(
                "everything__trigger-sampling-request", {"prompt": "hello", "maxTokens": 5}
            )
            elicited = await client.call_tool("everything__trigger-elicitation-request", {})
    assert "a sampled reply" in only_text(sampled.content)
    said = " ".join(block.text for block in elicited.content if isinstance(block, TextContent))
    assert "Ada Lovelace" in said
    assert asked == ["sampling", "elicitation"]


@pytest.mark.parametrize("capability", ["sampling", "elicitation", "roots"])
async def test_on_the_wire_discover_from_a_client_that_answers_questions_is_32022(
    hub: Hub, capability: str
) -> None:
    discover = modern_post("server/discover")
    discover["params"]["_meta"][CLIENT_CAPABILITIES_META_KEY] = {capability: {}}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        http.post(hub.url(), json=discover, headers=modern_headers("server/discover")) as answer,
    ):
        assert answer.status == 400
        error = (await answer.json())["error"]
    assert error["code"] == -32022
    assert MODERN not in error["data"]["supported"]
    assert HANDSHAKE in error["data"]["supported"]
    assert capability in error["message"]


async def test_closing_a_calls_stream_cancels_the_call(hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with connected(hub.url(), mode="auto") as client:
            with pytest.raises(TimeoutError):
                with anyio.fail_after(1.5):
                    await client.call_tool(
                        "everything__trigger-long-running-operation", {"duration": 20, "steps": 2}
                    )
            closed = "client closed a stateless request's stream"
            await asyncio.to_thread(
                eventually,
                lambda: closed in hub.process.log_path.read_text(),
                timeout=10,
                what="the hub to notice the closed stream",
            )
            echoed = await client.call_tool("everything__echo", {"message": "still here"})
    assert only_text(echoed.content) == "Echo: still here"
    # A client hanging up is no server error.
    assert "Error handling request" not in hub.process.log_path.read_text()


def modern_post(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    envelope = {PROTOCOL_VERSION_META_KEY: MODERN, CLIENT_CAPABILITIES_META_KEY: {}}
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": method,
        "params": {**(params or {}), "_meta": envelope},
    }


def modern_headers(method: str, **extra: str) -> dict[str, str]:
    return {
        "Accept": JSON_AND_SSE,
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
        **extra,
    }


async def test_on_the_wire_discover_needs_no_session_and_results_say_what_they_are(
    hub: Hub,
) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.post(
            hub.url(),
            json=modern_post("server/discover"),
            headers=modern_headers("server/discover"),
        ) as response:
            assert response.status == 200
            assert "Mcp-Session-Id" not in response.headers
            discovered = (await response.json())["result"]
        params = {"name": "time__get_current_time", "arguments": {"timezone": "UTC"}}
        headers = modern_headers("tools/call", **{"Mcp-Name": "time__get_current_time"})
        async with http.post(
            hub.url(), json=modern_post("tools/call", params), headers=headers
        ) as response:
            called = (await response.json())["result"]
    assert discovered["supportedVersions"] == [MODERN]
    assert discovered["capabilities"]["tools"] == {"listChanged": True}
    assert (discovered["resultType"], discovered["ttlMs"], discovered["cacheScope"]) == (
        "complete",
        0,
        "private",
    )
    assert discovered["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "mcphub"
    assert called["resultType"] == "complete"
    assert "ttlMs" not in called
    assert not called["isError"]


@pytest.mark.parametrize(
    ("method", "headers", "status", "code"),
    [
        # Mcp-Method must say what the body says.
        ("tools/list", {"Mcp-Method": "prompts/list"}, 400, -32020),
        # Gone at 2026-07-28.
        ("ping", {}, 404, -32601),
        ("initialize", {}, 404, -32601),
        ("logging/setLevel", {}, 404, -32601),
    ],
)
async def test_on_the_wire_refusals_follow_the_revision(
    hub: Hub, method: str, headers: dict[str, str], status: int, code: int
) -> None:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        http.post(
            hub.url(), json=modern_post(method), headers={**modern_headers(method), **headers}
        ) as response,
    ):
        assert response.status == status
        body = await response.json()
    assert (body["id"], body["error"]["code"]) == (1, code)


async def test_on_the_wire_a_notification_is_accepted_and_dropped(hub: Hub) -> None:
    cancelled = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        http.post(
            hub.url(), json=cancelled, headers=modern_headers("notifications/cancelled")
        ) as response,
    ):
        assert response.status == 202


def write_mixed_config(folder: Path) -> Path:
    """A server that changes its tools, a plain one, and one that keeps state per client."""
    write_changing_config(folder)
    return write_per_client(folder)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    yield from serving(tmp_path_factory.mktemp("mixed"), write_mixed_config)


async def test_a_listen_stream_hears_the_changes_its_scope_sees(mixed: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with (
            connected(mixed.url("/mcp/changing"), mode="auto") as client,
            connected(mixed.url("/mcp/time"), mode="auto") as bystander,
        ):
            assert client.protocol_version == MODERN
            async with (
                client.listen(tools_list_changed=True) as changes,
                bystander.listen(tools_list_changed=True) as unrelated,
            ):
                assert changes.honored.tools_list_changed
                grown = await client.call_tool("grow", {})
                assert isinstance(await anext(changes), ToolsListChanged)
                assert only_text(grown.content) in await tool_names(client)
                with anyio.move_on_after(0.5) as quiet:
                    await anext(unrelated)
                assert quiet.cancelled_caught


async def test_a_scope_with_a_per_client_server_keeps_clients_on_sessions(mixed: Hub) -> None:
    """A per-client server's child lives as long as a session; a request without one would
    spawn a child per call.  So the scope declines 2026-07-28, and the client falls back."""
    with anyio.fail_after(TEST_SECONDS):
        async with (
            connected(mixed.url(), mode="auto") as client,
            connected(mixed.url("/mcp/time"), mode="auto") as plain,
        ):
            assert client.protocol_version == HANDSHAKE
            assert plain.protocol_version == MODERN
            first = await client.call_tool("pid__pid", {})
            second = await client.call_tool("pid__pid", {})
    assert only_text(first.content) == only_text(second.content)
