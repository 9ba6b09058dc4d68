"""Who gets what: the messages between many sessions and the one upstream session they share.

An upstream is a single MCP session by construction -- a stdio server reads
one stream and believes one client is on the other end -- while the hub and
the bridge serve many sessions with it.  So the router plays the one client
the server sees, and makes sure that each session receives only what
concerns it.  It sees messages only; that the server has lifetimes is the
:mod:`~hub_proxy.upstream.supervisor`'s business, and the router reaches the
server through the supervisor's :class:`Wire`.

**Ids are the router's.**  Two clients both call their first request ``1``.
Every request forwarded to the server gets a fresh integer id that the router
maps back to the session and the id it came with; the same integer doubles
as the request's progress token, so a ``notifications/progress`` finds its
way to the one session that asked for it, related to the one request it
belongs to.  Cancelling is the transport's business: it cancels the
forwarding task, and the router tells the server under the server's id.

**Whose is a message the server sends on its own?**  Everything else the
server sends -- requests such as ``sampling/createMessage``, notifications
such as ``notifications/message`` -- goes to the session it belongs to, or
to nobody; never to a session picked for being the newest.  What it belongs
to is decided in this order:

1. *What the wire says.*  A streamable-HTTP server that sends a message on
   the stream answering one of the router's POSTs relates it to that request;
   one that sends it on its GET stream relates it to none (the link hands
   both over as :class:`~hub_proxy.upstream.base.Related`).  A progress
   notification names its request by its token.  A related message goes to
   that request's session, related to that request, so that it travels on the
   request's own stream there too.  One related to a request that is no
   client's (the supervisor's handshake or ping) is nobody's.  A message
   about a task -- ``notifications/tasks/status``, or any with the
   ``io.modelcontextprotocol/related-task`` key in its ``_meta``, as the
   spec requires of a task's messages -- is the session's whose call created
   the task.  Anything else related to no request is the only session's (2),
   if there is one, else nobody's.
2. *The only session.*  When the router has exactly one session -- a
   ``perClient`` upstream, or the bridge with the hub as its one client --
   everything concerns that session.
3. *When the wire says nothing: the only session with requests in flight.*
   Over stdio and legacy SSE nothing says which call a
   ``sampling/createMessage`` or a log line belongs to, but a server asks and
   tells a client things while serving one of its requests.  When every
   request in flight belongs to one session, the message goes to it, related
   to its request if it has just one in flight (else on the session's own
   stream: relating it to one of several would send it down the wrong stream
   when that session is the hub, whose one session with a bridge carries many
   clients).  With requests of several sessions in flight, or none, it is
   nobody's.  This is a guess, and its limit is stated: what such a server
   sends on its own initiative -- a log line on a timer -- while one client
   alone is calling it reaches that client.  A server that talks on its own
   initiative is better run ``perClient``, or reached over streamable HTTP,
   whose GET stream says "nobody's".

What the router does with each message, where that is not simply "send it to
the session it belongs to":

* ``ping`` from the server is answered by the router: it asks whether its
  client is alive, and the router is that client.
* ``roots/list`` goes to a client only when that client is the upstream
  session's only one.  Roots describe one client's environment, and the
  server keeps its answer for the session (server-everything does), where
  every other client of a shared session would be served with them.  Any
  other ``roots/list`` is answered with an empty list; a client's
  ``notifications/roots/list_changed`` likewise reaches the server only from
  its only session.  A server that needs each client's roots runs
  ``perClient``.
* Any other request that is nobody's is answered with an error.
* ``notifications/{tools,prompts,resources}/list_changed`` concern everyone
  and name nothing: every session gets them.
* ``notifications/resources/updated`` goes to the sessions subscribed to
  that URI.  Subscriptions are kept per session; the upstream's subscription
  is shared and counted: ``resources/subscribe`` reaches the server for the
  first session, ``resources/unsubscribe`` (or the session's end) for the
  last, and a restarted server is subscribed again to what sessions still
  want.
* A task-augmented ``tools/call`` makes the task its caller's: only that
  session may ``tasks/get``, ``tasks/result`` or ``tasks/cancel`` it (for any
  other the answer is the spec's "task not found"), ``tasks/list`` shows each
  session its own tasks, and ``notifications/tasks/status`` goes to the owner
  alone.  Progress of a task after its ``CreateTaskResult`` is not carried.
* A notification that is nobody's is dropped, with a debug line.

The per-message path is dictionary lookups: the sessions with requests in
flight are kept as they change, not found by scanning what is pending.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from hub_proxy.transport import Peer, SessionClosedError, jsonrpc
from hub_proxy.upstream.base import SERVER_UNAVAILABLE, Received, Related, UnreadableError

_LIST_CHANGED_KINDS: Final = ("tools", "prompts", "resources")
INVALID_PARAMS: Final = -32602
# The ``_meta`` key by which a message says which task it belongs to (MCP 2025-11-25).
RELATED_TASK: Final = "io.modelcontextprotocol/related-task"
_NO_ROOTS: Final[Mapping[str, Any]] = {"roots": []}

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

    @property
    def is_ready(self) -> bool:
        """Whether the server can take a request right now."""


@dataclass(frozen=True, slots=True)
class _Owner:
    """Who is waiting for a forwarded request: a session, under its own id and token."""

    session: RoutedSession
    request_id: jsonrpc.RequestId
    progress_token: object


@dataclass(frozen=True, slots=True)
class _Pending:
    """A request the server owes an answer to; no owner for the supervisor's own requests."""

    answer: asyncio.Future[jsonrpc.Response]
    owner: _Owner | None


