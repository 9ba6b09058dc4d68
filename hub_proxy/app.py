"""The hub's aiohttp application: MCP endpoints per scope, and the probes.

Each scope of the catalog gets a :class:`~hub_proxy.transport.StreamableHTTPEndpoint`
and a legacy :class:`~hub_proxy.transport.SSEEndpoint` of its own, because a
session belongs to one scope for its whole life and the transport's session
factory is where that binding happens.  The catalog changes while the hub
runs, and aiohttp's routes cannot, so ``/mcp`` and ``/mcp/{name}`` go to one
handler that picks the endpoint of the scope in force, made on first use;
``/sse`` and ``/sse/{name}`` do the same for the legacy HTTP+SSE transport,
over the same scopes and the same :mod:`hub_proxy.session`.  A legacy client
POSTs its messages to the path of its stream with ``?session_id=...`` (the
``endpoint`` event says so): a separate messages path such as
``/sse/messages`` would shadow a server or group of that name.  A name the
catalog does not serve is answered with 404 and a JSON-RPC error body, as the
transports do for their own refusals: SDK clients show that text.  When a
scope leaves the catalog, its endpoints go, and their sessions are closed: a
client gets 404 for its session (a legacy client sees its stream end) and may
start a new one wherever it now belongs.

``/mcp`` also serves MCP 2026-07-28, whose requests carry no session: the
streamable endpoint hands them to a
:class:`~hub_proxy.transport.stateless.StatelessEndpoint`, which answers each
through a session of one request made by the same factory.  A scope with a
``sessionMode: perClient`` server declines that revision, so that clients
fall back to a session: such a server gets an upstream per session, which a
request without one would spawn for every call and lose between calls.

Every request under ``/mcp`` and ``/sse`` passes :mod:`hub_proxy.access`'s
middleware first: it is authenticated, or answered 401 with a challenge naming
the RFC 9728 metadata served at ``/.well-known/oauth-protected-resource/...``;
the session it reaches belongs to its principal.  Streamable-HTTP session ids
are sealed (:mod:`hub_proxy.auth.sealing`) with the key the replicas share and
bound to their scope, so any replica serves any session.

A scope the caller may list nothing of -- no server in it that some policy
lets it list something of, and for a group, no policy granting the group by
name -- is, to that caller, no scope at all: it gets the
very 404 a name the catalog does not serve gets, on ``/mcp/{name}`` and
``/sse/{name}`` alike, so trying names teaches nothing.  ``/mcp`` and ``/sse``
themselves name nothing and are always served.

``/healthz`` is liveness only (the process serves HTTP).  ``/readyz`` says
whether the hub can serve, naming nothing, and one dead upstream never makes
it 503; ``/status`` (authenticated) and ``/metrics`` tell how each upstream
is doing (see :mod:`hub_proxy.status`).

The upstreams, and the watch of the configuration folder when there is one,
run in the application's cleanup context: started with the app, cancelled
when it shuts down -- after the endpoints closed their sessions, so every
in-flight request got an answer first -- which stops every child.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final, Protocol

from aiohttp import web

from hub_proxy.access import AccessControl, caller
from hub_proxy.auth.metadata import WELL_KNOWN_PATH
from hub_proxy.auth.sealing import SealedSessionIds
from hub_proxy.catalog import Catalog
from hub_proxy.kube import Connection
from hub_proxy.live import LiveCatalog, follow_cluster, watch_folder
from hub_proxy.session import session_factory
from hub_proxy.smart import SmartRouting, underlying
from hub_proxy.status import Status, export_metrics, metrics, metrics_listener
from hub_proxy.telemetry import metrics as measures
from hub_proxy.telemetry.instrumented import instrumented, middlewares
from hub_proxy.telemetry.mcp import Attributes, principal_attributes
from hub_proxy.telemetry.metrics import SESSIONS_OPEN
from hub_proxy.transport import (
    EndpointOptions,
    SessionFactory,
    Sessions,
    SSEEndpoint,
    StreamableHTTPEndpoint,
    jsonrpc,
)
from hub_proxy.transport.stateless import StatelessEndpoint
from hub_proxy.upstreams import Upstreams

CATALOG: Final = web.AppKey("catalog", LiveCatalog)
UPSTREAMS: Final = web.AppKey("upstreams", Upstreams)
FOLDER: Final = web.AppKey("folder", Path)
CLUSTER: Final = web.AppKey("cluster", tuple)
SMART: Final = web.AppKey("smart", SmartRouting)

logger = logging.getLogger(__name__)


def create_app(
    live: LiveCatalog,
    upstreams: Upstreams,
    access: AccessControl,
    session_key: bytes,
    *,
    options: EndpointOptions | None = None,
    folder: Path | None = None,
    cluster: tuple[Connection, str] | None = None,
    smart: SmartRouting | None = None,
    metrics_at: tuple[str, int] | None = None,
) -> web.Application:
    """The hub's app; changes to ``folder``, or to a ``cluster`` namespace, apply live.

    ``session_key`` seals streamable-HTTP session ids: replicas that share it
    serve each other's sessions.  ``metrics_at`` (host, port) serves
    ``/metrics`` on a listener of its own instead of beside the endpoints.
    """
    app = web.Application(middlewares=[*middlewares(), access.middleware])
    app.on_cleanup.append(access.close)
    app[CATALOG] = live
    app[UPSTREAMS] = upstreams
    probes = Status(live, upstreams, access, loaded=cluster is None)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", probes.readyz)
    app.router.add_get("/status", probes.status)
    app.cleanup_ctx.append(export_metrics(upstreams))
    if metrics_at is None:
        app.router.add_get("/metrics", metrics)
    else:
        app.cleanup_ctx.append(metrics_listener(*metrics_at))
    app.router.add_get(WELL_KNOWN_PATH, access.metadata)
    app.router.add_get(f"{WELL_KNOWN_PATH}/{{path:.*}}", access.metadata)
    base = options or EndpointOptions()
    # One table for every endpoint: its limits are the process's, and revoked
    # credentials end their sessions wherever they are.  The hub's streams are
    # resumable (SEP-1699), so that its clients lose nothing it would not.
    sessions = base.sessions if base.sessions is not None else Sessions()
    SESSIONS_OPEN.set_function(sessions.__len__)
    base = dataclasses.replace(base, sessions=sessions, resumable_streams=True)
    access.on_revoked(lambda owners: sessions.end_owned_by(owners, "its credentials were revoked"))
    for prefix, transport in (
        ("/mcp", _streamable(live, base, session_key)),
        ("/sse", _legacy(base)),
    ):
        endpoints = _Endpoints(live, upstreams, access, transport, smart)
        app.router.add_route("*", prefix, endpoints.handle)
        # Deeper paths too (/mcp/{namespace}/{group} will be a scope in cluster).
        app.router.add_route("*", f"{prefix}/{{name:.+}}", endpoints.handle)
        app.on_shutdown.append(endpoints.close)
    if folder is not None:
        app[FOLDER] = folder
    if cluster is not None:
        app[CLUSTER] = cluster
    if smart is not None:
        app[SMART] = smart
    app.cleanup_ctx.append(_running_upstreams)
    return app


class _Endpoint(Protocol):
    """What the hub needs of a transport's endpoint for one scope."""

    async def handle(self, request: web.Request) -> web.StreamResponse: ...

    async def close(self) -> None: ...


