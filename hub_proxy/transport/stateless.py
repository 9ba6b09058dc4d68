"""MCP 2026-07-28 on streamable HTTP: every request on its own, with no session at all.

Up to 2025-11-25 an MCP client opens a session with ``initialize`` and the
server keeps it (:mod:`hub_proxy.transport.streamable_http`).  MCP 2026-07-28
removes the session.  This module serves that revision to the same
application, and rests on these facts about it, read from the MCP Python SDK
2.3.0 that speaks it (``mcp/server/_streamable_http_modern.py``,
``mcp/server/runner.py``, ``mcp/shared/inbound.py``,
``mcp/server/subscriptions.py``, ``mcp/client/_probe.py``,
``mcp/client/session.py``, ``mcp_types.methods``):

* **Era by header.**  A POST whose ``MCP-Protocol-Version`` names 2026-07-28
  is one self-contained exchange: one JSON-RPC request in, its response out.
  There is no ``initialize``, no ``Mcp-Session-Id`` (the SDK's server never
  sets one), no GET stream and no DELETE.
* **Negotiation is a probe.**  A client in the SDK's default ``mode="auto"``
  first POSTs ``server/discover`` at the newest revision it knows.  A
  ``DiscoverResult`` whose ``supportedVersions`` names it settles the era; an
  error -32022 whose ``data.supported`` names a handshake version, or any
  other error, sends the client to ``initialize`` instead -- which is how a
  server that does not speak 2026-07-28 keeps its clients.
* **An envelope in every request.**  ``params._meta`` carries
  ``io.modelcontextprotocol/protocolVersion`` and ``.../clientCapabilities``
  (required), ``.../clientInfo`` (optional) and ``.../logLevel`` (the opt-in
  to log messages, replacing ``logging/setLevel``).  The version header must
  equal the envelope's version, ``Mcp-Method`` the body's method, and
  ``Mcp-Name`` the tool or prompt name or resource URI of ``tools/call``,
  ``prompts/get`` and ``resources/read``; a mismatch is -32020, HTTP 400.
  The SDK's own ladder (``classify_inbound_request``) checks all of it here.
* **Fewer methods.**  A client may call ``server/discover``,
  ``subscriptions/listen``, the three lists, ``resources/templates/list``,
  ``tools/call``, ``prompts/get``, ``resources/read`` and
  ``completion/complete``; ``initialize``, ``ping``, ``logging/setLevel`` and
  ``resources/(un)subscribe`` are gone (-32601, HTTP 404).
* **Results say what they are.**  Every result carries ``resultType``
  (``"complete"``, or ``"input_required"`` below); the cacheable ones
  (``server/discover``, the lists, ``resources/read``) carry ``ttlMs`` and
  ``cacheScope``; servers should stamp ``_meta["io.modelcontextprotocol/
  serverInfo"]``.  The SDK client validates each result against the
  revision's schema, so a missing field fails the call, while fields it does
  not know are ignored.
* **The server asks the client nothing.**  Sampling, elicitation and roots
  became multi-round-trip: ``tools/call``, ``prompts/get`` or
  ``resources/read`` answers ``resultType: "input_required"`` with the
  questions and an opaque ``requestState``, and the client calls again with
  its answers and that state.  The SDK's server has no back channel at this
  revision at all.
* **Notifications ride the request's own stream**, as server-sent events
  before the response: progress for the request's ``_meta.progressToken``,
  and log messages only if the request opted in, at or above its level.  A
  client cancels by closing that stream; notifications it POSTs are accepted
  with 202 and dropped.
* **Changes are subscribed to.**  ``list_changed`` and ``resources/updated``
  travel only on a ``subscriptions/listen`` request's stream.  Its first
  event is ``notifications/subscriptions/acknowledged`` with the part of the
  client's filter the server honours, every event carries
  ``_meta["io.modelcontextprotocol/subscriptionId"]`` (the listen request's
  id), and only a graceful end (server shutdown) sends the listen's result;
  there is no replay.  The ``listChanged`` and ``subscribe`` capabilities
  therefore mean "deliverable on listen" at this revision.
* **JSON unless something comes first.**  A response with nothing before it
  is ``application/json``, with HTTP 400 for -32700, -32600, -32602, -32020,
  -32021 and -32022 and 404 for -32601; otherwise the answer is an SSE stream.

The application must not have to know any of this.  It already implements
the handshake era's :class:`~hub_proxy.transport.Session`, and one 2026
request maps onto it exactly: **a session of one request**.  For each
request the endpoint makes a session through the same
:class:`~hub_proxy.transport.SessionFactory` the session-ful transports use,
with a :class:`~hub_proxy.transport.Peer` that is this one exchange, sends it
``initialize`` built from the envelope, then the request with the envelope
taken out of ``_meta`` (on a handshake session the SDK's own servers refuse a
request that carries it, and the hub's upstreams are handshake sessions), and
closes the session when the answer is out.  So what ``tools/list`` or
``tools/call`` answers has one code path whatever the revision, and whatever
the application decides per session applies per request -- access control
included: the request's task runs in the HTTP request's context, where the
hub's authentication put the caller.  Nothing is kept between requests: a
stateless request depends on no stored session, so any replica can serve it
and no credential outlives its own HTTP request -- nor the credential's own
validity: each request is entered in the endpoint's session table
(:mod:`hub_proxy.transport.sessions`), which ends it when its owner's key is
revoked or its token expires, and a ``subscriptions/listen``, which stays
open, counts against the session limits.

The translations are few.  ``server/discover`` is the application's
``initialize`` answer re-shaped: its capabilities and instructions, its
``serverInfo`` as the stamp.  Results gain ``resultType: "complete"``, the
stamp, and for the cacheable methods ``ttlMs: 0`` and ``cacheScope:
"private"``: behind one endpoint the lists change whenever any upstream or
the configuration does, a client that does not listen must not serve them
stale, and what a caller may see will depend on who it is.

``subscriptions/listen`` holds its session open until the client closes the
stream or the endpoint closes.  The application already tells a session's
peer about changes it may see (``notifications/{kind}/list_changed``, and
``resources/updated`` for what it subscribed upstream), so the listen's peer
passes on the kinds it honoured, stamped: the kinds the application's
``initialize`` capabilities say change, and the resource URIs for which the
application accepted a ``resources/subscribe``.

What is not bridged, and why:

* ``input_required``.  An upstream of the hub speaks the handshake era and
  asks mid-call (``sampling/createMessage`` and the like) on its session.
  Turning that into ``input_required`` means answering the client while the
  upstream call stays open, parked in this process under a ``requestState``
  until the client comes back -- maybe to another replica, and bound to a
  principal the transport does not know.  That is a session again.  So a
  client must not lose the capability by choosing this revision: a
  ``server/discover`` whose envelope declares ``sampling``, ``elicitation``
  or ``roots`` -- a client that can answer such questions -- is refused with
  -32022 naming only the handshake versions, and an auto-mode client (the
  SDK's default) falls back to ``initialize`` and a 2025-11-25 session, where
  those requests reach it; exactly what it does with a server that does not
  speak this revision at all.  A client declaring none of them stays here.
  One that skips discovery and sends such requests anyway is served, and a
  peer's :meth:`~_Exchange.request` is refused at once, so that the upstream
  gets an error it can handle.
* ``Mcp-Param-*`` headers (``x-mcp-header`` tool arguments mirrored into
  headers for intermediaries) are not checked against the tool's schema:
  the hub routes on the body.
* An application can decline the revision (:class:`Declines`), for instance
  while it serves something that keeps state per client.  The endpoint then
  does not list 2026-07-28 as supported, and an auto-mode client falls back
  to a session, which is what such state needs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol, get_args

from aiohttp import web
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    MCP_PROTOCOL_VERSION_HEADER,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
)
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    HEADER_MISMATCH,
    INVALID_PARAMS,
    LOG_LEVEL_META_KEY,
    METHOD_NOT_FOUND,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
    LoggingLevel,
)
from mcp_types.methods import CACHEABLE_METHODS, CLIENT_REQUESTS, validate_client_request
from mcp_types.version import LATEST_HANDSHAKE_VERSION, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from hub_proxy.transport import jsonrpc
from hub_proxy.transport.base import (
    CLIENT_GONE,
    KEEPALIVE,
    EndpointOptions,
    RefusalError,
    Session,
    SessionFactory,
    credential_expiry,
    event,
    event_stream,
    json_response,
    owner_of,
)
from hub_proxy.transport.sessions import Ticket, table_of

_LISTEN: Final = "subscriptions/listen"
# Client capabilities that mean "ask me": upstreams ask them mid-call, which
# this revision carries only as input_required (not bridged, see above).
_ANSWERED_BY_CLIENTS: Final = ("elicitation", "roots", "sampling")
# The envelope's keys: the application gets the request as the handshake era has it.
_ENVELOPE_KEYS: Final = frozenset(
    {
        PROTOCOL_VERSION_META_KEY,
        CLIENT_INFO_META_KEY,
        CLIENT_CAPABILITIES_META_KEY,
        LOG_LEVEL_META_KEY,
    }
)
_LOG_LEVELS: Final[tuple[str, ...]] = get_args(LoggingLevel)  # least severe first
# What a listen may subscribe to, as capability names.
_KINDS: Final = ("tools", "prompts", "resources")
_OK: Final = 200
# aiohttp tells a handler nothing when its client goes away, short of
# cancelling every handler of the server mid-await (handler_cancellation), so
# an exchange looks: a closed connection has lost its transport.
_DISCONNECT_POLL_SECONDS: Final = 0.5

logger = logging.getLogger(__name__)


class Declines(Protocol):
    """Why the application cannot serve stateless requests right now; ``None`` when it can."""

    def __call__(self) -> str | None: ...


@dataclass(frozen=True)
class _Envelope:
    """The per-request fields of 2026-07-28, which stand in for ``initialize``."""

    version: str
    client_info: Any
    client_capabilities: Any
    log_level: Any

    def initialize(self, request_id: jsonrpc.RequestId) -> jsonrpc.Request:
        """The handshake this request's one-request session opens with."""
        info = self.client_info if isinstance(self.client_info, Mapping) else {}
        capabilities = self.client_capabilities
        params = {
            "protocolVersion": LATEST_HANDSHAKE_VERSION,
            "capabilities": capabilities if isinstance(capabilities, Mapping) else {},
            "clientInfo": {"name": "unnamed", "version": "0", **info},
        }
        return jsonrpc.Request(request_id, "initialize", params)

    def logs(self, params: Mapping[str, Any] | None) -> bool:
        """Whether a log message goes out: only at or above the level the request opted in to."""
        level = (params or {}).get("level")
        if self.log_level not in _LOG_LEVELS or level not in _LOG_LEVELS:
            return False
        return _LOG_LEVELS.index(level) >= _LOG_LEVELS.index(self.log_level)


