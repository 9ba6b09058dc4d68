"""One downstream MCP session: the hub as the one server a client sees.

The client connects to a scope (``/mcp``, ``/mcp/{group}``, ``/mcp/{server}``,
or the same under ``/sse`` for legacy clients: the transport does not matter here)
and must not be able to tell that several servers stand behind it.  So the
session answers everything it can from the hub's own knowledge and forwards
only what needs an upstream:

* ``initialize`` and ``ping`` are the hub's.  The capabilities it declares
  are the union the hub can aggregate, independent of which upstreams happen to
  be up, so a client's view of the endpoint does not change under it.
* ``tools/list``, ``prompts/list`` and ``resources/list`` come from the
  upstreams' caches through :mod:`hub_proxy.routing`, in one page: the hub
  holds them all in memory anyway.
* ``tools/call``, ``prompts/get`` and ``resources/read`` resolve the client's
  name to an upstream and that upstream's own name, and go through the
  multiplexer session this downstream session has with that upstream, opened
  on first use.  The request keeps the client's id: the multiplexer remaps ids
  and progress tokens towards the child and back, and relates what the child
  sends for the call (progress, logs, sampling, elicitation) to that id, which
  is exactly the id the transport needs to put it on the call's stream; what
  belongs to no one client of a shared upstream never reaches this session
  (see :mod:`hub_proxy.upstream.router`).  Cancellation needs nothing here:
  the transport cancels the task and the multiplexer tells the child.

``resources/read``, ``resources/subscribe`` and ``completion/complete`` are
routed by URI or prompt name the same way (see :mod:`hub_proxy.routing`).
A client's URI is first brought into canonical form
(:mod:`hub_proxy.canonical`), and that form is what is authorized, audited
and forwarded; a URI, tool or prompt name that holds control characters,
whitespace or invalid code points is refused with -32602 saying so.
``logging/setLevel`` sets the level *this* client's log messages are filtered
at, here, whichever upstream they come from; it is forwarded only to upstreams
the client has to itself (``sessionMode: perClient``), because a shared child
has one level for every session, and one client must not turn another's
server verbose or quiet.  Subscriptions are the multiplexer's to count per
session; an update reaches this session only for a URI it subscribed to, and
only while its caller may still read that resource in this scope
(:meth:`HubSession.admits`): nothing a client receives names what its
policies hide.

Every list, call, read, get and completion is authorized for the principal of
the request being answered (:func:`hub_proxy.access.caller`), through the one
evaluator of :mod:`hub_proxy.access`: lists show only what the caller may
list, and acting on an item the caller may not even see gets exactly the
answer an item that does not exist gets, so probing names reveals nothing.
The session never caches a decision of its own, so a changed AccessPolicy
applies to the very next request; clients are told ``list_changed`` when the
policies or the groups they name change, since what they see may have.
When an allowed call or get ends, the session tells the access control how
it ended and how long it took, for the record of recent activity the
dashboard reads (:mod:`hub_proxy.activity`).

An unknown tool is answered with JSON-RPC error -32602 (invalid params), as the
MCP specification's tools page prescribes for unknown tools ("Protocol
Errors ... Unknown tools", with exactly that code in its example); a
``CallToolResult`` with ``isError`` is what the spec reserves for a tool that
ran and failed, which a tool that does not exist did not.

An upstream that is down or lost a request answers with the multiplexer's
"server unavailable" error; the session puts the server's name in front of its
message, because behind ``/mcp`` the client cannot otherwise tell which of the
hub's servers failed -- and only that server's items fail.  A name of a server
that offers nothing because it is down (never listed, or not reached at all)
gets the same error rather than "Unknown tool", if the caller may see that
server (:mod:`hub_proxy.unavailable`).

A session belongs to its endpoint's scope by name, not to one version of it:
the catalog may be replaced while the client stays connected (see
:mod:`hub_proxy.live`), and every request reads the scope in force.  When the
replacement changes the scope -- a member added, removed or filtered
differently -- the client is told ``list_changed`` for tools, prompts and
resources; a scope that disappeared is empty from then on.  An upstream
replaced under the same name gets a new multiplexer session on next use.

The multiplexer gives an upstream's ``list_changed`` to all of its sessions;
the relay drops those, because the hub sends its own once it has re-listed --
sooner would make the client re-list a stale cache.

Every request sent upstream goes through
:func:`~hub_proxy.telemetry.instrumented.upstream_call`, which counts it per
server and outcome and, while tracing is on, makes it a CLIENT span whose
context travels upstream; every ``list_changed`` the hub sends is counted.
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final, Protocol

from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION

from hub_proxy import routing
from hub_proxy.access import AccessControl, caller
from hub_proxy.activity import outcome_of
from hub_proxy.auth.policy import Action, Item, ItemKind
from hub_proxy.auth.principal import Principal
from hub_proxy.canonical import InvalidNameError, canonical_uri, check_name
from hub_proxy.catalog import Catalog, Scope
from hub_proxy.live import LiveCatalog
from hub_proxy.telemetry.instrumented import upstream_call
from hub_proxy.telemetry.metrics import LIST_CHANGED_SENT
from hub_proxy.transport import Peer, Session, SessionFactory, jsonrpc
from hub_proxy.unavailable import message, unavailable
from hub_proxy.upstream.base import SERVER_UNAVAILABLE
from hub_proxy.upstream.router import task_not_found
from hub_proxy.upstreams import KINDS, Upstream, Upstreams

INVALID_PARAMS: Final = -32602
METHOD_NOT_FOUND: Final = -32601

CAPABILITIES: Final[Mapping[str, Any]] = {
    "tools": {"listChanged": True},
    "prompts": {"listChanged": True},
    "resources": {"listChanged": True, "subscribe": True},
    "logging": {},
    "completions": {},
    # Passed through to the upstream whose tool a task-augmented call names;
    # its tools say which may run as tasks (``execution.taskSupport``).
    "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}},
}

logger = logging.getLogger(__name__)


class _Handler(Protocol):
    """Answers one request method for a session."""

    async def __call__(
        self, session: HubSession, request: jsonrpc.Request, /
    ) -> jsonrpc.Response: ...


class _Table(Protocol):
    """One of :mod:`hub_proxy.routing`'s tables: published items of a scope by name."""

    def __call__(self, scope: Scope, upstreams: Upstreams, /) -> dict[str, routing.Published]: ...


