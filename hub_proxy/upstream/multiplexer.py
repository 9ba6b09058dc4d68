"""Many MCP sessions, one upstream server behind them.

A :class:`Multiplexer` is the two halves every upstream needs, put together:

* :mod:`~hub_proxy.upstream.supervisor` keeps the server running and
  initialized -- start, handshake, back-off, restart -- and knows its status;
* :mod:`~hub_proxy.upstream.router` shares the one upstream session among
  the sessions opened on the multiplexer -- ids, progress tokens, and who
  gets each message the server sends.

It reaches the server through a :class:`~hub_proxy.upstream.base.Channel`:
a child process, two FIFOs, or a remote URL.  The stdio bridge serves one
multiplexer over HTTP (:mod:`hub_proxy.bridge`); the hub runs one per server
it aggregates (:mod:`hub_proxy.upstreams`), and one per client session for
``perClient`` servers.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from hub_proxy.transport import Peer, Session
from hub_proxy.upstream.base import Channel
from hub_proxy.upstream.router import Router
from hub_proxy.upstream.supervisor import Status, Supervisor, Timeouts


class Multiplexer:
    """Supervises one server and shares it among the sessions opened on it."""

    def __init__(self, channel: Channel, timeouts: Timeouts | None = None) -> None:
        self._timeouts = timeouts or Timeouts()
        self._supervisor = Supervisor(channel, self._timeouts)
        self._router = Router(self._supervisor)

    def open_session(self, peer: Peer) -> Session:
        """A :class:`~hub_proxy.transport.SessionFactory`: one client's session, via ``peer``."""
        return self._router.open_session(peer)

    @property
    def status(self) -> Status:
        return self._supervisor.status

    async def until_ready(self) -> None:
        """Return once the server is ready, however long that takes (requests never wait that)."""
        await self._supervisor.until_ready()

    async def check(self) -> Status:
        """The status, after making sure a ready server still answers a ping."""
        status = self.status
        if not status.ready:
            return status
        try:
            await asyncio.wait_for(self._router.ask("ping", None), self._timeouts.ping)
        except TimeoutError:
            reason = f"the MCP server did not answer a ping within {self._timeouts.ping:g} s"
            return replace(status, ready=False, reason=reason)
        return status

    async def run(self) -> None:
        """Keep the server running and initialized until cancelled; then stop it."""
        await self._supervisor.run(self._router)
