"""Many MCP sessions over HTTP, one stdio server behind them.

A stdio server is a single MCP session by construction: it reads one stream
and believes one client is on the other end.  The bridge still has to serve
several HTTP sessions -- the hub's shared session, the operator's verification
probe, a person with an inspector -- so it plays the one client the server
sees and keeps every HTTP session's view consistent:

* **One handshake per server lifetime.**  The bridge initializes the server
  itself as soon as it starts (readiness depends on it, and no client may be
  connected yet), declares every client capability it can forward, and answers
  each HTTP session's ``initialize`` from the cached result.  A restarted
  server is initialized with the protocol version the sessions already
  negotiated, so nothing changes under them.

* **Ids are the bridge's.**  Two clients both call their first request ``1``.
  Every request forwarded to the server gets a fresh integer id that the
  bridge maps back to the session and the id it came with; the same integer
  doubles as the request's progress token, so a ``notifications/progress``
  finds its way to the one session that asked for it, related to the one
  request it belongs to.  Cancelling is the transport's business: it cancels
  the forwarding task, and the bridge tells the server under the server's id.

* **Server-to-client requests go where they are most likely expected.**  A
  stdio server does not say which of "its" requests a sampling or roots
  request belongs to.  The bridge sends it to the session whose request was
  forwarded last and is still in flight -- usually the tool call that needs
  the answer -- else to the newest session, and maps the ids both ways.  With
  concurrent calls from several sessions this is a heuristic; the
  alternative, a session per server process, is what ``perClient`` session
  mode is for.

* **Everything else is broadcast.**  ``list_changed``, resource updates and
  log messages concern every session.

When the server dies, whatever it owed is answered at once with an error that
says it exited and how, instead of hanging until a client times out.  The
bridge restarts (or, for FIFOs, reopens) it with jittered, capped back-off,
re-initializes it, and tells every session ``notifications/tools/list_changed``
(prompts and resources too, where the server has them): the sessions stay
valid, and what they cached may have changed.  Requests arriving meanwhile wait
a bounded time for the server to come back rather than fail at once, so a
client barely notices a quick restart.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import itertools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from mcp_types.version import LATEST_HANDSHAKE_VERSION

from hub_proxy.bridge.channel import Channel, ChannelError, Link, UnreadableError
from hub_proxy.transport import Peer, SessionClosedError, jsonrpc
from mcphub_runtime import retry

# In JSON-RPC's implementation-defined range: the server process is not there
# to answer (not started yet, restarting, or it died with the request in hand).
SERVER_UNAVAILABLE: Final = -32010

# Everything the bridge can forward to some client.  A client without the
# capability answers the server's request with an error, which is forwarded too.
CLIENT_CAPABILITIES: Final[Mapping[str, Any]] = {
    "roots": {"listChanged": True},
    "sampling": {},
    "elicitation": {},
}

# A server that stayed up this long has earned a fresh back-off.
STABLE_AFTER_SECONDS: Final = 10.0
_LIST_CHANGED_KINDS: Final = ("tools", "prompts", "resources")

logger = logging.getLogger(__name__)


def _bridge_version() -> str:
    try:
        return importlib.metadata.version("mcphub")
    except importlib.metadata.PackageNotFoundError:
        return "0"


CLIENT_INFO: Final[Mapping[str, Any]] = {"name": "mcphub-bridge", "version": _bridge_version()}


@dataclass(frozen=True)
class Timeouts:
    """How long the bridge waits, in seconds."""

    # A request arriving while the server is (re)starting waits this long for it.
    ready: float = 30.0
    initialize: float = 60.0
    # Between SIGTERM and SIGKILL when stopping a spawned server.
    stop: float = 10.0
    # For the ping behind /readyz.
    ping: float = 2.0


@dataclass(frozen=True)
class Status:
    """What /readyz reports."""

    ready: bool
    reason: str
    pid: int | None
    restarts: int
    server_info: Mapping[str, Any] | None
    protocol_version: str | None


class InitializeError(Exception):
    """The server did not complete the MCP handshake."""


@dataclass(frozen=True)
class _Owner:
    """Who is waiting for a forwarded request: a session, under its own id and token."""

    session: _BridgeSession
    request_id: jsonrpc.RequestId
    progress_token: object


@dataclass(frozen=True)
class _Pending:
    """A request the server owes an answer to; no owner for the bridge's own requests."""

    answer: asyncio.Future[jsonrpc.Response]
    owner: _Owner | None


