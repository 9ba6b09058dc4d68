"""A client hanging up is ordinary: logged as such, never as a server error with a traceback.

Each stream a client can hold -- a session's GET stream, a request's own SSE
stream, a legacy SSE stream -- is opened over real loopback HTTP and dropped
by the client; the server then writes to it (a keep-alive every few
milliseconds), which is where aiohttp notices the client is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from hub_proxy.transport import EndpointOptions, SSEEndpoint
from tests.hub_proxy.bridge_process import RawClient, until
from tests.hub_proxy.transport.echo_app import WAIT, initialized, serving

# Keep-alives this often make the server write to the dropped stream at once.
QUICK = EndpointOptions(keepalive_seconds=0.02)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.ERROR or record.exc_info
    ]


async def hang_up(response: aiohttp.ClientResponse) -> None:
    """Drop the connection a response came on, as a client that goes away does."""
    await response.content.readany()  # the stream is open and has said something
    response.close()


async def test_dropping_a_get_stream_is_no_error(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving(QUICK) as served:
        client = await initialized(http, served.url, None)
        headers = client.headers(Accept="text/event-stream")
        async with http.get(served.url, headers=headers) as stream:
            assert stream.status == 200
            await hang_up(stream)
        await noticed(caplog, "client closed its GET stream")
    assert errors(caplog) == []


async def test_dropping_a_requests_stream_is_no_error(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving(QUICK) as served:
        client = await initialized(http, served.url, None)
        wait = {"jsonrpc": "2.0", "id": 7, "method": WAIT}
        async with http.post(served.url, json=wait, headers=client.headers()) as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            await hang_up(stream)
        # Cancelling the request answers it, and the answer is written to the gone stream.
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}
        await RawClient(http, served.url).post(cancel, Mcp_Session_Id=client.session_id)
        await noticed(caplog, "client closed a request's stream")
    assert errors(caplog) == []


async def test_dropping_a_legacy_sse_stream_is_no_error(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving(QUICK, transport=SSEEndpoint, path="/sse") as served:
        async with http.get(served.url, headers={"Accept": "text/event-stream"}) as stream:
            assert stream.status == 200
            await hang_up(stream)
        await noticed(caplog, "legacy SSE session closed")
        assert [session.closed for session in served.sessions] == [True]
    assert errors(caplog) == []


async def noticed(caplog: pytest.LogCaptureFixture, message: str) -> None:
    """Wait until the server logged ``message``: it noticed the client was gone."""

    async def logged() -> bool:
        await asyncio.sleep(0)
        return any(message in record.getMessage() for record in caplog.records)

    await until(logged, within=10, what=f"the server to log {message!r}")
