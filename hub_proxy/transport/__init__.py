"""MCP transports the hub and the stdio bridge serve on, at the JSON-RPC message level.

Application code (the bridge today, the hub's own MCP endpoint next) imports
from here and never the other way round: a transport knows how messages travel,
not what they mean.  See :mod:`hub_proxy.transport.streamable_http` for the
interface an application implements.
"""

from hub_proxy.transport import jsonrpc
from hub_proxy.transport.streamable_http import (
    DEFAULT_MAX_BODY_BYTES,
    PROTOCOL_VERSION_HEADER,
    SESSION_HEADER,
    EndpointOptions,
    Peer,
    Session,
    SessionClosedError,
    SessionFactory,
    StreamableHTTPEndpoint,
    TransportError,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "PROTOCOL_VERSION_HEADER",
    "SESSION_HEADER",
    "EndpointOptions",
    "Peer",
    "Session",
    "SessionClosedError",
    "SessionFactory",
    "StreamableHTTPEndpoint",
    "TransportError",
    "jsonrpc",
]
