"""The stdio bridge: one stdio MCP server, served over MCP streamable HTTP.

An ``MCPServer`` with ``transport: stdio`` runs from its own, unchanged image;
the operator puts this bridge next to it in the pod, so the hub only ever
talks HTTP to a Service.  In the pod the bridge reaches the server through two
FIFOs on a shared volume; for tests and local use it spawns the server itself.
See ``python -m hub_proxy.bridge --help``.

The bridge is an entry point: how the server is reached, and how one server
is shared by many HTTP sessions, is :mod:`hub_proxy.upstream`'s, the same code
the hub runs its own upstreams with.

* :mod:`~hub_proxy.bridge.app` -- the HTTP endpoints;
* :mod:`~hub_proxy.bridge.logs` -- one JSON object per log line;
* :mod:`~hub_proxy.bridge.__main__` -- the command line and the process's life.
"""
