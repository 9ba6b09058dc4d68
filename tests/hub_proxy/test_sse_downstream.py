"""The hub's legacy HTTP+SSE endpoints, ``/sse`` and ``/sse/{name}``, driven as a process.

Old clients are served by the same sessions as ``/mcp``; these tests drive
the hub with the MCP SDK's own legacy client (``sse_client``) in front of real
stdio servers, and with HTTP written by hand for the bad input the SDK never
sends.  Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from yarl import URL

from tests.hub_proxy.bridge_process import only_text
from tests.hub_proxy.test_standalone_hub import CALL_SECONDS, TEST_SECONDS, Hub

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
FOUR_MIB = 4 * 1024 * 1024


def legacy(url: str, **callbacks: Any) -> Client:
    return Client(sse_client(url), mode="legacy", read_timeout_seconds=CALL_SECONDS, **callbacks)


async def tool_names(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


async def test_sse_serves_every_servers_tools_and_calls_them(hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with legacy(hub.url("/sse")) as client:
            assert client.server_info is not None
            assert client.server_info.name == "mcphub"
            names = await tool_names(client)
            now = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
    assert {"time__get_current_time", "time__convert_time", "everything__echo"} <= names
    assert json.loads(only_text(now.content))["timezone"] == "UTC"


async def test_sse_server_path_serves_unprefixed_names(hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with legacy(hub.url("/sse/time")) as client:
            assert await tool_names(client) == {"get_current_time", "convert_time"}
            now = await client.call_tool("get_current_time", {"timezone": "UTC"})
    assert json.loads(only_text(now.content))["timezone"] == "UTC"


async def test_sse_group_path_applies_member_filters(hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with legacy(hub.url("/sse/basics")) as client:
            names = await tool_names(client)
    assert names == {"time__get_current_time", "everything__echo", "everything__get-sum"}


async def test_progress_reaches_the_sse_client(hub: Hub) -> None:
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    with anyio.fail_after(TEST_SECONDS):
        async with legacy(hub.url("/sse")) as client:
            result = await client.call_tool(
                "everything__trigger-long-running-operation",
                {"duration": 1, "steps": 3},
                progress_callback=on_progress,
            )
    assert "completed" in only_text(result.content)
    assert seen == [(1, 3), (2, 3), (3, 3)]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def open_stream(http: aiohttp.ClientSession, url: str) -> tuple[aiohttp.ClientResponse, str]:
    """A raw legacy stream and the POST URL its ``endpoint`` event names."""
    response = await http.get(url, headers={"Accept": "text/event-stream"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    event = (await response.content.readuntil(b"\n\n")).decode()
    assert event.startswith("event: endpoint\ndata: ")
    path = event.removeprefix("event: endpoint\ndata: ").strip()
    return response, str(response.url.join(URL(path)))


def error_of(body: Any) -> tuple[Any, int, str]:
    assert body["jsonrpc"] == "2.0"
    return body["id"], body["error"]["code"], body["error"]["message"]


async def test_messages_go_to_the_streams_own_path_and_answers_come_on_the_stream(
    http: aiohttp.ClientSession, hub: Hub
) -> None:
    stream, endpoint = await open_stream(http, hub.url("/sse/time"))
    try:
        assert endpoint.startswith(hub.url("/sse/time?session_id="))
        async with http.post(endpoint, json=PING) as posted:
            assert (posted.status, await posted.read()) == (202, b"")
        with anyio.fail_after(CALL_SECONDS):
            answer = (await stream.content.readuntil(b"\n\n")).decode()
        assert answer.startswith("event: message\ndata: ")
        assert json.loads(answer.removeprefix("event: message\ndata: ")) == {
            "jsonrpc": "2.0",
            "id": 1,
            "result": {},
        }
    finally:
        stream.close()


@pytest.mark.parametrize(
    ("sent", "refusal"),
    [
        ((b"{not json", "application/json"), (400, -32700)),
        ((b'{"jsonrpc": "1.0", "id": 7, "method": "ping"}', "application/json"), (400, -32600)),
        ((b"[]", "application/json"), (400, -32600)),
        ((json.dumps(PING).encode(), "text/plain"), (415, -32600)),
        ((b"[" + b" " * FOUR_MIB + b"]", "application/json"), (413, -32600)),
    ],
    ids=["malformed-json", "invalid-json-rpc", "batch", "wrong-content-type", "too-large"],
)
async def test_bad_posts_are_refused_with_status_and_json_rpc_code(
    http: aiohttp.ClientSession, hub: Hub, sent: tuple[bytes, str], refusal: tuple[int, int]
) -> None:
    """(body, Content-Type) POSTed to a live session's URL -> (HTTP status, JSON-RPC code)."""
    body, content_type = sent
    stream, endpoint = await open_stream(http, hub.url("/sse"))
    try:
        headers = {"Content-Type": content_type}
        async with http.post(endpoint, data=body, headers=headers) as refused:
            status = refused.status
            _, code, message = error_of(await refused.json())
        assert (status, code) == refusal
        assert message
    finally:
        stream.close()


async def test_unknown_or_missing_session_is_refused(http: aiohttp.ClientSession, hub: Hub) -> None:
    async with http.post(hub.url("/sse?session_id=nosuch"), json=PING) as unknown:
        assert unknown.status == 404
        request_id, code, message = error_of(await unknown.json())
    assert (request_id, code) == (1, -32600)
    assert "nosuch" in message
    async with http.post(hub.url("/sse"), json=PING) as missing:
        assert missing.status == 400
        assert "session_id" in error_of(await missing.json())[2]


async def test_closing_the_stream_closes_the_session(http: aiohttp.ClientSession, hub: Hub) -> None:
    stream, endpoint = await open_stream(http, hub.url("/sse"))
    stream.close()
    with anyio.fail_after(CALL_SECONDS):
        while True:
            async with http.post(endpoint, json=PING) as posted:
                if posted.status == 404:
                    break
                assert posted.status == 202
            await asyncio.sleep(0.2)


async def test_unknown_scope_is_404_with_a_json_rpc_error(
    http: aiohttp.ClientSession, hub: Hub
) -> None:
    for path in ("/sse/nosuch", "/sse/nosuch/deeper"):
        async with http.get(hub.url(path)) as response:
            assert response.status == 404
            assert "nosuch" in error_of(await response.json())[2]
