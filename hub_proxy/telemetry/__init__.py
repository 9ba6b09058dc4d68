"""What the programs tell about themselves: Prometheus metrics and OpenTelemetry traces.

* :mod:`~hub_proxy.telemetry.mcp` makes MCP requests spans as OpenTelemetry's
  semantic conventions for MCP describe them, and carries trace context in
  HTTP headers and in ``params._meta``;
* :mod:`~hub_proxy.telemetry.metrics` names the hub's and the bridge's
  Prometheus metrics, with bounded labels;
* :mod:`~hub_proxy.telemetry.states` exports servers' up/down state and
  restarts, read from their supervisors when scraped;
* :mod:`~hub_proxy.telemetry.instrumented` is where both happen: around a
  session's requests, and around the hub's calls to its servers.

Whether tracing is on, and the tracer, are :mod:`mcphub_runtime.tracing`'s,
which the operator shares.  Imports go one way: the hub and the bridge import
this package; it imports only the transport's vocabulary
(:mod:`hub_proxy.transport`) and the runtime.
"""
