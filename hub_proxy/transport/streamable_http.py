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
from a transport, and the interface is those three things (defined in
:mod:`hub_proxy.transport.base`, which the legacy SSE transport shares):

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
streams.  Streams can also be resumable (SEP-1699,
:attr:`EndpointOptions.resumable_streams`; the hub's are, the bridge's not):
then, in a session of 2025-11-25 or later, a request whose answer is not
ready within a moment's grace, or that has something related to say first,
or whose client ranks ``text/event-stream`` above ``application/json`` in
``Accept``, is answered with an SSE stream that opens with a priming event
(an event id and a ``retry`` delay); every event carries an id, and a client
whose connection dropped GETs the endpoint with ``Last-Event-ID`` to have the
rest of that stream replayed -- only in its own session, so only to its owner
-- and continued.  A GET stream resumes the same way (see
:mod:`hub_proxy.transport.streams`).  A quick answer stays JSON for clients
that prefer it, because the SDK clients drop the connection of a stream once
they have its answer, and a connection per call costs more than the hop.
Messages for a client that has no GET stream open are kept (up to a bound,
oldest dropped) until it opens one, because clients open that stream a moment
after initializing and a ``list_changed`` sent in that moment matters.

A session belongs to whoever opened it: the owner the application set on the
``initialize`` POST (see :data:`~hub_proxy.transport.base.OWNER`).  Every later
POST, GET and DELETE naming the session must come from the same owner, or it
is refused with the very 404 an unknown session gets.

Any process serving the same endpoint can carry a session on, so that hub
replicas need no sticky routing.  Session ids come from the endpoint's
:class:`~hub_proxy.transport.session_ids.SessionIds`; when a request names a
session this process does not hold, it asks whether the id is valid for the
requester, and if so makes the session here, under the same id, through the
same :class:`SessionFactory`.  The application then sees a new
:class:`Session` that never got ``initialize``: the client did that with
another process, and it is not replayed -- an application that needs
per-session state from the handshake must not rely on seeing it.  What stays
in one process is what lives in its memory: a server's request waits for its
answer where it was sent, a GET stream carries only what its own process
sends, and a session's copies elsewhere close when idle, not on DELETE.  With
the default random ids nothing moves: an id is valid only where it was issued.

Resumption stays in one process too: a stream's events live in the memory of
the process that wrote them, so a ``Last-Event-ID`` reaching another replica
finds nothing to replay and is refused with 404, saying to send the request
again.  A stream written to its end is forgotten at once, and a session keeps
at most a few unfinished ones for a client to come back for.

Sessions are entered in a :class:`~hub_proxy.transport.sessions.Sessions`
table, which limits how many there are, closes idle ones, and ends those
whose owner's credentials stop being good.

Refusals follow the spec's statuses -- 400 for a malformed message, a missing
session id or an unsupported ``MCP-Protocol-Version``, 403 for a browser
origin that is neither loopback nor allowed, 404 for an unknown session or a
stream that cannot be resumed, 406 for a client that does not accept both
JSON and SSE, 413 for a body over the limit, 415 for a body that is not JSON,
429 and 503 over a session limit -- and every refusal body is a JSON-RPC
error that says what was wrong, because the SDK clients surface that text to
their callers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

from hub_proxy.transport import jsonrpc
from hub_proxy.transport.base import (
    JSON,
    SESSION_ID_SHOWN,
    SSE,
    EndpointOptions,
    RefusalError,
    Running,
    SessionCore,
    SessionFactory,
    credential_expiry,
    dispatch,
    json_response,
    owner_of,
    read_message,
    sse_response,
)
from hub_proxy.transport.sessions import Ticket, table_of
from hub_proxy.transport.stateless import StatelessEndpoint
from hub_proxy.transport.streams import (
    RESUMABLE_SINCE,
    Grace,
    Stream,
    parse_event_id,
    priming,
    write,
)

