"""What every HTTP transport of MCP does the same way, whatever its wire looks like.

The hub speaks two HTTP transports downstream: streamable HTTP
(:mod:`hub_proxy.transport.streamable_http`) and the legacy HTTP+SSE one
(:mod:`hub_proxy.transport.sse`).  The application must not be able to tell
them apart -- ``hub_proxy.session`` serves both unchanged -- so the interface
it implements (:class:`Session`, :class:`SessionFactory`) and the one it is
given (:class:`Peer`) live here, and so does :class:`SessionCore`, the one
implementation of that contract: every client request runs in a task of its
own, ``notifications/cancelled`` cancels it, a handler that fails or answers
with a wrong id still produces an answer, and requests the server sends get
their ids and their answers correlated.  A transport subclasses it and says
only where a message goes (:meth:`SessionCore._send`) and where the answer to
a client's request goes (:meth:`SessionCore._deliver`).

The refusal conventions are shared too, because SDK clients show the text of
a refusal to their callers and both transports should say the same thing the
same way: every refused HTTP request is answered with a JSON-RPC error body,
and a body over the limit, not JSON or not one JSON-RPC message is refused
with the same status and code on either transport.

So is who a session belongs to.  A session id travels in a header or a URL,
where proxies log it and browsers keep it; knowing it must not be enough to
use someone else's session.  The transport knows nothing about
authentication, so the application says who makes each HTTP request as an
opaque string under :data:`OWNER` (the hub's auth middleware puts the
principal's stable key there; the stdio bridge sets nothing, and every request
is owned by ``""``).  A session keeps the owner of the request that opened it,
and a request by anyone else is refused exactly as an unknown session is --
same status, same message -- so that the refusal does not confirm that the
session exists.  For a session in memory the check is one string compare.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import logging
import math
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

from aiohttp import web
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from hub_proxy.transport import jsonrpc
from hub_proxy.transport.session_ids import RandomSessionIds, SessionIds

if TYPE_CHECKING:
    # Only named here: the table refuses sessions with this module's RefusalError.
    from hub_proxy.transport.sessions import Sessions

DEFAULT_MAX_BODY_BYTES: Final = 4 * 1024 * 1024

JSON: Final = "application/json"
SSE: Final = "text/event-stream"
SESSION_ID_SHOWN: Final = 64  # echo at most this much of an unknown session id
# What access logs show for a request whose client left first (nginx's "client closed request").
CLIENT_GONE: Final = 499
_CLOSE_WAIT_SECONDS: Final = 5.0
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
_LOGGED_ID_CHARS: Final = 8  # enough to find a session in the logs, too little to use it

_RANDOM_SESSION_IDS: Final = RandomSessionIds()

OWNER: Final = web.RequestKey("mcphub.owner", str)
"""Who makes an HTTP request, as an opaque string; set by the application's middleware."""

CREDENTIAL_EXPIRES: Final = web.RequestKey("mcphub.credential_expires", float)
"""When the credential of an HTTP request stops being valid, in seconds since the epoch.

Set by the application's middleware where credentials expire (a JWT); a
session ends when the credential of the request that last used it expires.
"""

logger = logging.getLogger(__name__)


class TransportError(Exception):
    """Something an MCP transport could not do."""


class SessionClosedError(TransportError):
    """The session ended (DELETE, stream gone, idle, shutdown) before the client answered."""


