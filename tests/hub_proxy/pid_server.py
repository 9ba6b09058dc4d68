"""A stdio MCP server that tells its process id, to see which child answered a call.

``sessionMode: perClient`` promises each downstream session a child of its
own; the reference servers have no tool that would show which one answered.
Run it as ``python tests/hub_proxy/pid_server.py``.
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("pid")


@server.tool()
def pid() -> int:
    """The process id of this server."""
    return os.getpid()


if __name__ == "__main__":
    server.run("stdio")
