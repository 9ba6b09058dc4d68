"""Many MCP servers in one process, for benchmarks that need hundreds of them.

``python -m tests.benchmarks.many_tools_server --port P --servers 200 --tools 25``
serves ``/s0`` ... ``/s199`` over streamable HTTP (the hub's own transport),
each a server of its own (its own sessions) with ``--tools`` tools that have
an input schema and a description of realistic length.  A process per server
would cost the machine gigabytes before the hub did anything.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from hub_proxy.transport import EndpointOptions, Peer, StreamableHTTPEndpoint, jsonrpc

METHOD_NOT_FOUND = -32601


def tools(server: int, count: int) -> list[Mapping[str, Any]]:
    return [
        {
            "name": f"tool_{number:03d}",
            "title": f"Tool {number} of server {server}",
            "description": f"Does thing number {number} for server {server}: looks something up, "
            "transforms it and answers with a short text, as many real tools do.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to look up."},
                    "limit": {"type": "integer", "default": 10},
                },
                "required": ["query"],
            },
        }
        for number in range(count)
    ]


class _Server:
    """One server: every session answers initialize, ping and tools/list alike."""

    def __init__(self, name: str, listed: list[Mapping[str, Any]]) -> None:
        self._name = name
        self._listed = listed

    def session(self, peer: Peer) -> _Server:
        # Stateless: one object serves every session of the server.
        return self

    async def handle_request(self, request: jsonrpc.Request) -> jsonrpc.Response:
        match request.method:
            case "initialize":
                version = (request.params or {}).get("protocolVersion", "2025-06-18")
                return request.respond(
                    {
                        "protocolVersion": version,
                        "capabilities": {"tools": {}},
                        "serverInfo": {"name": self._name, "version": "1"},
                    }
                )
            case "ping":
                return request.respond({})
            case "tools/list":
                return request.respond({"tools": self._listed})
        return request.fail(METHOD_NOT_FOUND, f"method not found: {request.method}")

    async def handle_notification(self, notification: jsonrpc.Notification) -> None:
        pass

    async def close(self) -> None:
        pass


def app(servers: int, tool_count: int) -> web.Application:
    application = web.Application()
    for number in range(servers):
        server = _Server(f"s{number}", tools(number, tool_count))
        endpoint = StreamableHTTPEndpoint(server.session, EndpointOptions())
        application.router.add_route("*", f"/s{number}", endpoint.handle)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--tools", type=int, default=25)
    args = parser.parse_args()
    web.run_app(app(args.servers, args.tools), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
