"""Who gets what: the messages between many sessions and the one upstream session they share.

An upstream is a single MCP session by construction -- a stdio server reads
one stream and believes one client is on the other end -- while the hub and
the bridge serve many sessions with it.  So the router plays the one client
the server sees and keeps every session's view consistent.  It sees
messages only; that the server has lifetimes is the
:mod:`~hub_proxy.upstream.supervisor`'s business, and the router reaches the
server through the supervisor's :class:`Wire`.

* **Ids are the router's.**  Two clients both call their first request ``1``.
  Every request forwarded to the server gets a fresh integer id that the
  router maps back to the session and the id it came with; the same integer
  doubles as the request's progress token, so a ``notifications/progress``
  finds its way to the one session that asked for it, related to the one
  request it belongs to.  Cancelling is the transport's business: it cancels
  the forwarding task, and the router tells the server under the server's id.

* **Server-to-client requests go where they are most likely expected.**  A
  stdio server does not say which of "its" requests a sampling or roots
  request belongs to.  The router sends it to the session whose request was
  forwarded last and is still in flight -- usually the tool call that needs
  the answer -- else to the newest session, and maps the ids both ways.  With
  concurrent calls from several sessions this is a heuristic; the
  alternative, a session per server process, is what ``perClient`` session
  mode is for.

* **Everything else is broadcast.**  ``list_changed``, resource updates and
  log messages concern every session.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from hub_proxy.transport import Peer, SessionClosedError, jsonrpc
from hub_proxy.upstream.base import SERVER_UNAVAILABLE, UnreadableError

_LIST_CHANGED_KINDS: Final = ("tools", "prompts", "resources")

logger = logging.getLogger(__name__)


class Wire(Protocol):
    """The router's way to the server, kept by the supervisor."""

    @property
    def initialize_result(self) -> Mapping[str, Any] | None:
        """The server's answer to the handshake, once there was one."""

    def send(self, message: jsonrpc.Message) -> None:
        """Send a message now; dropped (and logged) while no server runs."""

    async def drain(self) -> None:
        """Wait while the server is slow to read."""

    async def ready(self) -> str | None:
        """None once the server can take a request; else why it cannot."""


@dataclass(frozen=True)
class _Owner:
    """Who is waiting for a forwarded request: a session, under its own id and token."""

    session: RoutedSession
    request_id: jsonrpc.RequestId
    progress_token: object


@dataclass(frozen=True)
class _Pending:
    """A request the server owes an answer to; no owner for the supervisor's own requests."""

    answer: asyncio.Future[jsonrpc.Response]
    owner: _Owner | None


