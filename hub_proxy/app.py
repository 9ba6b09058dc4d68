"""The hub's aiohttp application.

For now the hub serves only its health endpoint: the catalog, upstreams and
the MCP endpoint arrive with the hub issue.  The application factory is the
seam they will plug into, so the process model (one ``aiohttp`` app, run by
``python -m hub_proxy``) is already the final one.
"""

from __future__ import annotations

from aiohttp import web


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    return app
