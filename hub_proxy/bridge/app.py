"""The bridge's HTTP face: the MCP endpoint, ``/healthz``, ``/readyz`` and ``/metrics``.

The two probes answer different questions on purpose.  ``/healthz`` says the
bridge process is alive and serving HTTP, nothing more: restarting the bridge
cannot fix a crashing server, so liveness must not depend on it.
``/readyz`` says whether a client would be served right now -- the server is
initialized and answers a ping -- and otherwise why not, so that the pod
drops out of its Service while the server restarts and ``kubectl describe``
shows the reason.

Every request is counted and timed (``mcphub_bridge_*``, see
:mod:`hub_proxy.bridge.metrics`) and, while tracing is on, a SERVER span
whose context the request carries on to the server in its ``_meta``: an
instrumented stdio server continues the hub's trace.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from hub_proxy.bridge.metrics import export_child
from hub_proxy.telemetry import metrics
from hub_proxy.telemetry.instrumented import instrumented, middlewares
from hub_proxy.transport import EndpointOptions, StreamableHTTPEndpoint
from hub_proxy.upstream.multiplexer import Multiplexer

MULTIPLEXER: Final = web.AppKey("multiplexer", Multiplexer)


def create_app(
    multiplexer: Multiplexer, *, path: str = "/mcp", options: EndpointOptions | None = None
) -> web.Application:
    app = web.Application(middlewares=middlewares())
    app[MULTIPLEXER] = multiplexer
    sessions = instrumented(multiplexer.open_session, metrics.BRIDGE)
    StreamableHTTPEndpoint(sessions, options).mount(app, path)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", make_aiohttp_handler())
    app.cleanup_ctx.append(export_child(lambda: multiplexer.status))
    return app


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    status = await request.app[MULTIPLEXER].check()
    return web.json_response(dataclasses.asdict(status), status=200 if status.ready else 503)
