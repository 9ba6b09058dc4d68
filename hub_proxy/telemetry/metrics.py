"""The Prometheus metrics of the hub and the bridge: names, labels, and how a request's count.

| metric | type | labels |
|---|---|---|
| ``mcphub_mcp_requests_total`` | counter | ``method``, ``outcome`` |
| ``mcphub_mcp_request_duration_seconds`` | histogram | ``method`` |
| ``mcphub_mcp_requests_in_flight`` | gauge | |
| ``mcphub_upstream_requests_total`` | counter | ``server``, ``method``, ``outcome`` |
| ``mcphub_upstream_request_duration_seconds`` | histogram | ``server``, ``method`` |
| ``mcphub_tool_calls_total`` | counter | ``server``, ``tool``, ``outcome`` |
| ``mcphub_list_changed_sent_total`` | counter | ``kind`` |
| ``mcphub_auth_refusals_total`` | counter | ``reason`` |
| ``mcphub_sessions_open`` | gauge | |

and the bridge's own, so that a Prometheus scraping both never adds the
bridge's requests (which come from the hub) to the hub's:

| metric | type | labels |
|---|---|---|
| ``mcphub_bridge_requests_total`` | counter | ``method``, ``outcome`` |
| ``mcphub_bridge_request_duration_seconds`` | histogram | ``method`` |
| ``mcphub_bridge_requests_in_flight`` | gauge | |
| ``mcphub_bridge_child_up`` | gauge | |
| ``mcphub_bridge_child_restarts_total`` | counter | |

``mcphub_mcp_*`` count what clients ask of the hub (``mcphub_bridge_*`` of
the bridge); ``mcphub_upstream_*``
what the hub sent on to which of its servers, as the hub saw it (network
and the server's time together).  The hub also exports
``mcphub_upstream_up`` and ``mcphub_upstream_restarts_total`` (per server,
read from the upstreams when scraped: :mod:`hub_proxy.status`) and the
audit's ``mcphub_access_decisions_total``.  ``mcphub_sessions_open`` is read
from the session table when scraped, so that opening a session costs nothing
more.

Every label value comes from a bounded set, never from what a client typed:

* ``method`` is a request method of MCP (as the SDK's types list them), else
  ``other``;
* ``outcome`` is ``ok``, ``tool_error`` (a tool result with ``isError``),
  ``client_error`` (JSON-RPC -32700 to -32602: the request itself was wrong,
  an unknown tool included), ``error`` (anything else: the upstream failed,
  is down, timed out) or ``cancelled``;
* ``server`` and ``tool`` name what the catalog publishes: a request reaches
  an upstream only once it resolved to one of its tools, so a client
  inventing names adds no series.  The tool label is the server's own name of
  the tool (the same under every alias and group);
* ``reason`` is the kind of authentication failure (``missing``,
  ``invalid``, ``malformed``) or ``unavailable`` (credentials could not be
  checked now).

Durations are in seconds, with the buckets the MCP semantic conventions
recommend for ``mcp.server.operation.duration``.  Recording a request takes a
few microseconds (a lookup of the labelled child, an increment, a bucket
search), a fraction of a percent of a call through the hub.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Final, Literal

import mcp_types
from prometheus_client import Counter, Gauge, Histogram

from hub_proxy.transport import jsonrpc

Outcome = Literal["ok", "tool_error", "client_error", "error", "cancelled"]

# The conventions' advice for mcp.server.operation.duration, in seconds.
DURATION_BUCKETS: Final = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
# What a request gets wrong by itself: parse error, invalid request, unknown
# method, invalid params (which is also how an unknown tool is answered).
_CLIENT_ERRORS: Final = frozenset({-32700, -32600, -32601, -32602})


def _mcp_methods() -> frozenset[str]:
    """Every request method the MCP SDK's types define, in either direction."""
    found: set[str] = set()
    for value in vars(mcp_types).values():
        if isinstance(value, type) and issubclass(value, mcp_types.Request):
            method = value.model_fields.get("method")
            if method is not None:
                found.update(a for a in typing.get_args(method.annotation) if isinstance(a, str))
    return frozenset(found)


METHODS: Final = _mcp_methods()
OTHER_METHOD: Final = "other"


@dataclass(frozen=True)
class RequestMetrics:
    """The three families that count, time and gauge one program's MCP requests."""

    requests: Counter
    seconds: Histogram
    in_flight: Gauge


def _request_metrics(prefix: str, what: str) -> RequestMetrics:
    return RequestMetrics(
        Counter(
            f"{prefix}_requests_total",
            f"MCP requests {what} answered, by method and outcome",
            ["method", "outcome"],
        ),
        Histogram(
            f"{prefix}_request_duration_seconds",
            f"Time from an MCP request's arrival at {what} to its answer",
            ["method"],
            buckets=DURATION_BUCKETS,
        ),
        Gauge(f"{prefix}_requests_in_flight", f"MCP requests {what} has not answered yet"),
    )


HUB: Final = _request_metrics("mcphub_mcp", "the hub")
BRIDGE: Final = _request_metrics("mcphub_bridge", "the bridge")
UPSTREAM_REQUESTS: Final = Counter(
    "mcphub_upstream_requests_total",
    "Requests the hub sent to an MCP server, by server, method and outcome",
    ["server", "method", "outcome"],
)
UPSTREAM_REQUEST_SECONDS: Final = Histogram(
    "mcphub_upstream_request_duration_seconds",
    "Time an MCP server took to answer the hub, as the hub saw it",
    ["server", "method"],
    buckets=DURATION_BUCKETS,
)
TOOL_CALLS: Final = Counter(
    "mcphub_tool_calls_total",
    "Tool calls the hub sent to an MCP server, by server, tool (the server's name) and outcome",
    ["server", "tool", "outcome"],
)
LIST_CHANGED_SENT: Final = Counter(
    "mcphub_list_changed_sent_total",
    "list_changed notifications sent to clients, by kind (tools, prompts, resources)",
    ["kind"],
)
SESSIONS_OPEN: Final = Gauge(
    "mcphub_sessions_open",
    "MCP sessions open (streamable HTTP and legacy SSE), as the limits count them",
)
AUTH_REFUSALS: Final = Counter(
    "mcphub_auth_refusals_total",
    "Requests refused because their credentials were missing, invalid or could not be checked",
    ["reason"],
)


def method_label(method: str) -> str:
    """``method`` if it is an MCP method the program knows, else ``other``."""
    return method if method in METHODS else OTHER_METHOD


def outcome(answer: jsonrpc.Response) -> Outcome:
    """How an answer ended its request, as the ``outcome`` label says it."""
    if isinstance(answer, jsonrpc.Error):
        return "client_error" if answer.code in _CLIENT_ERRORS else "error"
    if answer.result.get("isError") is True:
        return "tool_error"
    return "ok"
