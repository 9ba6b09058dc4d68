"""The streamable-HTTP link against an upstream that answers a call with something that is no
JSON-RPC message: the multiplexer is told what, the call fails saying so, the session goes on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import pytest
from aiohttp import web

from hub_proxy.catalog import RemoteTarget
from hub_proxy.transport import jsonrpc
from hub_proxy.upstream.base import UnreadableError
from hub_proxy.upstream.streamable_http import StreamableHttpLink
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