@dataclass(frozen=True)
class _Subscription:
    """What one listen stream honours: list changes of ``kinds``, updates of ``uris``."""

    id: jsonrpc.RequestId
    kinds: frozenset[str]
    uris: frozenset[str]

    @property
    def meta(self) -> Mapping[str, Any]:
        return {SUBSCRIPTION_ID_META_KEY: self.id}

    def acknowledgement(self) -> jsonrpc.Notification:
        honoured: dict[str, Any] = {f"{kind}ListChanged": True for kind in sorted(self.kinds)}
        if self.uris:
            honoured["resourceSubscriptions"] = sorted(self.uris)
        params = {"notifications": honoured, "_meta": self.meta}
        return jsonrpc.Notification("notifications/subscriptions/acknowledged", params)

    def stamped(self, method: str, params: Mapping[str, Any] | None) -> jsonrpc.Notification | None:
        """The change as this stream sends it, or ``None`` if it was not subscribed to."""
        params = params or {}
        wanted = any(method == f"notifications/{kind}/list_changed" for kind in self.kinds) or (
            method == "notifications/resources/updated" and params.get("uri") in self.uris
        )
        if not wanted:
            return None
        meta = params.get("_meta")
        meta = {**(meta if isinstance(meta, Mapping) else {}), **self.meta}
        return jsonrpc.Notification(method, {**params, "_meta": meta})


