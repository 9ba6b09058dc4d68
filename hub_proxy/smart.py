"""Smart routing: ``/mcp/$smart`` and ``/mcp/$smart/{group}``, two tools instead of thousands.

An AI client behind a hub of hundreds of servers should not receive every
tool schema.  These endpoints expose exactly two tools, named and shaped as
MCPHub's smart routing names them, so existing prompts and clients work:

* ``search_tools {query, limit?}``: the tools that fit the request, best
  first, each with the name to call it by, its server, description, full input
  schema and score, and how many tools were searched;
* ``call_tool {toolName, arguments?}``: calls a tool by that name.

``$smart`` searches every server the caller may use; ``$smart/{group}`` the
members of a group whose ``spec.smartRouting`` is enabled (another group, or
none, is a 404).

A :class:`SmartSession` stands in front of an ordinary
:class:`~hub_proxy.session.HubSession` of the underlying scope (``/mcp`` or
``/mcp/{group}``), made by the same factory: ``call_tool`` becomes that
session's ``tools/call`` with the client's request id and ``_meta``, so
policies, audit, metrics, progress, cancellation and errors are exactly a
direct call's -- a hidden tool answers as an unknown one.  ``search_tools``
searches only what that session would list to the caller: the scope's tools,
filtered by the caller's AccessPolicies (audited as a listing), passed to the
index as the allowed set, which the store applies before the limit.

:class:`SmartRouting` keeps the index in step with the hub: every tool of
every server, as published (policies and overrides applied), synced when the
catalog is replaced or an upstream's tools change, and again every minute (a
shared PostgreSQL index forgets what no replica keeps alive).  A database that
is down fails searches with its error, and is retried; direct calls never
touch it.

The index starts on first use, not with the hub: the first request to a smart
endpoint calls :meth:`SmartRouting.start` (so does the dashboard's search,
through :meth:`SmartRouting.ready`), which opens the store and runs the first
sync; from then on the index follows the catalog and upstreams'
``list_changed`` within seconds, as above.  Measured on the test hub of two
servers (time, everything; 2 cores under load): indexing at start cost each
hub about 1 s of CPU (5.3 s to ready and 0.55 s in the next 30 s, against 4.5
s and 0.05 s deferred) and 125 MiB of memory (440 against 315 MiB), in every
hub process whether or not anyone searched -- the model embeds about 0.13 s of
CPU per tool of the evaluation corpus, so 1,800 tools are minutes of a core.
A hub nobody searches now embeds nothing and never dials a search database;
only the model is loaded at start (0.3 s of CPU), so that a hub without it
stops with a clear error.  The first search waits up to
:data:`_FIRST_SYNC_SECONDS` for that first sync (tens of tools are indexed by
then); past that it says the index is still being built, and a store that
cannot be opened or synced answers its error at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from hub_proxy import routing
from hub_proxy.access import AccessControl, caller
from hub_proxy.catalog import SEPARATOR, Catalog, SmartSettings
from hub_proxy.live import LiveCatalog
from hub_proxy.search import QueryError, SearchError, SearchIndex, ToolDocument, ToolKey
from hub_proxy.session import INVALID_PARAMS, METHOD_NOT_FOUND, SERVER_INFO, session_factory
from hub_proxy.transport import Peer, Session, SessionFactory, jsonrpc
from hub_proxy.upstreams import Upstreams

PREFIX: Final = "$smart"
SEARCH_TOOLS: Final = "search_tools"
CALL_TOOL: Final = "call_tool"
# Changes are synced this long after they stop coming (70 servers start one by one).
_SETTLE_SECONDS: Final = 0.3
_RESYNC_SECONDS: Final = 60.0
_RETRY_SECONDS: Final = 5.0
# How long a search waits for the index's first sync (see the module docstring).
_FIRST_SYNC_SECONDS: Final = 10.0

logger = logging.getLogger(__name__)


def underlying(key: str, catalog: Catalog) -> tuple[str, SmartSettings] | None:
    """The scope a smart key searches, with its settings; None if ``key`` is no smart endpoint."""
    if key == PREFIX:
        return "", SmartSettings()
    group = key.removeprefix(f"{PREFIX}/")
    if group != key and group in catalog.smart and group in catalog.scopes:
        return group, catalog.smart[group]
    return None


class SmartRouting:
    """The search index of the hub's tools, kept in step, and the smart endpoints' sessions."""

    def __init__(
        self, index: SearchIndex, live: LiveCatalog, upstreams: Upstreams, access: AccessControl
    ) -> None:
        self.index = index
        self._live = live
        self._upstreams = upstreams
        self._access = access
        self._changed = asyncio.Event()
        # Set by the first use of search; the index is neither opened nor synced before.
        self._wanted = asyncio.Event()
        # Set once the first sync succeeded or an open or sync failed: a search has its answer.
        self._attempted = asyncio.Event()
        # None until the first sync: a search before it fails, rather than find nothing.
        self.synced: int | None = None
        # Why the index cannot be opened or synced right now, for the callers of search.
        self.problem: str | None = None

    def serves(self, key: str) -> bool:
        return underlying(key, self._live.current) is not None

    def session_factory(self, key: str) -> SessionFactory:
        """The sessions of the smart endpoint ``key``; asked for by its first request."""
        self.start()

        def open_session(peer: Peer) -> Session:
            return SmartSession(key, self, peer)

        return open_session

    def start(self) -> None:
        """Build the index now and keep it in step from now on (see the module docstring)."""
        self._wanted.set()

    async def first_sync(self) -> None:
        """Start the index and wait, a bounded time, until a search has its answer."""
        self.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attempted.wait(), _FIRST_SYNC_SECONDS)

    async def ready(self) -> str | None:
        """None once the index can answer a search; else why not, for the one searching."""
        if self.synced is None:
            await self.first_sync()
        if self.synced is not None:
            return None
        if self.problem:
            return f"tool search is unavailable: {self.problem}"
        return "the tool search index is still being built; try again in a few seconds"

    def documents(self) -> list[ToolDocument]:
        """Every tool of every server the hub runs, as its server publishes it."""
        found = []
        for name, entry in self._live.current.servers.items():
            if name not in self._upstreams:
                continue
            for tool in self._upstreams[name].offer.tools:
                definition = tool.definition
                description = definition.get("description")
                title = definition.get("title")
                schema = definition.get("inputSchema")
                found.append(
                    ToolDocument(
                        ToolKey(name, tool.name),
                        description if isinstance(description, str) else "",
                        title if isinstance(title, str) else None,
                        schema if isinstance(schema, Mapping) else {},
                        entry.description,
                    )
                )
        return found

    async def run(self) -> None:
        """Once started, open the index, then sync it whenever the hub's tools change."""
        await self._wanted.wait()
        self._live.subscribe(self._catalog_replaced)
        self._upstreams.subscribe(self._upstream_changed)
        try:
            while True:
                try:
                    await self.index.open()
                    break
                except SearchError as error:
                    self.problem = str(error)
                    self._attempted.set()
                    logger.error("search index unavailable; retrying", extra={"error": str(error)})
                    await asyncio.sleep(_RETRY_SECONDS)
            while True:
                try:
                    report = await self.index.sync(self.documents())
                    self.synced, self.problem = report.tools, None
                    self._attempted.set()
                except SearchError as error:
                    self.problem = str(error)
                    self._attempted.set()
                    logger.error("search index sync failed", extra={"error": str(error)})
                    await asyncio.sleep(_RETRY_SECONDS)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), _RESYNC_SECONDS)
                await asyncio.sleep(_SETTLE_SECONDS)
                self._changed.clear()
        finally:
            self._live.unsubscribe(self._catalog_replaced)
            self._upstreams.unsubscribe(self._upstream_changed)

    def _catalog_replaced(self, _old: Catalog, _new: Catalog) -> None:
        self._changed.set()

    def _upstream_changed(self, server: str, kind: str) -> None:
        if kind == "tools" and server in self._live.current.servers:
            self._changed.set()

    def session_of(self, scope: str, peer: Peer) -> Session:
        return session_factory(scope, self._live, self._upstreams, self._access)(peer)

    def visible(self, scope: str) -> dict[ToolKey, routing.Published]:
        """The tools of ``scope`` the caller may list, by key (audited as a listing)."""
        current = self._live.current.scopes.get(scope)
        if current is None:
            return {}
        published = list(routing.tools(current, self._upstreams).values())
        shown = self._access.visible(caller(), "tool", [p.item for p in published])
        return {
            ToolKey(p.item.server, p.item.published): p
            for p, allowed in zip(published, shown, strict=True)
            if allowed
        }


