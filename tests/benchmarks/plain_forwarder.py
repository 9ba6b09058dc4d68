"""The least an HTTP hop can cost here: aiohttp's server and client, and nothing else.

A benchmark reference, not a proxy anyone should run.  It passes each POST
and DELETE of a streamable-HTTP session to one upstream URL and its answer
back, read whole, with the session headers; it refuses GET (clients do without
the server's own stream).  No authentication, no sessions, no routing, no
JSON: the hub does all of that on top of the same two aiohttp halves, so the
difference between this hop and the hub's is what the hub's own work costs,
and this hop's cost is the floor any aiohttp-based hub has on the machine.

    python -m tests.benchmarks.plain_forwarder PORT UPSTREAM_URL
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Final

import aiohttp
from aiohttp import web
from yarl import URL

UPSTREAM: Final = web.AppKey("upstream", URL)
HTTP: Final = web.AppKey("http", aiohttp.ClientSession)
PASSED: Final = ("Content-Type", "Accept", "Mcp-Session-Id", "MCP-Protocol-Version")


async def forward(request: web.Request) -> web.Response:
    if request.method == "GET":
        return web.Response(status=405)
    headers = {name: request.headers[name] for name in PASSED if name in request.headers}
    async with request.app[HTTP].request(
        request.method, request.app[UPSTREAM], data=await request.read(), headers=headers
    ) as answer:
        back = {name: answer.headers[name] for name in PASSED if name in answer.headers}
        return web.Response(status=answer.status, body=await answer.read(), headers=back)


async def client(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as http:
        app[HTTP] = http
        yield


def main() -> None:
    port, upstream = int(sys.argv[1]), URL(sys.argv[2])
    app = web.Application()
    app[UPSTREAM] = upstream
    app.cleanup_ctx.append(client)
    app.router.add_route("*", upstream.path, forward)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
