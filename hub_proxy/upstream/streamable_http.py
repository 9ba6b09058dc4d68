"""A lean streamable-HTTP client link: the multiplexer's JSON-RPC messages over aiohttp.

The MCP SDK's client transport put every message through httpx, anyio memory
streams, task groups and two rounds of pydantic validation (lines to models and
back), and its HTTP client sent headers and body as separate segments.  Behind
the hub that cost about 5 ms per call and half the throughput of a direct
connection, while the multiplexer needs none of it: it already speaks
JSON-RPC messages.  So this link does the transport's part of the protocol and
nothing more, on one keep-alive :class:`aiohttp.ClientSession` per lifetime:

* every message is a POST; the answer is a JSON body (one message or a batch)
  or an SSE stream parsed as it arrives, each event's data one message for the
  multiplexer, decoded once, here; a request or notification on a POST's
  stream belongs to that POST's request, and is handed over as
  :class:`~hub_proxy.upstream.base.Related` to it;
* ``Mcp-Session-Id`` from the ``initialize`` answer and ``MCP-Protocol-Version``
  from its result go on every later request;
* a request whose ``params._meta`` carries trace context (the hub's span, when
  tracing is on) carries it in the W3C headers too, for whatever reads only
  headers: the server's HTTP instrumentation, a proxy on the way;
* a GET stream carries what the server sends on its own, if it offers one,
  handed over as related to no request;
* DELETE ends the session when the hub closes the link.

Requests are sent concurrently, each on its own request; notifications and
answers are sent in order before anything after them, so ``initialized``
reaches the server before the first call it allows.

A server may close the SSE stream of an answer before the answer, having
given its events ids (SEP-1699, MCP 2025-11-25): the link then comes back
after the server's ``retry`` with a GET carrying ``Last-Event-ID``, and takes
what the server replays as the rest of that answer.

A lifetime ends when a POST loses its connection (a broken GET stream is only
opened again), or when the server no longer knows the session: 404 for a
request that carried its id, or the 400 "No valid session ID" of servers built
on the TypeScript SDK's examples.  The link then reports
:data:`~hub_proxy.upstream.base.SESSION_EXPIRED`, which
:mod:`hub_proxy.upstream.remote` retries on.  Any other HTTP failure of a
request is that request's error answer; the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from hub_proxy.catalog import RemoteTarget
from hub_proxy.telemetry.mcp import trace_headers
from hub_proxy.transport import (
    JSON,
    LAST_EVENT_ID_HEADER,
    PROTOCOL_VERSION_HEADER,
    SESSION_HEADER,
    SSE,
    jsonrpc,
)
from hub_proxy.upstream.base import SESSION_EXPIRED, QueuedLink, UnreadableError, describe_loss

_NOT_FOUND: Final = 404
_BAD_REQUEST: Final = 400
_METHOD_NOT_ALLOWED: Final = 405
_CONNECT_SECONDS: Final = 10.0
# A GET stream that ended or broke is opened again after this pause.
_REOPEN_GET_SECONDS: Final = 1.0
# Resuming an answer: the pause when the server gives no ``retry``, the
# longest one honoured, and how many resumptions in a row may bring nothing.
_DEFAULT_RETRY_SECONDS: Final = 1.0
_MAX_RETRY_SECONDS: Final = 30.0
_RESUME_ATTEMPTS: Final = 3
_MAX_ERROR_BODY: Final = 300

logger = logging.getLogger(__name__)


class StreamableHttpLink(QueuedLink):
    """One upstream streamable-HTTP session, as JSON-RPC messages for the multiplexer."""

    def __init__(self, target: RemoteTarget) -> None:
        super().__init__()
        self._url = target.url
        self._headers: dict[str, str] = {
            **target.headers,
            "Accept": f"{JSON}, {SSE}",
            "Content-Type": JSON,
        }
        # No overall timeout: a tool call takes as long as it takes, and the
        # hub's caller decides how long to wait for it.
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=_CONNECT_SECONDS)
        )
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._spawn(self._send_all())

    async def close(self, grace: float) -> str:
        self._end("closed by the hub")
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if SESSION_HEADER in self._headers:
            # Courtesy only: a server that does not answer soon forgets the session anyway.
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with (
                    asyncio.timeout(grace),
                    self._http.delete(self._url, headers=self._headers),
                ):
                    pass
        await self._http.close()
        return self._ended or "closed by the hub"

    # -- sending -------------------------------------------------------------------------------

    async def _send_all(self) -> None:
        while True:
            message = await self._outbox.get()
            if isinstance(message, jsonrpc.Request):
                self._spawn(self._post(message))
            else:
                await self._post(message)
                if (
                    isinstance(message, jsonrpc.Notification)
                    and message.method == "notifications/initialized"
                ):
                    self._spawn(self._listen())

    async def _post(self, message: jsonrpc.Message) -> None:
        """Send one message; feed what answers it to the multiplexer, or end the lifetime."""
        request_id, method = (
            (message.id, message.method) if isinstance(message, jsonrpc.Request) else (None, None)
        )
        carried = SESSION_HEADER in self._headers
        data = jsonrpc.encode(message)
        traced = trace_headers(message)
        headers = {**self._headers, **traced} if traced else self._headers
        try:
            async with self._http.post(self._url, data=data, headers=headers) as answer:
                if await self._expired(answer, carried):
                    return
                if answer.status >= _BAD_REQUEST:
                    body = await answer.text(errors="replace")
                    self._fail(
                        request_id, f"answered HTTP {answer.status}: {body[:_MAX_ERROR_BODY]}"
                    )
                    return
                if method is None or answer.status == 202:
                    return
                if method == "initialize":
                    session = answer.headers.get(SESSION_HEADER)
                    if session is not None:
                        self._headers[SESSION_HEADER] = session
                await self._deliver(answer, request_id, initialize=method == "initialize")
        except aiohttp.ClientError as exc:
            self._end(describe_loss(exc))
        except ValueError as exc:
            # A body that is not JSON: this request's failure, not the session's.
            self._fail(request_id, f"answered with something that is not JSON: {exc}")

    async def _deliver(
        self, answer: aiohttp.ClientResponse, request_id: object, *, initialize: bool
    ) -> None:
        delivery = _Delivery(request_id, initialize=initialize)
        if answer.content_type == SSE:
            resumption = _Resumption()
            failure = await self._consume(_events(answer, resumption), delivery)
            failure = await self._resume(resumption, delivery, failure)
        elif answer.content_type == JSON:
            failure = await self._consume(_json_body(answer), delivery)
        else:
            failure = f"answered with {answer.content_type!r}"
        if failure is not None:
            self._fail(request_id, failure)

    async def _consume(
        self, messages: AsyncIterator[bytes], delivery: _Delivery, *, to_the_end: bool = True
    ) -> str | None:
        """Take the messages of one answer; None if the answer came, else why it did not.

        ``to_the_end`` reads on after the answer until the server ends the
        response, as it does after an answer: a response read to its end
        leaves its keep-alive connection for the next request.
        """
        why: str | None = "ended its answer without answering"
        async for data in messages:
            message = self._take_related(data, delivery.related_to)
            if isinstance(message, UnreadableError):
                why = f"answered with something that is not a JSON-RPC message: {message}"
            elif (
                isinstance(message, jsonrpc.Result | jsonrpc.Error)
                and message.id == delivery.request_id
            ):
                if delivery.initialize and isinstance(message, jsonrpc.Result):
                    self._learn_version(message)
                why = None
                if not to_the_end:
                    break
        return why

    async def _resume(
        self, resumption: _Resumption, delivery: _Delivery, failure: str | None
    ) -> str | None:
        """Come back for the rest of an answer whose stream the server closed (SEP-1699).

        A server that gave its events ids may close the stream before the
        answer and expect the client to ask again, after ``retry``, with a GET
        naming the last event it got; it replays what followed.  Attempts that
        bring no new event count against a small bound, so a server that only
        ever closes cannot hold the request forever.
        """
        fruitless = 0
        while failure is not None and resumption.last_event_id is not None:
            if fruitless == _RESUME_ATTEMPTS:
                return f"{failure}, and resuming it brought nothing {_RESUME_ATTEMPTS} times"
            await asyncio.sleep(resumption.retry_seconds)
            seen = resumption.last_event_id
            headers = {**self._headers, "Accept": SSE, LAST_EVENT_ID_HEADER: seen}
            del headers["Content-Type"]
            async with self._http.get(self._url, headers=headers) as stream:
                if await self._expired(stream, carried=True):
                    return None  # the lifetime ended: the multiplexer answers every request
                if stream.status >= _BAD_REQUEST or stream.content_type != SSE:
                    return f"{failure}, and refused to resume it (HTTP {stream.status})"
                # The stream resumed may be the server's own as well, open after the answer.
                events = _events(stream, resumption)
                try:
                    failure = await self._consume(events, delivery, to_the_end=False)
                finally:
                    await events.aclose()
            fruitless = 0 if resumption.last_event_id != seen else fruitless + 1
        return failure

    def _learn_version(self, initialized: jsonrpc.Result) -> None:
        version = initialized.result.get("protocolVersion")
        if isinstance(version, str):
            self._headers[PROTOCOL_VERSION_HEADER] = version

    def _fail(self, request_id: object, why: str) -> None:
        """Answer a request the upstream could not take; a lost notification is only logged."""
        logger.warning("upstream refused a message", extra={"url": self._url, "why": why})
        if jsonrpc.is_request_id(request_id):
            self._inbox.put_nowait(
                jsonrpc.Error(request_id, jsonrpc.INTERNAL_ERROR, f"the upstream {why}")
            )

    # -- the server's own stream ---------------------------------------------------------------

    async def _listen(self) -> None:
        """The GET stream, kept open while the server offers it."""
        headers = {**self._headers, "Accept": SSE}
        del headers["Content-Type"]
        while True:
            try:
                async with self._http.get(self._url, headers=headers) as stream:
                    if await self._expired(stream, carried=True):
                        return
                    if stream.status == _METHOD_NOT_ALLOWED or stream.content_type != SSE:
                        return
                    async for data in _events(stream):
                        # The server's own stream: related to no request of ours.
                        self._take_related(data, None)
            except aiohttp.ClientError as exc:
                # Not the end of the lifetime: a caller would then wait for a
                # re-initialization instead of failing at once.  The next POST
                # finds out whether the server is really gone.
                logger.debug("upstream GET stream lost", extra={"why": describe_loss(exc)})
            await asyncio.sleep(_REOPEN_GET_SECONDS)

    # -- ending --------------------------------------------------------------------------------

    async def _expired(self, answer: aiohttp.ClientResponse, carried: bool) -> bool:
        if not carried or answer.status not in (_NOT_FOUND, _BAD_REQUEST):
            return False
        if answer.status == _BAD_REQUEST and b"session" not in (await answer.read()).lower():
            return False
        logger.info("upstream session expired", extra={"url": self._url})
        self._end(SESSION_EXPIRED)
        return True

    def _end(self, why: str) -> None:
        """End this lifetime once; None tells the multiplexer."""
        if self._ended is None:
            self._ended = why
            self._inbox.put_nowait(None)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _json_body(answer: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    body = await answer.read()
    if body.lstrip().startswith(b"["):
        # A batch: the multiplexer takes one message at a time.
        for message in json.loads(body):
            yield json.dumps(message, separators=(",", ":")).encode()
    elif body.strip():
        yield body.strip()


@dataclass(frozen=True, slots=True)
class _Delivery:
    """The request whose answer a stream carries."""

    request_id: object
    initialize: bool

    @property
    def related_to(self) -> jsonrpc.RequestId | None:
        return self.request_id if jsonrpc.is_request_id(self.request_id) else None


@dataclass(slots=True)
class _Resumption:
    """How far a server's SSE stream got, and how soon to come back for the rest."""

    last_event_id: str | None = None
    retry_seconds: float = _DEFAULT_RETRY_SECONDS