class Multiplexer:
    """Supervises the stdio server and shares it among the bridge's HTTP sessions."""

    def __init__(self, channel: Channel, timeouts: Timeouts | None = None) -> None:
        self._channel = channel
        self._timeouts = timeouts or Timeouts()
        self._link: Link | None = None
        self._ready = asyncio.Event()
        self._reason = "not started"
        self._restarts = 0
        self._initialize_result: Mapping[str, Any] | None = None
        self._protocol_version = LATEST_HANDSHAKE_VERSION
        self._ids = itertools.count(1)
        # Keyed by the bridge's own integer ids; looked up with whatever the server sends.
        self._pending: dict[jsonrpc.RequestId, _Pending] = {}
        self._from_server: dict[jsonrpc.RequestId, asyncio.Task[None]] = {}
        self._sessions: dict[str, _BridgeSession] = {}

    # -- the transport's side ---------------------------------------------------------------

    def open_session(self, peer: Peer) -> _BridgeSession:
        """The :class:`~hub_proxy.transport.SessionFactory` of the bridge's endpoint."""
        session = _BridgeSession(self, peer)
        self._sessions[peer.session_id] = session
        return session

    @property
    def status(self) -> Status:
        result = self._initialize_result or {}
        return Status(
            ready=self._ready.is_set(),
            reason=self._reason,
            pid=self._link.pid if self._link is not None else None,
            restarts=self._restarts,
            server_info=result.get("serverInfo"),
            protocol_version=self._protocol_version if result else None,
        )

    async def check(self) -> Status:
        """The status, after making sure a ready server still answers a ping."""
        status = self.status
        if not status.ready:
            return status
        try:
            await asyncio.wait_for(self._ask("ping", None), self._timeouts.ping)
        except TimeoutError:
            reason = f"the MCP server did not answer a ping within {self._timeouts.ping:g} s"
            return replace(status, ready=False, reason=reason)
        return status

    # -- supervision ------------------------------------------------------------------------

    async def run(self) -> None:
        """Keep a server running and initialized until cancelled; then stop it."""
        failures = 0
        while True:
            started = time.monotonic()
            ended = await self._live()
            failures = 1 if time.monotonic() - started >= STABLE_AFTER_SECONDS else failures + 1
            delay = retry.RECONNECT.delay(failures)
            self._restarts += 1
            self._reason = f"child {ended}, restarting in {delay:.1f} s"
            logger.warning("restarting the server", extra={"why": ended, "in_seconds": delay})
            await asyncio.sleep(delay)

    async def _live(self) -> str:
        """One lifetime of the server; returns how it ended."""
        self._reason = self._channel.describe()
        try:
            link = await self._channel.open()
        except ChannelError as exc:
            return str(exc)
        self._link = link
        logger.info("server started", extra={"pid": link.pid})
        reading = asyncio.create_task(self._read(link))
        initializing = asyncio.create_task(self._initialize())
        failure: str | None = None
        try:
            await asyncio.wait({reading, initializing}, return_when=asyncio.FIRST_COMPLETED)
            if initializing.done() and not reading.done():
                error = initializing.exception()
                if error is None:
                    await reading
                else:
                    failure = str(error)
        finally:
            self._link = None
            self._ready.clear()
            initializing.cancel()
            reading.cancel()
            if reading.done() and not reading.cancelled() and reading.exception() is not None:
                logger.error("reading from the server failed", exc_info=reading.exception())
            ended = await link.close(self._timeouts.stop)
            logger.info("server ended", extra={"pid": link.pid, "how": ended})
            self._abandon(f"the MCP server process {ended} before answering")
        return failure or ended

    async def _initialize(self) -> None:
        params = {
            "protocolVersion": self._protocol_version,
            "capabilities": CLIENT_CAPABILITIES,
            "clientInfo": CLIENT_INFO,
        }
        try:
            answer = await asyncio.wait_for(
                self._ask("initialize", params), self._timeouts.initialize
            )
        except TimeoutError as exc:
            limit = self._timeouts.initialize
            raise InitializeError(f"did not answer initialize within {limit:g} s") from exc
        if isinstance(answer, jsonrpc.Error):
            raise InitializeError(f"refused initialize: {answer.message} ({answer.code})")
        version = answer.result.get("protocolVersion")
        if not isinstance(version, str):
            raise InitializeError("answered initialize without a protocolVersion")
        self._send(jsonrpc.Notification("notifications/initialized"))
        restarted = self._initialize_result is not None
        if restarted and version != self._protocol_version:
            logger.warning(
                "restarted server negotiated another protocol version",
                extra={"before": self._protocol_version, "now": version},
            )
        self._initialize_result = answer.result
        self._protocol_version = version
        self._reason = "ready"
        self._ready.set()
        logger.info(
            "server initialized",
            extra={"server": answer.result.get("serverInfo"), "protocol_version": version},
        )
        if restarted:
            capabilities = answer.result.get("capabilities") or {}
            for kind in _LIST_CHANGED_KINDS:
                if kind == "tools" or kind in capabilities:
                    self._broadcast(jsonrpc.Notification(f"notifications/{kind}/list_changed"))

    def _abandon(self, why: str) -> None:
        """Answer everything the dead server owed, and drop what it was asking."""
        pending, self._pending = self._pending, {}
        for child_id, entry in pending.items():
            if not entry.answer.done():
                entry.answer.set_result(jsonrpc.Error(child_id, SERVER_UNAVAILABLE, why))
        for task in list(self._from_server.values()):
            task.cancel()

    # -- client to server -------------------------------------------------------------------

    async def answer_initialize(self, request: jsonrpc.Request) -> jsonrpc.Response:
        if not await self._wait_ready() or self._initialize_result is None:
            return self._unavailable(request)
        client = (request.params or {}).get("clientInfo")
        logger.info("client initialized", extra={"client": client})
        return request.respond(self._initialize_result)

    async def forward(self, session: _BridgeSession, request: jsonrpc.Request) -> jsonrpc.Response:
        if not await self._wait_ready():
            return self._unavailable(request)
        child_id = next(self._ids)
        params, token = _swap_progress_token(request.params, child_id)
        try:
            answer = await self._call(
                child_id, request.method, params, _Owner(session, request.id, token)
            )
        except asyncio.CancelledError:
            cancelled = {"requestId": child_id, "reason": "the client cancelled the request"}
            self._send(jsonrpc.Notification("notifications/cancelled", cancelled))
            raise
        return replace(answer, id=request.id)

    def notify_server(self, notification: jsonrpc.Notification) -> None:
        # The bridge did the handshake; a client's own "initialized" would be a second one.
        if notification.method != "notifications/initialized":
            self._send(notification)

    def forget(self, session: _BridgeSession) -> None:
        self._sessions.pop(session.peer.session_id, None)

    async def _ask(self, method: str, params: Mapping[str, Any] | None) -> jsonrpc.Response:
        return await self._call(next(self._ids), method, params, None)

    async def _call(
        self,
        child_id: int,
        method: str,
        params: Mapping[str, Any] | None,
        owner: _Owner | None,
    ) -> jsonrpc.Response:
        answer: asyncio.Future[jsonrpc.Response] = asyncio.get_running_loop().create_future()
        self._pending[child_id] = _Pending(answer, owner)
        try:
            self._send(jsonrpc.Request(child_id, method, params))
            if self._link is not None:
                await self._link.drain()
            return await answer
        finally:
            self._pending.pop(child_id, None)

    async def _wait_ready(self) -> bool:
        # The usual case, on every forwarded request: ``wait_for`` would wrap
        # the wait in a task of its own and cost a turn of the event loop.
        if self._ready.is_set():
            return True
        try:
            await asyncio.wait_for(self._ready.wait(), self._timeouts.ready)
        except TimeoutError:
            return False
        return True

    def _unavailable(self, request: jsonrpc.Request) -> jsonrpc.Error:
        return request.fail(SERVER_UNAVAILABLE, f"the MCP server is not ready: {self._reason}")

    def _send(self, message: jsonrpc.Message) -> None:
        link = self._link
        if link is None or not link.send(message):
            logger.info("server not running; message dropped", extra={"dropped": _brief(message)})

    # -- server to clients ------------------------------------------------------------------

    async def _read(self, link: Link) -> None:
        while True:
            try:
                message = await link.receive()
            except UnreadableError as unreadable:
                self._refuse(unreadable.error, unreadable.text)
                continue
            except ValueError:
                logger.error("server wrote an overlong line; dropped it")
                continue
            if message is None:
                return
            self._dispatch(message)

    def _dispatch(self, message: jsonrpc.Message) -> None:
        match message:
            case jsonrpc.Result() | jsonrpc.Error():
                self._settle(message)
            case jsonrpc.Request():
                self._relay_request(message)
            case jsonrpc.Notification(method="notifications/progress"):
                self._relay_progress(message)
            case jsonrpc.Notification(method="notifications/cancelled"):
                self._cancel_relay(message)
            case jsonrpc.Notification():
                self._broadcast(message)

    def _refuse(self, error: jsonrpc.MessageError, line: bytes) -> None:
        logger.warning(
            "server wrote something that is not a JSON-RPC message",
            extra={"why": error.reason, "line": line[:200].decode(errors="replace")},
        )
        request_id = error.request_id
        entry = self._pending.pop(request_id, None) if request_id is not None else None
        if entry is not None and not entry.answer.done():
            why = f"the MCP server answered with an invalid message: {error.reason}"
            entry.answer.set_result(jsonrpc.Error(request_id, jsonrpc.INTERNAL_ERROR, why))

    def _settle(self, response: jsonrpc.Response) -> None:
        entry = self._pending.pop(response.id, None) if response.id is not None else None
        if entry is None:
            logger.info("server answered an unknown request", extra={"id": response.id})
        elif not entry.answer.done():
            entry.answer.set_result(response)

    def _relay_progress(self, notification: jsonrpc.Notification) -> None:
        params = notification.params or {}
        token = params.get("progressToken")
        entry = self._pending.get(token) if jsonrpc.is_request_id(token) else None
        owner = entry.owner if entry is not None else None
        if owner is None or owner.progress_token is None:
            logger.debug("progress for no request in flight dropped", extra={"token": token})
            return
        owner.session.peer.notify(
            notification.method,
            {**params, "progressToken": owner.progress_token},
            related_to=owner.request_id,
        )

    def _relay_request(self, request: jsonrpc.Request) -> None:
        if request.id in self._from_server:
            self._send(request.fail(jsonrpc.INVALID_REQUEST, "request id already in flight"))
            return
        target = self._client_for_server_request()
        if target is None:
            if request.method == "ping":
                self._send(request.respond({}))
            else:
                self._send(request.fail(jsonrpc.INTERNAL_ERROR, "no MCP client is connected"))
            return
        session, related_to = target
        relay = asyncio.create_task(self._ask_client(request, session, related_to))
        self._from_server[request.id] = relay
        relay.add_done_callback(lambda _: self._from_server.pop(request.id, None))

    def _client_for_server_request(
        self,
    ) -> tuple[_BridgeSession, jsonrpc.RequestId | None] | None:
        for entry in reversed(self._pending.values()):
            if entry.owner is not None:
                return entry.owner.session, entry.owner.request_id
        if self._sessions:
            return next(reversed(self._sessions.values())), None
        return None

    async def _ask_client(
        self,
        request: jsonrpc.Request,
        session: _BridgeSession,
        related_to: jsonrpc.RequestId | None,
    ) -> None:
        try:
            answer = await session.peer.request(
                request.method, request.params, related_to=related_to
            )
        except SessionClosedError:
            answer = request.fail(jsonrpc.INTERNAL_ERROR, "the client's session closed")
        self._send(replace(answer, id=request.id))

    def _cancel_relay(self, notification: jsonrpc.Notification) -> None:
        """The server no longer needs a client's answer; cancelling tells the client."""
        request_id = (notification.params or {}).get("requestId")
        relay = self._from_server.get(request_id) if jsonrpc.is_request_id(request_id) else None
        if relay is not None:
            relay.cancel()

    def _broadcast(self, notification: jsonrpc.Notification) -> None:
        for session in list(self._sessions.values()):
            session.peer.notify(notification.method, notification.params)