# Whose a message is: a session, and the request of that session it relates to, if any.
_Target = tuple["RoutedSession", jsonrpc.RequestId | None]
_Intercepted = Callable[["RoutedSession", jsonrpc.Request], Awaitable[jsonrpc.Response]]


class Router:
    """Shares one upstream session among many sessions, message by message."""

    def __init__(self, wire: Wire) -> None:
        self._wire = wire
        self._ids = itertools.count(1)
        # Keyed by the router's own integer ids; looked up with whatever the server sends.
        self._pending: dict[jsonrpc.RequestId, _Pending] = {}
        self._from_server: dict[jsonrpc.RequestId, asyncio.Task[None]] = {}
        self._sessions: dict[str, RoutedSession] = {}
        # The sessions with requests in flight, as an ordered set.
        self._busy: dict[RoutedSession, None] = {}
        # URI -> the sessions subscribed to it, as an ordered set; empty only until
        # the upstream is unsubscribed, after the last subscriber left unannounced.
        self._subscribers: dict[str, dict[RoutedSession, None]] = {}
        # Changes of the upstream's subscriptions, one at a time, so that a
        # subscribe and the last unsubscribe of a URI cannot cross upstream.
        self._subscribing = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        # The server's task id -> the session whose call created the task.
        self._task_owners: dict[str, RoutedSession] = {}
        self._intercepted: Mapping[str, _Intercepted] = {
            "resources/subscribe": self._subscription,
            "resources/unsubscribe": self._subscription,
            "tools/call": self._call_tool,
            "tasks/get": self._on_own_task,
            "tasks/result": self._on_own_task,
            "tasks/cancel": self._on_own_task,
            "tasks/list": self._list_tasks,
        }

    def open_session(self, peer: Peer) -> RoutedSession:
        """A :class:`~hub_proxy.transport.Session` for one client, answering through ``peer``."""
        session = RoutedSession(self, peer)
        self._sessions[peer.session_id] = session
        return session

    # -- the supervisor's side --------------------------------------------------------------

    async def ask(self, method: str, params: Mapping[str, Any] | None) -> jsonrpc.Response:
        return await self._call(next(self._ids), method, params, None)

    def receive(self, received: Received) -> None:
        match received:
            case jsonrpc.Result() | jsonrpc.Error():
                self._settle(received)
            case jsonrpc.Request():
                self._from_server_request(received, self._task_of(received) or self._guess())
            case jsonrpc.Notification():
                target = self._task_of(received) or self._guess()
                self._from_server_notification(received, target)
            case Related(message=jsonrpc.Request() as request, to=to):
                self._from_server_request(request, self._related(request, to))
            case Related(message=jsonrpc.Notification() as notification, to=to):
                self._from_server_notification(notification, self._related(notification, to))

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
        """A new lifetime: what sessions cached may have changed, and subscriptions are gone."""
        for kind in _LIST_CHANGED_KINDS:
            if kind == "tools" or kind in capabilities:
                self._broadcast(jsonrpc.Notification(f"notifications/{kind}/list_changed"))
        for uri, subscribers in self._subscribers.items():
            if subscribers:
                self._in_background(self._ask_quietly("resources/subscribe", {"uri": uri}))

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
        intercepted = self._intercepted.get(request.method)
        if intercepted is not None:
            return await intercepted(session, request)
        return await self._forward(session, request)

    async def _forward(self, session: RoutedSession, request: jsonrpc.Request) -> jsonrpc.Response:
        child_id = next(self._ids)
        params, token = _swap_progress_token(request.params, child_id)
        calls = session.calls
        if not calls:
            self._busy[session] = None
        calls[child_id] = request.id
        try:
            answer = await self._call(
                child_id, request.method, params, _Owner(session, request.id, token)
            )
        except asyncio.CancelledError:
            cancelled = {"requestId": child_id, "reason": "the client cancelled the request"}
            self._wire.send(jsonrpc.Notification("notifications/cancelled", cancelled))
            raise
        finally:
            del calls[child_id]
            if not calls:
                del self._busy[session]
        return replace(answer, id=request.id)

    def notify_server(self, session: RoutedSession, notification: jsonrpc.Notification) -> None:
        match notification.method:
            case "notifications/initialized":
                # The supervisor did the handshake; a client's would be a second one.
                return
            case "notifications/roots/list_changed" if len(self._sessions) != 1:
                # The server would ask for roots again, which a shared session is never told.
                logger.debug("roots/list_changed of a shared session's client dropped")
                return
        self._wire.send(notification)

    def forget(self, session: RoutedSession) -> None:
        self._sessions.pop(session.peer.session_id, None)
        for task_id in session.tasks:
            self._task_owners.pop(task_id, None)
        for uri in session.subscribed:
            subscribers = self._subscribers.get(uri)
            if subscribers is not None:
                subscribers.pop(session, None)
                if not subscribers:
                    self._in_background(self._unsubscribe_upstream(uri))
        session.subscribed.clear()

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

    # -- tasks ------------------------------------------------------------------------------

    async def _call_tool(
        self, session: RoutedSession, request: jsonrpc.Request
    ) -> jsonrpc.Response:
        answer = await self._forward(session, request)
        # A task-augmented call answers with the task it created: the caller's alone.
        if isinstance(answer, jsonrpc.Result) and "task" in (request.params or {}):
            task = answer.result.get("task")
            task_id = task.get("taskId") if isinstance(task, Mapping) else None
            if isinstance(task_id, str):
                self._task_owners[task_id] = session
                session.tasks.add(task_id)
        return answer

    async def _on_own_task(
        self, session: RoutedSession, request: jsonrpc.Request
    ) -> jsonrpc.Response:
        """tasks/get, tasks/result, tasks/cancel: only on a task of the session's own."""
        task_id = (request.params or {}).get("taskId")
        if not isinstance(task_id, str) or self._task_owners.get(task_id) is not session:
            # Another session's task must not be told apart from none.
            return task_not_found(request, task_id)
        return await self._forward(session, request)

    async def _list_tasks(
        self, session: RoutedSession, request: jsonrpc.Request
    ) -> jsonrpc.Response:
        """tasks/list: the server lists the tasks of its one session; the caller sees its own."""
        answer = await self._forward(session, request)
        if isinstance(answer, jsonrpc.Error) or not isinstance(answer.result.get("tasks"), list):
            return answer
        own = [
            task
            for task in answer.result["tasks"]
            if isinstance(task, Mapping) and task.get("taskId") in session.tasks
        ]
        return replace(answer, result={**answer.result, "tasks": own})

    def _task_of(self, message: jsonrpc.Request | jsonrpc.Notification) -> _Target | None:
        """The session whose task a message says it relates to (as tasks' messages must)."""
        params = message.params or {}
        if message.method == "notifications/tasks/status":
            task_id = params.get("taskId")
        else:
            meta = params.get("_meta")
            related = meta.get(RELATED_TASK) if isinstance(meta, Mapping) else None
            task_id = related.get("taskId") if isinstance(related, Mapping) else None
        owner = self._task_owners.get(task_id) if isinstance(task_id, str) else None
        return (owner, None) if owner is not None else None

    # -- subscriptions ----------------------------------------------------------------------

    async def _subscription(
        self, session: RoutedSession, request: jsonrpc.Request
    ) -> jsonrpc.Response:
        """``resources/subscribe`` and ``resources/unsubscribe``, counted per session."""
        uri = (request.params or {}).get("uri")
        if not isinstance(uri, str):
            # The server's own answer says what is wrong with it.
            return await self._forward(session, request)
        async with self._subscribing:
            if request.method == "resources/subscribe":
                return await self._subscribe(session, request, uri)
            return await self._unsubscribe(session, request, uri)

    async def _subscribe(
        self, session: RoutedSession, request: jsonrpc.Request, uri: str
    ) -> jsonrpc.Response:
        subscribers = self._subscribers.get(uri)
        if subscribers is None:
            answer = await self._forward(session, request)
            if isinstance(answer, jsonrpc.Error):
                return answer
            subscribers = self._subscribers[uri] = {}
        else:
            answer = request.respond({})
        subscribers[session] = None
        session.subscribed.add(uri)
        return answer

    async def _unsubscribe(
        self, session: RoutedSession, request: jsonrpc.Request, uri: str
    ) -> jsonrpc.Response:
        subscribers = self._subscribers.get(uri)
        # Only the session's own subscription: never another session's.
        if subscribers is None or session not in subscribers:
            return request.respond({})
        del subscribers[session]
        session.subscribed.discard(uri)
        if subscribers:
            return request.respond({})
        del self._subscribers[uri]
        return await self._forward(session, request)

    async def _unsubscribe_upstream(self, uri: str) -> None:
        """The last subscriber of ``uri`` went away without unsubscribing."""
        async with self._subscribing:
            if self._subscribers.get(uri) != {}:
                # Unsubscribed meanwhile, or subscribed to again.
                return
            del self._subscribers[uri]
            await self._ask_quietly("resources/unsubscribe", {"uri": uri})

    async def _ask_quietly(self, method: str, params: Mapping[str, Any]) -> None:
        """A request of the router's own, off any client's path; failures are only logged."""
        if not self._wire.is_ready:
            # A server that comes back starts afresh, with what sessions want then.
            return
        answer = await self.ask(method, params)
        if isinstance(answer, jsonrpc.Error):
            logger.info(
                "upstream refused a request of the hub's own",
                extra={"method": method, "why": answer.message},
            )

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- server to clients ------------------------------------------------------------------

    def _related(
        self, message: jsonrpc.Request | jsonrpc.Notification, to: jsonrpc.RequestId | None
    ) -> _Target | None:
        """Whose a message is that the server related to the router's request ``to``, or to none."""
        if to is None:
            return self._task_of(message) or self._sole()
        entry = self._pending.get(to)
        owner = entry.owner if entry is not None else None
        return (owner.session, owner.request_id) if owner is not None else None

    def _sole(self) -> _Target | None:
        """The session everything is for, when there is only one."""
        if len(self._sessions) == 1:
            return next(iter(self._sessions.values())), None
        return None

    def _guess(self) -> _Target | None:
        """Whose a message is that says nothing about it: the one busy session's, if one."""
        if len(self._busy) != 1:
            return self._sole() if not self._busy else None
        session = next(iter(self._busy))
        calls = session.calls
        return session, next(iter(calls.values())) if len(calls) == 1 else None

    def _settle(self, response: jsonrpc.Response) -> None:
        entry = self._pending.pop(response.id, None) if response.id is not None else None
        if entry is None:
            logger.info("server answered an unknown request", extra={"id": response.id})
        elif not entry.answer.done():
            entry.answer.set_result(response)

    def _from_server_notification(
        self, notification: jsonrpc.Notification, target: _Target | None
    ) -> None:
        match notification.method:
            case "notifications/progress":
                self._relay_progress(notification)
            case "notifications/cancelled":
                self._cancel_relay(notification)
            case "notifications/resources/updated":
                self._relay_update(notification)
            case "notifications/tasks/status" if target is None:
                logger.debug("status of a task of no session's dropped")
            case method if method.endswith("/list_changed"):
                self._broadcast(notification)
            case method if target is None:
                logger.debug("notification for no client dropped", extra={"method": method})
            case method:
                session, related_to = target
                session.peer.notify(method, notification.params, related_to=related_to)

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

    def _relay_update(self, notification: jsonrpc.Notification) -> None:
        uri = (notification.params or {}).get("uri")
        subscribers = self._subscribers.get(uri) if isinstance(uri, str) else None
        if subscribers is None:
            logger.debug("update of a resource nobody subscribed to dropped", extra={"uri": uri})
            return
        for session in list(subscribers):
            session.peer.notify(notification.method, notification.params)

    def _from_server_request(self, request: jsonrpc.Request, target: _Target | None) -> None:
        if request.id in self._from_server:
            self._wire.send(request.fail(jsonrpc.INVALID_REQUEST, "request id already in flight"))
            return
        match request.method:
            case "ping":
                self._wire.send(request.respond({}))
                return
            case "roots/list" if target is None or len(self._sessions) != 1:
                logger.info("roots/list of a shared session answered with no roots")
                self._wire.send(request.respond(_NO_ROOTS))
                return
        if target is None:
            logger.info(
                "server request for no one client refused", extra={"method": request.method}
            )
            self._wire.send(
                request.fail(
                    jsonrpc.INTERNAL_ERROR,
                    f"{request.method} concerns no one client of this shared session: ask it "
                    "while serving a request of the client that should answer",
                )
            )
            return
        session, related_to = target
        relay = asyncio.create_task(self._ask_client(request, session, related_to))
        self._from_server[request.id] = relay
        relay.add_done_callback(lambda _: self._from_server.pop(request.id, None))

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

    __slots__ = ("_router", "calls", "peer", "subscribed", "tasks")

    def __init__(self, router: Router, peer: Peer) -> None:
        self._router = router
        self.peer = peer
        # Its requests in flight: the router's id -> the session's own.
        self.calls: dict[int, jsonrpc.RequestId] = {}
        # The URIs it subscribed to.
        self.subscribed: set[str] = set()
        # The server's ids of the tasks its calls created.
        self.tasks: set[str] = set()

    async def handle_request(self, request: jsonrpc.Request) -> jsonrpc.Response:
        if request.method == "initialize":
            return await self._router.answer_initialize(request)
        return await self._router.forward(self, request)

    async def handle_notification(self, notification: jsonrpc.Notification) -> None:
        self._router.notify_server(self, notification)

    async def close(self) -> None:
        self._router.forget(self)


def task_not_found(request: jsonrpc.Request, task_id: object) -> jsonrpc.Error:
    """The spec's answer for a task that does not exist (or is not the asker's)."""
    return request.fail(INVALID_PARAMS, f"Failed to retrieve task: Task not found: {task_id}")


def _swap_progress_token(
    params: Mapping[str, Any] | None, token: int
) -> tuple[Mapping[str, Any] | None, object]:
    """``params`` with the router's progress token, and the client's token it replaced."""
    meta = (params or {}).get("_meta")
    if params is None or not isinstance(meta, Mapping) or "progressToken" not in meta:
        return params, None
    return {**params, "_meta": {**meta, "progressToken": token}}, meta["progressToken"]
