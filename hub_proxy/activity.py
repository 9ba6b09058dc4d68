"""What the hub did lately: a bounded record of decisions and calls, in memory, with listeners.

The audit (:mod:`hub_proxy.auth.audit`) writes every decision to the log, for
whoever reads logs later; the dashboard needs the same facts *now* -- the
last calls of a server, a live stream of activity, calls per minute and error
ratios -- and a log file is no place to read them back from.  So
:class:`~hub_proxy.access.AccessControl` tells this module each decision as
it makes it, and the session each call's outcome and duration as the call
ends.  Readers get them two ways, never by scanning the log:

* :meth:`Activity.recent`: the last :data:`RING_SIZE` events, newest last --
  a ring, so memory stays bounded whatever the traffic;
* :meth:`Activity.subscribe`: a listener told each event as it happens (the
  dashboard's server-sent events).  A listener must not block: it is called
  on the call's path.

Per server, :meth:`Activity.stats` keeps what an overview shows: calls and
errors in the last :data:`WINDOW_SECONDS`, in :data:`BUCKET_SECONDS` buckets
(so a busy server costs the same memory as a quiet one), and the durations of
its last :data:`DURATIONS_KEPT` calls for a median.  These are this replica's
own figures; the hub's Prometheus metrics are where figures of every replica
meet.

Recording costs an object and a few dictionary and deque operations per
decision (about a microsecond), which is why it is always on: the dashboard's
first page already shows the calls made before anyone opened it.
"""

from __future__ import annotations

import collections
import itertools
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple, Protocol

from hub_proxy.auth.policy import Action, Decision, Item, ItemKind
from hub_proxy.auth.principal import Principal
from hub_proxy.transport import jsonrpc

RING_SIZE: Final = 2000
WINDOW_SECONDS: Final = 300
BUCKET_SECONDS: Final = 10
DURATIONS_KEPT: Final = 200
DETAIL_CHARS: Final = 200

EventKind = Literal["decision", "list", "call"]
Outcome = Literal["allowed", "denied", "ok", "error", "tool error"]


class Event(NamedTuple):
    """One thing the hub decided or did, for one principal.

    ``kind`` says which: a decision about one item (``decision``), a filtered
    list (``list``: ``servers`` are the servers whose items were shown,
    ``detail`` how many, and ``hidden`` how many items were not), or a
    finished call (``call``, with its ``seconds``).  A list event names no
    server and no item the principal may not see: the principal may read it.

    A named tuple rather than a frozen dataclass: one is made per decision, on
    the call's path, and a tuple is made in a third of the time.
    """

    id: int
    at: float
    kind: EventKind
    principal: Principal
    action: Action
    item_kind: ItemKind
    servers: tuple[str, ...]
    item: str
    outcome: Outcome
    policy: str | None
    detail: str
    seconds: float | None = None
    hidden: int = 0


class CallOutcome(NamedTuple):
    """How a call ended: ``ok``, ``tool error`` (a result with ``isError``) or ``error``."""

    outcome: Literal["ok", "error", "tool error"]
    detail: str = ""


def outcome_of(answer: jsonrpc.Response) -> CallOutcome:
    """What an upstream's answer says of the call, with the start of its error text."""
    if isinstance(answer, jsonrpc.Error):
        return CallOutcome("error", answer.message[:DETAIL_CHARS])
    if answer.result.get("isError") is True:
        return CallOutcome("tool error", _first_text(answer.result.get("content")))
    return CallOutcome("ok")


def _first_text(content: Any) -> str:
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and isinstance(text := block.get("text"), str):
                return text[:DETAIL_CHARS]
    return ""


@dataclass(frozen=True)
class ServerStats:
    """One server's calls over the last :data:`WINDOW_SECONDS`, as this replica saw them."""

    calls: int
    errors: int
    median_seconds: float | None
    window_seconds: int = WINDOW_SECONDS

    @property
    def per_minute(self) -> float:
        return self.calls * 60 / self.window_seconds

    @property
    def error_ratio(self) -> float | None:
        return self.errors / self.calls if self.calls else None


