"""A stdio MCP server that logs one message at every level, to see which a client gets.

``logging/setLevel`` is filtered by the hub per client; the reference servers
log at random levels on a timer, which no bounded test can rely on.  Run it as
``python tests/hub_proxy/log_server.py``.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer

from hub_proxy.session import LOG_LEVELS

server = MCPServer("log")


@server.tool()
async def log_every_level(ctx: Context) -> str:
    """Send one log message at each level, least severe first."""
    for level in LOG_LEVELS:
        await ctx.log(level, f"a {level} message")
    return "logged"


if __name__ == "__main__":
    server.run("stdio")