class _Exchange:
    """One request (``call``) and its stream; meanwhile, the application's peer."""

    def __init__(self, request: jsonrpc.Request, envelope: _Envelope) -> None:
        self.call = request
        self.envelope = envelope
        self.outbox: asyncio.Queue[jsonrpc.Message] = asyncio.Queue()
        self.cancel_reason = "the client closed the request's stream"
        # Unique across endpoints: upstream multiplexers are shared by every scope.
        self._session_id = f"stateless-{secrets.token_urlsafe(12)}"
        self._subscription: _Subscription | None = None

    @property
    def session_id(self) -> str:
        return self._session_id

    def notify(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> None:
        if related_to is None:
            # Said on the application's own initiative: only a listen takes that.
            subscription = self._subscription
            admitted = subscription.stamped(method, params) if subscription is not None else None
        elif related_to == self.call.id and (
            method == "notifications/progress"
            or (method == "notifications/message" and self.envelope.logs(params))
        ):
            admitted = jsonrpc.Notification(method, params)
        else:
            admitted = None
        if admitted is not None:
            self.outbox.put_nowait(admitted)

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> jsonrpc.Response:
        # The asker puts its own id on the answer (the multiplexer does).
        return jsonrpc.Error(
            0,
            METHOD_NOT_FOUND,
            f"the client speaks MCP {self.envelope.version}, which has no requests from the "
            f"server during a call; {method} cannot reach it",
        )

    def listen(self, subscription: _Subscription) -> None:
        """From now on, the changes ``subscription`` honours go out; the acknowledgement first."""
        self._subscription = subscription
        self.outbox.put_nowait(subscription.acknowledgement())


class StatelessEndpoint:
    """Serves MCP 2026-07-28 requests for the application a :class:`SessionFactory` makes.

    Not an endpoint of its own: :class:`~hub_proxy.transport.StreamableHTTPEndpoint`
    hands it the POSTs it :meth:`claims`, after its own checks (origin,
    ``Accept``, body), so both revisions share one URL.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        options: EndpointOptions | None = None,
        *,
        declines: Declines | None = None,
    ) -> None:
        self._factory = sessions
        self._options = options or EndpointOptions()
        self._table = table_of(self._options.sessions)
        self._declines = declines
        self._running: dict[_Exchange, asyncio.Task[jsonrpc.Response]] = {}
        self._closed = asyncio.Event()

    @property
    def versions(self) -> tuple[str, ...]:
        """The stateless revisions served right now; empty while the application declines."""
        return () if self._declined() else MODERN_PROTOCOL_VERSIONS

    def claims(self, request: web.Request) -> bool:
        """Whether the POST is this endpoint's to serve: its version header says so."""
        if request.headers.get(MCP_PROTOCOL_VERSION_HEADER) not in MODERN_PROTOCOL_VERSIONS:
            return False
        why = self._declined()
        if why is not None:
            logger.info("stateless request refused", extra={"why": why})
            return False
        return True

    async def serve(self, request: web.Request, message: jsonrpc.Message) -> web.StreamResponse:
        """Answer one claimed POST; a refusal is raised as :class:`RefusalError`."""
        if isinstance(message, jsonrpc.Notification):
            # This revision has no notifications from the client over HTTP
            # (closing a stream is the cancellation); accepted, as the SDK does.
            return web.Response(status=202)
        if not isinstance(message, jsonrpc.Request):
            raise RefusalError(
                400,
                f"MCP {request.headers[MCP_PROTOCOL_VERSION_HEADER]} clients send no responses: "
                "the server asks them nothing",
                request_id=message.id,
            )
        envelope = _envelope_of(request, message)
        if message.method == "server/discover":
            self._check_asks_nothing(message, envelope)
        # In the table, so that revoked or expired credentials end the stream
        # too; a listen, which stays open, counts as a session.
        ticket = self._table.admit(
            owner_of(request), counted=message.method == _LISTEN, request_id=message.id
        )
        exchange = _Exchange(message, envelope)
        # Made here, the task runs in this HTTP request's context: whatever the
        # application's middleware put there (the hub's caller) is the session's.
        task = asyncio.create_task(self._answer(exchange))
        self._running[exchange] = task
        # A callback, not an await: the answer is due even if the handler is
        # cancelled before its first step.
        task.add_done_callback(functools.partial(self._finish, exchange, ticket))
        ticket.watch(functools.partial(_end, exchange, task))
        ticket.expires_at(credential_expiry(request))
        return await self._respond(request, exchange, task)

    def close(self) -> None:
        """End every exchange, as on shutdown: listens gracefully, other requests cancelled."""
        self._closed.set()
        for exchange, task in self._running.items():
            if exchange.call.method != _LISTEN:
                exchange.cancel_reason = "the server is shutting down"
                task.cancel()

    def _check_asks_nothing(self, message: jsonrpc.Request, envelope: _Envelope) -> None:
        """Refuse the revision to a client that can answer questions: it is better off in a session.

        -32022 naming only the handshake versions is what sends an auto-mode
        client to ``initialize`` (see the module's docstring).
        """
        capabilities = envelope.client_capabilities
        answers = sorted(
            name
            for name in _ANSWERED_BY_CLIENTS
            if isinstance(capabilities, Mapping) and capabilities.get(name) is not None
        )
        if not answers:
            return
        supported = list(self._options.protocol_versions)
        raise RefusalError(
            400,
            f"this server passes {', '.join(answers)} requests to a client only within a "
            f"session, which MCP {envelope.version} does not have; initialize a session "
            f"({supported[-1]}) instead",
            code=UNSUPPORTED_PROTOCOL_VERSION,
            request_id=message.id,
            data={"supported": supported, "requested": envelope.version},
        )

    def _declined(self) -> str | None:
        return self._declines() if self._declines is not None else None

    async def _answer(self, exchange: _Exchange) -> jsonrpc.Response:
        request = exchange.call
        session = self._factory(exchange)
        try:
            opening = await session.handle_request(exchange.envelope.initialize(request.id))
            if isinstance(opening, jsonrpc.Error):
                return opening
            match request.method:
                case "server/discover":
                    answer: jsonrpc.Response = request.respond(self._discovered(opening.result))
                case "subscriptions/listen":
                    answer = await self._listen(session, exchange, opening.result)
                case _:
                    answer = await session.handle_request(_without_envelope(request))
            return _completed(request.method, answer, opening.result.get("serverInfo"))
        finally:
            await session.close()

    def _discovered(self, opening: Mapping[str, Any]) -> Mapping[str, Any]:
        """``server/discover``: the application's ``initialize`` answer, as this revision has it."""
        capabilities = opening.get("capabilities") or {}
        result = {"supportedVersions": list(self.versions), "capabilities": capabilities}
        if "instructions" in opening:
            result["instructions"] = opening["instructions"]
        return result

    async def _listen(
        self, session: Session, exchange: _Exchange, opening: Mapping[str, Any]
    ) -> jsonrpc.Response:
        """Hold the stream open and pass on the changes subscribed to, until the endpoint closes."""
        request = exchange.call
        wanted = (request.params or {})["notifications"]
        capabilities = opening.get("capabilities") or {}
        kinds = frozenset(
            kind
            for kind in _KINDS
            if wanted.get(f"{kind}ListChanged") is True
            and (capabilities.get(kind) or {}).get("listChanged") is True
        )
        uris: frozenset[str] = frozenset()
        if (capabilities.get("resources") or {}).get("subscribe") is True:
            uris = await _subscribed(session, request, wanted.get("resourceSubscriptions") or ())
        subscription = _Subscription(request.id, kinds, uris)
        exchange.listen(subscription)
        await self._closed.wait()
        return request.respond({"_meta": subscription.meta})

    def _finish(
        self, exchange: _Exchange, ticket: Ticket, task: asyncio.Task[jsonrpc.Response]
    ) -> None:
        del self._running[exchange]
        ticket.release()
        request = exchange.call
        if task.cancelled():
            response: jsonrpc.Response = request.fail(
                jsonrpc.REQUEST_CANCELLED, exchange.cancel_reason
            )
        elif (error := task.exception()) is not None:
            logger.error(
                "stateless request failed", extra={"method": request.method}, exc_info=error
            )
            response = request.fail(
                jsonrpc.INTERNAL_ERROR, f"internal error while handling {request.method}"
            )
        else:
            response = replace(task.result(), id=request.id)
        exchange.outbox.put_nowait(response)

    async def _respond(
        self, request: web.Request, exchange: _Exchange, task: asyncio.Task[jsonrpc.Response]
    ) -> web.StreamResponse:
        """JSON if the response is all there is to say; else SSE, kept alive, until the response."""
        keepalive = self._options.keepalive_seconds
        gone = asyncio.create_task(_disconnected(request))
        stream: web.StreamResponse | None = None
        try:
            message = await _next(exchange.outbox, gone, keepalive)
            if isinstance(message, jsonrpc.Result | jsonrpc.Error):
                return json_response(message, status=_status_of(message))
            # Something related came first, or the answer is slow in coming and
            # proxies must see bytes: from here on it is a stream.
            stream = await event_stream(request)
            while True:
                await stream.write(KEEPALIVE if message is None else event(message))
                if isinstance(message, jsonrpc.Result | jsonrpc.Error):
                    return stream
                message = await _next(exchange.outbox, gone, keepalive)
        except ConnectionResetError:
            # The client closed the stream: at this revision, that is how it cancels.
            task.cancel()
            logger.info(
                "client closed a stateless request's stream", extra={"id": exchange.call.id}
            )
            # Returned, not raised: aiohttp finishes a response to a client that
            # is gone quietly, and logs an exception as a server error.
            return stream if stream is not None else web.Response(status=CLIENT_GONE)
        finally:
            gone.cancel()


async def _end(exchange: _Exchange, task: asyncio.Task[jsonrpc.Response], reason: str) -> None:
    """End an exchange from outside, as the table does when its credentials are no longer good."""
    exchange.cancel_reason = f"the request was ended: {reason}"
    task.cancel()


def _envelope_of(request: web.Request, message: jsonrpc.Request) -> _Envelope:
    """The request's envelope once the SDK's checks pass, else the refusal they call for."""
    duplicated = find_duplicated_routing_header(request.headers.items())
    if duplicated is not None:
        raise _refusal(message, HEADER_MISMATCH, f"the {duplicated} header appears more than once")
    headers = {name.lower(): value for name, value in request.headers.items()}
    verdict = classify_inbound_request(jsonrpc.to_json(message), headers=headers)
    if isinstance(verdict, InboundLadderRejection):
        raise _refusal(message, verdict.code, verdict.message, verdict.data)
    version = verdict.protocol_version
    if (message.method, version) not in CLIENT_REQUESTS:
        missing = f"method not found in MCP {version}: {message.method}"
        raise _refusal(message, METHOD_NOT_FOUND, missing)
    try:
        validate_client_request(message.method, version, message.params)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        invalid = f"invalid {message.method}: {where}: {first['msg']}"
        raise _refusal(message, INVALID_PARAMS, invalid) from exc
    meta = (message.params or {})["_meta"]
    return _Envelope(
        version, verdict.client_info, verdict.client_capabilities, meta.get(LOG_LEVEL_META_KEY)
    )


def _refusal(message: jsonrpc.Request, code: int, text: str, data: Any = None) -> RefusalError:
    status = ERROR_CODE_HTTP_STATUS.get(code, 400)
    return RefusalError(status, text, code=code, request_id=message.id, data=data)


def _status_of(response: jsonrpc.Response) -> int:
    """A JSON answer's HTTP status: the one the revision assigns to its error code, if any."""
    if isinstance(response, jsonrpc.Error):
        return ERROR_CODE_HTTP_STATUS.get(response.code, _OK)
    return _OK


def _without_envelope(request: jsonrpc.Request) -> jsonrpc.Request:
    params = dict(request.params or {})
    meta = {key: value for key, value in params.pop("_meta").items() if key not in _ENVELOPE_KEYS}
    if meta:
        params["_meta"] = meta
    return replace(request, params=params or None)


def _completed(method: str, answer: jsonrpc.Response, server_info: Any) -> jsonrpc.Response:
    """A result as 2026-07-28 requires it; errors are what they were."""
    if isinstance(answer, jsonrpc.Error):
        return answer
    result = {**answer.result, "resultType": "complete"}
    if method in CACHEABLE_METHODS:
        result.update(ttlMs=0, cacheScope="private")
    meta = result.get("_meta")
    if server_info is not None and (meta is None or isinstance(meta, Mapping)):
        result["_meta"] = {**(meta or {}), SERVER_INFO_META_KEY: server_info}
    return replace(answer, result=result)


async def _subscribed(
    session: Session, listen: jsonrpc.Request, uris: Iterable[str]
) -> frozenset[str]:
    """The URIs the application accepted ``resources/subscribe`` for, on the listen's session."""
    accepted = set()
    for number, uri in enumerate(uris):
        subscribe = jsonrpc.Request(
            f"{listen.id}-subscribe-{number}", "resources/subscribe", {"uri": uri}
        )
        if isinstance(await session.handle_request(subscribe), jsonrpc.Result):
            accepted.add(uri)
    return frozenset(accepted)


async def _next(
    outbox: asyncio.Queue[jsonrpc.Message], gone: asyncio.Task[None], wait: float
) -> jsonrpc.Message | None:
    """The next message; ``None`` after ``wait`` seconds of silence; a reset if the client left."""
    getting = asyncio.create_task(outbox.get())
    await asyncio.wait({getting, gone}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
    if getting.done():
        return getting.result()
    getting.cancel()
    if gone.done():
        raise ConnectionResetError("the client closed the request's stream")
    return None


async def _disconnected(request: web.Request) -> None:
    """Return once the client has closed the connection the request came on."""
    while (transport := request.transport) is not None and not transport.is_closing():  # noqa: ASYNC110
        await asyncio.sleep(_DISCONNECT_POLL_SECONDS)
