"""The bridge's HTTP face: the MCP endpoint, ``/healthz`` and ``/readyz``.

The two probes answer different questions on purpose.  ``/healthz`` says the
bridge process is alive and serving HTTP, nothing more: restarting the bridge
cannot fix a crashing server, so liveness must not depend on it.
``/readyz`` says whether a client would be served right now -- the server is
initialized and answers a ping -- and otherwise why not, so that the pod
drops out of its Service while the server restarts and ``kubectl describe``
shows the reason.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from aiohttp import web

from hub_proxy.transport import EndpointOptions, StreamableHTTPEndpoint
from hub_proxy.upstream.multiplexer import Multiplexer

MULTIPLEXER: Final = web.AppKey("multiplexer", Multiplexer)


def create_app(
    multiplexer: Multiplexer, *, path: str = "/mcp", options: EndpointOptions | None = None
) -> web.Application:
    app = web.Application()
    app[MULTIPLEXER] = multiplexer
    StreamableHTTPEndpoint(multiplexer.open_session, options).mount(app, path)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    status = await request.app[MULTIPLEXER].check()
    return web.json_response(dataclasses.asdict(status), status=200 if status.ready else 503)
