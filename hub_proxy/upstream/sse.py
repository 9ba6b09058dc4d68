"""A legacy HTTP+SSE client link, through the MCP SDK's ``sse_client``.

The transport of MCP 2024-11-05, deprecated since and rare among remote
servers, so it is not worth a client of the hub's own (the streamable-HTTP
link is one, because every call of nearly every remote server takes it): the
SDK's client does the transport, and this link turns its models into the
multiplexer's messages and back.  The one thing the SDK does not do is notice
an expired session, which it would retry forever: an event hook on its HTTP
client does, and ends the lifetime with
:data:`~hub_proxy.upstream.base.SESSION_EXPIRED`.
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
from hub_proxy.transport import SESSION_HEADER, jsonrpc
from hub_proxy.upstream.base import SESSION_EXPIRED, QueuedLink, UnreadableError, describe_loss

# The SSE transport carries the session in the message endpoint's query.
_SSE_SESSION_PARAM: Final = "session_id"
_NOT_FOUND: Final = 404
_BAD_REQUEST: Final = 400

logger = logging.getLogger(__name__)


class _SessionExpiredError(Exception):
    """Raised from the HTTP client so that the SDK does not answer the request itself."""


class SseLink(QueuedLink):
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
            self._ended = SESSION_EXPIRED if self._expired.is_set() else describe_loss(exc)
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
        carried = SESSION_HEADER in request.headers or _SSE_SESSION_PARAM in request.url.params
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
                logger.warning("upstream transport error", extra={"why": describe_loss(item)})
                continue
            decoded = item.message.model_dump(by_alias=True, exclude_unset=True, mode="json")
            try:
                self._inbox.put_nowait(jsonrpc.from_json(decoded))
            except jsonrpc.MessageError as exc:
                text = item.message.model_dump_json(by_alias=True, exclude_unset=True).encode()
                self._inbox.put_nowait(UnreadableError(exc, text))
