"""The server side of MCP's streamable HTTP transport, on aiohttp, message by message.

Streamable HTTP (MCP 2025-03-26 and later; this follows 2025-06-18 and
2025-11-25) puts a JSON-RPC conversation on one URL.  The client POSTs each
message it sends.  A POSTed request is answered either with a plain JSON body
or with a server-sent-event stream that may carry notifications and requests
*related to that request* -- progress, a sampling request -- before the
response closes it.  A GET opens a stream for everything the server says on
its own initiative.  The server hands out a session id in its answer to
``initialize``; every later HTTP request carries it, and a DELETE ends it.

This module owns exactly that mapping between HTTP and JSON-RPC messages, and
nothing about what the messages mean.  Two programs stand on it: the stdio
bridge, whose sessions all share one child process, and the hub, whose every
session fans out to many upstream servers.  Both need the same three things
from a transport, and the interface is those three things:

* The application implements a :class:`Session` per MCP session, made by a
  :class:`SessionFactory` when a client sends ``initialize``.  It answers each
  request by *returning* the response from ``handle_request``; the transport
  runs every request in a task of its own, so a slow tool call never holds up
  the next one, and a client's ``notifications/cancelled`` simply cancels that
  task.  A handler therefore learns about cancellation the asyncio way and can
  pass it on (the bridge tells its child; the hub will tell the upstream).

* The transport gives each session a :class:`Peer`: the way back to the
  client.  ``notify`` and ``request`` take an optional ``related_to`` -- the id
  of the client's request they belong to -- and the transport puts the message
  on that request's stream while it is open, or on the GET stream otherwise.
  ``request`` allocates the id and waits for the client's answer, so the
  application never correlates responses itself, and an aggregating hub can
  forward an upstream's sampling request with one await.

* Everything about HTTP stays here: header checks, the choice between JSON and
  SSE, session ids, buffering while no GET stream is open.

Plugging in is two lines::

    endpoint = StreamableHTTPEndpoint(open_session)  # open_session(peer) -> Session
    endpoint.mount(app, "/mcp")

The answer to a request is JSON unless something related was sent first, in
which case the response switches to SSE on the spot: a plain ``tools/list``
stays trivially debuggable with curl, and a long call with progress still
streams.  Messages for a client that has no GET stream open are kept (up to a
bound, oldest dropped) until it opens one, because clients open that stream a
moment after initializing and a ``list_changed`` sent in that moment matters.

Resumability (``Last-Event-ID``) is not offered: events carry no ids, and a
client that reconnects simply gets what is sent from then on.

Refusals follow the spec's statuses -- 400 for a malformed message, a missing
session id or an unsupported ``MCP-Protocol-Version``, 403 for a browser
origin that is neither loopback nor allowed, 404 for an unknown session, 406
for a client that does not accept both JSON and SSE, 413 for a body over the
limit, 415 for a body that is not JSON -- and every refusal body is a JSON-RPC
error that says what was wrong, because the SDK clients surface that text to
their callers.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import secrets
import time
import urllib.parse
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from aiohttp import web
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from hub_proxy.transport import jsonrpc

SESSION_HEADER: Final = "Mcp-Session-Id"
PROTOCOL_VERSION_HEADER: Final = "MCP-Protocol-Version"
# The code MCP 2026-07-28 gives "unsupported protocol version"; its data names
# the versions that would work, which lets an SDK client in ``mode="auto"``
# fall back from its ``server/discover`` probe to ``initialize``.
UNSUPPORTED_PROTOCOL_VERSION: Final = -32022
DEFAULT_MAX_BODY_BYTES: Final = 4 * 1024 * 1024

_JSON: Final = "application/json"
_SSE: Final = "text/event-stream"
_SESSION_ID_SHOWN: Final = 64  # echo at most this much of an unknown session id
_CLOSE_WAIT_SECONDS: Final = 5.0
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})

logger = logging.getLogger(__name__)


class TransportError(Exception):
    """Something the streamable HTTP transport could not do."""


class SessionClosedError(TransportError):
    """The session ended (DELETE, idle expiry, shutdown) before the client answered."""


class Peer(Protocol):
    """The client at the other end of one session, as the application sees it."""

    @property
    def session_id(self) -> str: ...

    def notify(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> None:
        """Queue a notification; never blocks, and is dropped once the session is closed."""

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> jsonrpc.Response:
        """Send a request and wait for the client's answer.

        Cancelling the wait tells the client with ``notifications/cancelled``;
        :class:`SessionClosedError` is raised if the session ends first.
        """


class Session(Protocol):
    """The application's side of one MCP session."""

    async def handle_request(self, request: jsonrpc.Request) -> jsonrpc.Response:
        """Answer one request (``initialize`` included); cancelled if the client cancels it."""

    async def handle_notification(self, notification: jsonrpc.Notification) -> None:
        """Take a notification from the client (``notifications/cancelled`` never gets here)."""

    async def close(self) -> None:
        """The session is over; its running requests have already been cancelled."""