SESSION_HEADER: Final = "Mcp-Session-Id"
PROTOCOL_VERSION_HEADER: Final = "MCP-Protocol-Version"
LAST_EVENT_ID_HEADER: Final = "Last-Event-ID"
# Resumable streams kept per session for a client to come back for; the oldest go first.
_STREAMS_KEPT: Final = 16
# How long a resumable request waits for its first message before its stream
# opens with the priming event alone.  An answer ready by then goes out in one
# write: as JSON, unless the client prefers a stream -- the SDK clients, given
# a stream, drop its connection once they have the answer, and a new one per
# call cost 1.5 to 4 ms under load -- or behind the priming event, in one
# piece (priming at once cost 0.56 ms a call).  A connection lost within the
# grace leaves the client nothing to resume from.
_PRIMING_GRACE_SECONDS: Final = 0.05
# The code MCP 2026-07-28 gives "unsupported protocol version"; its data names
# the versions that would work, which lets an SDK client in ``mode="auto"``
# fall back from its ``server/discover`` probe to ``initialize``.
UNSUPPORTED_PROTOCOL_VERSION: Final = -32022

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class _Exchange(Running):
    """One POSTed request: its stream, where what is related to it and its response go."""

    stream: Stream = field(kw_only=True)
    # False once the client dropped a stream it cannot resume: related messages
    # then take the GET path, and the response has nowhere to go.
    attached: bool = True
    response: jsonrpc.Response | None = None


class _ClientSession(SessionCore[_Exchange]):
    """One streamable HTTP session: request streams, GET streams and a backlog."""

    def __init__(
        self,
        session_id: str,
        owner: str,
        options: EndpointOptions,
        factory: SessionFactory,
        ticket: Ticket,
    ) -> None:
        self.ticket = ticket
        self._options = options
        # The version ``initialize`` settled on; None for a session carried over.
        self.protocol_version: str | None = None
        # The GET streams being written, newest last.
        self._listeners: list[Stream] = []
        # Made when first needed, like ``_streams``: an idle session should cost
        # little (see the idle-sessions benchmark).
        self._backlog: deque[jsonrpc.Message] | None = None
        self._backlog_overflowed = False
        # Resumable streams by number, while a client may still come back for them.
        self._streams: dict[int, Stream] | None = None
        self._numbered = 0
        super().__init__(session_id, owner, factory)

    def is_idle(self) -> bool:
        return not (self._inflight or self._awaiting or self._listeners)

    def used(self, request: web.Request) -> None:
        """A request of the session's: it is active now, with that request's credential."""
        self.ticket.touch()
        self.ticket.expires_at(credential_expiry(request))

    def resumable(self, request: web.Request) -> bool:
        """Whether this request's streams get event ids and a priming event.

        By the version the session settled on; a session carried over from
        another process never saw it, and goes by the request's header.
        """
        if not self._options.resumable_streams:
            return False
        version = self.protocol_version or request.headers.get(PROTOCOL_VERSION_HEADER) or ""
        return version >= RESUMABLE_SINCE

    def stream(self) -> Stream:
        """A new stream, numbered in the session."""
        self._numbered += 1
        return Stream(self._numbered, self._options.replay_events)

    def keep(self, stream: Stream) -> None:
        """Keep ``stream`` for the client to resume, until written to its end."""
        if self._streams is None:
            self._streams = {}
        self._streams[stream.number] = stream
        if len(self._streams) > _STREAMS_KEPT:
            self._forget_oldest(self._streams)

    def resumed(self, number: int) -> Stream | None:
        """The stream ``number`` if the client may still resume it here."""
        return self._streams.get(number) if self._streams is not None else None

    def finished(self, stream: Stream) -> None:
        """The stream was written to its end: nothing is left to resume."""
        if self._streams is not None:
            self._streams.pop(stream.number, None)

    def attach(self, stream: Stream) -> None:
        """Write ``stream`` as a GET stream: what the server says unprompted goes on it now."""
        self._listeners.append(stream)
        while self._backlog:
            stream.put(self._backlog.popleft())

    def detach(self, stream: Stream, written: int, *, kept: bool) -> None:
        """A GET stream's connection is gone; unless ``kept``, what it did not write goes on."""
        self._listeners.remove(stream)
        if kept or self.closed:
            return
        for _, message in stream.after(written):
            self._send(message, None)

    def reroute(self, exchange: _Exchange, written: int) -> None:
        """The client dropped a request's stream for good: send what is still owed elsewhere."""
        exchange.attached = False
        for _, message in exchange.stream.after(written):
            if isinstance(message, jsonrpc.Request | jsonrpc.Notification):
                self._send(message, None)

    def _forget_oldest(self, streams: dict[int, Stream]) -> None:
        """Forget the oldest resumable stream that no connection is writing, if any."""
        idle = next((stream for stream in streams.values() if not stream.writing), None)
        if idle is None:
            return  # every one is in use: the bound is the requests in flight
        del streams[idle.number]
        idle.close()
        logger.info(
            "a stream nobody resumed is forgotten",
            extra={"session": self.session_id, "stream": idle.number},
        )

    def _track(self, request: jsonrpc.Request, task: asyncio.Task[jsonrpc.Response]) -> _Exchange:
        return _Exchange(request, task, stream=self.stream())

    def _closing(self) -> None:
        # Not the streams of requests in flight: their answers (cancelled) are coming.
        running = {exchange.stream for exchange in self._inflight.values()}
        for stream in {*self._listeners, *(self._streams or {}).values()} - running:
            stream.close()

    def _deliver(self, running: _Exchange, response: jsonrpc.Response) -> None:
        # Idle time counts from the last answer, not from the request.
        self.ticket.touch()
        running.response = response
        if running.attached:
            running.stream.put(response, final=True)
        else:
            logger.info(
                "answer dropped: the client closed the request's stream",
                extra={"session": self.session_id, "id": running.request.id},
            )

    def _send(self, message: jsonrpc.Message, related_to: jsonrpc.RequestId | None) -> None:
        if self.closed:
            logger.debug("message for a closed session dropped", extra={"session": self.session_id})
            return
        exchange = self._inflight.get(related_to) if related_to is not None else None
        if exchange is not None and exchange.attached:
            exchange.stream.put(message)
        elif self._listeners:
            self._listeners[-1].put(message)
        else:
            if self._backlog is None:
                self._backlog = deque(maxlen=self._options.backlog)
            if len(self._backlog) == self._backlog.maxlen and not self._backlog_overflowed:
                self._backlog_overflowed = True
                logger.warning(
                    "client opens no GET stream; dropping its oldest queued messages",
                    extra={"session": self.session_id},
                )
            self._backlog.append(message)


