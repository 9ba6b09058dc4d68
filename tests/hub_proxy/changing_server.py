"""A stdio MCP server whose tool list changes on request, for the hub's list_changed path.

The reference servers of the test bed never change their tools at run time,
so this one does, on a call: ``grow`` registers one more tool and tells the
client ``notifications/tools/list_changed`` -- what a real server does when a
plugin loads.  Run it as ``python tests/hub_proxy/changing_server.py``.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("changing")


def _added(number: int) -> str:
    return f"added {number}"


@server.tool()
async def grow(ctx: Context) -> str:
    """Register one more tool and announce it."""
    number = len(await server.list_tools())
    server.add_tool(lambda: _added(number), name=f"added_{number}", description="Added later.")
    await ctx.session.send_tool_list_changed()
    return f"added_{number}"


if __name__ == "__main__":
    server.run("stdio")
