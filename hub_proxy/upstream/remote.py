"""Remote upstreams: an MCP server reached over HTTP, behind the same multiplexer as a child.

The :class:`~hub_proxy.upstream.multiplexer.Multiplexer` already does
everything a long-lived upstream session needs -- one handshake per lifetime,
id and progress-token remapping, answers for whatever a lost lifetime owed,
re-opening with capped back-off, ``list_changed`` to every session after a
re-open -- and it reaches its server through a
:class:`~hub_proxy.upstream.base.Channel`.  So a remote server is one more
channel: :class:`RemoteChannel` opens a link that carries the multiplexer's
JSON-RPC messages.  Streamable HTTP, the transport of nearly every remote
server and the one on the hot path, goes through the hub's own lean client in
:mod:`hub_proxy.upstream.streamable_http`: the MCP SDK's transport turned
every message into models and back through several streams and tasks, which
cost about 5 ms a call.  Legacy SSE upstreams, rare and deprecated, still use
the SDK's ``sse_client`` (:mod:`hub_proxy.upstream.sse`).

One lifetime of a link is one upstream HTTP session.  It ends when the
transport fails (connection refused, reset), when the server closes the
stream, or when the server no longer knows the session: HTTP 404 for a request
that carried the session id, which is how a restarted server or an expired
session shows.  Servers built on the TypeScript SDK's examples (the reference
``server-everything`` among them) answer 400 "No valid session ID provided"
instead; a 400 whose body speaks of the session counts the same.  The
multiplexer then re-initializes, which is the new session.  A request that met
the expiry was never processed, so it is safe to send again:
:func:`retrying_expired` does so, once, after the re-initialization.  Any
other loss is reported, not retried, because the server may have acted on it.
"""

from __future__ import annotations

import logging

from hub_proxy.catalog import RemoteTarget
from hub_proxy.transport import Session, jsonrpc
from hub_proxy.upstream.base import SERVER_UNAVAILABLE, SESSION_EXPIRED, Link
from hub_proxy.upstream.sse import SseLink
from hub_proxy.upstream.streamable_http import StreamableHttpLink

logger = logging.getLogger(__name__)


class RemoteChannel:
    """Reaches one remote MCP server; every :meth:`open` is a fresh upstream session."""

    def __init__(self, target: RemoteTarget) -> None:
        self._target = target

    def describe(self) -> str:
        return f"connecting to {self._target.url}"

    async def open(self) -> Link:
        link: StreamableHttpLink | SseLink
        if self._target.transport == "sse":
            link = SseLink(self._target)
        else:
            link = StreamableHttpLink(self._target)
        link.start()
        return link


class _RetryingExpired:
    """A multiplexer session that sends a request again, once, if its upstream session expired."""

    def __init__(self, inner: Session) -> None:
        self._inner = inner

    async def handle_request(self, request: jsonrpc.Request) -> jsonrpc.Response:
        answer = await self._inner.handle_request(request)
        if (
            isinstance(answer, jsonrpc.Error)
            and answer.code == SERVER_UNAVAILABLE
            and SESSION_EXPIRED in answer.message
        ):
            # The multiplexer waits for the re-initialized session before sending.
            logger.info("retrying on a new upstream session", extra={"method": request.method})
            answer = await self._inner.handle_request(request)
        return answer

    async def handle_notification(self, notification: jsonrpc.Notification) -> None:
        await self._inner.handle_notification(notification)

    async def close(self) -> None:
        await self._inner.close()


def retrying_expired(inner: Session) -> Session:
    """``inner``, with requests lost to an expired upstream session sent once more."""
    return _RetryingExpired(inner)