class _Transport(Protocol):
    """Makes one transport's endpoint for the scope ``key``, with that scope's sessions."""

    def __call__(self, key: str, sessions: SessionFactory, /) -> _Endpoint: ...


def _streamable(live: LiveCatalog, options: EndpointOptions, session_key: bytes) -> _Transport:
    def endpoint(key: str, sessions: SessionFactory) -> _Endpoint:
        declines = functools.partial(_per_client_servers, live, key)
        stateless = StatelessEndpoint(sessions, options, declines=declines)
        # Bound to the scope: a session id of /mcp/a is no session at /mcp/b.
        sealed = SealedSessionIds(session_key, context=f"/mcp/{key}".encode())
        scoped = dataclasses.replace(options, session_ids=sealed)
        return StreamableHTTPEndpoint(sessions, scoped, stateless)

    return endpoint


def _legacy(options: EndpointOptions) -> _Transport:
    def endpoint(_key: str, sessions: SessionFactory) -> _Endpoint:
        return SSEEndpoint(sessions, options)

    return endpoint


def _per_client_servers(live: LiveCatalog, key: str) -> str | None:
    """Why the scope ``key`` serves no stateless requests, if it has servers that need sessions."""
    names = live.current.per_client_members.get(key)
    if names is None:
        return None
    return f"sessionMode perClient needs a session: {', '.join(names)}"