class StreamableHTTPEndpoint:
    """One MCP endpoint: routes HTTP requests to sessions made by a :class:`SessionFactory`."""

    def __init__(
        self,
        sessions: SessionFactory,
        options: EndpointOptions | None = None,
        stateless: StatelessEndpoint | None = None,
    ) -> None:
        self._factory = sessions
        self._options = options or EndpointOptions()
        self._table = table_of(self._options.sessions)
        self._sessions: dict[str, _ClientSession] = {}
        self._grace = Grace(_PRIMING_GRACE_SECONDS)
        # MCP 2026-07-28 and later, which have no sessions (see hub_proxy.transport.stateless).
        self._stateless = stateless

    def mount(self, app: web.Application, path: str) -> None:
        """Serve the endpoint at ``path`` and close its sessions when ``app`` shuts down.

        Closing on shutdown matters: open SSE streams would otherwise hold
        aiohttp's graceful shutdown until its timeout.
        """
        app.router.add_route("*", path, self.handle)
        app.on_shutdown.append(self._on_shutdown)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        return await dispatch(
            request,
            self._options.allowed_origins,
            {"GET": self._get, "POST": self._post, "DELETE": self._delete},
            advice="use POST, GET or DELETE",
        )

    async def close(self) -> None:
        """Close every session, as on shutdown."""
        sessions, self._sessions = list(self._sessions.values()), {}
        if self._stateless is not None:
            self._stateless.close()
        for session in sessions:
            session.ticket.release()
        await asyncio.gather(
            *(session.close("the server is shutting down") for session in sessions)
        )

    async def _on_shutdown(self, _app: web.Application) -> None:
        await self.close()

    async def _post(self, request: web.Request) -> web.StreamResponse:
        accepted = _accepted_types(request)
        if not (_accepts(accepted, JSON) and _accepts(accepted, SSE)):
            raise RefusalError(406, f"Accept must list both {JSON} and {SSE}")
        message = await read_message(request, self._options.max_body_bytes)
        # Stateless revisions: the version header decides, before any session is looked up.
        if self._stateless is not None and self._stateless.claims(request):
            return await self._stateless.serve(request, message)
        request_id = message.id if isinstance(message, jsonrpc.Request) else None
        self._check_protocol_version(request, request_id)
        if isinstance(message, jsonrpc.Request) and message.method == "initialize":
            session = self._open_session(None, owner_of(request), request_id)
        else:
            session = self._session_of(request, request_id)
        session.used(request)
        if not isinstance(message, jsonrpc.Request):
            await session.receive(message)
            return web.Response(status=202)
        exchange = session.start(message)
        # Not initialize: its answer settles the version, and makes the session.
        resumable = message.method != "initialize" and session.resumable(request)
        try:
            return await self._respond(request, session, exchange, resumable)
        finally:
            # No client can use a session whose initialize failed or never got answered.
            if message.method == "initialize" and not isinstance(exchange.response, jsonrpc.Result):
                await self._close_session(session, "initialize failed")

    async def _get(self, request: web.Request) -> web.StreamResponse:
        if not _accepts(_accepted_types(request), SSE):
            raise RefusalError(406, f"Accept must list {SSE} to open the session's stream")
        self._check_protocol_version(request, None)
        session = self._session_of(request, None)
        session.used(request)
        resumable = session.resumable(request)
        last_event = request.headers.get(LAST_EVENT_ID_HEADER)
        if last_event is not None and resumable:
            return await self._resume(request, session, last_event)
        stream = session.stream()
        stream.listening = True
        if resumable:
            session.keep(stream)
        session.attach(stream)
        try:
            return await self._stream(request, session, stream, 0, resumable=resumable)
        finally:
            session.detach(stream, stream.written, kept=resumable)
            session.ticket.touch()

    async def _resume(
        self, request: web.Request, session: _ClientSession, last_event: str
    ) -> web.StreamResponse:
        """GET with ``Last-Event-ID``: the rest of that stream, and then what follows on it."""
        cursor = parse_event_id(last_event)
        stream = session.resumed(cursor[0]) if cursor is not None else None
        if cursor is None or stream is None:
            raise RefusalError(
                404,
                f"no stream to resume after event {last_event[:SESSION_ID_SHOWN]!r} here: it "
                "was written to its end, forgotten, or is held by another replica; send the "
                "request again, or GET without Last-Event-ID for a new stream",
            )
        since = min(cursor[1], stream.last)
        if stream.lost_after(since):
            logger.warning(
                "resumed stream lost messages beyond the replay bound",
                extra={"session": session.session_id, "stream": stream.number},
            )
        logger.info(
            "client resumed a stream",
            extra={"session": session.session_id, "stream": stream.number, "after": since},
        )
        if stream.listening:
            session.attach(stream)
        try:
            return await self._stream(request, session, stream, since, resumable=True)
        finally:
            if stream.listening:
                session.detach(stream, stream.written, kept=True)

    async def _stream(
        self,
        request: web.Request,
        session: _ClientSession,
        stream: Stream,
        since: int,
        *,
        resumable: bool,
    ) -> web.StreamResponse:
        """Write ``stream`` after ``since`` as this request's SSE response, until it ends.

        A resumable stream opens with a priming event; one written to its end
        is forgotten.  A client hanging up is logged, and the response is
        returned, not raised: it is no server error.
        """
        response = sse_response({SESSION_HEADER: session.session_id})
        retry = self._options.retry_milliseconds
        try:
            await response.prepare(request)
            await write(
                response,
                stream,
                since,
                ids=resumable,
                keepalive_seconds=self._options.keepalive_seconds,
                opening=priming(stream, since, retry) if resumable else b"",
            )
        except ConnectionResetError:
            which = "its GET stream" if stream.listening else "a request's stream"
            logger.info(
                f"client closed {which}" + (", which it may resume" if resumable else ""),
                extra={"session": session.session_id, "stream": stream.number},
            )
        if stream.done:
            session.finished(stream)
        return response

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        self._check_protocol_version(request, None)
        session = self._session_of(request, None)
        await self._close_session(session, "the client ended it")
        self._options.session_ids.ended(session.session_id)
        return web.Response(status=204)

    async def _respond(
        self,
        request: web.Request,
        session: _ClientSession,
        exchange: _Exchange,
        resumable: bool,
    ) -> web.StreamResponse:
        """Answer a POSTed request: an SSE stream, or JSON when that is all there is to say.

        A resumable session gets a stream at once, opened by its priming event,
        so that the client holds an event id before anything can be lost.
        Otherwise the answer is JSON if the response comes first.
        """
        stream = exchange.stream
        # A resumable stream waits a moment's grace for its first message: an
        # answer ready by then goes out in one write, as JSON, or with the
        # priming event to a client that prefers a stream.
        if resumable:
            await self._grace.first_message(stream)
        else:
            await stream.arrived()
        first = stream.first()
        if (
            isinstance(first, jsonrpc.Result | jsonrpc.Error)
            and stream.final
            and not (resumable and _prefers_sse(request))
        ):
            return self._json_answer(session, exchange, first)
        if resumable:
            session.keep(stream)
        answered = await self._stream(request, session, stream, 0, resumable=resumable)
        if not (resumable or stream.done):
            session.reroute(exchange, stream.written)
        return answered

    def _json_answer(
        self, session: _ClientSession, exchange: _Exchange, response: jsonrpc.Response
    ) -> web.Response:
        headers = {SESSION_HEADER: session.session_id}
        if exchange.request.method == "initialize":
            if isinstance(response, jsonrpc.Error):
                # A failed initialize opened no session the client could use.
                return json_response(response)
            version = response.result.get("protocolVersion")
            session.protocol_version = version if isinstance(version, str) else None
        return json_response(response, headers=headers)

    def _check_protocol_version(
        self, request: web.Request, request_id: jsonrpc.RequestId | None
    ) -> None:
        version = request.headers.get(PROTOCOL_VERSION_HEADER)
        if version is None or version in self._options.protocol_versions:
            return
        # Only now: whether the scope serves the stateless revisions takes a look at its servers.
        stateless = self._stateless.versions if self._stateless is not None else ()
        supported = (*self._options.protocol_versions, *stateless)
        if version not in supported:
            raise RefusalError(
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
        """The session a request names, held here or carried over; else a refusal.

        Someone else's session is refused exactly as an unknown one is: the
        answer must not tell a stranger holding an id that the session exists.
        """
        session_id = request.headers.get(SESSION_HEADER)
        if session_id is None:
            raise RefusalError(
                400,
                f"missing {SESSION_HEADER} header; send initialize first to open a session",
                request_id=request_id,
            )
        owner = owner_of(request)
        session = self._sessions.get(session_id)
        if session is not None:
            if session.owned_by(owner):
                return session
        elif self._options.session_ids.restore(session_id, owner):
            return self._open_session(session_id, owner, request_id)
        raise RefusalError(
            404,
            f"unknown or expired session {session_id[:SESSION_ID_SHOWN]!r}; "
            "send initialize to open a new one",
            request_id=request_id,
        )

    def _open_session(
        self, session_id: str | None, owner: str, request_id: jsonrpc.RequestId | None
    ) -> _ClientSession:
        """A new session (``session_id`` None) or one carried over; refused over a limit."""
        ticket = self._table.admit(owner, request_id=request_id)
        event = "session opened" if session_id is None else "session carried over"
        if session_id is None:
            session_id = self._options.session_ids.issue(owner)
        # Registered at once, so a concurrent request naming the same
        # carried-over id finds this session rather than making another.
        session = _ClientSession(session_id, owner, self._options, self._factory, ticket)
        self._sessions[session_id] = session
        ticket.watch(functools.partial(self._close_session, session), session.is_idle)
        logger.info(event, extra={"session": session_id, "owner": owner or None})
        return session

    async def _close_session(self, session: _ClientSession, reason: str) -> None:
        if self._sessions.pop(session.session_id, None) is not None:
            logger.info("session closed", extra={"session": session.session_id, "why": reason})
        session.ticket.release()
        await session.close(reason)


def _accepted_types(request: web.Request) -> frozenset[str]:
    return frozenset(
        part.split(";", 1)[0].strip().lower()
        for header in request.headers.getall("Accept", [])
        for part in header.split(",")
    )


def _prefers_sse(request: web.Request) -> bool:
    """Whether the client ranks SSE above JSON in ``Accept``.

    By quality first, then by order: HTTP gives equal qualities no order, but
    frameworks commonly take the first listed as the preferred one, and a
    client listing a stream first asks for one.
    """
    return _ranks_sse_first(",".join(request.headers.getall("Accept", [])))


# A client sends the same Accept every time, and there are few clients.
@functools.lru_cache(maxsize=64)
def _ranks_sse_first(accept: str) -> bool:
    ranks: dict[str, tuple[float, int]] = {}
    for position, part in enumerate(accept.split(",")):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        media = media.lower()
        if media in (JSON, SSE) and media not in ranks:
            ranks[media] = (_quality(parameters), -position)
    return SSE in ranks and (JSON not in ranks or ranks[SSE] > ranks[JSON])


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def _accepts(accepted: frozenset[str], media_type: str) -> bool:
    family = media_type.split("/", 1)[0]
    return bool({media_type, f"{family}/*", "*/*"} & accepted)
