"""asyncio for frontdesk: requests as awaitables, events as an async iterator, the client as an
async context manager.

The library calls listeners from its own thread; this module hands every event to the event loop
(``call_soon_threadsafe``), so coroutines never block and never see another thread. Nothing is
polled: an answer resolves its future the moment it arrives.

    async with await AsyncClient.connect("ws://127.0.0.1:8080/client", token, instance=1) as c:
        await c.synced()
        profile = await c.request(c.sync.get_profile())
        async for event in c.events():
            ...
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Dict, Optional

from .frontdesk.frontdesk import ClientEvent, ClientListener, FrontdeskClient, FrontdeskError, Response


def _error(info: Any) -> Exception:
    # ErrorCode.NOT_FOUND -> FrontdeskError.NotFound, the same exception the blocking `wait` raises.
    name = "".join(part.capitalize() for part in info.code.name.split("_"))
    cls = getattr(FrontdeskError, name, None)
    return cls(info.message) if cls is not None else RuntimeError(f"{info.code.name}: {info.message}")


class _Bridge(ClientListener):
    """Moves events from the library's thread onto the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, owner: "AsyncClient") -> None:
        self._loop = loop
        self._owner = owner

    def on_event(self, event: ClientEvent) -> None:
        try:
            self._loop.call_soon_threadsafe(self._owner._deliver, event)
        except RuntimeError:
            pass  # the loop is closed: nobody is left to tell


class AsyncClient:
    """A :class:`FrontdeskClient` driven from asyncio."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_events: int = 10_000) -> None:
        self._loop = loop
        self._waiting: Dict[int, "asyncio.Future[Response]"] = {}
        self._early: Dict[int, ClientEvent] = {}
        self._events: "asyncio.Queue[ClientEvent]" = asyncio.Queue(max_events)
        self._synced = asyncio.Event()
        self._rejected: Optional[Exception] = None
        self.sync: FrontdeskClient  # the blocking client, for requests and the view
        self.dropped = 0  # events the app did not read in time (the view still has their effect)

    @classmethod
    async def connect(
        cls, url: str, token: str, instance: int, *, state: Optional[str] = None, extra_roots_pem: Optional[str] = None
    ) -> "AsyncClient":
        """Connects (or continues a saved state, from ``save_state()``); raises on a bad URL at once.
        ``extra_roots_pem`` (a PEM bundle) is trusted for ``wss://`` on top of the platform's roots."""
        self = cls(asyncio.get_running_loop())
        bridge = _Bridge(self._loop, self)
        if state is None:
            self.sync = FrontdeskClient.connect(url, token, instance, bridge, extra_roots_pem)
        else:
            self.sync = FrontdeskClient.restore(url, token, state, bridge, extra_roots_pem)
        return self

    def _deliver(self, event: ClientEvent) -> None:
        if event.is_completed() or event.is_failed():
            rid = event.request_id
            fut = self._waiting.pop(rid, None)
            if fut is None:
                # Answered before `request` was awaited (a fast answer); kept for it.
                self._early[rid] = event
            elif not fut.done():
                self._settle(fut, event)
        elif event.is_synced():
            self._synced.set()
        elif event.is_rejected():
            self._rejected = _error(event.error)
            self._synced.set()
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    @staticmethod
    def _settle(fut: "asyncio.Future[Response]", event: ClientEvent) -> None:
        if event.is_completed():
            fut.set_result(event.response)
        else:
            fut.set_exception(_error(event.error))

    async def request(self, request_id: int, timeout: Optional[float] = None) -> Response:
        """The answer to a request made on ``self.sync`` (``await c.request(c.sync.get_profile())``);
        a failed one raises the same ``FrontdeskError`` the blocking ``wait`` does."""
        fut: "asyncio.Future[Response]" = self._loop.create_future()
        early = self._early.pop(request_id, None)
        if early is not None:
            self._settle(fut, early)
        else:
            self._waiting[request_id] = fut
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._waiting.pop(request_id, None)

    async def synced(self, timeout: Optional[float] = None) -> None:
        """Returns once the first sync is done; raises if the broker refused the token."""
        await asyncio.wait_for(self._synced.wait(), timeout)
        if self._rejected is not None:
            raise self._rejected

    async def events(self) -> AsyncIterator[ClientEvent]:
        """Every event, in order (answers included), until the client is closed."""
        while True:
            yield await self._events.get()

    async def close(self) -> None:
        """Disconnects; requests still waiting stay queued in the client's saved state."""
        self.sync.disconnect()
        for fut in self._waiting.values():
            if not fut.done():
                fut.cancel()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