class _Endpoints:
    """One endpoint of one transport per scope in force, made on first use."""

    def __init__(
        self,
        live: LiveCatalog,
        upstreams: Upstreams,
        access: AccessControl,
        transport: _Transport,
        smart: SmartRouting | None = None,
    ) -> None:
        self._live = live
        self._upstreams = upstreams
        self._access = access
        self._transport = transport
        # /mcp/$smart and /mcp/$smart/{group}: sessions of hub_proxy.smart's own.
        self._smart = smart
        self._by_key: dict[str, _Endpoint] = {}
        self._closing: set[asyncio.Task[None]] = set()
        live.subscribe(self._replaced)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info.get("name", "")
        catalog = self._live.current
        scope_key = self._scope_key(key, catalog)
        if scope_key is None or (scope_key and not self._known(scope_key, catalog)):
            logger.info(
                "scope refused",
                extra={
                    "path": request.path,
                    "principal": str(caller()),
                    "exists": scope_key is not None,
                },
            )
            return unknown_scope(key)
        endpoint = self._by_key.get(key)
        if endpoint is None:
            factory = (
                self._smart.session_factory(key)
                if self._smart is not None and key not in self._live.current.scopes
                else session_factory(key, self._live, self._upstreams, self._access)
            )
            measured = instrumented(factory, measures.HUB, _caller_attributes)
            endpoint = self._by_key[key] = self._transport(key, measured)
        return await endpoint.handle(request)

    def _known(self, key: str, catalog: Catalog) -> bool:
        """Whether the caller may list something of some server of scope ``key``, or the group."""
        principal = caller()
        if key in catalog.groups and self._access.sees_group(principal, key):
            return True
        return any(self._access.sees(principal, server) for server in catalog.scopes[key].known)

    async def close(self, _app: web.Application) -> None:
        endpoints, self._by_key = list(self._by_key.values()), {}
        await asyncio.gather(*(endpoint.close() for endpoint in endpoints))

    def _scope_key(self, key: str, catalog: Catalog) -> str | None:
        """The catalog scope that ``key`` serves (a smart key: the scope it searches), if any."""
        if key in catalog.scopes:
            return key
        searched = underlying(key, catalog) if self._smart is not None else None
        return searched[0] if searched is not None else None

    def _replaced(self, _old: Catalog, new: Catalog) -> None:
        for key in [key for key in self._by_key if self._scope_key(key, new) is None]:
            closing = asyncio.create_task(self._by_key.pop(key).close())
            # Held until done: the loop keeps only weak references to tasks.
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)


async def _running_upstreams(app: web.Application) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(app[UPSTREAMS].run())]
    if FOLDER in app:
        tasks.append(asyncio.create_task(watch_folder(app[FOLDER], app[CATALOG], app[UPSTREAMS])))
    if CLUSTER in app:
        connection, namespace = app[CLUSTER]
        tasks.append(
            asyncio.create_task(follow_cluster(connection, namespace, app[CATALOG], app[UPSTREAMS]))
        )
    if SMART in app:
        tasks.append(asyncio.create_task(app[SMART].run()))
    for task in tasks:
        task.add_done_callback(_report_failure)
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _report_failure(task: asyncio.Task[None]) -> None:
    # The multiplexers restart their children themselves and the watch survives
    # invalid changes; ending otherwise is a bug, whose reason belongs in the log.
    if not task.cancelled() and task.exception() is not None:
        logger.error("the upstreams or the folder watch stopped", exc_info=task.exception())


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _caller_attributes() -> Attributes:
    return principal_attributes(caller().key)


def unknown_scope(name: str) -> web.Response:
    message = f"no MCP server or group named {name[:100]!r} is served here"
    error = jsonrpc.Error(None, jsonrpc.INVALID_REQUEST, message)
    return web.Response(status=404, body=jsonrpc.encode(error), content_type="application/json")