async def _events(
    stream: aiohttp.ClientResponse, resumption: _Resumption | None = None
) -> AsyncGenerator[bytes, None]:
    """The data of each SSE ``message`` event, as soon as the event is complete.

    ``id`` and ``retry`` fields are noted in ``resumption``, for coming back.
    """
    buffer = bytearray()
    data: list[bytes] = []
    event = b"message"
    async for chunk in stream.content.iter_any():
        # Only the new chunk is searched: a large message comes in many chunks.
        scanned = len(buffer)
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", max(start, scanned))) >= 0:
            line = bytes(buffer[start:end]).removesuffix(b"\r")
            start = end + 1
            if not line:
                # An event without data (servers send one to prime resumption) says nothing.
                payload = b"\n".join(data)
                if payload and event == b"message":
                    yield payload
                data, event = [], b"message"
                continue
            field, _, value = line.partition(b":")
            value = value.removeprefix(b" ")
            if field == b"data":
                data.append(value)
            elif field == b"event":
                event = value
            elif resumption is not None:
                _note(resumption, field, value)
        del buffer[:start]


def _note(resumption: _Resumption, field: bytes, value: bytes) -> None:
    """Note an ``id`` or ``retry`` field; anything else (a comment) says nothing."""
    if field == b"id" and b"\0" not in value:
        resumption.last_event_id = value.decode(errors="replace")
    elif field == b"retry" and value.isdigit():
        resumption.retry_seconds = min(int(value) / 1000, _MAX_RETRY_SECONDS)