class SessionFactory(Protocol):
    """Makes the application's :class:`Session` when a client sends ``initialize``."""

    def __call__(self, peer: Peer) -> Session: ...


@dataclass(frozen=True)
class EndpointOptions:
    """Limits and policies of one endpoint; the defaults suit both the bridge and the hub."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Versions a client may name in MCP-Protocol-Version, oldest first.
    protocol_versions: tuple[str, ...] = HANDSHAKE_PROTOCOL_VERSIONS
    # Browsers send Origin; other clients do not.  Against DNS rebinding the
    # spec requires refusing unexpected origins: only loopback ones (a local
    # inspector) and these are accepted.
    allowed_origins: frozenset[str] = frozenset()
    # A comment line on idle SSE streams, so proxies keep them open and a dead
    # client is noticed.
    keepalive_seconds: float = 15.0
    # Sessions with nothing in flight and no stream open for this long are
    # closed when the next session opens.
    session_idle_seconds: float = 3600.0
    # Messages kept for a client that has no GET stream open.
    backlog: int = 256


class _RefusalError(TransportError):
    """An HTTP request turned down, with the status and JSON-RPC error to say why."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: int = jsonrpc.INVALID_REQUEST,
        request_id: jsonrpc.RequestId | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = jsonrpc.Error(request_id, code, message, data)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return _json_response(self.error, status=self.status, headers=self.headers)


@dataclass(eq=False)
class _Exchange:
    """One POSTed request: what is related to it, then its response, in order."""

    request: jsonrpc.Request
    task: asyncio.Task[jsonrpc.Response]
    outbox: asyncio.Queue[jsonrpc.Message] = field(default_factory=asyncio.Queue)
    # False once the client dropped the request's stream: related messages then
    # take the GET path, and the response has nowhere to go.
    attached: bool = True
    cancel_reason: str = "the client cancelled the request"
    response: jsonrpc.Response | None = None


@dataclass(eq=False)
class _Listener:
    """One open GET stream; ``None`` in the outbox ends it."""

    outbox: asyncio.Queue[jsonrpc.Message | None] = field(default_factory=asyncio.Queue)


