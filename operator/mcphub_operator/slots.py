"""Verification slots: at most N MCP verifications at once, the awaited ones first.

Two kinds of verification compete for the operator's ``--verify-concurrency``
slots: the first verification of a server just applied, changed, or not yet
Ready -- someone is waiting for its status -- and the routine re-verification
of a server that is fine.  In arrival order, the routine ones crowded out the
awaited ones: each server verified early was re-verified every interval while
later servers still queued for their first, so the work grew with servers
times elapsed time, and 500 servers took three times as long as 200, not 2.5.
Here a freed slot goes to the longest-waiting awaited verification, and only
when none waits to a routine one.

asyncio's Semaphore is first-come first-served and a PriorityQueue would need
a consumer task; handing slots over directly from two deques is a few lines
and O(1) per hand-over.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator


class Slots:
    """``size`` slots; :meth:`hold` one, awaited holders before routine ones."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._awaited: collections.deque[asyncio.Future[None]] = collections.deque()
        self._routine: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def awaited_waiting(self) -> int:
        """How many awaited verifications wait for a slot right now."""
        return sum(1 for waiter in self._awaited if not waiter.done())

    @contextlib.asynccontextmanager
    async def hold(self, *, routine: bool) -> AsyncIterator[None]:
        await self._acquire(routine)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, routine: bool) -> None:
        queue = self._routine if routine else self._awaited
        # Nobody may be overtaken: awaited ones by nobody, routine ones by nobody at all.
        queued = bool(self._awaited) or (routine and bool(self._routine))
        if self._free > 0 and not queued:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot just as it was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # a release may have dropped it
                    queue.remove(waiter)
            raise

    def _release(self) -> None:
        for queue in (self._awaited, self._routine):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the slot goes straight to the waiter
                    return
        self._free += 1
