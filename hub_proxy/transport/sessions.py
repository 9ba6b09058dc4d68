"""Every session a process holds, across its endpoints: how many, whose, idle since when.

A session costs memory until it ends, and nothing obliges a client to end
one: an SDK client that crashes, a script that never sends DELETE, or someone
opening sessions on purpose leaves them behind.  One principal opening twenty
thousand sessions is a way to take memory -- and, when every ``initialize``
looked at every session to find the idle ones, time -- from everybody else.
So the sessions of every endpoint of a process are entered in one
:class:`Sessions` table, which does four things:

* **Limits.**  At most :attr:`SessionLimits.total` sessions in the process,
  and at most :attr:`SessionLimits.per_owner` for one owner (the opaque
  string the application puts on each request, see
  :data:`~hub_proxy.transport.base.OWNER`: the hub's principal).  A session
  over a limit is refused before anything is made for it: 429 for the
  owner's own limit (it can make room itself), 503 with ``Retry-After`` for
  the process's (nobody in particular can), each with a JSON-RPC error whose
  ``data`` says which limit and how high, and whose text says what to do.
* **Idle reaping.**  A session with nothing in flight and no stream open for
  :attr:`SessionLimits.idle_seconds` is closed.  The table keeps sessions in
  order of last activity (an ordered dict, moved to the end on each request,
  O(1)), and a periodic task closes from the front for as long as the front
  is older than the limit; a session it finds busy goes to the back as active
  now, since it is.  So a pass costs what it closes, and opening a session
  costs the same with ten sessions or ten thousand.
* **Ending an owner's sessions.**  When an owner's credentials stop being
  valid (an API key revoked), the application says so
  (:meth:`Sessions.end_owned_by`) and every session and stream of that owner
  ends, wherever it is.
* **Credential expiry.**  Each request may say when the credential it
  carried expires (:data:`~hub_proxy.transport.base.CREDENTIAL_EXPIRES`); a
  session expires with the credential of the request that last used it, by a
  timer, so that a stream held open with a JWT ends when the JWT does.

A session is entered as a :class:`Ticket`: admitted (:meth:`Sessions.admit`,
which refuses one over a limit) before anything of the session is made,
watched (:meth:`Ticket.watch`) once it exists, kept by the transport with the
session, and released when the session ends.  A 2026-07-28 request, which is
no session, takes a ticket too, never reaped, so that revocation and expiry
reach its stream; only a ``subscriptions/listen``, which stays open, counts.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import Any, Final

from hub_proxy.transport.base import RefusalError
from hub_proxy.transport.jsonrpc import RequestId

DEFAULT_MAX_SESSIONS: Final = 5000
DEFAULT_MAX_SESSIONS_PER_OWNER: Final = 100
DEFAULT_IDLE_SECONDS: Final = 3600.0
# In JSON-RPC's implementation-defined range, beside the bridge's -32010.
TOO_MANY_SESSIONS: Final = -32029
# A reaping pass at least this often, so that idle sessions live at most this much longer.
_REAP_EVERY_SECONDS: Final = 30.0
_RETRY_AFTER_SECONDS: Final = 30

logger = logging.getLogger(__name__)

Ending = Callable[[str], Coroutine[Any, Any, None]]
"""Ends one session (or stream), saying why; the transport's own close."""


@dataclass(frozen=True)
class SessionLimits:
    """How many sessions a process holds, and how long an idle one lives."""

    total: int = DEFAULT_MAX_SESSIONS
    per_owner: int = DEFAULT_MAX_SESSIONS_PER_OWNER
    idle_seconds: float = DEFAULT_IDLE_SECONDS

    def __post_init__(self) -> None:
        if self.total < 1 or self.per_owner < 1:
            raise ValueError(
                f"session limits must be at least 1, not {self.total} in all and "
                f"{self.per_owner} per owner"
            )
        if not self.idle_seconds > 0:
            raise ValueError(f"the idle time must be positive, not {self.idle_seconds}")


class Ticket:
    """One session's entry in the table, kept by the session until it ends."""

    __slots__ = (
        "_expiry",
        "_table",
        "active",
        "counted",
        "end",
        "expires",
        "idle",
        "owner",
        "released",
    )

    def __init__(self, table: Sessions, owner: str, counted: bool) -> None:
        self._table = table
        self.owner = owner
        self.counted = counted
        self.released = False
        self.end: Ending | None = None
        # None: never idle-reaped (the session lives exactly as long as a stream).
        self.idle: Callable[[], bool] | None = None
        self.active = time.monotonic()
        self.expires = math.inf
        self._expiry: asyncio.TimerHandle | None = None

    def watch(self, end: Ending, idle: Callable[[], bool] | None = None) -> None:
        """From now on the table may end the session: when idle (if ``idle``), revoked, expired."""
        self.end = end
        self.idle = idle
        self._table.watched(self)

    def touch(self) -> None:
        """The session is in use now."""
        self.active = time.monotonic()
        self._table.touched(self)

    def expires_at(self, when: float) -> None:
        """The credential now in use expires at ``when`` (seconds since the epoch)."""
        if when != self.expires:
            self.expires = when
            self._table.expiry_changed(self)

    def release(self) -> None:
        """The session ended; idempotent."""
        self._table.release(self)