class Peer(Protocol):
    """The client at the other end of one session, as the application sees it."""

    @property
    def session_id(self) -> str: ...

    def notify(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> None:
        """Queue a notification; never blocks, and is dropped once the session is closed."""

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> jsonrpc.Response:
        """Send a request and wait for the client's answer.

        Cancelling the wait tells the client with ``notifications/cancelled``;
        :class:`SessionClosedError` is raised if the session ends first.
        """


class Session(Protocol):
    """The application's side of one MCP session."""

    async def handle_request(self, request: jsonrpc.Request) -> jsonrpc.Response:
        """Answer one request (``initialize`` included); cancelled if the client cancels it."""

    async def handle_notification(self, notification: jsonrpc.Notification) -> None:
        """Take a notification from the client (``notifications/cancelled`` never gets here)."""

    async def close(self) -> None:
        """The session is over; its running requests have already been cancelled."""


class SessionFactory(Protocol):
    """Makes the application's :class:`Session` when a client opens a session."""

    def __call__(self, peer: Peer) -> Session: ...


@dataclass(frozen=True)
class EndpointOptions:
    """Limits and policies of one endpoint; the defaults suit both the bridge and the hub.

    The legacy SSE transport uses ``max_body_bytes``, ``allowed_origins``,
    ``keepalive_seconds`` and ``sessions``; its sessions live exactly as long
    as their stream, in the one process that holds it, so ``session_ids`` is
    not theirs, nor is resumption.
    """

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Versions a client may name in MCP-Protocol-Version, oldest first.
    protocol_versions: tuple[str, ...] = HANDSHAKE_PROTOCOL_VERSIONS
    # Browsers send Origin; other clients do not.  Against DNS rebinding the
    # spec requires refusing unexpected origins: only loopback ones (a local
    # inspector) and these are accepted.
    allowed_origins: frozenset[str] = frozenset()
    # A comment line on idle SSE streams, so proxies keep them open and a dead
    # client is noticed.
    keepalive_seconds: float = 15.0
    # Messages kept for a client that has no GET stream open.
    backlog: int = 256
    # Streams a client of 2025-11-25 or later can resume (SEP-1699): event ids,
    # a priming event with this retry delay, replay of up to ``replay_events``
    # messages per stream after ``Last-Event-ID``; see
    # hub_proxy.transport.streams.  Streamable HTTP only.
    resumable_streams: bool = False
    retry_milliseconds: int = 1000
    replay_events: int = 64
    # Where session ids come from, and whether an id this process does not
    # hold may carry on here (another replica issued it).
    session_ids: SessionIds = _RANDOM_SESSION_IDS
    # The table the endpoint enters its sessions in, for limits, idle reaping
    # and ending them by owner; endpoints given the same table share its
    # limits.  None: a table of the endpoint's own, with the default limits.
    sessions: Sessions | None = None


class RefusalError(TransportError):
    """An HTTP request turned down, with the status and JSON-RPC error to say why."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: int = jsonrpc.INVALID_REQUEST,
        request_id: jsonrpc.RequestId | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = jsonrpc.Error(request_id, code, message, data)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return json_response(self.error, status=self.status, headers=self.headers)


@dataclass(eq=False)
class Running:
    """A client's request whose handler runs in ``task``."""

    request: jsonrpc.Request
    task: asyncio.Task[jsonrpc.Response]
    cancel_reason: str = "the client cancelled the request"


RunningT = TypeVar("RunningT", bound=Running)


class SessionCore(ABC, Generic[RunningT]):
    """The transport's state for one session; the application sees it as a :class:`Peer`.

    ``RunningT`` lets a transport keep more per request than the task (the
    streamable transport keeps the request's own stream).
    """

    def __init__(self, session_id: str, owner: str, factory: SessionFactory) -> None:
        self._session_id = session_id
        self._owner = owner
        self.closed = False
        self._inflight: dict[jsonrpc.RequestId, RunningT] = {}
        self._awaiting: dict[jsonrpc.RequestId, asyncio.Future[jsonrpc.Response]] = {}
        self._request_ids = itertools.count(1)
        # Last: the factory may already use the peer it is given.
        self.application = factory(self)

    @property
    def session_id(self) -> str:
        return self._session_id

    def owned_by(self, owner: str) -> bool:
        """Whether ``owner`` opened this session; a mismatch is logged without either owner."""
        if owner == self._owner:
            return True
        # Owners may be personal (a user name, a key's name): short digests
        # tell a reader whether two refusals involve the same parties.
        logger.warning(
            "request refused: the session belongs to another owner",
            extra={
                "session": self._session_id[:_LOGGED_ID_CHARS],
                "owner": _digest(self._owner),
                "requester": _digest(owner),
            },
        )
        return False

    @abstractmethod
    def _track(self, request: jsonrpc.Request, task: asyncio.Task[jsonrpc.Response]) -> RunningT:
        """What the transport keeps about a request while its handler runs."""

    @abstractmethod
    def _send(self, message: jsonrpc.Message, related_to: jsonrpc.RequestId | None) -> None:
        """Put a server-initiated message on its way to the client."""

    @abstractmethod
    def _deliver(self, running: RunningT, response: jsonrpc.Response) -> None:
        """Put the answer to a client's request on its way to the client."""

    def _closing(self) -> None:
        """Called once when the session closes, before the handlers are awaited."""

    def notify(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> None:
        self._send(jsonrpc.Notification(method, params), related_to)

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        related_to: jsonrpc.RequestId | None = None,
    ) -> jsonrpc.Response:
        if self.closed:
            raise SessionClosedError(f"session {self.session_id} is closed")
        request_id = next(self._request_ids)
        answer: asyncio.Future[jsonrpc.Response] = asyncio.get_running_loop().create_future()
        self._awaiting[request_id] = answer
        try:
            self._send(jsonrpc.Request(request_id, method, params), related_to)
            return await answer
        except asyncio.CancelledError:
            cancelled = {"requestId": request_id, "reason": "the server no longer needs the answer"}
            self.notify("notifications/cancelled", cancelled, related_to=related_to)
            raise
        finally:
            del self._awaiting[request_id]

    def start(self, request: jsonrpc.Request) -> RunningT:
        """Run the application's handler for a request in a task of its own."""
        if request.id in self._inflight:
            raise RefusalError(
                400,
                f"request id {request.id!r} is already in flight in this session",
                request_id=request.id,
            )
        task = asyncio.create_task(self.application.handle_request(request))
        running = self._inflight[request.id] = self._track(request, task)
        # A callback, not a wrapping task: it runs even for a task cancelled
        # before its first step, so every request gets its answer.
        task.add_done_callback(functools.partial(self._finish, running))
        return running

    async def receive(self, message: jsonrpc.Notification | jsonrpc.Result | jsonrpc.Error) -> None:
        """Take a message that needs no HTTP answer beyond 202."""
        if isinstance(message, jsonrpc.Notification):
            if message.method == "notifications/cancelled":
                self._cancel((message.params or {}).get("requestId"))
            else:
                await self.application.handle_notification(message)
            return
        answer = self._awaiting.get(message.id) if message.id is not None else None
        if answer is None or answer.done():
            logger.info(
                "answer to an unknown or abandoned request ignored",
                extra={"session": self.session_id, "id": message.id},
            )
            return
        answer.set_result(message)

    async def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        tasks = []
        for running in self._inflight.values():
            running.cancel_reason = f"the session closed: {reason}"
            running.task.cancel()
            tasks.append(running.task)
        for answer in self._awaiting.values():
            if not answer.done():
                answer.set_exception(
                    SessionClosedError(f"session {self.session_id} closed: {reason}")
                )
        self._closing()
        if tasks:
            # Bounded: a handler that ignores cancellation must not hold a shutdown.
            await asyncio.wait(tasks, timeout=_CLOSE_WAIT_SECONDS)
        await self.application.close()

    def _finish(self, running: RunningT, task: asyncio.Task[jsonrpc.Response]) -> None:
        request = running.request
        if task.cancelled():
            response: jsonrpc.Response = request.fail(
                jsonrpc.REQUEST_CANCELLED, running.cancel_reason
            )
        elif (error := task.exception()) is not None:
            logger.error(
                "request handler failed",
                extra={"session": self.session_id, "method": request.method},
                exc_info=error,
            )
            response = request.fail(
                jsonrpc.INTERNAL_ERROR, f"internal error while handling {request.method}"
            )
        else:
            response = task.result()
            if response.id != request.id:
                logger.error(
                    "request handler answered with a wrong id",
                    extra={"session": self.session_id, "id": request.id, "answered": response.id},
                )
                response = request.fail(
                    jsonrpc.INTERNAL_ERROR, "the server answered with a wrong id"
                )
        del self._inflight[request.id]
        self._deliver(running, response)

    def _cancel(self, request_id: object) -> None:
        running = self._inflight.get(request_id) if jsonrpc.is_request_id(request_id) else None
        if running is not None:
            running.task.cancel()


def owner_of(request: web.Request) -> str:
    """The owner the application set on ``request``; ``""`` where nothing did (the bridge)."""
    # Mapping.get loses the key's type; the annotation restores what OWNER promises.
    owner: str = request.get(OWNER, "")
    return owner


def credential_expiry(request: web.Request) -> float:
    """When the request's credential expires, as the application set it; never where unset."""
    expires: float = request.get(CREDENTIAL_EXPIRES, math.inf)
    return expires


def _digest(owner: str) -> str:
    return hashlib.sha256(owner.encode(errors="surrogatepass")).hexdigest()[:12]


async def read_message(request: web.Request, limit: int) -> jsonrpc.Message:
    """The one JSON-RPC message in a POST body of at most ``limit`` bytes, or a refusal."""
    if request.content_type != JSON:
        raise RefusalError(415, f"Content-Type must be {JSON}, not {request.content_type}")
    too_large = RefusalError(413, f"the request body is larger than {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise too_large
    try:
        return jsonrpc.decode(bytes(body))
    except jsonrpc.MessageError as exc:
        raise RefusalError(400, exc.reason, code=exc.code, request_id=exc.request_id) from exc


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def dispatch(
    request: web.Request,
    allowed_origins: frozenset[str],
    handlers: Mapping[str, Handler],
    advice: str,
) -> web.StreamResponse:
    """Check the origin, route by HTTP method, and turn any refusal into its response.

    ``advice`` tells a client that used another method what to do instead.
    """
    try:
        check_origin(request, allowed_origins)
        handler = handlers.get(request.method)
        if handler is None:
            raise RefusalError(
                405,
                f"method {request.method} is not allowed here; {advice}",
                headers={"Allow": ", ".join(handlers)},
            )
        return await handler(request)
    except RefusalError as refusal:
        return refusal.response()
    except ConnectionResetError:
        # The client went away before anything was streamed (mid-body, say).
        # Answered, not raised: aiohttp logs an exception that escapes a
        # handler as a server error, with its traceback, and a client
        # hanging up is not one.  Handlers that stream catch it themselves.
        logger.debug("client went away", extra={"path": request.path})
        return web.Response(status=CLIENT_GONE)


def check_origin(request: web.Request, allowed: frozenset[str]) -> None:
    """Refuse browser origins that are neither loopback nor ``allowed`` (DNS rebinding)."""
    origin = request.headers.get("Origin")
    if origin is None or origin in allowed:
        return
    try:
        host = urllib.parse.urlsplit(origin).hostname
    except ValueError:
        host = None
    if host not in _LOOPBACK_HOSTS:
        raise RefusalError(403, f"requests from origin {origin[:100]!r} are not allowed")


def json_response(
    message: jsonrpc.Message, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=jsonrpc.encode(message), content_type=JSON, headers=headers
    )


def sse_response(headers: Mapping[str, str] | None = None) -> web.StreamResponse:
    """An SSE response, not started yet: a handler holds it before the first write can fail."""
    return web.StreamResponse(
        headers={
            "Content-Type": SSE,
            "Cache-Control": "no-cache, no-transform",
            # Stops nginx-style proxies from buffering the stream.
            "X-Accel-Buffering": "no",
            **(headers or {}),
        }
    )


async def event_stream(
    request: web.Request, headers: Mapping[str, str] | None = None
) -> web.StreamResponse:
    """Start an SSE response."""
    stream = sse_response(headers)
    await stream.prepare(request)
    return stream


def event(message: jsonrpc.Message) -> bytes:
    """One JSON-RPC message as an SSE ``message`` event (JSON text has no raw newlines)."""
    return b"event: message\ndata: " + jsonrpc.encode(message) + b"\n\n"


KEEPALIVE: Final = b": keepalive\n\n"


async def pump(
    stream: web.StreamResponse,
    outbox: asyncio.Queue[jsonrpc.Message | None],
    keepalive_seconds: float,
) -> None:
    """Write the outbox's messages as SSE events until ``None``, with keep-alives while idle."""
    while True:
        try:
            message = await asyncio.wait_for(outbox.get(), keepalive_seconds)
        except TimeoutError:
            await stream.write(KEEPALIVE)
            continue
        if message is None:
            return
        await stream.write(event(message))
