"""KeyedLocks: one key's holders run one at a time, other keys do not wait, and the
table empties once nobody holds or waits."""

from __future__ import annotations

import asyncio

from services.runtime.locks import KeyedLocks


async def test_one_keys_holders_take_turns() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    inside, most = 0, 0

    async def hold() -> None:
        nonlocal inside, most
        async with locks.hold("a"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(hold() for _ in range(5)))
    assert most == 1
    assert len(locks) == 0


async def test_another_key_does_not_wait() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    release = asyncio.Event()

    async def hold_a() -> None:
        async with locks.hold("a"):
            await release.wait()

    holder = asyncio.create_task(hold_a())
    await asyncio.sleep(0)
    async with asyncio.timeout(1), locks.hold("b"):
        assert len(locks) == 2
    release.set()
    await holder
    assert len(locks) == 0


async def test_a_failing_holder_releases_the_key() -> None:
    locks: KeyedLocks[tuple[str, int]] = KeyedLocks()
    try:
        async with locks.hold(("x", 1)):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with asyncio.timeout(1):
        async with locks.hold(("x", 1)):
            pass
    assert len(locks) == 0