class Router:
    """Shares one upstream session among many sessions, message by message."""

    def __init__(self, wire: Wire) -> None:
        self._wire = wire
        self._ids = itertools.count(1)
        # Keyed by the router's own integer ids; looked up with whatever the server sends.
        self._pending: dict[jsonrpc.RequestId, _Pending] = {}
        self._from_server: dict[jsonrpc.RequestId, asyncio.Task[None]] = {}
        self._sessions: dict[str, RoutedSession] = {}

    def open_session(self, peer: Peer) -> RoutedSession:
        """A :class:`~hub_proxy.transport.Session` for one client, answering through ``peer``."""
        session = RoutedSession(self, peer)
        self._sessions[peer.session_id] = session
        return session

    # -- the supervisor's side --------------------------------------------------------------

    async def ask(self, method: str, params: Mapping[str, Any] | None) -> jsonrpc.Response:
        return await self._call(next(self._ids), method, params, None)

    def receive(self, message: jsonrpc.Message) -> None:
        match message:
            case jsonrpc.Result() | jsonrpc.Error():
                self._settle(message)
            case jsonrpc.Request():
                self._relay_request(message)
            case jsonrpc.Notification(method="notifications/progress"):
                self._relay_progress(message)
            case jsonrpc.Notification(method="notifications/cancelled"):
                self._cancel_relay(message)
            case jsonrpc.Notification():
                self._broadcast(message)

    def unreadable(self, error: UnreadableError) -> None:
        logger.warning(
            "server wrote something that is not a JSON-RPC message",
            extra={"why": error.error.reason, "line": error.text[:200].decode(errors="replace")},
        )
        request_id = error.error.request_id
        entry = self._pending.pop(request_id, None) if request_id is not None else None
        if entry is not None and not entry.answer.done():
            why = f"the MCP server answered with an invalid message: {error.error.reason}"
            entry.answer.set_result(jsonrpc.Error(request_id, jsonrpc.INTERNAL_ERROR, why))

    def abandon(self, why: str) -> None:
        """Answer everything the dead server owed, and drop what it was asking."""
        pending, self._pending = self._pending, {}
        for child_id, entry in pending.items():
            if not entry.answer.done():
                entry.answer.set_result(jsonrpc.Error(child_id, SERVER_UNAVAILABLE, why))
        for task in list(self._from_server.values()):
            task.cancel()

    def restarted(self, capabilities: Mapping[str, Any]) -> None:
        for kind in _LIST_CHANGED_KINDS:
            if kind == "tools" or kind in capabilities:
                self._broadcast(jsonrpc.Notification(f"notifications/{kind}/list_changed"))

    # -- client to server -------------------------------------------------------------------

    async def answer_initialize(self, request: jsonrpc.Request) -> jsonrpc.Response:
        why = await self._wire.ready()
        result = self._wire.initialize_result
        if why is not None or result is None:
            return self._unavailable(request, why or "not initialized")
        client = (request.params or {}).get("clientInfo")
        logger.info("client initialized", extra={"client": client})
        return request.respond(result)

    async def forward(self, session: RoutedSession, request: jsonrpc.Request) -> jsonrpc.Response:
        why = await self._wire.ready()
        if why is not None:
            return self._unavailable(request, why)
        child_id = next(self._ids)
        params, token = _swap_progress_token(request.params, child_id)
        try:
            answer = await self._call(
                child_id, request.method, params, _Owner(session, request.id, token)
            )
        except asyncio.CancelledError:
            cancelled = {"requestId": child_id, "reason": "the client cancelled the request"}
            self._wire.send(jsonrpc.Notification("notifications/cancelled", cancelled))
            raise
        return replace(answer, id=request.id)

    def notify_server(self, notification: jsonrpc.Notification) -> None:
        # The supervisor did the handshake; a client's own "initialized" would be a second one.
        if notification.method != "notifications/initialized":
            self._wire.send(notification)

    def forget(self, session: RoutedSession) -> None:
        self._sessions.pop(session.peer.session_id, None)

    async def _call(
        self,
        child_id: int,
        method: str,
        params: Mapping[str, Any] | None,
        owner: _Owner | None,
    ) -> jsonrpc.Response:
        answer: asyncio.Future[jsonrpc.Response] = asyncio.get_running_loop().create_future()
        self._pending[child_id] = _Pending(answer, owner)
        try:
            self._wire.send(jsonrpc.Request(child_id, method, params))
            await self._wire.drain()
            return await answer
        finally:
            self._pending.pop(child_id, None)

    @staticmethod
    def _unavailable(request: jsonrpc.Request, why: str) -> jsonrpc.Error:
        return request.fail(SERVER_UNAVAILABLE, f"the MCP server is not ready: {why}")

    # -- server to clients ------------------------------------------------------------------

    def _settle(self, response: jsonrpc.Response) -> None:
        entry = self._pending.pop(response.id, None) if response.id is not None else None
        if entry is None:
            logger.info("server answered an unknown request", extra={"id": response.id})
        elif not entry.answer.done():
            entry.answer.set_result(response)

    def _relay_progress(self, notification: jsonrpc.Notification) -> None:
        params = notification.params or {}
        token = params.get("progressToken")
        entry = self._pending.get(token) if jsonrpc.is_request_id(token) else None
        owner = entry.owner if entry is not None else None
        if owner is None or owner.progress_token is None:
            logger.debug("progress for no request in flight dropped", extra={"token": token})
            return
        owner.session.peer.notify(
            notification.method,
            {**params, "progressToken": owner.progress_token},
            related_to=owner.request_id,
        )

    def _relay_request(self, request: jsonrpc.Request) -> None:
        if request.id in self._from_server:
            self._wire.send(request.fail(jsonrpc.INVALID_REQUEST, "request id already in flight"))
            return
        target = self._client_for_server_request()
        if target is None:
            if request.method == "ping":
                self._wire.send(request.respond({}))
            else:
                self._wire.send(request.fail(jsonrpc.INTERNAL_ERROR, "no MCP client is connected"))
            return
        session, related_to = target
        relay = asyncio.create_task(self._ask_client(request, session, related_to))
        self._from_server[request.id] = relay
        relay.add_done_callback(lambda _: self._from_server.pop(request.id, None))

    def _client_for_server_request(
        self,
    ) -> tuple[RoutedSession, jsonrpc.RequestId | None] | None:
        for entry in reversed(self._pending.values()):
            if entry.owner is not None:
                return entry.owner.session, entry.owner.request_id
        if self._sessions:
            return next(reversed(self._sessions.values())), None
        return None

    async def _ask_client(
        self,
        request: jsonrpc.Request,
        session: RoutedSession,
        related_to: jsonrpc.RequestId | None,
    ) -> None:
        try:
            answer = await session.peer.request(
                request.method, request.params, related_to=related_to
            )
        except SessionClosedError:
            answer = request.fail(jsonrpc.INTERNAL_ERROR, "the client's session closed")
        self._wire.send(replace(answer, id=request.id))

    def _cancel_relay(self, notification: jsonrpc.Notification) -> None:
        """The server no longer needs a client's answer; cancelling tells the client."""
        request_id = (notification.params or {}).get("requestId")
        relay = self._from_server.get(request_id) if jsonrpc.is_request_id(request_id) else None
        if relay is not None:
            relay.cancel()

    def _broadcast(self, notification: jsonrpc.Notification) -> None:
        for session in list(self._sessions.values()):
            session.peer.notify(notification.method, notification.params)


class RoutedSession:
    """One session of the router's, as the transport (or the hub) sees it."""

    def __init__(self, router: Router, peer: Peer) -> None:
        self._router = router
        self.peer = peer

    async def handle_request(self, request: jsonrpc.Request) -> jsonrpc.Response:
        if request.method == "initialize":
            return await self._router.answer_initialize(request)
        return await self._router.forward(self, request)

    async def handle_notification(self, notification: jsonrpc.Notification) -> None:
        self._router.notify_server(notification)

    async def close(self) -> None:
        self._router.forget(self)


def _swap_progress_token(
    params: Mapping[str, Any] | None, token: int
) -> tuple[Mapping[str, Any] | None, object]:
    """``params`` with the router's progress token, and the client's token it replaced."""
    meta = (params or {}).get("_meta")
    if params is None or not isinstance(meta, Mapping) or "progressToken" not in meta:
        return params, None
    return {**params, "_meta": {**meta, "progressToken": token}}, meta["progressToken"]
