"""A stdio MCP server that can be told to crash, and then crashes at every start.

A child in a crash loop is what a call must not wait for.  Until the file
named by ``CRASH_MARKER`` exists the server works; its ``crash`` tool creates
that file and exits, and from then on the server exits with code 3 as soon as
it starts.  Run it as ``CRASH_MARKER=/some/file python tests/hub_proxy/crash_server.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer

MARKER = Path(os.environ["CRASH_MARKER"])

server = MCPServer("crashy")


@server.tool()
def hello() -> str:
    """Say hello, while the server still runs."""
    return "hello"


@server.tool()
def crash() -> str:
    """Crash now, and at every start from now on."""
    MARKER.touch()
    os._exit(3)


if __name__ == "__main__":
    if MARKER.exists():
        sys.exit(3)
    server.run("stdio")