class ActivityListener(Protocol):
    """Told each event as it is recorded; must not block."""

    def __call__(self, event: Event, /) -> None: ...


class _Counts:
    """Calls and errors per bucket over the window, and the last durations."""

    def __init__(self) -> None:
        # (bucket number, calls, errors), oldest first.
        self.buckets: collections.deque[list[int]] = collections.deque()
        self.durations: collections.deque[float] = collections.deque(maxlen=DURATIONS_KEPT)

    def add(self, now: float, failed: bool, seconds: float) -> None:
        bucket = int(now // BUCKET_SECONDS)
        if not self.buckets or self.buckets[-1][0] != bucket:
            self.buckets.append([bucket, 0, 0])
            self._expire(bucket)
        last = self.buckets[-1]
        last[1] += 1
        last[2] += failed
        self.durations.append(seconds)

    def _expire(self, bucket: int) -> None:
        oldest = bucket - WINDOW_SECONDS // BUCKET_SECONDS
        while self.buckets and self.buckets[0][0] <= oldest:
            self.buckets.popleft()

    def stats(self, now: float) -> ServerStats:
        self._expire(int(now // BUCKET_SECONDS))
        calls = sum(bucket[1] for bucket in self.buckets)
        errors = sum(bucket[2] for bucket in self.buckets)
        median = statistics.median(self.durations) if calls and self.durations else None
        return ServerStats(calls, errors, median)


class Activity:
    """The last events and per-server call figures, and who listens for new ones."""

    def __init__(self, size: int = RING_SIZE) -> None:
        self._events: collections.deque[Event] = collections.deque(maxlen=size)
        self._ids = itertools.count(1)
        self._listeners: set[ActivityListener] = set()
        self._counts: dict[str, _Counts] = {}

    def subscribe(self, listener: ActivityListener) -> None:
        self._listeners.add(listener)

    def unsubscribe(self, listener: ActivityListener) -> None:
        self._listeners.discard(listener)

    def recent(self) -> Sequence[Event]:
        """The events kept, oldest first (a copy)."""
        return tuple(self._events)

    def stats(self, server: str) -> ServerStats:
        counts = self._counts.get(server)
        return counts.stats(time.time()) if counts is not None else ServerStats(0, 0, None)

    def decided(self, principal: Principal, action: Action, item: Item, decision: Decision) -> None:
        outcome: Outcome = "allowed" if decision.allowed else "denied"
        self._append(
            Event(
                next(self._ids),
                time.time(),
                "decision",
                principal,
                action,
                item.kind,
                (item.server,),
                item.published,
                outcome,
                decision.policy,
                decision.reason,
            )
        )

    def listed(
        self, principal: Principal, kind: ItemKind, results: Sequence[tuple[Item, Decision]]
    ) -> None:
        servers = {item.server for item, decision in results if decision.allowed}
        shown = sum(decision.allowed for _, decision in results)
        self._append(
            Event(
                next(self._ids),
                time.time(),
                "list",
                principal,
                "list",
                kind,
                tuple(sorted(servers)),
                "",
                "allowed",
                None,
                f"{kind}s: {shown} shown",
                hidden=len(results) - shown,
            )
        )

    def called(
        self,
        principal: Principal,
        action: Action,
        item: Item,
        outcome: CallOutcome,
        seconds: float,
    ) -> None:
        """A call (or get, or read) that was allowed has ended, after ``seconds``."""
        now = time.time()
        counts = self._counts.get(item.server)
        if counts is None:
            counts = self._counts[item.server] = _Counts()
        counts.add(now, outcome.outcome != "ok", seconds)
        self._append(
            Event(
                next(self._ids),
                now,
                "call",
                principal,
                action,
                item.kind,
                (item.server,),
                item.published,
                outcome.outcome,
                None,
                outcome.detail,
                seconds,
            )
        )

    def forget(self, servers: Sequence[str]) -> None:
        """Drop the figures of servers no longer served (their events age out of the ring)."""
        for server in servers:
            self._counts.pop(server, None)

    def _append(self, event: Event) -> None:
        self._events.append(event)
        for listener in self._listeners:
            listener(event)