def _meta_tools(scope: str, settings: SmartSettings) -> list[dict[str, Any]]:
    where = f'the "{scope}" group\'s servers' if scope else "every server you may use"
    return [
        {
            "name": SEARCH_TOOLS,
            "description": (
                f"STEP 1 of 2: find the tools that fit a task among {where}. Describe the task "
                "in plain words (for example 'open an issue in GitLab'); results come best "
                "first, each with the toolName to pass to call_tool and its full inputSchema. "
                "Search again with other words for other parts of a task."
            ),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "query": {
                        "type": "string",
                        "description": "What the tool should do, in plain words.",
                    },
                    "limit": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": settings.max_limit,
                        "default": settings.default_limit,
                        "description": "How many tools to return at most.",
                    },
                },
                "required": ["query"],
            },
            "annotations": {"title": "Search Tools", "readOnlyHint": True},
        },
        {
            "name": CALL_TOOL,
            "description": (
                "STEP 2 of 2: call a tool that search_tools found, by its toolName, with "
                "arguments that match its inputSchema."
            ),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "toolName": {
                        "type": "string",
                        "description": "The tool's name exactly as search_tools returned it.",
                    },
                    "arguments": {
                        "type": "object",
                        "additionalProperties": True,
                        "description": "The tool's arguments (omit if it takes none).",
                    },
                },
                "required": ["toolName"],
            },
            "annotations": {"title": "Call Tool", "openWorldHint": True},
        },
    ]


