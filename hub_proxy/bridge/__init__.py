"""The stdio bridge: one stdio MCP server, served over MCP streamable HTTP.

An ``MCPServer`` with ``transport: stdio`` runs from its own, unchanged image;
the operator puts this bridge next to it in the pod, so the hub only ever
talks HTTP to a Service.  In the pod the bridge reaches the server through two
FIFOs on a shared volume; for tests and local use it spawns the server itself.
See ``python -m hub_proxy.bridge --help``.

* :mod:`~hub_proxy.bridge.channel` -- how the server's stdin and stdout are reached;
* :mod:`~hub_proxy.bridge.multiplexer` -- one server shared by many HTTP sessions;
* :mod:`~hub_proxy.bridge.app` -- the HTTP endpoints;
* :mod:`~hub_proxy.bridge.logs` -- one JSON object per log line;
* :mod:`~hub_proxy.bridge.__main__` -- the command line and the process's life.
"""