class Sessions:
    """The sessions of every endpoint that shares this table: limits, reaping, ending."""

    def __init__(self, limits: SessionLimits | None = None) -> None:
        self.limits = limits or SessionLimits()
        self._by_owner: dict[str, set[Ticket]] = {}
        self._counted: dict[str, int] = {}
        self._total = 0
        # Reaped tickets, least recently active first.
        self._activity: OrderedDict[Ticket, None] = OrderedDict()
        self._reaper: asyncio.Task[None] | None = None
        self._ending: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        """How many sessions count against the limits."""
        return self._total

    def admit(
        self, owner: str, *, counted: bool = True, request_id: RequestId | None = None
    ) -> Ticket:
        """A ticket for a new session of ``owner``, or a :class:`RefusalError` over a limit.

        An uncounted ticket is for what is no session but must be reached by
        revocation and expiry (a stateless request's stream).  The session is
        made after this, and then :meth:`Ticket.watch` ed.  ``request_id`` is
        the request opening the session, for the refusal.
        """
        if counted:
            self._check(owner, request_id)
            self._total += 1
            self._counted[owner] = self._counted.get(owner, 0) + 1
        return Ticket(self, owner, counted)

    def watched(self, ticket: Ticket) -> None:
        if ticket.released:
            return
        self._by_owner.setdefault(ticket.owner, set()).add(ticket)
        if ticket.idle is not None:
            self._activity[ticket] = None
            if self._reaper is None:
                self._reaper = asyncio.get_running_loop().create_task(self._reaping())

    def end_owned_by(self, owners: Collection[str], reason: str) -> int:
        """End every session and stream of ``owners``, in the background; how many."""
        doomed = [ticket for owner in owners for ticket in self._by_owner.get(owner, ())]
        for ticket in doomed:
            self._end(ticket, reason)
        return len(doomed)

    def reap(self) -> int:
        """One pass: end the sessions idle for longer than the limit; how many."""
        now = time.monotonic()
        horizon = now - self.limits.idle_seconds
        ended = 0
        while self._activity:
            ticket = next(iter(self._activity))
            if ticket.active >= horizon:
                break
            # Only tickets with an idle check are in the order.
            if ticket.idle is None or ticket.idle():
                self._end(ticket, "idle for too long")
                ended += 1
            else:
                # Busy: idle time counts from when it stops being busy, later.
                ticket.active = now
                self._activity.move_to_end(ticket)
        return ended

    def touched(self, ticket: Ticket) -> None:
        if not ticket.released and ticket in self._activity:
            self._activity.move_to_end(ticket)

    def expiry_changed(self, ticket: Ticket) -> None:
        if ticket.released:
            return
        if ticket._expiry is not None:
            ticket._expiry.cancel()
            ticket._expiry = None
        if math.isfinite(ticket.expires):
            loop = asyncio.get_running_loop()
            at = loop.time() + max(0.0, ticket.expires - time.time())
            reason = "the credentials it was used with expired"
            ticket._expiry = loop.call_at(at, self._end, ticket, reason)

    def release(self, ticket: Ticket) -> None:
        if ticket.released:
            return
        ticket.released = True
        tickets = self._by_owner.get(ticket.owner)
        if tickets is not None and ticket in tickets:
            tickets.remove(ticket)
            if not tickets:
                del self._by_owner[ticket.owner]
        if ticket.counted:
            self._total -= 1
            left = self._counted[ticket.owner] - 1
            if left:
                self._counted[ticket.owner] = left
            else:
                del self._counted[ticket.owner]
        self._activity.pop(ticket, None)
        if ticket._expiry is not None:
            ticket._expiry.cancel()
            ticket._expiry = None
        if not self._activity and self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None

    def _check(self, owner: str, request_id: RequestId | None) -> None:
        limits = self.limits
        held = self._counted.get(owner, 0)
        if held >= limits.per_owner:
            raise RefusalError(
                429,
                f"too many sessions: you hold {held}, the most one client identity may hold "
                "open here; end the sessions you no longer use (HTTP DELETE) or reuse one -- "
                f"idle sessions close by themselves after {limits.idle_seconds:g} s",
                code=TOO_MANY_SESSIONS,
                request_id=request_id,
                data={"limit": "per-owner", "max": limits.per_owner},
            )
        if self._total >= limits.total:
            data = {"limit": "total", "max": limits.total}
            logger.warning("session refused: the process holds its most", extra=dict(data))
            raise RefusalError(
                503,
                f"too many sessions: this server holds {self._total}, the most it serves at "
                "once; try again later",
                code=TOO_MANY_SESSIONS,
                request_id=request_id,
                data=data,
                headers={"Retry-After": str(_RETRY_AFTER_SECONDS)},
            )

    def _end(self, ticket: Ticket, reason: str) -> None:
        end = ticket.end
        self.release(ticket)
        if end is None:
            return
        task = asyncio.get_running_loop().create_task(end(reason))
        # Held until done: the loop keeps only weak references to tasks.
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def _reaping(self) -> None:
        every = min(self.limits.idle_seconds / 4, _REAP_EVERY_SECONDS)
        while True:
            await asyncio.sleep(every)
            ended = self.reap()
            if ended:
                logger.info("idle sessions closed", extra={"sessions": ended})


def table_of(sessions: Sessions | None) -> Sessions:
    """The table an endpoint enters its sessions in: the one it was given, else its own."""
    # Not ``sessions or Sessions()``: an empty table is falsy.
    return sessions if sessions is not None else Sessions()
