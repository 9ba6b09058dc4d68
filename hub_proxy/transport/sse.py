"""The server side of MCP's legacy HTTP+SSE transport (protocol 2024-11-05), on aiohttp.

Clients that predate streamable HTTP -- and some still shipping -- speak the
transport MCP 2024-11-05 defined: the client GETs an SSE stream, whose first
event, ``endpoint``, carries the URL to POST its JSON-RPC messages to.  Every
POST is answered 202 with no body, and *everything* the server says, responses
included, travels on that one stream.  The hub serves these clients because
MCPHub did, and because a hub is where old clients meet new servers.

The application must not care which transport a client chose, so this one
offers exactly the interface of :mod:`hub_proxy.transport.streamable_http`
(:class:`~hub_proxy.transport.base.Session`, ``SessionFactory`` and ``Peer``,
implemented once in :class:`~hub_proxy.transport.base.SessionCore`).  What
differs is small:

* A session is opened by the GET, not by ``initialize``, and lives exactly as
  long as its stream: when the stream closes, the session closes, its running
  requests are cancelled, and a later POST naming it gets 404.  There is no
  idle expiry and no backlog, because there is no moment without a stream.
* ``related_to`` is accepted and ignored: there is only one stream to put a
  message on.
* The session belongs to the owner of its GET (see
  :data:`~hub_proxy.transport.base.OWNER`), and a POST by anyone else is
  refused exactly as one naming an unknown session.  Unlike a streamable
  session, a legacy one cannot move to another process: everything the server
  says travels on the stream, and the stream is held by the process that
  answered the GET.  So its ids are always random ones, valid only there, and
  behind several hub replicas a legacy client's POSTs must reach the replica
  holding its stream (client-IP affinity on the Service, say).
* Like a streamable one, it is entered in the endpoint's
  :class:`~hub_proxy.transport.sessions.Sessions` table: it counts against
  the session limits (a GET over one is refused before the stream starts),
  and its stream ends when its owner's credentials are revoked or the one
  it last used expires.  Events carry no ids: 2024-11-05 has no resumption.
* The POST URL is the stream's own path with the session in the query
  (``/sse/time`` -> ``/sse/time?session_id=...``).  A separate path such as
  ``/sse/messages`` would shadow a server or group named ``messages``; the
  stream's own path cannot collide with any name, and needs no routing of its
  own.  Clients follow the ``endpoint`` event, so none depends on the choice.

Refusals on the POST path follow the streamable transport's (shared in
:mod:`hub_proxy.transport.base`): 400 with -32700 for a body that is not JSON
and with -32600 for one that is not a JSON-RPC message or lacks the session
id, 403 for a foreign browser origin, 404 for an unknown session, 413 over the
body limit, 415 for a body that is not ``application/json`` -- each with a
JSON-RPC error body saying why.  Idle streams carry a comment line every
``keepalive_seconds``, so proxies keep them open and a vanished client is
noticed at the next write.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Final

from aiohttp import web

from hub_proxy.transport import jsonrpc
from hub_proxy.transport.base import (
    SESSION_ID_SHOWN,
    EndpointOptions,
    RefusalError,
    Running,
    SessionCore,
    SessionFactory,
    credential_expiry,
    dispatch,
    owner_of,
    pump,
    read_message,
    sse_response,
)
from hub_proxy.transport.session_ids import RandomSessionIds
from hub_proxy.transport.sessions import Ticket, table_of

SESSION_QUERY: Final = "session_id"
_SESSION_IDS: Final = RandomSessionIds()

logger = logging.getLogger(__name__)


class _StreamSession(SessionCore[Running]):
    """One legacy session: everything for the client goes on its one stream, in order."""

    def __init__(
        self, session_id: str, owner: str, factory: SessionFactory, ticket: Ticket
    ) -> None:
        self.ticket = ticket
        # ``None`` ends the stream.
        self.outbox: asyncio.Queue[jsonrpc.Message | None] = asyncio.Queue()
        super().__init__(session_id, owner, factory)

    def _track(self, request: jsonrpc.Request, task: asyncio.Task[jsonrpc.Response]) -> Running:
        return Running(request, task)

    def _send(self, message: jsonrpc.Message, related_to: jsonrpc.RequestId | None) -> None:
        if self.closed:
            logger.debug("message for a closed session dropped", extra={"session": self.session_id})
            return
        self.outbox.put_nowait(message)

    def _deliver(self, running: Running, response: jsonrpc.Response) -> None:
        self._send(response, None)

    def _closing(self) -> None:
        self.outbox.put_nowait(None)


class SSEEndpoint:
    """One legacy MCP endpoint: GET opens a session's stream, POST delivers its messages."""

    def __init__(self, sessions: SessionFactory, options: EndpointOptions | None = None) -> None:
        self._factory = sessions
        self._options = options or EndpointOptions()
        self._table = table_of(self._options.sessions)
        self._sessions: dict[str, _StreamSession] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        return await dispatch(
            request,
            self._options.allowed_origins,
            {"GET": self._stream, "POST": self._post},
            advice="GET the stream, POST messages",
        )

    async def close(self) -> None:
        """Close every session, which ends every stream, as on shutdown."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.ticket.release()
        await asyncio.gather(
            *(session.close("the server is shutting down") for session in sessions)
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        owner = owner_of(request)
        ticket = self._table.admit(owner)
        session = _StreamSession(_SESSION_IDS.issue(owner), owner, self._factory, ticket)
        self._sessions[session.session_id] = session
        # Never idle: it lives exactly as long as its stream.
        ticket.watch(functools.partial(self._close_session, session))
        ticket.expires_at(credential_expiry(request))
        logger.info(
            "legacy SSE session opened",
            extra={"session": session.session_id, "path": request.path, "owner": owner or None},
        )
        reason = "the server ended the stream"
        stream = sse_response()
        try:
            await stream.prepare(request)
            endpoint = f"{request.rel_url.raw_path}?{SESSION_QUERY}={session.session_id}"
            await stream.write(f"event: endpoint\ndata: {endpoint}\n\n".encode())
            await pump(stream, session.outbox, self._options.keepalive_seconds)
        except ConnectionResetError:
            # A write to a gone client fails; shutdown instead ends the loop above.
            # Returned, not raised: a client hanging up is no server error.
            reason = "the client closed its stream"
        except asyncio.CancelledError:
            # aiohttp cancels the handler when the connection drops, if told to.
            reason = "the client closed its stream"
            raise
        finally:
            await self._close_session(session, reason)
        return stream

    async def _post(self, request: web.Request) -> web.StreamResponse:
        message = await read_message(request, self._options.max_body_bytes)
        request_id = message.id if isinstance(message, jsonrpc.Request) else None
        session = self._session_of(request, request_id)
        session.ticket.expires_at(credential_expiry(request))
        if isinstance(message, jsonrpc.Request):
            session.start(message)
        else:
            await session.receive(message)
        return web.Response(status=202)

    def _session_of(
        self, request: web.Request, request_id: jsonrpc.RequestId | None
    ) -> _StreamSession:
        session_id = request.query.get(SESSION_QUERY)
        if session_id is None:
            raise RefusalError(
                400,
                f"missing {SESSION_QUERY} query parameter; GET the stream first and POST "
                "to the URL of its endpoint event",
                request_id=request_id,
            )
        session = self._sessions.get(session_id)
        # Someone else's session is refused as an unknown one: no confirmation it exists.
        if session is None or not session.owned_by(owner_of(request)):
            raise RefusalError(
                404,
                f"unknown or closed session {session_id[:SESSION_ID_SHOWN]!r}; "
                "GET the stream again to open a new one",
                request_id=request_id,
            )
        return session

    async def _close_session(self, session: _StreamSession, reason: str) -> None:
        if self._sessions.pop(session.session_id, None) is not None:
            logger.info(
                "legacy SSE session closed", extra={"session": session.session_id, "why": reason}
            )
        session.ticket.release()
        await session.close(reason)