class _ClientSession:
    """The transport's state for one session; the application sees it as a :class:`Peer`."""

    def __init__(self, session_id: str, backlog: int, factory: SessionFactory) -> None:
        self._session_id = session_id
        self.closed = False
        self.last_active = time.monotonic()
        self._inflight: dict[jsonrpc.RequestId, _Exchange] = {}
        self._awaiting: dict[jsonrpc.RequestId, asyncio.Future[jsonrpc.Response]] = {}
        self._request_ids = itertools.count(1)
        self._listeners: list[_Listener] = []
        self._backlog: deque[jsonrpc.Message] = deque(maxlen=backlog)
        self._backlog_overflowed = False
        self.application = factory(self)

    @property
    def session_id(self) -> str:
        return self._session_id

    @property
    def idle(self) -> bool:
        return not (self._inflight or self._awaiting or self._listeners)

    def notify(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> None:
        self._send(jsonrpc.Notification(method, params), related_to)

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> jsonrpc.Response:
        if self.closed:
            raise SessionClosedError(f"session {self.session_id} is closed")
        request_id = next(self._request_ids)
        answer: asyncio.Future[jsonrpc.Response] = asyncio.get_running_loop().create_future()
        self._awaiting[request_id] = answer
        try:
            self._send(jsonrpc.Request(request_id, method, params), related_to)
            return await answer
        except asyncio.CancelledError:
            cancelled = {"requestId": request_id, "reason": "the server no longer needs the answer"}
            self.notify("notifications/cancelled", cancelled, related_to=related_to)
            raise
        finally:
            del self._awaiting[request_id]

    def start(self, request: jsonrpc.Request) -> _Exchange:
        """Run the application's handler for a request in a task of its own."""
        if request.id in self._inflight:
            raise _RefusalError(
                400,
                f"request id {request.id!r} is already in flight in this session",
                request_id=request.id,
            )
        exchange = _Exchange(request, asyncio.create_task(self.application.handle_request(request)))
        self._inflight[request.id] = exchange
        # A callback, not a wrapping task: it runs even for a task cancelled
        # before its first step, so every request gets its answer.
        exchange.task.add_done_callback(functools.partial(self._finish, exchange))
        return exchange

    async def receive(self, message: jsonrpc.Notification | jsonrpc.Result | jsonrpc.Error) -> None:
        """Take a message that needs no HTTP answer beyond 202."""
        if isinstance(message, jsonrpc.Notification):
            if message.method == "notifications/cancelled":
                self._cancel((message.params or {}).get("requestId"))
            else:
                await self.application.handle_notification(message)
            return
        answer = self._awaiting.get(message.id) if message.id is not None else None
        if answer is None or answer.done():
            logger.info(
                "answer to an unknown or abandoned request ignored",
                extra={"session": self.session_id, "id": message.id},
            )
            return
        answer.set_result(message)

    def attach(self, listener: _Listener) -> None:
        self._listeners.append(listener)
        while self._backlog:
            listener.outbox.put_nowait(self._backlog.popleft())

    def detach(self, listener: _Listener) -> None:
        """Forget a GET stream; what it had not sent yet goes to another one or the backlog."""
        self._listeners.remove(listener)
        while not listener.outbox.empty():
            message = listener.outbox.get_nowait()
            if message is not None and not self.closed:
                self._send(message, None)

    def reroute(self, exchange: _Exchange, unsent: list[jsonrpc.Message]) -> None:
        """The client dropped a request's stream: send what is still owed elsewhere."""
        exchange.attached = False
        while not exchange.outbox.empty():
            unsent.append(exchange.outbox.get_nowait())
        for message in unsent:
            if isinstance(message, jsonrpc.Request | jsonrpc.Notification):
                self._send(message, None)

    async def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        tasks = []
        for exchange in self._inflight.values():
            exchange.cancel_reason = f"the session closed: {reason}"
            exchange.task.cancel()
            tasks.append(exchange.task)
        for answer in self._awaiting.values():
            if not answer.done():
                answer.set_exception(
                    SessionClosedError(f"session {self.session_id} closed: {reason}")
                )
        for listener in self._listeners:
            listener.outbox.put_nowait(None)
        if tasks:
            # Bounded: a handler that ignores cancellation must not hold a shutdown.
            await asyncio.wait(tasks, timeout=_CLOSE_WAIT_SECONDS)
        await self.application.close()

    def _finish(self, exchange: _Exchange, task: asyncio.Task[jsonrpc.Response]) -> None:
        request = exchange.request
        if task.cancelled():
            response: jsonrpc.Response = request.fail(
                jsonrpc.REQUEST_CANCELLED, exchange.cancel_reason
            )
        elif (error := task.exception()) is not None:
            logger.error(
                "request handler failed",
                extra={"session": self.session_id, "method": request.method},
                exc_info=error,
            )
            response = request.fail(
                jsonrpc.INTERNAL_ERROR, f"internal error while handling {request.method}"
            )
        else:
            response = task.result()
            if response.id != request.id:
                logger.error(
                    "request handler answered with a wrong id",
                    extra={"session": self.session_id, "id": request.id, "answered": response.id},
                )
                response = request.fail(
                    jsonrpc.INTERNAL_ERROR, "the server answered with a wrong id"
                )
        del self._inflight[request.id]
        exchange.response = response
        if exchange.attached:
            exchange.outbox.put_nowait(response)
        else:
            logger.info(
                "answer dropped: the client closed the request's stream",
                extra={"session": self.session_id, "id": request.id},
            )

    def _cancel(self, request_id: object) -> None:
        exchange = self._inflight.get(request_id) if jsonrpc.is_request_id(request_id) else None
        if exchange is not None:
            exchange.task.cancel()

    def _send(self, message: jsonrpc.Message, related_to: jsonrpc.RequestId | None) -> None:
        if self.closed:
            logger.debug("message for a closed session dropped", extra={"session": self.session_id})
            return
        exchange = self._inflight.get(related_to) if related_to is not None else None
        if exchange is not None and exchange.attached:
            exchange.outbox.put_nowait(message)
        elif self._listeners:
            self._listeners[-1].outbox.put_nowait(message)
        else:
            if len(self._backlog) == self._backlog.maxlen and not self._backlog_overflowed:
                self._backlog_overflowed = True
                logger.warning(
                    "client opens no GET stream; dropping its oldest queued messages",
                    extra={"session": self.session_id},
                )
            self._backlog.append(message)


class StreamableHTTPEndpoint:
    """One MCP endpoint: routes HTTP requests to sessions made by a :class:`SessionFactory`."""

    def __init__(self, sessions: SessionFactory, options: EndpointOptions | None = None) -> None:
        self._factory = sessions
        self._options = options or EndpointOptions()
        self._sessions: dict[str, _ClientSession] = {}

    def mount(self, app: web.Application, path: str) -> None:
        """Serve the endpoint at ``path`` and close its sessions when ``app`` shuts down.

        Closing on shutdown matters: open SSE streams would otherwise hold
        aiohttp's graceful shutdown until its timeout.
        """
        app.router.add_route("*", path, self.handle)
        app.on_shutdown.append(self._on_shutdown)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_origin(request)
            if request.method == "POST":
                return await self._post(request)
            if request.method == "GET":
                return await self._get(request)
            if request.method == "DELETE":
                return await self._delete(request)
            raise _RefusalError(
                405,
                f"method {request.method} is not allowed here; use POST, GET or DELETE",
                headers={"Allow": "GET, POST, DELETE"},
            )
        except _RefusalError as refusal:
            return refusal.response()

    async def close(self) -> None:
        """Close every session, as on shutdown."""
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(
            *(session.close("the server is shutting down") for session in sessions)
        )

    async def _on_shutdown(self, _app: web.Application) -> None:
        await self.close()

    async def _post(self, request: web.Request) -> web.StreamResponse:
        accepted = _accepted_types(request)
        if not (_accepts(accepted, _JSON) and _accepts(accepted, _SSE)):
            raise _RefusalError(406, f"Accept must list both {_JSON} and {_SSE}")
        if request.content_type != _JSON:
            raise _RefusalError(415, f"Content-Type must be {_JSON}, not {request.content_type}")
        message = await self._read_message(request)
        request_id = message.id if isinstance(message, jsonrpc.Request) else None
        self._check_protocol_version(request, request_id)
        if isinstance(message, jsonrpc.Request) and message.method == "initialize":
            session = await self._open_session()
        else:
            session = self._session_of(request, request_id)
        session.last_active = time.monotonic()
        if not isinstance(message, jsonrpc.Request):
            await session.receive(message)
            return web.Response(status=202)
        exchange = session.start(message)
        try:
            return await self._respond(request, session, exchange)
        finally:
            # No client can use a session whose initialize failed or never got answered.
            if message.method == "initialize" and not isinstance(exchange.response, jsonrpc.Result):
                await self._close_session(session, "initialize failed")

    async def _get(self, request: web.Request) -> web.StreamResponse:
        if not _accepts(_accepted_types(request), _SSE):
            raise _RefusalError(406, f"Accept must list {_SSE} to open the session's stream")
        self._check_protocol_version(request, None)
        session = self._session_of(request, None)
        session.last_active = time.monotonic()
        listener = _Listener()
        session.attach(listener)
        try:
            stream = await _event_stream(request, session)
            while True:
                try:
                    message = await asyncio.wait_for(
                        listener.outbox.get(), self._options.keepalive_seconds
                    )
                except TimeoutError:
                    await stream.write(b": keepalive\n\n")
                    continue
                if message is None:
                    break
                await stream.write(_event(message))
        except ConnectionResetError:
            # aiohttp takes this as the client going away, quietly.
            logger.info("client closed its GET stream", extra={"session": session.session_id})
            raise
        finally:
            session.detach(listener)
            session.last_active = time.monotonic()
        return stream

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        self._check_protocol_version(request, None)
        session = self._session_of(request, None)
        await self._close_session(session, "the client ended it")
        return web.Response(status=204)

    async def _respond(
        self, request: web.Request, session: _ClientSession, exchange: _Exchange
    ) -> web.StreamResponse:
        """Answer a POSTed request: JSON if its response comes first, else an SSE stream."""
        message = await exchange.outbox.get()
        if isinstance(message, jsonrpc.Result | jsonrpc.Error):
            # A failed initialize opened no session the client could use.
            opened = not (
                exchange.request.method == "initialize" and isinstance(message, jsonrpc.Error)
            )
            return _json_response(
                message, headers={SESSION_HEADER: session.session_id} if opened else None
            )
        try:
            stream = await _event_stream(request, session)
            while True:
                await stream.write(_event(message))
                if isinstance(message, jsonrpc.Result | jsonrpc.Error):
                    return stream
                message = await exchange.outbox.get()
        except ConnectionResetError:
            logger.info(
                "client closed a request's stream",
                extra={"session": session.session_id, "id": exchange.request.id},
            )
            session.reroute(exchange, [message])
            raise

    async def _read_message(self, request: web.Request) -> jsonrpc.Message:
        limit = self._options.max_body_bytes
        too_large = _RefusalError(413, f"the request body is larger than {limit} bytes")
        if request.content_length is not None and request.content_length > limit:
            raise too_large
        body = bytearray()
        async for chunk in request.content.iter_any():
            body += chunk
            if len(body) > limit:
                raise too_large
        try:
            return jsonrpc.decode(bytes(body))
        except jsonrpc.MessageError as exc:
            raise _RefusalError(400, exc.reason, code=exc.code, request_id=exc.request_id) from exc

    def _check_origin(self, request: web.Request) -> None:
        origin = request.headers.get("Origin")
        if origin is None or origin in self._options.allowed_origins:
            return
        try:
            host = urllib.parse.urlsplit(origin).hostname
        except ValueError:
            host = None
        if host not in _LOOPBACK_HOSTS:
            raise _RefusalError(403, f"requests from origin {origin[:100]!r} are not allowed")

    def _check_protocol_version(
        self, request: web.Request, request_id: jsonrpc.RequestId | None
    ) -> None:
        version = request.headers.get(PROTOCOL_VERSION_HEADER)
        supported = self._options.protocol_versions
        if version is not None and version not in supported:
            raise _RefusalError(
                400,
                f"unsupported {PROTOCOL_VERSION_HEADER} {version[:40]!r}; "
                f"this server speaks {', '.join(supported)}",
                code=UNSUPPORTED_PROTOCOL_VERSION,
                request_id=request_id,
                data={"supported": list(supported), "requested": version},
            )

    def _session_of(
        self, request: web.Request, request_id: jsonrpc.RequestId | None
    ) -> _ClientSession:
        session_id = request.headers.get(SESSION_HEADER)
        if session_id is None:
            raise _RefusalError(
                400,
                f"missing {SESSION_HEADER} header; send initialize first to open a session",
                request_id=request_id,
            )
        session = self._sessions.get(session_id)
        if session is None:
            raise _RefusalError(
                404,
                f"unknown or expired session {session_id[:_SESSION_ID_SHOWN]!r}; "
                "send initialize to open a new one",
                request_id=request_id,
            )
        return session

    async def _open_session(self) -> _ClientSession:
        await self._close_idle_sessions()
        session = _ClientSession(secrets.token_urlsafe(32), self._options.backlog, self._factory)
        self._sessions[session.session_id] = session
        logger.info("session opened", extra={"session": session.session_id})
        return session

    async def _close_idle_sessions(self) -> None:
        horizon = time.monotonic() - self._options.session_idle_seconds
        idle = [s for s in self._sessions.values() if s.idle and s.last_active < horizon]
        for session in idle:
            await self._close_session(session, "idle for too long")

    async def _close_session(self, session: _ClientSession, reason: str) -> None:
        if self._sessions.pop(session.session_id, None) is not None:
            logger.info("session closed", extra={"session": session.session_id, "why": reason})
        await session.close(reason)


def _accepted_types(request: web.Request) -> frozenset[str]:
    return frozenset(
        part.split(";", 1)[0].strip().lower()
        for header in request.headers.getall("Accept", [])
        for part in header.split(",")
    )


def _accepts(accepted: frozenset[str], media_type: str) -> bool:
    family = media_type.split("/", 1)[0]
    return bool({media_type, f"{family}/*", "*/*"} & accepted)


def _json_response(
    message: jsonrpc.Message, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=jsonrpc.encode(message), content_type=_JSON, headers=headers
    )


async def _event_stream(request: web.Request, session: _ClientSession) -> web.StreamResponse:
    stream = web.StreamResponse(
        headers={
            "Content-Type": _SSE,
            "Cache-Control": "no-cache, no-transform",
            # Stops nginx-style proxies from buffering the stream.
            "X-Accel-Buffering": "no",
            SESSION_HEADER: session.session_id,
        }
    )
    await stream.prepare(request)
    return stream


def _event(message: jsonrpc.Message) -> bytes:
    return b"event: message\ndata: " + jsonrpc.encode(message) + b"\n\n"
