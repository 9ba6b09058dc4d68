"""The SSE streams of a streamable HTTP session: sequences of messages that outlive connections.

A streamable HTTP session talks to its client over SSE streams -- one per
POSTed request whose answer streams, and the GET stream for what the server
says on its own -- and a connection can drop in the middle of one.  Since MCP
2025-11-25 (SEP-1699) that need not lose anything: a server gives each event
an id, opens each stream with a *priming* event (an id, a ``retry`` delay and
no data) so that the client holds an id before anything else happens, and a
client whose stream broke GETs the endpoint with ``Last-Event-ID`` to have
the rest of *that* stream replayed and continued.  A server may also end a
stream early on purpose and let the client come back (polling).

So a stream here is not a connection but a :class:`Stream`: the messages put
on it, in order, each with a sequence number, kept (up to a bound) after they
were written; and at most one writer at a time that copies them to an HTTP
response (:func:`write`).  A writer whose connection breaks just stops; the
stream stays as it was; a later writer -- the client's resumption -- starts
after the last event the client saw.  Event ids are ``{stream}-{sequence}``,
unique in the session, and ``{stream}-0`` is the priming event's.

Only clients of 2025-11-25 and later get ids and priming events: older ones
may take an event without data for a malformed message (the SDKs' servers
decide the same way).  For them a stream is exactly what it was before
resumability: written once, and a broken connection loses what was not
written.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterator
from typing import Final

from aiohttp import web

from hub_proxy.transport import jsonrpc
from hub_proxy.transport.base import KEEPALIVE, event

# The first revision whose clients take an event without data (a priming event).
RESUMABLE_SINCE: Final = "2025-11-25"

logger = logging.getLogger(__name__)


class Stream:
    """One SSE stream of a session: its messages, numbered, and who is writing them."""

    __slots__ = (
        "_changed",
        "_events",
        "_next",
        "_timed_out",
        "closed",
        "final",
        "generation",
        "listening",
        "number",
        "writing",
        "written",
    )

    def __init__(self, number: int, keep: int, *, listening: bool = False) -> None:
        self.number = number
        # A GET stream (what the server says unprompted), not a request's.
        self.listening = listening
        # (sequence number, message); the oldest give way beyond ``keep``.
        self._events: deque[tuple[int, jsonrpc.Message]] = deque(maxlen=keep)
        self._next = 1
        self._changed = asyncio.Event()
        self._timed_out = False
        # The stream's last message (a response) is in: nothing comes after it.
        self.final = False
        # The session ended: nothing more will come, whatever is missing.
        self.closed = False
        # Bumped by each new writer, so that a writer replaced by a resumption stops.
        self.generation = 0
        # Whether a writer is at work, and the last sequence number it wrote.
        self.writing = False
        self.written = 0

    @property
    def last(self) -> int:
        """The sequence number of the newest message put on the stream (0: none yet)."""
        return self._next - 1

    def put(self, message: jsonrpc.Message, *, final: bool = False) -> None:
        self._events.append((self._next, message))
        self._next += 1
        self.final = final
        self._changed.set()

    def close(self) -> None:
        self.closed = True
        self._changed.set()

    def after(self, sequence: int) -> Iterator[tuple[int, jsonrpc.Message]]:
        """The messages still kept with a sequence number above ``sequence``, in order."""
        return ((number, message) for number, message in list(self._events) if number > sequence)

    def first(self) -> jsonrpc.Message | None:
        """The first message, while it is still the only one; else None."""
        return self._events[0][1] if self._next == 2 and self._events else None

    @property
    def done(self) -> bool:
        """Whether the last writer wrote the stream to its end."""
        return self.final and self.written == self.last

    def lost_after(self, sequence: int) -> bool:
        """Whether messages after ``sequence`` were dropped for the bound before being replayed."""
        return bool(self._events) and self._events[0][0] > sequence + 1

    async def arrived(self) -> None:
        """Wait for the first message, or the end."""
        if self.last == 0 and not self.closed:
            self._changed.clear()
            await self._changed.wait()

    async def changed(self, seconds: float) -> bool:
        """Wait for a new message or the end, at most ``seconds``; whether one came."""
        self._timed_out = False
        timer = asyncio.get_running_loop().call_later(seconds, self.time_out)
        try:
            await self._changed.wait()
        finally:
            timer.cancel()
        return not self._timed_out

    def time_out(self) -> None:
        """Wake whoever waits on the stream, as having waited long enough."""
        self._timed_out = True
        self._changed.set()

    def event_id(self, sequence: int) -> str:
        return f"{self.number}-{sequence}"


class Grace:
    """A moment a request's stream may wait for its first message, kept by one clock for all.

    Every request of a resumable session waits it, so a timer each -- pushed
    on and cancelled from the event loop's heap -- was most of what the wait
    cost.  The deadlines come in the order of the requests, so one queue and
    one task suffice, waking every so often while anything waits; a stream
    answered before its deadline is simply skipped when the deadline comes.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadlines: deque[tuple[float, Stream]] = deque()
        self._clock: asyncio.Task[None] | None = None

    async def first_message(self, stream: Stream) -> None:
        """Wait for the stream's first message, or the end, at most :attr:`seconds`."""
        if stream.last or stream.closed:
            return
        loop = asyncio.get_running_loop()
        self._deadlines.append((loop.time() + self.seconds, stream))
        if self._clock is None:
            self._clock = loop.create_task(self._tick())
        stream._changed.clear()
        await stream._changed.wait()

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        # A fifth of the grace late at worst, and at most five wakes per grace.
        batch = self.seconds / 5
        try:
            while self._deadlines:
                await asyncio.sleep(max(self._deadlines[0][0] - loop.time(), batch))
                now = loop.time()
                while self._deadlines and self._deadlines[0][0] <= now:
                    _, stream = self._deadlines.popleft()
                    if stream.last == 0:
                        stream.time_out()
        finally:
            self._clock = None


