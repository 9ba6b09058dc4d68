"""The streamable HTTP transport on the wire: statuses, headers and JSON-RPC errors.

The transport is reached through the stdio bridge in front of server-everything,
the program that serves it, with HTTP written by hand -- the SDK client never
sends the bad input these tests are about -- and with the official MCP
conformance suite.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.hub_proxy.bridge_process import (
    INITIALIZE,
    Bridge,
    RawClient,
    command_of,
    events,
    running_bridge,
)
from tests.testbed.mcp_servers import conformance, everything_stdio

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
FOUR_MIB = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    log_dir = tmp_path_factory.mktemp("transport")
    with running_bridge(log_dir, command=command_of(everything_stdio())) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
async def client(http: aiohttp.ClientSession, bridge: Bridge) -> RawClient:
    raw = RawClient(http, bridge.url)
    await raw.initialize()
    return raw


def error_of(body: Any) -> tuple[Any, int, str]:
    """(id, code, message) of a JSON-RPC error response."""
    assert body["jsonrpc"] == "2.0"
    return body["id"], body["error"]["code"], body["error"]["message"]


async def test_initialize_opens_a_session_that_later_requests_must_name(
    http: aiohttp.ClientSession, bridge: Bridge
) -> None:
    raw = RawClient(http, bridge.url)
    opened = await raw.post(INITIALIZE)
    assert opened.status == 200
    assert opened.headers["Content-Type"].startswith("application/json")
    assert opened.body["result"]["serverInfo"]["name"] == "mcp-servers/everything"
    raw.session_id = opened.headers["Mcp-Session-Id"]
    assert 20 <= len(raw.session_id) <= 100

    notified = await raw.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert (notified.status, notified.body) == (202, None)
    listed = await raw.post({"jsonrpc": "2.0", "id": "list", "method": "tools/list"})
    assert listed.status == 200
    assert listed.body["id"] == "list"
    assert "echo" in {tool["name"] for tool in listed.body["result"]["tools"]}


async def test_two_initializes_get_two_sessions(
    http: aiohttp.ClientSession, bridge: Bridge
) -> None:
    first, second = RawClient(http, bridge.url), RawClient(http, bridge.url)
    assert await first.initialize() != await second.initialize()


async def test_malformed_json_is_refused_with_a_parse_error(client: RawClient) -> None:
    reply = await client.post(b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert reply.status == 400
    request_id, code, message = error_of(reply.body)
    assert (request_id, code) == (None, -32700)
    assert "not valid JSON" in message


@pytest.mark.parametrize(
    ("body", "echoed_id", "complaint"),
    [
        ({"jsonrpc": "1.0", "id": 7, "method": "ping"}, 7, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": "2.0", "id": 7}, 7, 'exactly one of "method", "result" or "error"'),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, None, "string or an integer"),
        ({"jsonrpc": "2.0", "id": 7, "method": "ping", "params": [1]}, 7, "must be an object"),
        ([PING, PING], None, "batches are not supported"),
        ("ping", None, "not a string"),
    ],
    ids=["wrong-version", "no-method", "fractional-id", "array-params", "batch", "not-an-object"],
)
async def test_invalid_json_rpc_is_refused_with_invalid_request(
    client: RawClient, body: object, echoed_id: int | None, complaint: str
) -> None:
    reply = await client.post(body)
    assert reply.status == 400
    request_id, code, message = error_of(reply.body)
    assert (request_id, code) == (echoed_id, -32600)
    assert complaint in message


async def test_request_without_a_session_is_400_and_with_an_unknown_one_404(
    client: RawClient,
) -> None:
    missing = await client.post(PING, Mcp_Session_Id=None)
    assert missing.status == 400
    assert "missing Mcp-Session-Id" in error_of(missing.body)[2]
    unknown = await client.post(PING, Mcp_Session_Id="no-such-session")
    assert unknown.status == 404
    assert error_of(unknown.body)[1:] == (
        -32600,
        "unknown or expired session 'no-such-session'; send initialize to open a new one",
    )


async def test_body_that_is_not_json_is_415(client: RawClient) -> None:
    reply = await client.post(PING, Content_Type="text/plain")
    assert reply.status == 415
    assert "Content-Type must be application/json" in error_of(reply.body)[2]


@pytest.mark.parametrize("accept", [None, "application/json", "text/event-stream"])
async def test_post_that_does_not_accept_both_json_and_sse_is_406(
    client: RawClient, accept: str | None
) -> None:
    reply = await client.post(PING, Accept=accept)
    assert reply.status == 406
    assert "Accept must list both" in error_of(reply.body)[2]


async def test_wildcard_accept_is_enough(client: RawClient) -> None:
    reply = await client.post(PING, Accept="*/*")
    assert (reply.status, reply.body["result"]) == (200, {})


async def test_body_over_four_mib_is_413(client: RawClient) -> None:
    padding = "x" * FOUR_MIB
    reply = await client.post({**PING, "params": {"padding": padding}})
    assert reply.status == 413
    assert error_of(reply.body)[2] == f"the request body is larger than {FOUR_MIB} bytes"


async def test_unsupported_protocol_version_header_is_400_naming_the_supported_ones(
    client: RawClient,
) -> None:
    reply = await client.post(PING, MCP_Protocol_Version="1999-01-01")
    assert reply.status == 400
    request_id, code, message = error_of(reply.body)
    assert (request_id, code) == (1, -32022)
    assert "1999-01-01" in message
    data = reply.body["error"]["data"]
    assert data["requested"] == "1999-01-01"
    assert {"2025-06-18", "2025-11-25"} <= set(data["supported"])
    supported = await client.post(PING, MCP_Protocol_Version="2025-06-18")
    assert supported.status == 200


async def test_get_opens_the_sessions_event_stream_for_clients_that_accept_sse(
    client: RawClient,
) -> None:
    async with client.http.get(
        client.url, headers=client.headers(Accept="application/json")
    ) as refused:
        assert refused.status == 406
    async with client.http.get(client.url, headers=client.headers()) as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"] == "text/event-stream"
        assert stream.headers["Mcp-Session-Id"] == client.session_id
    async with client.http.get(client.url, headers=client.headers(Mcp_Session_Id="nope")) as gone:
        assert gone.status == 404


async def test_delete_ends_the_session(client: RawClient) -> None:
    async with client.http.delete(client.url, headers=client.headers()) as deleted:
        assert deleted.status == 204
    after = await client.post(PING)
    assert after.status == 404
    async with client.http.delete(client.url, headers=client.headers()) as again:
        assert again.status == 404


async def test_other_http_methods_are_405_with_allow(client: RawClient) -> None:
    async with client.http.put(client.url, headers=client.headers(), data=b"{}") as reply:
        assert reply.status == 405
        assert reply.headers["Allow"] == "GET, POST, DELETE"
        assert "use POST, GET or DELETE" in error_of(json.loads(await reply.read()))[2]


async def test_requests_from_a_foreign_origin_are_403_and_from_loopback_accepted(
    client: RawClient,
) -> None:
    foreign = await client.post(PING, Origin="http://evil.example")
    assert foreign.status == 403
    assert "origin 'http://evil.example' are not allowed" in error_of(foreign.body)[2]
    for origin in ("http://localhost:6274", "http://127.0.0.1", "http://[::1]:8080"):
        local = await client.post(PING, Origin=origin)
        assert local.status == 200, origin


@pytest.mark.parametrize(
    "scenario",
    [
        "server-initialize",
        "ping",
        "tools-call-error",
        "resources-subscribe",
        "server-sse-multiple-streams",
        "dns-rebinding-protection",
    ],
)
def test_official_conformance_scenario_passes(bridge: Bridge, scenario: str) -> None:
    # Scenarios about the transport, or that server-everything itself passes: the
    # others need the conformance suite's own tools and fail without any bridge.
    done = conformance("server", "--url", bridge.url, "--scenario", scenario)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


async def test_related_progress_turns_the_answer_into_sse_and_cancelling_ends_it(
    client: RawClient,
) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": "trigger-long-running-operation",
            "arguments": {"duration": 60, "steps": 120},
            "_meta": {"progressToken": "mine"},
        },
    }
    async with client.http.post(
        client.url, data=json.dumps(call).encode(), headers=client.headers()
    ) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        stream = events(response)
        progress = await anext(stream)
        assert progress["method"] == "notifications/progress"
        # The client's own token comes back, whatever the child was given.
        assert progress["params"]["progressToken"] == "mine"

        duplicate = await client.post({**call, "params": {"name": "echo"}})
        assert duplicate.status == 400
        assert error_of(duplicate.body)[:2] == (7, -32600)

        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}
        assert (await client.post(cancel)).status == 202
        last = [message async for message in stream][-1]
    assert error_of(last) == (7, -32800, "the client cancelled the request")
    echo = {"name": "echo", "arguments": {"message": "still here"}}
    after = await client.post({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": echo})
    assert after.body["result"]["content"][0]["text"] == "Echo: still here"
