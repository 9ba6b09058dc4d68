"""The streamable-HTTP link against upstreams that do unusual things: answer a call with
something that is no JSON-RPC message (the multiplexer is told what, the call fails saying
so, the session goes on), or stop streaming an answer midway, expecting to be asked again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from hub_proxy.catalog import RemoteTarget
from hub_proxy.transport import jsonrpc
from hub_proxy.upstream.base import UnreadableError
from hub_proxy.upstream.streamable_http import StreamableHttpLink
from tests.hub_proxy.bridge_process import only_text
from tests.hub_proxy.remote_server_yaml import remote_yaml
from tests.hub_proxy.test_standalone_hub import connected, start_hub
from tests.testbed.conformance_server import running_conformance_server
from tests.testbed.processes import free_port

TEST_SECONDS = 30


async def upstream(request: web.Request) -> web.Response:
    message = await request.json()
    if "id" not in message:
        return web.Response(status=202)
    if message["method"] == "initialize":
        result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "u"}}
        body = {"jsonrpc": "2.0", "id": message["id"], "result": result}
        return web.json_response(body, headers={"Mcp-Session-Id": "s1"})
    if message["params"]["name"] == "garble":
        return web.Response(text="this is not JSON", content_type="application/json")
    content = {"content": [{"type": "text", "text": "fine"}]}
    return web.json_response({"jsonrpc": "2.0", "id": message["id"], "result": content})


@pytest.fixture
async def url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/mcp", upstream)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/mcp"
    await runner.cleanup()


def call(request_id: int, tool: str) -> jsonrpc.Request:
    return jsonrpc.Request(request_id, "tools/call", {"name": tool, "arguments": {}})


async def test_an_answer_that_is_no_message_fails_its_call_and_the_session_goes_on(
    url: str,
) -> None:
    link = StreamableHttpLink(RemoteTarget(url, "streamable-http", {}))
    link.start()
    try:
        with anyio.fail_after(TEST_SECONDS):
            link.send(jsonrpc.Request(1, "initialize", {"protocolVersion": "2025-11-25"}))
            assert isinstance(await link.receive(), jsonrpc.Result)
            link.send(call(2, "garble"))
            with pytest.raises(UnreadableError) as unreadable:
                await link.receive()
            assert unreadable.value.text == b"this is not JSON"
            failed = await link.receive()
            assert isinstance(failed, jsonrpc.Error)
            assert failed.id == 2
            assert "not a JSON-RPC message" in failed.message
            link.send(call(3, "fine"))
            answered = await link.receive()
    finally:
        await link.close(grace=1)
    assert isinstance(answered, jsonrpc.Result)
    assert json.dumps(answered.result["content"]) == '[{"type": "text", "text": "fine"}]'


async def test_an_answer_the_upstream_stops_streaming_midway_is_resumed(tmp_path: Path) -> None:
    """Issue 11, item 11: the conformance server's ``test_reconnection`` primes its stream
    with an event id and a ``retry``, closes it before answering, and replays the answer
    to a GET with ``Last-Event-ID``; the hub's link comes back for it, and the client
    gets its answer instead of "the upstream ended its answer without answering"."""
    with running_conformance_server(tmp_path / "upstream") as url:

        def write(folder: Path) -> Path:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "conformance.yaml").write_text(remote_yaml("conformance", url))
            return folder

        hub = await asyncio.to_thread(start_hub, tmp_path, write)
        try:
            with anyio.fail_after(TEST_SECONDS):
                async with connected(hub.url("/mcp/conformance")) as client:
                    resumed = await client.call_tool("test_reconnection", {})
                    again = await client.call_tool("test_reconnection", {})
        finally:
            await asyncio.to_thread(hub.process.stop)
    assert only_text(resumed.content) == "Reconnection test completed successfully"
    assert only_text(again.content) == "Reconnection test completed successfully"