def priming(stream: Stream, sequence: int, retry_milliseconds: int) -> bytes:
    """The event that opens (or reopens) a resumable stream: an id and a retry delay, no data."""
    return f"id: {stream.event_id(sequence)}\nretry: {retry_milliseconds}\ndata: \n\n".encode()


def parse_event_id(value: str) -> tuple[int, int] | None:
    """``(stream, sequence)`` of an event id this module made; None for anything else."""
    stream, separator, sequence = value.partition("-")
    if not separator or not stream.isdigit() or not sequence.isdigit():
        return None
    if len(stream) > 18 or len(sequence) > 18:
        return None
    return int(stream), int(sequence)


async def write(
    response: web.StreamResponse,
    stream: Stream,
    since: int,
    *,
    ids: bool,
    keepalive_seconds: float,
    opening: bytes = b"",
) -> None:
    """Copy the stream's messages after ``since`` to ``response`` until it ends or is taken over.

    ``opening`` (a priming event) goes out first.  What is ready is written
    in one piece, and the last piece of a stream that ends together with the
    response's end, so that a short answer costs one write, as a JSON one
    does.  How far it got is ``stream.written`` (:attr:`Stream.done` once all
    of a final stream is).  A keep-alive comment goes out after
    ``keepalive_seconds`` of silence, so that proxies keep the stream and a
    vanished client is noticed.  A client gone raises ``ConnectionResetError``
    on a write; what was not written stays in the stream.
    """
    stream.generation += 1
    generation = stream.generation
    stream.written = since
    stream.writing = True
    pending = [opening] if opening else []
    try:
        while stream.generation == generation:
            stream._changed.clear()
            written = stream.written
            for sequence, message in stream.after(written):
                frame = event(message)
                if ids:
                    frame = f"id: {stream.event_id(sequence)}\n".encode() + frame
                pending.append(frame)
                written = sequence
            ending = (stream.final and written == stream.last) or stream.closed
            if ending:
                await response.write_eof(b"".join(pending))
            elif pending:
                await response.write(b"".join(pending))
            pending = []
            if stream.generation != generation:
                return  # a resumption took over while this was written
            stream.written = written
            if ending:
                return
            if not await stream.changed(keepalive_seconds):
                await response.write(KEEPALIVE)
    finally:
        if stream.generation == generation:
            stream.writing = False
