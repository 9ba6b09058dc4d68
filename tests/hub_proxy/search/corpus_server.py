"""A stdio MCP server that serves one corpus file's tools, for the smart-routing tests.

``python -m tests.hub_proxy.search.corpus_server FILE.json`` lists the file's
tools exactly as published (name, title, description, input schema) and
answers every call with what it was called with -- its server, the tool and
the arguments as JSON -- so a test can tell that a call reached the right
upstream with its arguments intact.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from hub_proxy.search.corpus import load_server


def main(path: Path) -> None:
    corpus = load_server(path)
    tools = [
        types.Tool(
            name=tool["name"],
            title=tool.get("title"),
            description=tool.get("description"),
            input_schema=tool.get("inputSchema") or {"type": "object"},
        )
        for tool in corpus["tools"]
    ]

    async def list_tools(
        _ctx: object, _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(_ctx: object, params: types.CallToolRequestParams) -> types.CallToolResult:
        said = {"server": corpus["server"], "tool": params.name, "arguments": params.arguments}
        return types.CallToolResult(content=[types.TextContent(text=json.dumps(said))])

    server: Server = Server(str(corpus["server"]), on_list_tools=list_tools, on_call_tool=call_tool)

    async def serve() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(serve)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
