"""Keeping one upstream server running and initialized: start, handshake, back-off, restart.

This is the half of a :class:`~hub_proxy.upstream.multiplexer.Multiplexer`
that knows the server has lifetimes; the other half,
:mod:`~hub_proxy.upstream.router`, knows who is waiting for what and sees
only messages.  The supervisor gives the router a :class:`Wire` -- send, and
wait until the server is ready -- and hands it every message the server sends.

* **One handshake per server lifetime.**  The supervisor initializes the
  server itself as soon as it starts (readiness depends on it, and no client
  may be connected yet), declares every client capability the router can
  forward, and keeps the result: each session's ``initialize`` is answered
  from it.  A restarted server is initialized with the protocol version the
  sessions already negotiated, so nothing changes under them.

* **Restarts with jittered, capped back-off.**  When the server dies, the
  router answers whatever it owed at once with an error that says it exited
  and how, instead of hanging until a client times out.  The supervisor then
  restarts (or, for FIFOs, reopens; for a remote server, reconnects) it,
  re-initializes it, and the router tells every session
  ``notifications/tools/list_changed`` (prompts and resources too, where the
  server has them): the sessions stay valid, and what they cached may have
  changed.

* **Waiting for a quick restart, not for a crash loop.**  A request arriving
  while the server (re)starts after a lifetime that served waits a bounded
  time for it rather than fail at once, so a client barely notices a quick
  restart, or a remote server's expired session.  A server that ended again
  before it was ready is crash-looping (or not there): waiting would only make
  every caller wait the whole bound for the same failure, so from then on,
  until the server is ready again, a request fails at once, saying how the
  server last ended and when the next attempt is; and a request already
  waiting when that happens stops waiting then.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from mcp_types.version import LATEST_HANDSHAKE_VERSION

from hub_proxy.transport import jsonrpc
from hub_proxy.upstream.base import Channel, ChannelError, Link, Received, UnreadableError
from mcphub_runtime import retry

# Everything the router can forward to some client.  A client without the
# capability answers the server's request with an error, which is forwarded too.
CLIENT_CAPABILITIES: Final[Mapping[str, Any]] = {
    "roots": {"listChanged": True},
    "sampling": {},
    "elicitation": {},
}

# A server that stayed up this long has earned a fresh back-off.
STABLE_AFTER_SECONDS: Final = 10.0

logger = logging.getLogger(__name__)


def _version() -> str:
    try:
        return importlib.metadata.version("mcphub")
    except importlib.metadata.PackageNotFoundError:
        return "0"


CLIENT_INFO: Final[Mapping[str, Any]] = {"name": "mcphub-bridge", "version": _version()}


@dataclass(frozen=True)
class Timeouts:
    """How long the multiplexer waits, in seconds."""

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


class Routing(Protocol):
    """What the supervisor tells the router: messages, and the ends and starts of lifetimes."""

    def receive(self, received: Received) -> None:
        """One message from the server."""

    def unreadable(self, error: UnreadableError) -> None:
        """Something from the server that is no JSON-RPC message."""

    async def ask(self, method: str, params: Mapping[str, Any] | None) -> jsonrpc.Response:
        """Send a request of the supervisor's own and wait for the server's answer."""

    def abandon(self, why: str) -> None:
        """The server is gone: answer whatever it owed, saying ``why``."""

    def restarted(self, capabilities: Mapping[str, Any]) -> None:
        """A new lifetime of the server is initialized, after an earlier one."""


class Supervisor:
    """Runs one server's lifetimes, one after the other, and is the router's wire to it."""

    def __init__(self, channel: Channel, timeouts: Timeouts) -> None:
        self._channel = channel
        self._timeouts = timeouts
        self._link: Link | None = None
        self._ready = asyncio.Event()
        # Set while waiting is pointless: ready, or crash-looping.
        self._settled = asyncio.Event()
        self._reason = "not started"
        self._restarts = 0
        # While backing off: when the next attempt is (monotonic).
        self._retry_at: float | None = None
        # Lifetimes in a row that ended before the server was ready.
        self._failed_starts = 0
        self._initialize_result: Mapping[str, Any] | None = None
        self._protocol_version = LATEST_HANDSHAKE_VERSION

    @property
    def status(self) -> Status:
        result = self._initialize_result or {}
        return Status(
            ready=self._ready.is_set(),
            reason=self._why(),
            pid=self._link.pid if self._link is not None else None,
            restarts=self._restarts,
            server_info=result.get("serverInfo"),
            protocol_version=self._protocol_version if result else None,
        )

    @property
    def initialize_result(self) -> Mapping[str, Any] | None:
        """What the server answered the handshake of its current or last lifetime."""
        return self._initialize_result

    # -- the router's wire ------------------------------------------------------------------

    def send(self, message: jsonrpc.Message) -> None:
        link = self._link
        if link is None or not link.send(message):
            logger.info("server not running; message dropped", extra={"dropped": _brief(message)})

    async def drain(self) -> None:
        if self._link is not None:
            await self._link.drain()

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set()

    async def ready(self) -> str | None:
        """None once the server is ready to take a request; else why it is not."""
        # The usual case, on every forwarded request: ``wait_for`` would wrap
        # the wait in a task of its own and cost a turn of the event loop.
        if self._ready.is_set():
            return None
        if not self._settled.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), self._timeouts.ready)
        if self._ready.is_set():
            return None
        if self._retry_at is not None and self._failed_starts > 0:
            times = f" {self._failed_starts} times in a row" if self._failed_starts > 1 else ""
            return f"{self._why()}; it failed to start{times}"
        return self._why()

    async def until_ready(self) -> None:
        """Return once the server is ready, however long that takes."""
        await self._ready.wait()

    def _why(self) -> str:
        """Why the server is not ready, with when the next attempt is, while backing off."""
        if self._retry_at is None:
            return self._reason
        remaining = max(0.0, self._retry_at - time.monotonic())
        return f"{self._reason}, restarting in {remaining:.1f} s"

    # -- lifetimes --------------------------------------------------------------------------

    async def run(self, routing: Routing) -> None:
        """Keep a server running and initialized until cancelled; then stop it."""
        failures = 0
        while True:
            started = time.monotonic()
            ended, served = await self._live(routing)
            failures = 1 if time.monotonic() - started >= STABLE_AFTER_SECONDS else failures + 1
            delay = retry.RECONNECT.delay(failures)
            self._restarts += 1
            self._reason = f"child {ended}"
            self._retry_at = time.monotonic() + delay
            self._failed_starts = 0 if served else self._failed_starts + 1
            if not served:
                # Crash-looping: callers waiting for the server are told now.
                self._settled.set()
            logger.warning(
                "restarting the server",
                extra={"why": ended, "in_seconds": delay, "failed_starts": self._failed_starts},
            )
            try:
                await asyncio.sleep(delay)
            finally:
                self._retry_at = None
                self._settled.clear()

    async def _live(self, routing: Routing) -> tuple[str, bool]:
        """One lifetime of the server: how it ended, and whether it was ever ready."""
        self._reason = self._channel.describe()
        try:
            link = await self._channel.open()
        except ChannelError as exc:
            return str(exc), False
        self._link = link
        logger.info("server started", extra={"pid": link.pid})
        reading = asyncio.create_task(self._read(link, routing))
        initializing = asyncio.create_task(self._initialize(routing))
        failure: str | None = None
        served = False
        try:
            await asyncio.wait({reading, initializing}, return_when=asyncio.FIRST_COMPLETED)
            if initializing.done() and not reading.done():
                error = initializing.exception()
                if error is None:
                    served = True
                    await reading
                else:
                    failure = str(error)
        finally:
            self._link = None
            self._ready.clear()
            self._settled.clear()
            initializing.cancel()
            reading.cancel()
            if reading.done() and not reading.cancelled() and reading.exception() is not None:
                logger.error("reading from the server failed", exc_info=reading.exception())
            ended = await link.close(self._timeouts.stop)
            logger.info("server ended", extra={"pid": link.pid, "how": ended})
            routing.abandon(f"the MCP server process {ended} before answering")
        return failure or ended, served

    async def _initialize(self, routing: Routing) -> None:
        params = {
            "protocolVersion": self._protocol_version,
            "capabilities": CLIENT_CAPABILITIES,
            "clientInfo": CLIENT_INFO,
        }
        try:
            answer = await asyncio.wait_for(
                routing.ask("initialize", params), self._timeouts.initialize
            )
        except TimeoutError as exc:
            limit = self._timeouts.initialize
            raise InitializeError(f"did not answer initialize within {limit:g} s") from exc
        if isinstance(answer, jsonrpc.Error):
            raise InitializeError(f"refused initialize: {answer.message} ({answer.code})")
        version = answer.result.get("protocolVersion")
        if not isinstance(version, str):
            raise InitializeError("answered initialize without a protocolVersion")
        self.send(jsonrpc.Notification("notifications/initialized"))
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
        self._settled.set()
        logger.info(
            "server initialized",
            extra={"server": answer.result.get("serverInfo"), "protocol_version": version},
        )
        if restarted:
            routing.restarted(answer.result.get("capabilities") or {})

    async def _read(self, link: Link, routing: Routing) -> None:
        while True:
            try:
                message = await link.receive()
            except UnreadableError as unreadable:
                routing.unreadable(unreadable)
                continue
            except ValueError:
                logger.error("server wrote an overlong line; dropped it")
                continue
            if message is None:
                return
            routing.receive(message)


def _brief(message: jsonrpc.Message) -> str:
    match message:
        case jsonrpc.Request(id=request_id, method=method):
            return f"request {method} #{request_id}"
        case jsonrpc.Notification(method=method):
            return f"notification {method}"
        case jsonrpc.Result(id=request_id) | jsonrpc.Error(id=request_id):
            return f"answer to #{request_id}"
