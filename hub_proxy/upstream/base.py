"""What every upstream is made of, whatever carries its messages.

An upstream is reached through a :class:`Channel`, which opens a :class:`Link`
for each lifetime of the server: a child process's pipes
(:mod:`~hub_proxy.upstream.stdio`), an upstream HTTP session
(:mod:`~hub_proxy.upstream.streamable_http`, :mod:`~hub_proxy.upstream.sse`).
A link carries JSON-RPC messages, not bytes: a stdio link encodes and decodes
its own lines, while the HTTP links must look into each message anyway -- to
tell requests, which get an HTTP exchange each, from the rest -- so each
message is parsed once, by the link, and the multiplexer takes it as it is.

Some links know more than the message says.  A streamable-HTTP server that
sends a request or a notification on the stream answering one of the
multiplexer's POSTs says by that very choice that it belongs to that request;
one that sends it on its GET stream says that it belongs to none.  Such a
link hands it over as :class:`Related`, which is how the router knows whose
it is without guessing (see :mod:`hub_proxy.upstream.router`).  Over stdio
and legacy SSE a message comes bare: the wire says nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final, Protocol

from hub_proxy.transport import jsonrpc

# In JSON-RPC's implementation-defined range: the server is not there to
# answer (not started yet, restarting, or it died with the request in hand).
SERVER_UNAVAILABLE: Final = -32010

# How a link says its session expired; the multiplexer puts it in the error it
# answers the lost requests with, which is how the hub knows to retry them.
SESSION_EXPIRED: Final = "lost its upstream session (the server no longer knows its id)"


class ChannelError(Exception):
    """The server could not be reached: the command would not start, a path is no FIFO."""


class UnreadableError(Exception):
    """The server sent something that is not a JSON-RPC message; reading may go on."""

    def __init__(self, error: jsonrpc.MessageError, text: bytes) -> None:
        super().__init__(error.reason)
        self.error = error
        self.text = text


@dataclass(frozen=True, slots=True)
class Related:
    """A message the server said is related to one of the multiplexer's requests, or to none."""

    message: jsonrpc.Request | jsonrpc.Notification
    # The multiplexer's id of the request whose stream carried it; None for
    # the server's own stream, which carries what relates to no request.
    to: jsonrpc.RequestId | None


Received = jsonrpc.Message | Related


class Link(Protocol):
    """One lifetime of the server, as JSON-RPC messages both ways.

    A protocol rather than a base class so that a link need not be a pair of
    asyncio streams.
    """

    @property
    def pid(self) -> int | None:
        """The server's process, when this side of the link knows it."""

    async def receive(self) -> Received | None:
        """The next message from the server; None once the link ended.

        Raises :class:`UnreadableError` for what is no JSON-RPC message, and
        ValueError for an overlong line; reading may go on.
        """

    def send(self, message: jsonrpc.Message) -> bool:
        """Queue one message for the server; False once the server stopped reading."""

    async def drain(self) -> None:
        """Wait while the server is slow to read; returns at once if it is gone."""

    async def close(self, grace: float) -> str:
        """Make sure this lifetime is over; say how it ended, for logs, errors and /readyz."""


class Channel(Protocol):
    """Where the server is reached; :meth:`open` is called once per lifetime."""

    def describe(self) -> str:
        """What the multiplexer is waiting for while :meth:`open` runs, for /readyz."""

    async def open(self) -> Link:
        """Start or reach the server; raises :class:`ChannelError` if that cannot work."""


class QueuedLink:
    """A link whose messages pass through two queues, for HTTP upstreams.

    Over HTTP each message is an exchange of its own, with its own flow
    control, so the multiplexer's messages only need queueing until a sender
    picks them up; what the upstream says is queued for ``receive``, and None
    there means the session ended (``_ended`` says why).
    """

    pid: int | None = None

    def __init__(self) -> None:
        self._inbox: asyncio.Queue[Received | UnreadableError | None] = asyncio.Queue()
        self._outbox: asyncio.Queue[jsonrpc.Message] = asyncio.Queue()
        self._ended: str | None = None

    async def receive(self) -> Received | None:
        received = await self._inbox.get()
        if isinstance(received, UnreadableError):
            raise received
        return received

    def send(self, message: jsonrpc.Message) -> bool:
        if self._ended is not None:
            return False
        self._outbox.put_nowait(message)
        return True

    def _take(self, data: bytes) -> jsonrpc.Message | UnreadableError:
        """Decode one message from the upstream and queue it, or what was wrong with it."""
        taken = _decoded(data)
        self._inbox.put_nowait(taken)
        return taken

    def _take_related(
        self, data: bytes, to: jsonrpc.RequestId | None
    ) -> jsonrpc.Message | UnreadableError:
        """:meth:`_take` for a link that knows which request (if any) a message came with."""
        taken = _decoded(data)
        if isinstance(taken, jsonrpc.Request | jsonrpc.Notification):
            self._inbox.put_nowait(Related(taken, to))
        else:
            self._inbox.put_nowait(taken)
        return taken

    async def drain(self) -> None:
        return


def _decoded(data: bytes) -> jsonrpc.Message | UnreadableError:
    try:
        return jsonrpc.decode(data)
    except jsonrpc.MessageError as exc:
        return UnreadableError(exc, data)


def describe_loss(exc: BaseException) -> str:
    """How a connection was lost, by its innermost reason, without task-group wrapping."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"lost the connection ({type(exc).__name__}: {exc})"
