"""A stdio MCP server whose one tool keeps it busy: the upstream as the bottleneck.

``work`` computes for the milliseconds it is asked to, holding the server's
only thread, so calls are served one after another and the server's core is
what limits how many a second get through.  That is the case the hub's
throughput target is about: behind the hub, a busy upstream should serve
nearly as many calls as when called directly, the hub's own work fitting on
the other core.  Run it as ``python tests/benchmarks/busy_server.py``.
"""

from __future__ import annotations

import time

from mcp.server.mcpserver import MCPServer

server = MCPServer("busy")


@server.tool()
async def work(milliseconds: float) -> str:
    """Compute for ``milliseconds``, answering nothing else meanwhile.

    A coroutine that never awaits, on purpose: the SDK runs plain functions in
    worker threads, where calls would overlap and a call's cost would be time
    spent waiting, not computing.
    """
    deadline = time.perf_counter() + milliseconds / 1000
    while time.perf_counter() < deadline:
        pass
    return f"worked {milliseconds} ms"


if __name__ == "__main__":
    server.run("stdio")