class SmartSession:
    """One client's session on a smart endpoint, over a hub session of the scope it searches."""

    def __init__(self, key: str, smart: SmartRouting, peer: Peer) -> None:
        self._key = key
        self._smart = smart
        found = underlying(key, smart._live.current)
        self._scope = found[0] if found else ""
        self._inner = smart.session_of(self._scope, peer)

    def _settings(self) -> SmartSettings | None:
        found = underlying(self._key, self._smart._live.current)
        return found[1] if found else None

    async def handle_request(self, request: jsonrpc.Request) -> jsonrpc.Response:
        settings = self._settings()
        if request.method in ("initialize", "ping", "logging/setLevel"):
            answer = await self._inner.handle_request(request)
            if request.method == "initialize" and isinstance(answer, jsonrpc.Result):
                capabilities = {"tools": {"listChanged": True}, "logging": {}}
                result = {**answer.result, "capabilities": capabilities, "serverInfo": SERVER_INFO}
                return request.respond(result)
            return answer
        if settings is None:
            # The group lost its smart routing (or left) while the client was connected.
            return request.fail(INVALID_PARAMS, f"{self._key} is not served any more")
        if request.method == "tools/list":
            return request.respond({"tools": _meta_tools(self._scope, settings)})
        if request.method == "tools/call":
            return await self._call(request, settings)
        return request.fail(METHOD_NOT_FOUND, f"method not found: {request.method}")

    async def _call(self, request: jsonrpc.Request, settings: SmartSettings) -> jsonrpc.Response:
        params = request.params or {}
        name = params.get("name")
        arguments = params.get("arguments", {})
        if arguments is None:
            arguments = {}
        if name not in (SEARCH_TOOLS, CALL_TOOL):
            return request.fail(INVALID_PARAMS, f"Unknown tool: {name}")
        if not isinstance(arguments, Mapping):
            return request.fail(INVALID_PARAMS, f"{name} takes its arguments as a JSON object")
        if name == SEARCH_TOOLS:
            return await self._search(request, arguments, settings)
        return await self._forward(request, arguments)

    async def _search(
        self, request: jsonrpc.Request, arguments: Mapping[str, Any], settings: SmartSettings
    ) -> jsonrpc.Response:
        query = arguments.get("query")
        limit = arguments.get("limit", settings.default_limit)
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= (settings.max_limit)
        ):
            return request.fail(
                INVALID_PARAMS,
                f"limit must be an integer from 1 to {settings.max_limit}, not {limit!r}",
            )
        unavailable = await self._smart.ready()
        if unavailable is not None:
            return _tool_error(request, unavailable)
        visible = self._smart.visible(self._scope)
        try:
            ranking = await self._smart.index.search(
                query,  # type: ignore[arg-type]  # checked by the index: QueryError
                limit,
                allowed=visible.keys(),
                min_score=settings.min_score,
            )
        except QueryError as error:
            return request.fail(INVALID_PARAMS, str(error))
        except SearchError as error:
            return _tool_error(request, f"tool search failed: {error}")
        tools = []
        for hit in ranking.hits:
            definition = visible[hit.key].definition
            tools.append(
                {
                    **{k: v for k, v in definition.items() if k != "name"},
                    "name": definition["name"],
                    "serverName": hit.key.server,
                    "score": round(hit.score, 4),
                }
            )
        found = {
            "tools": tools,
            "metadata": {
                "query": query,
                "totalResults": len(tools),
                "searched": ranking.searched,
                "nextSteps": "Call call_tool with a toolName from these results and arguments "
                "matching its inputSchema."
                if tools
                else "No tool matched; search again with other words.",
            },
        }
        return request.respond(
            {
                "content": [{"type": "text", "text": json.dumps(found)}],
                "structuredContent": found,
            }
        )

    async def _forward(
        self, request: jsonrpc.Request, arguments: Mapping[str, Any]
    ) -> jsonrpc.Response:
        target = arguments.get("toolName")
        if not isinstance(target, str) or not target:
            return request.fail(
                INVALID_PARAMS, "call_tool needs toolName: a name search_tools returned"
            )
        if SEPARATOR not in target:
            return request.fail(
                INVALID_PARAMS,
                f"toolName {target[:200]!r} names no server: pass the name search_tools "
                f"returned, such as github{SEPARATOR}create_issue",
            )
        inner_arguments = arguments.get("arguments", {})
        if inner_arguments is None:
            inner_arguments = {}
        if not isinstance(inner_arguments, Mapping):
            return request.fail(INVALID_PARAMS, "call_tool's arguments must be a JSON object")
        params: dict[str, Any] = {"name": target, "arguments": dict(inner_arguments)}
        meta = (request.params or {}).get("_meta")
        if meta is not None:
            params["_meta"] = meta
        return await self._inner.handle_request(replace(request, params=params))

    async def handle_notification(self, notification: jsonrpc.Notification) -> None:
        await self._inner.handle_notification(notification)

    async def close(self) -> None:
        await self._inner.close()


def _tool_error(request: jsonrpc.Request, message: str) -> jsonrpc.Response:
    """A tool that ran and failed: the model reads why (protocol errors are for bad calls)."""
    return request.respond({"content": [{"type": "text", "text": message}], "isError": True})
