"""Remote upstreams: an MCP server reached over HTTP, behind the same multiplexer as a child.

The :class:`~hub_proxy.upstream.multiplexer.Multiplexer` already does
everything a long-lived upstream session needs -- one handshake per lifetime,
id and progress-token remapping, answers for whatever a lost lifetime owed,
re-opening with capped back-off, ``list_changed`` to every session after a
re-open -- and it reaches its server through a
:class:`~hub_proxy.upstream.channel.Channel`.  So a remote server is one more
channel: :class:`RemoteChannel` opens a link that carries the multiplexer's
JSON-RPC messages.  Streamable HTTP, the transport of nearly every remote
server and the one on the hot path, goes through the hub's own lean client in
:mod:`hub_proxy.upstream.streamable_http`: the MCP SDK's transport turned
every message into models and back through several streams and tasks, which
cost about 5 ms a call.  Legacy SSE upstreams, rare and deprecated, still use
the SDK's ``sse_client``.

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

import asyncio
import contextlib
import logging
from contextlib import AbstractAsyncContextManager
from typing import Final

import anyio
import httpx2
from mcp.client._transport import ReadStream, TransportStreams, WriteStream
from mcp.client.sse import sse_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.message import SessionMessage
from mcp_types.jsonrpc import jsonrpc_message_adapter
from pydantic import ValidationError

from hub_proxy.catalog import RemoteTarget
from hub_proxy.transport import Session, jsonrpc
from hub_proxy.upstream.channel import Link, UnreadableError
from hub_proxy.upstream.multiplexer import SERVER_UNAVAILABLE
from hub_proxy.upstream.streamable_http import SESSION_EXPIRED, QueuedLink, StreamableHttpLink

_SESSION_HEADER: Final = "mcp-session-id"
# The SSE transport carries the session in the message endpoint's query.
_SSE_SESSION_PARAM: Final = "session_id"
_NOT_FOUND: Final = 404
_BAD_REQUEST: Final = 400

logger = logging.getLogger(__name__)


class _SessionExpiredError(Exception):
    """Raised from the HTTP client so that the SDK does not answer the request itself."""


class RemoteChannel:
    """Reaches one remote MCP server; every :meth:`open` is a fresh upstream session."""

    def __init__(self, target: RemoteTarget) -> None:
        self._target = target

    def describe(self) -> str:
        return f"connecting to {self._target.url}"

    async def open(self) -> Link:
        link: StreamableHttpLink | _RemoteLink
        if self._target.transport == "sse":
            link = _RemoteLink(self._target)
        else:
            link = StreamableHttpLink(self._target)
        link.start()
        return link


class _RemoteLink(QueuedLink):
    """One upstream legacy-SSE session, as JSON-RPC messages for the multiplexer."""

    def __init__(self, target: RemoteTarget) -> None:
        super().__init__()
        self._target = target
        self._expired = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self, grace: float) -> str:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self._ended or "closed by the hub"

    async def _run(self) -> None:
        try:
            async with self._connect() as (read, write), anyio.create_task_group() as tasks:
                tasks.start_soon(self._send_all, write)
                tasks.start_soon(self._end_on_expiry, tasks.cancel_scope)
                await self._receive_all(read)
                tasks.cancel_scope.cancel()
            self._ended = SESSION_EXPIRED if self._expired.is_set() else "closed the stream"
        except Exception as exc:
            # Any failure ends this lifetime; the reason is kept for the multiplexer to report.
            self._ended = SESSION_EXPIRED if self._expired.is_set() else _describe(exc)
        finally:
            self._ended = self._ended or "closed by the hub"
            self._inbox.put_nowait(None)

    def _connect(self) -> AbstractAsyncContextManager[TransportStreams]:
        headers = dict(self._target.headers)
        return sse_client(self._target.url, headers=headers, httpx_client_factory=self._client)

    def _client(
        self,
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        """The SDK's HTTP client, noticing expired sessions; an ``McpHttpClientFactory``."""
        client = create_mcp_http_client(headers=headers, timeout=timeout, auth=auth)
        client.event_hooks = {"response": [self._check_session]}
        return client

    async def _check_session(self, response: httpx2.Response) -> None:
        request = response.request
        carried = _SESSION_HEADER in request.headers or _SSE_SESSION_PARAM in request.url.params
        if not carried or request.method == "DELETE":
            return
        expired = response.status_code == _NOT_FOUND or (
            # Small, and cached by the client: the SDK still reads it if this is no expiry.
            response.status_code == _BAD_REQUEST and b"session" in (await response.aread()).lower()
        )
        if expired:
            logger.info("upstream session expired", extra={"url": self._target.url})
            self._expired.set()
            raise _SessionExpiredError(SESSION_EXPIRED)

    async def _end_on_expiry(self, scope: anyio.CancelScope) -> None:
        # A 404 on the GET stream is swallowed by the SDK, which retries it; end anyway.
        await self._expired.wait()
        scope.cancel()

    async def _send_all(self, write: WriteStream[SessionMessage]) -> None:
        while True:
            message = await self._outbox.get()
            try:
                sdk_message = jsonrpc_message_adapter.validate_python(jsonrpc.to_json(message))
            except ValidationError as exc:
                # The multiplexer forwards what it checked; this would be a bug there.
                logger.error("not sent upstream: not a JSON-RPC message", extra={"why": str(exc)})
                continue
            await write.send(SessionMessage(sdk_message))

    async def _receive_all(self, read: ReadStream[SessionMessage | Exception]) -> None:
        async for item in read:
            if isinstance(item, Exception):
                logger.warning("upstream transport error", extra={"why": _describe(item)})
                continue
            decoded = item.message.model_dump(by_alias=True, exclude_unset=True, mode="json")
            try:
                self._inbox.put_nowait(jsonrpc.from_json(decoded))
            except jsonrpc.MessageError as exc:
                text = item.message.model_dump_json(by_alias=True, exclude_unset=True).encode()
                self._inbox.put_nowait(UnreadableError(exc, text))


def _describe(exc: BaseException) -> str:
    """The innermost reason, without the task-group wrapping around it."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"lost the connection ({type(exc).__name__}: {exc})"


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
