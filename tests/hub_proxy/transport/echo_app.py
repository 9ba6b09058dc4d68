"""A trivial MCP application served on the real transports over loopback HTTP.

Each request is answered with the session id the application's peer knows
and the method it was asked, so a test sees which process and which session
answered.  Who makes a request comes from the ``X-Test-Owner`` header,
through a middleware that plays the part of the hub's authentication.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub_proxy.transport import (
    OWNER,
    EndpointOptions,
    Peer,
    SessionFactory,
    StreamableHTTPEndpoint,
    jsonrpc,
)
from tests.hub_proxy.bridge_process import INITIALIZE, RawClient

OWNER_HEADER: Final = "X-Test-Owner"
INITIALIZED: Final = {"jsonrpc": "2.0", "method": "notifications/initialized"}


@web.middleware
async def owner_from_header(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    owner = request.headers.get(OWNER_HEADER)
    if owner is not None:
        request[OWNER] = owner
    return await handler(request)


# A request the echo session answers once released (or cancelled), after telling
# the client on the request's own stream that it started: its stream is SSE.
WAIT: Final = "test/wait"
# Releases the session's waiting requests.
RELEASE: Final = "test/release"
# Has the session say something unprompted (on the GET stream) before answering.
NOTIFY: Final = "test/notify"


class EchoSession:
    """Answers every request with who answered it (``test/wait`` once released)."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.methods: list[str] = []
        self.closed = False
        self.released = asyncio.Event()

    async def handle_request(self, request: jsonrpc.Request) -> jsonrpc.Response:
        self.methods.append(request.method)
        if request.method == WAIT:
            self.peer.notify("notifications/message", {"level": "info"}, related_to=request.id)
            await self.released.wait()
        elif request.method == RELEASE:
            self.released.set()
        elif request.method == NOTIFY:
            self.peer.notify("notifications/message", {"level": "info", "data": request.params})
        return request.respond({"session": self.peer.session_id, "method": request.method})

    async def handle_notification(self, notification: jsonrpc.Notification) -> None:
        self.methods.append(notification.method)

    async def close(self) -> None:
        self.closed = True


class Endpoint(Protocol):
    async def handle(self, request: web.Request) -> web.StreamResponse: ...

    async def close(self) -> None: ...


class Transport(Protocol):
    def __call__(
        self, sessions: SessionFactory, options: EndpointOptions | None, /
    ) -> Endpoint: ...


class _AsDeployed(TestServer):
    """aiohttp's test server as the hub and the bridge run it: handlers are not cancelled.

    ``TestServer`` cancels a handler whose client hangs up; ``web.run_app``
    does not, so a transport notices a gone client when it next writes, and
    that is the path the tests must take.
    """

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        return web.AppRunner(self.app, **{**kwargs, "handler_cancellation": False})


@dataclass(frozen=True)
class Served:
    """One endpoint on its own aiohttp app and port, and the sessions its application made."""

    url: str
    sessions: list[EchoSession]


@asynccontextmanager
async def serving(
    options: EndpointOptions | None = None,
    transport: Transport = StreamableHTTPEndpoint,
    path: str = "/mcp",
) -> AsyncIterator[Served]:
    """Serve one endpoint at ``path`` on a free loopback port until the block ends."""
    sessions: list[EchoSession] = []

    def open_session(peer: Peer) -> EchoSession:
        sessions.append(EchoSession(peer))
        return sessions[-1]

    endpoint = transport(open_session, options)

    async def close(_app: web.Application) -> None:
        await endpoint.close()

    app = web.Application(middlewares=[owner_from_header])
    app.router.add_route("*", path, endpoint.handle)
    app.on_shutdown.append(close)
    server = _AsDeployed(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Served(str(server.make_url(path)), sessions)
    finally:
        await server.close()


async def initialized(http: aiohttp.ClientSession, url: str, owner: str | None) -> RawClient:
    """A client with a session opened by ``owner`` (no owner header when ``None``)."""
    client = RawClient(http, url)
    opened = await client.post(INITIALIZE, X_Test_Owner=owner)
    assert opened.status == 200, opened
    client.session_id = opened.headers["Mcp-Session-Id"]
    notified = await client.post(INITIALIZED, X_Test_Owner=owner)
    assert notified.status == 202, notified
    return client


async def delete(client: RawClient, owner: str | None) -> int:
    async with client.http.delete(client.url, headers=client.headers(X_Test_Owner=owner)) as reply:
        return reply.status


async def stream_status(client: RawClient, owner: str | None) -> int:
    """The status of a GET for the session's stream, which is closed at once."""
    headers = client.headers(X_Test_Owner=owner, Accept="text/event-stream")
    async with client.http.get(client.url, headers=headers) as reply:
        return reply.status


async def endpoint_of(stream: aiohttp.ClientResponse) -> str:
    """The URL path the legacy transport's first event tells the client to POST to."""
    async for raw in stream.content:
        line = raw.decode().strip()
        if line.startswith("data:"):
            await stream.content.readline()  # the blank line ending the event
            return line.removeprefix("data:").strip()
    raise AssertionError("the stream ended before its endpoint event")
