"""MCP transports the hub and the stdio bridge serve on, at the JSON-RPC message level.

Application code (the bridge, the hub's own MCP endpoints) imports from here
and never the other way round: a transport knows how messages travel, not what
they mean.  Two transports offer one interface (see
:mod:`hub_proxy.transport.base`): streamable HTTP
(:mod:`hub_proxy.transport.streamable_http`) and the legacy HTTP+SSE one
(:mod:`hub_proxy.transport.sse`), so an application serves both unchanged.
The application says who makes each HTTP request by setting :data:`OWNER`
on it (and when its credential expires, :data:`CREDENTIAL_EXPIRES`), and
sessions are bound to that owner; where session ids come from, and whether
another process's ids are honoured, is a :class:`SessionIds` in the
endpoint's :class:`EndpointOptions`, and how many sessions there may be, how
long an idle one lives, and ending an owner's sessions is the
:class:`Sessions` table the endpoints of a process share.
"""

from hub_proxy.transport import jsonrpc
from hub_proxy.transport.base import (
    CREDENTIAL_EXPIRES,
    DEFAULT_MAX_BODY_BYTES,
    JSON,
    OWNER,
    SSE,
    EndpointOptions,
    Peer,
    Session,
    SessionClosedError,
    SessionFactory,
    TransportError,
)
from hub_proxy.transport.session_ids import RandomSessionIds, SessionIds
from hub_proxy.transport.sessions import SessionLimits, Sessions
from hub_proxy.transport.sse import SSEEndpoint
from hub_proxy.transport.streamable_http import (
    LAST_EVENT_ID_HEADER,
    PROTOCOL_VERSION_HEADER,
    SESSION_HEADER,
    StreamableHTTPEndpoint,
)

__all__ = [
    "CREDENTIAL_EXPIRES",
    "DEFAULT_MAX_BODY_BYTES",
    "JSON",
    "LAST_EVENT_ID_HEADER",
    "OWNER",
    "PROTOCOL_VERSION_HEADER",
    "SESSION_HEADER",
    "SSE",
    "EndpointOptions",
    "Peer",
    "RandomSessionIds",
    "SSEEndpoint",
    "Session",
    "SessionClosedError",
    "SessionFactory",
    "SessionIds",
    "SessionLimits",
    "Sessions",
    "StreamableHTTPEndpoint",
    "TransportError",
    "jsonrpc",
]
