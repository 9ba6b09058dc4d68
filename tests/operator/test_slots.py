"""Verification slots: awaited verifications overtake routine ones, never the other way."""

from __future__ import annotations

import asyncio

from mcphub_operator.slots import Slots


async def test_a_freed_slot_goes_to_an_awaited_waiter_before_earlier_routine_ones() -> None:
    slots = Slots(1)
    order: list[str] = []
    release = asyncio.Event()

    async def verify(name: str, *, routine: bool) -> None:
        async with slots.hold(routine=routine):
            order.append(name)
            await release.wait()

    first = asyncio.create_task(verify("first", routine=False))
    await asyncio.sleep(0)
    waiting = [
        asyncio.create_task(verify("routine-1", routine=True)),
        asyncio.create_task(verify("routine-2", routine=True)),
    ]
    await asyncio.sleep(0)
    waiting.append(asyncio.create_task(verify("awaited", routine=False)))
    await asyncio.sleep(0)
    assert slots.awaited_waiting == 1
    release.set()
    await asyncio.gather(first, *waiting)
    assert order == ["first", "awaited", "routine-1", "routine-2"]


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    slots = Slots(1)
    async with slots.hold(routine=False):
        gone = asyncio.create_task(slots.hold(routine=False).__aenter__())
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        assert slots.awaited_waiting == 0
    async with asyncio.timeout(1), slots.hold(routine=True):
        pass  # the slot is free again: nobody holds it, nobody waits