_Items = Callable[[Scope, Upstreams], list[routing.Published]]


def _items(table_of: _Table) -> _Items:
    return lambda scope, upstreams: list(table_of(scope, upstreams).values())


# What each listing is called on the wire and what its items are to a policy.
_LISTS: Final[Mapping[str, ItemKind]] = {
    "tools": "tool",
    "prompts": "prompt",
    "resources": "resource",
    "resourceTemplates": "resource",
}


def _answer(result: Mapping[str, Any]) -> _Handler:
    """A handler that always answers ``result``: for what the hub knows without asking."""

    async def answer(_session: HubSession, request: jsonrpc.Request) -> jsonrpc.Response:
        return request.respond(result)

    return answer


def _hub_version() -> str:
    try:
        return importlib.metadata.version("mcphub")
    except importlib.metadata.PackageNotFoundError:
        return "0"


SERVER_INFO: Final[Mapping[str, Any]] = {"name": "mcphub", "version": _hub_version()}
# RFC 5424 severities as MCP names them, least severe first.
LOG_LEVELS: Final = (
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
)


def _severity(params: Mapping[str, Any] | None) -> int:
    level = (params or {}).get("level")
    # A message with no known level is shown: better noise than a lost error.
    return LOG_LEVELS.index(level) if level in LOG_LEVELS else len(LOG_LEVELS)


