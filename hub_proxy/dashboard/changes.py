"""What changed lately, per server, and the browsers that want to hear of it.

Three sources tell the dashboard that what it shows is out of date, each by a
listener of the hub's own objects: the catalog was replaced (a server added,
changed or removed, a policy changed), an upstream's offer changed (it
re-listed its tools), or an activity event was recorded.  The fourth, an
upstream's health, has no listener in the hub -- a multiplexer's state is
read, not announced -- so one task compares every upstream's
:class:`~hub_proxy.upstreams.UpstreamStatus` once a second (two hundred
comparisons of two fields) and reports transitions.

Each change is kept as a :class:`ServerEvent` in a short history per server
(the server page's "recent events") and sets the server's last change time,
and every open event stream hears a :class:`Message`.  Streams are queues of
bounded size: a browser that stops reading loses messages, never the hub's
memory, and since a "servers changed" message only says "fetch again", losing
all but one of a burst changes nothing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

from hub_proxy.activity import Activity, Event
from hub_proxy.catalog import Catalog
from hub_proxy.live import LiveCatalog
from hub_proxy.upstreams import Upstreams

EVENTS_KEPT: Final = 20
STATUS_POLL_SECONDS: Final = 1.0
QUEUE_SIZE: Final = 256


@dataclass(frozen=True)
class ServerEvent:
    """Something that happened to a server, as the hub saw it."""

    at: float
    what: str


@dataclass(frozen=True)
class Message:
    """What an event stream is told: the servers changed, or an activity event."""

    kind: Literal["servers", "activity"]
    event: Event | None = None


class Changes:
    """Per-server history and last change, and the queues of open event streams."""

    def __init__(self, live: LiveCatalog, upstreams: Upstreams, activity: Activity) -> None:
        self._live = live
        self._upstreams = upstreams
        self._activity = activity
        started = time.time()
        self.last_change: dict[str, float] = dict.fromkeys(live.current.servers, started)
        self._history: dict[str, collections.deque[ServerEvent]] = {}
        self._health: dict[str, tuple[bool, str]] = {}
        self._streams: set[asyncio.Queue[Message]] = set()
        live.subscribe(self._replaced)
        upstreams.subscribe(self._offer_changed)
        activity.subscribe(self._recorded)

    def close(self) -> None:
        self._live.unsubscribe(self._replaced)
        self._upstreams.unsubscribe(self._offer_changed)
        self._activity.unsubscribe(self._recorded)

    def history(self, server: str) -> tuple[ServerEvent, ...]:
        """The server's recent events, newest first."""
        return tuple(reversed(self._history.get(server, ())))

    @contextlib.contextmanager
    def stream(self) -> Iterator[asyncio.Queue[Message]]:
        """A queue of the messages from now on, until the ``with`` ends."""
        queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE_SIZE)
        self._streams.add(queue)
        try:
            yield queue
        finally:
            self._streams.discard(queue)

    async def watch_health(self, interval: float = STATUS_POLL_SECONDS) -> None:
        """Report each upstream's change of health until cancelled."""
        while True:
            changed = False
            for upstream in self._upstreams.all():
                status = upstream.status
                now = (status.ready, status.reason)
                before = self._health.get(upstream.name)
                self._health[upstream.name] = now
                if before is not None and before != now:
                    state = "ready" if status.ready else f"not ready: {status.reason}"
                    self._note(upstream.name, state)
                    changed = True
            if changed:
                self._send(Message("servers"))
            await asyncio.sleep(interval)

    def _note(self, server: str, what: str) -> None:
        now = time.time()
        history = self._history.get(server)
        if history is None:
            history = self._history[server] = collections.deque(maxlen=EVENTS_KEPT)
        history.append(ServerEvent(now, what))
        self.last_change[server] = now

    def _replaced(self, old: Catalog, new: Catalog) -> None:
        for name in new.servers.keys() - old.servers.keys():
            self._note(name, "added to the configuration")
        for name in old.servers.keys() - new.servers.keys():
            self._note(name, "removed from the configuration")
            self._health.pop(name, None)
        self._activity.forget(sorted(old.servers.keys() - new.servers.keys()))
        for name in new.servers.keys() & old.servers.keys():
            if new.servers[name] != old.servers[name]:
                self._note(name, "configuration changed; restarted")
        self._send(Message("servers"))

    def _offer_changed(self, server: str, kind: str) -> None:
        self._note(server, f"{kind} listed again: the offer changed")
        self._send(Message("servers"))

    def _recorded(self, event: Event) -> None:
        self._send(Message("activity", event))

    def _send(self, message: Message) -> None:
        for queue in list(self._streams):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)
