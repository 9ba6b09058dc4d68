"""The operator's own HTTP endpoint: ``/healthz`` for the kubelet, ``/metrics`` for Prometheus.

One small aiohttp server on ``--host``/``--port`` (127.0.0.1:8081 by
default, beside the hub's 8080, so an operator run on a laptop next to
``make run`` does not fight it for the port; the Deployment sets 0.0.0.0).
kopf's own liveness endpoint serves one path only, and a second port for
metrics would be one more thing to configure and secure.

``/healthz`` answers while the operator's event loop does, exactly what
kopf's would report without probe handlers.  A replica standing by for its
peer answers too: it is alive, and must not be restarted for waiting.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler


async def alive(_request: web.Request) -> web.Response:
    return web.json_response({"alive": True})


class EndpointError(Exception):
    """The endpoint cannot listen where it was told to."""


async def serve(host: str, port: int) -> web.AppRunner:
    """Start serving; the caller cleans the returned runner up."""
    app = web.Application()
    app.router.add_get("/healthz", alive)
    app.router.add_get("/metrics", make_aiohttp_handler())
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise EndpointError(
            f"cannot serve /healthz and /metrics on {host}:{port} ({exc.strerror}); "
            "choose another with --port or MCPHUB_PORT"
        ) from exc
    return runner
