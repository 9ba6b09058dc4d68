"""The hub's aiohttp application: one MCP endpoint per scope, and the probes.

Each scope of the catalog gets a :class:`~hub_proxy.transport.StreamableHTTPEndpoint`
of its own, mounted at its literal path, because a session belongs to one
scope for its whole life and the transport's session factory is where that
binding happens.  Literal routes are registered before the catch-all
``/mcp/{name}``, which answers an unknown name with 404 and a JSON-RPC error
body, as the transport does for its own refusals: SDK clients show that text.

``/healthz`` is liveness only (the process serves HTTP).  ``/readyz`` is 200
once every upstream is initialized and listed, and otherwise 503 with each
upstream's reason, so that a stuck server is visible from one curl.

The upstreams run in the application's cleanup context: started with the app,
cancelled when it shuts down -- after the endpoints closed their sessions, so
every in-flight request got an answer first -- which stops every child.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web

from hub_proxy.catalog import Catalog
from hub_proxy.session import session_factory
from hub_proxy.transport import EndpointOptions, StreamableHTTPEndpoint, jsonrpc
from hub_proxy.upstreams import Upstreams

CATALOG: Final = web.AppKey("catalog", Catalog)
UPSTREAMS: Final = web.AppKey("upstreams", Upstreams)

logger = logging.getLogger(__name__)


def create_app(
    catalog: Catalog, upstreams: Upstreams, options: EndpointOptions | None = None
) -> web.Application:
    app = web.Application()
    app[CATALOG] = catalog
    app[UPSTREAMS] = upstreams
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    for scope in catalog.scopes.values():
        StreamableHTTPEndpoint(session_factory(scope, upstreams), options).mount(app, scope.path)
    # Deeper paths too (/mcp/{namespace}/{group} will be a scope in cluster).
    app.router.add_route("*", "/mcp/{name:.+}", unknown_scope)
    app.cleanup_ctx.append(_running_upstreams)
    return app


async def _running_upstreams(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[UPSTREAMS].run())
    task.add_done_callback(_report_failure)
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _report_failure(task: asyncio.Task[None]) -> None:
    # The multiplexers restart their children themselves; ending otherwise is a bug,
    # and /readyz turns 503 by itself, but the reason belongs in the log.
    if not task.cancelled() and task.exception() is not None:
        logger.error("the upstreams stopped", exc_info=task.exception())


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    statuses = {u.name: u.status for u in request.app[UPSTREAMS].all()}
    ready = all(status.ready for status in statuses.values())
    body = {
        "ready": ready,
        "servers": {name: dataclasses.asdict(status) for name, status in statuses.items()},
        "unsupported": dict(request.app[CATALOG].unsupported),
    }
    return web.json_response(body, status=200 if ready else 503)


async def unknown_scope(request: web.Request) -> web.Response:
    name = request.match_info["name"][:100]
    message = f"no MCP server or group named {name!r} is served here"
    error = jsonrpc.Error(None, jsonrpc.INVALID_REQUEST, message)
    return web.Response(status=404, body=jsonrpc.encode(error), content_type="application/json")