class _RelayPeer:
    """The downstream client as one upstream's multiplexer sees it.

    The multiplexer keys its sessions by ``session_id``, so each upstream gets
    a name of its own for the same client.  Requests and ``related_to`` go
    straight through; notifications pass the session's own checks first
    (:meth:`HubSession.admits`).
    """

    def __init__(self, session: HubSession, peer: Peer, server: str) -> None:
        self._session = session
        self._peer = peer
        self._server = server
        self._session_id = f"{peer.session_id}/{server}"

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
        if self._session.admits(self._server, method, params):
            self._peer.notify(method, params, related_to=related_to)

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> jsonrpc.Response:
        return await self._peer.request(method, params, related_to=related_to)


class HubSession:
    """The :class:`~hub_proxy.transport.Session` of one downstream client in one scope."""

    def __init__(
        self,
        key: str,
        live: LiveCatalog,
        upstreams: Upstreams,
        access: AccessControl,
        peer: Peer,
    ) -> None:
        self._key = key
        self._live = live
        self._upstreams = upstreams
        self._access = access
        self._peer = peer
        # By server name, with the upstream the session was opened on.
        self._links: dict[str, tuple[Upstream, Session]] = {}
        # Log messages below this (an index into LOG_LEVELS) are not passed on.
        self._log_level = 0
        # Whose notifications this session receives: the caller of its latest
        # forwarded request (a token refreshed with fewer groups counts at once).
        self._principal: Principal | None = None
        # The tasks its calls created: task id -> the server, and the tool it runs.
        self._tasks: dict[str, tuple[str, Item]] = {}
        upstreams.subscribe(self._changed)
        live.subscribe(self._replaced)

    @property
    def _scope(self) -> Scope:
        return _scope_of(self._live.current, self._key)

    async def handle_request(self, request: jsonrpc.Request) -> jsonrpc.Response:
        handler = _HANDLERS.get(request.method)
        if handler is None:
            answer: jsonrpc.Response = request.fail(
                METHOD_NOT_FOUND, f"method not found: {request.method}"
            )
        else:
            answer = await handler(self, request)
        if isinstance(answer, jsonrpc.Error):
            # Unknown names and refused input leave a line, as decisions do.
            self._access.refused(request, answer)
        return answer

    async def _initialize(self, request: jsonrpc.Request) -> jsonrpc.Response:
        return request.respond(_initialize_result(request.params or {}))

    @staticmethod
    def _lister(key: str, items_of: _Items) -> _Handler:
        async def answer(self: HubSession, request: jsonrpc.Request) -> jsonrpc.Response:
            published = items_of(self._scope, self._upstreams)
            shown = self._access.visible(caller(), _LISTS[key], [p.item for p in published])
            return request.respond(
                {
                    key: [
                        p.definition for p, visible in zip(published, shown, strict=True) if visible
                    ]
                }
            )

        return answer

    @staticmethod
    def _caller(table_of: _Table, what: str, action: Action) -> _Handler:
        async def call(self: HubSession, request: jsonrpc.Request) -> jsonrpc.Response:
            params = request.params or {}
            name = params.get("name")
            if isinstance(name, str):
                try:
                    check_name(name, what)
                except InvalidNameError as invalid:
                    return request.fail(INVALID_PARAMS, str(invalid))
            table = table_of(self._scope, self._upstreams)
            published = table.get(name) if isinstance(name, str) else None
            unknown = request.fail(INVALID_PARAMS, f"Unknown {what}: {name}")
            if published is None:
                return self._missing(request, name if isinstance(name, str) else "", unknown)
            refusal = self._refusal(request, published.item, action, unknown)
            if refusal is not None:
                return refusal
            route = published.route
            forwarded = replace(request, params={**params, "name": route.upstream_name})
            started = time.perf_counter()
            answer = await self._forward(route.server, forwarded)
            elapsed = time.perf_counter() - started
            self._access.called(caller(), action, published.item, outcome_of(answer), elapsed)
            if "task" in params and isinstance(answer, jsonrpc.Result):
                self._remember_task(answer.result.get("task"), route.server, published.item)
            return answer

        return call

    def _remember_task(self, task: object, server: str, item: Item) -> None:
        """A task-augmented call created ``task``: the session's, on ``server``, about ``item``."""
        task_id = task.get("taskId") if isinstance(task, Mapping) else None
        if isinstance(task_id, str):
            self._tasks[task_id] = (server, item)

    async def _on_task(self, request: jsonrpc.Request) -> jsonrpc.Response:
        """``tasks/get``, ``tasks/result``, ``tasks/cancel``: where the task's call went.

        A task is this session's only, and only while its caller may still
        call the tool it runs; else it is answered as a task that does not
        exist, as the spec answers one.
        """
        task_id = (request.params or {}).get("taskId")
        task = self._tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None or not self._access.decide(caller(), "call", task[1]).allowed:
            return task_not_found(request, task_id)
        return await self._forward(task[0], request)

    async def _list_tasks(self, request: jsonrpc.Request) -> jsonrpc.Response:
        """``tasks/list``: this session's tasks, from every server it has some on, in one page."""
        listed: list[Any] = []
        for server in sorted({server for server, _ in self._tasks.values()}):
            cursor: object = None
            while True:
                params = {"cursor": cursor} if cursor else None
                answer = await self._forward(server, replace(request, params=params))
                if isinstance(answer, jsonrpc.Error):
                    return answer
                listed.extend(answer.result.get("tasks") or ())
                cursor = answer.result.get("nextCursor")
                if not cursor:
                    break
        principal = caller()
        shown = []
        for task in listed:
            task_id = task.get("taskId") if isinstance(task, Mapping) else None
            own = self._tasks.get(task_id) if isinstance(task_id, str) else None
            if own is not None and self._access.evaluator.allows(principal, "call", own[1]):
                shown.append(task)
        return request.respond({"tasks": shown})

    async def handle_notification(self, notification: jsonrpc.Notification) -> None:
        # The hub did the upstream handshakes itself; only roots concern them,
        # and only the upstreams this client has to itself: a shared one is
        # never told any client's roots (see hub_proxy.upstream.router).
        if notification.method == "notifications/roots/list_changed":
            for upstream, link in self._links.values():
                if upstream.entry.per_client:
                    await link.handle_notification(notification)

    def admits(self, server: str, method: str, params: Mapping[str, Any] | None) -> bool:
        """Whether a notification from ``server`` goes on to this client.

        ``list_changed`` does not: the hub sends its own once it has re-listed
        (sooner would make the client re-list a stale cache).  Log messages
        are filtered at the client's level.  A resource update names a
        resource, so it goes only to a client that may still read it there; a
        task's status, only to the client whose task it is, while it may still
        call the task's tool.
        """
        if method.endswith("/list_changed"):
            return False
        if method == "notifications/message":
            return _severity(params) >= self._log_level
        if method == "notifications/resources/updated":
            uri = (params or {}).get("uri")
            return isinstance(uri, str) and self._may_read(server, uri)
        if method == "notifications/tasks/status":
            task_id = (params or {}).get("taskId")
            task = self._tasks.get(task_id) if isinstance(task_id, str) else None
            principal = self._principal
            return (
                task is not None
                and principal is not None
                and self._access.evaluator.allows(principal, "call", task[1])
            )
        return True

    def _may_read(self, server: str, uri: str) -> bool:
        principal = self._principal
        if principal is None or server not in self._scope.servers:
            return False
        return self._access.evaluator.allows(principal, "read", Item("resource", server, (uri,)))

    async def close(self) -> None:
        self._upstreams.unsubscribe(self._changed)
        self._live.unsubscribe(self._replaced)
        links, self._links = self._links, {}
        for _, link in links.values():
            await link.close()

    async def _by_uri(self, request: jsonrpc.Request) -> jsonrpc.Response:
        params = request.params or {}
        uri = params.get("uri")
        if not isinstance(uri, str):
            return request.fail(INVALID_PARAMS, f"{request.method} needs a uri")
        try:
            uri = canonical_uri(uri)
        except InvalidNameError as invalid:
            return request.fail(INVALID_PARAMS, f"invalid resource URI: {invalid}")
        route = routing.route_for_uri(self._scope, self._upstreams, uri)
        unknown = request.fail(INVALID_PARAMS, f"Unknown resource: {uri}")
        if route is None:
            return self._missing(request, None, unknown)
        # Subscribing is reading, later: whoever may not read a resource may not watch it.
        refusal = self._refusal(request, Item("resource", route.server, (uri,)), "read", unknown)
        forwarded = replace(request, params={**params, "uri": route.upstream_name})
        return refusal or await self._forward(route.server, forwarded)

    def _missing(
        self, request: jsonrpc.Request, name: str | None, unknown: jsonrpc.Error
    ) -> jsonrpc.Error:
        """What a name (None: a URI) that resolves to nothing is answered.

        ``unknown``, unless it is of a server of the scope that is down and
        that the caller sees (see :mod:`hub_proxy.unavailable`).
        """
        down = unavailable(self._live.current, self._scope, self._upstreams, name)
        if down is None or not self._access.sees(caller(), down.server):
            return unknown
        return request.fail(SERVER_UNAVAILABLE, down.message)

    def _refusal(
        self, request: jsonrpc.Request, item: Item, action: Action, unknown: jsonrpc.Error
    ) -> jsonrpc.Error | None:
        """None if the caller may act on ``item``; else what to answer.

        An item the caller may not even see is answered exactly as one that does
        not exist, so that trying names teaches nothing; one it sees but may not
        act on is refused saying so, since it knows the item anyway.
        """
        principal = caller()
        if self._access.decide(principal, action, item).allowed:
            return None
        if not self._access.evaluator.allows(principal, "list", item):
            return unknown
        return request.fail(
            INVALID_PARAMS,
            f"{item.kind} {item.published} is listed for you but you may not {action} it; "
            f"an AccessPolicy rule allowing {action!r} would",
        )

    async def _complete(self, request: jsonrpc.Request) -> jsonrpc.Response:
        """Completions go where the prompt or resource template they complete lives."""
        params = request.params or {}
        ref = params.get("ref")
        ref = ref if isinstance(ref, Mapping) else {}
        server: str | None = None
        item: Item | None = None
        action: Action = "get"
        try:
            if ref.get("type") == "ref/prompt" and isinstance(name := ref.get("name"), str):
                published = routing.prompts(self._scope, self._upstreams).get(
                    check_name(name, "prompt")
                )
                if published is not None:
                    server, item = published.route.server, published.item
                    ref = {**ref, "name": published.route.upstream_name}
            elif isinstance(uri := ref.get("uri"), str):
                # A template is completed by its server's own spelling, a URI by its canonical one.
                published = routing.template(self._scope, self._upstreams, uri)
                route = published.route if published else None
                if route is None:
                    uri = canonical_uri(uri)
                    route = routing.route_for_uri(self._scope, self._upstreams, uri)
                if route is not None:
                    server, action = route.server, "read"
                    item = Item("resource", server, (uri,))
                    ref = {**ref, "uri": route.upstream_name}
        except InvalidNameError as invalid:
            return request.fail(INVALID_PARAMS, f"invalid completion ref: {invalid}")
        nothing = request.respond({"completion": {"values": [], "hasMore": False}})
        if server is None or item is None:
            return nothing
        # Completing is using: an item the caller may not get or read completes to nothing.
        if not self._access.decide(caller(), action, item).allowed:
            return nothing
        forwarded = replace(request, params={**params, "ref": ref})
        return await self._forward(server, forwarded)

    async def _forward(self, server: str, request: jsonrpc.Request) -> jsonrpc.Response:
        self._principal = caller()
        answer = await upstream_call(server, request, self._link(server).handle_request)
        if isinstance(answer, jsonrpc.Error) and answer.code == SERVER_UNAVAILABLE:
            return replace(answer, message=message(server, answer.message))
        return answer

    def _link(self, server: str) -> Session:
        upstream = self._upstreams[server]
        opened = self._links.get(server)
        if opened is not None and opened[0] is upstream:
            return opened[1]
        # A replaced upstream's multiplexer is stopped; its session needs no closing.
        link = upstream.open_session(_RelayPeer(self, self._peer, server))
        self._links[server] = (upstream, link)
        return link

    async def _set_log_level(self, request: jsonrpc.Request) -> jsonrpc.Response:
        level = (request.params or {}).get("level")
        if level not in LOG_LEVELS:
            return request.fail(
                INVALID_PARAMS, f"level must be one of {', '.join(LOG_LEVELS)}, not {level!r}"
            )
        self._log_level = LOG_LEVELS.index(level)
        own = [link for upstream, link in self._links.values() if upstream.entry.per_client]
        for link in own:
            await link.handle_request(request)
        return request.respond({})

    def _changed(self, server: str, kind: str) -> None:
        if server in self._scope.servers:
            self._list_changed(kind)

    def _replaced(self, old: Catalog, new: Catalog) -> None:
        if _scope_of(old, self._key) != _scope_of(new, self._key) or self._access.changed(old, new):
            for kind in sorted(KINDS):
                self._list_changed(kind)

    def _list_changed(self, kind: str) -> None:
        self._peer.notify(f"notifications/{kind}/list_changed")
        LIST_CHANGED_SENT.labels(kind).inc()


