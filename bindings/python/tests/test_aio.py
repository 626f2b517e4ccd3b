"""asyncio over the network: awaitable requests, typed failures, events as an async iterator, a
context manager, and no blocking of the event loop (the `server` fixture is in conftest.py)."""

import asyncio

import pytest

import frontdesk as fd
from frontdesk.aio import AsyncClient


def test_requests_and_events_from_asyncio(server):
    async def main():
        async with await AsyncClient.connect(server["url"], server["alice"], 301) as c:
            await c.synced(10)
            profile = await c.request(c.sync.get_profile(), 10)
            assert profile.is_profile()
            # Many requests at once, awaited together: each gets its own answer.
            ids = [c.sync.get_orders() for _ in range(20)]
            answers = await asyncio.gather(*(c.request(i, 10) for i in ids))
            assert all(a.is_orders() for a in answers) and len(answers) == 20
            # A refusal raises the same typed error as the blocking wait.
            with pytest.raises(fd.FrontdeskError.NotFound):
                await c.request(c.sync.update_delivery("B-2001", fd.DeliveryDetails(address="x")), 10)  # bob's order
            # The loop was never blocked: a timer kept ticking while answers came.
            ticks = 0

            async def tick():
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            t = asyncio.ensure_future(tick())
            await c.request(c.sync.get_center_status(), 10)
            await asyncio.sleep(0.05)
            t.cancel()
            assert ticks >= 2
            # Events arrive in the async iterator, answers among them.
            seen = []
            async for e in c.events():
                seen.append(e)
                if e.is_completed() and e.request_id == ids[-1]:
                    break
            assert any(e.is_synced() for e in seen)
        assert not c.sync.is_connected()

    asyncio.run(main())


def test_a_bad_token_raises_from_synced(server):
    async def main():
        c = await AsyncClient.connect(server["url"], "not-a-token", 302)
        with pytest.raises(fd.FrontdeskError.Unauthenticated):
            await c.synced(10)
        await c.close()

    asyncio.run(main())


def test_a_bad_url_raises_at_connect():
    async def main():
        with pytest.raises(fd.FrontdeskError.Invalid):
            await AsyncClient.connect("not a url", "t", 303)

    asyncio.run(main())