class _BridgeSession:
    """One HTTP session, as the bridge's endpoint sees it."""

    def __init__(self, multiplexer: Multiplexer, peer: Peer) -> None:
        self._multiplexer = multiplexer
        self.peer = peer

    async def handle_request(self, request: jsonrpc.Request) -> jsonrpc.Response:
        if request.method == "initialize":
            return await self._multiplexer.answer_initialize(request)
        return await self._multiplexer.forward(self, request)

    async def handle_notification(self, notification: jsonrpc.Notification) -> None:
        self._multiplexer.notify_server(notification)

    async def close(self) -> None:
        self._multiplexer.forget(self)


def _swap_progress_token(
    params: Mapping[str, Any] | None, token: int
) -> tuple[Mapping[str, Any] | None, object]:
    """``params`` with the bridge's progress token, and the client's token it replaced."""
    meta = (params or {}).get("_meta")
    if params is None or not isinstance(meta, Mapping) or "progressToken" not in meta:
        return params, None
    return {**params, "_meta": {**meta, "progressToken": token}}, meta["progressToken"]


def _brief(message: jsonrpc.Message) -> str:
    match message:
        case jsonrpc.Request(id=request_id, method=method):
            return f"request {method} #{request_id}"
        case jsonrpc.Notification(method=method):
            return f"notification {method}"
        case jsonrpc.Result(id=request_id) | jsonrpc.Error(id=request_id):
            return f"answer to #{request_id}"