# By method; one table for every session, as an idle session should cost little.
_HANDLERS: Final[Mapping[str, _Handler]] = {
    "initialize": HubSession._initialize,
    "ping": _answer({}),
    "tools/list": HubSession._lister("tools", _items(routing.tools)),
    "prompts/list": HubSession._lister("prompts", _items(routing.prompts)),
    "resources/list": HubSession._lister("resources", _items(routing.resources)),
    "resources/templates/list": HubSession._lister("resourceTemplates", routing.resource_templates),
    "tools/call": HubSession._caller(routing.tools, "tool", "call"),
    "prompts/get": HubSession._caller(routing.prompts, "prompt", "get"),
    "resources/read": HubSession._by_uri,
    "resources/subscribe": HubSession._by_uri,
    "resources/unsubscribe": HubSession._by_uri,
    # Accepted, not forwarded: an upstream's log level is shared by every
    # session of its one child, so one client must not set it for all.
    "logging/setLevel": HubSession._set_log_level,
    "completion/complete": HubSession._complete,
    "tasks/get": HubSession._on_task,
    "tasks/result": HubSession._on_task,
    "tasks/cancel": HubSession._on_task,
    "tasks/list": HubSession._list_tasks,
}


def _scope_of(catalog: Catalog, key: str) -> Scope:
    """The scope ``key`` names in ``catalog``; empty if the catalog has none by that name."""
    scope = catalog.scopes.get(key)
    # Empty, so how its names would be prefixed does not matter.
    return scope if scope is not None else Scope(f"/mcp/{key}", (), prefixed=True)


def _initialize_result(params: Mapping[str, Any]) -> Mapping[str, Any]:
    asked = params.get("protocolVersion")
    version = asked if asked in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION
    return {"protocolVersion": version, "capabilities": CAPABILITIES, "serverInfo": SERVER_INFO}


def session_factory(
    key: str, live: LiveCatalog, upstreams: Upstreams, access: AccessControl
) -> SessionFactory:
    """The transport's :class:`~hub_proxy.transport.SessionFactory` for the scope ``key``."""

    def open_session(peer: Peer) -> Session:
        # Debug, not info: the transports log the sessions clients open, with
        # their owner, and a 2026-07-28 request is a session of its own -- one
        # line per call, said already by the call's audit line.
        logger.debug(
            "hub session opened",
            extra={"scope": key, "session": peer.session_id},
        )
        return HubSession(key, live, upstreams, access, peer)

    return open_session
